"""``image_lr_scale``: a video model's parts inherited from the image model train at a fraction of the learning rate
(and of its cosine floor), its own new blocks at the full rate; the image model and the default are unaffected."""

import pytest
import torch
from test_train_loop import assert_same_state, cancel_mid_epoch_two, tiny_config

from dvos_core.data.toy import make_toy_project
from dvos_core.model import build_model, read_checkpoint, save_checkpoint
from dvos_core.model.transfer import image_parameter_names, init_from_frame_model
from dvos_core.train import TrainConfig, train

torch.set_num_threads(1)


def test_inherited_parameters_are_those_an_image_model_can_fill():
    frame = build_model("tiny", "frame")
    for kind, own in (("context", {"fusions", "mask_prior"}), ("dvos", {"decoder"})):
        model = build_model("tiny", kind)
        inherited = image_parameter_names(model)
        names = {n for n, _ in model.named_parameters()}
        assert inherited < names and {n.split(".")[0] for n in names - inherited} == own
        missing = set(init_from_frame_model(model, frame.state_dict())["missing"])
        assert not inherited & missing  # every inherited parameter is loaded from the image model
        assert names - inherited <= missing  # and none of the new ones is


def _moves(project, tmp_path, name, scale):
    """Largest change of the inherited and of the new parameters over a short context run started from an image
    model, and the learning rates the run ended with."""
    image = build_model("tiny", "frame", input_size=64)
    start = build_model("tiny", "context", input_size=64)
    init_from_frame_model(start, image.state_dict())
    init = tmp_path / "image.pt"
    save_checkpoint(init, image)
    cfg = tiny_config(video_model="context", init_from=str(init), image_lr_scale=scale, max_steps_per_epoch=2)
    best = train(project, cfg, name, resume=False)
    payload = read_checkpoint(best.parent / "last.pt")
    after = payload["state_dict"]
    inherited = image_parameter_names(start)
    delta = {n: float((after[n] - p.detach()).abs().max()) for n, p in start.named_parameters()}
    groups = payload["info"]["train_state"]["optimizer"]["param_groups"]
    return (
        max(d for n, d in delta.items() if n in inherited),
        max(d for n, d in delta.items() if n not in inherited),
        [g["lr"] for g in groups],
    )


def test_the_inherited_parts_learn_at_a_fraction_of_the_rate(tmp_path):
    project = make_toy_project(tmp_path / "t.dvos", n_clips=4, n_frames=8, size=64, n_videos=0, seed=1)
    old_full, new_full, lrs_full = _moves(project, tmp_path, "full", 1.0)
    old_tenth, new_tenth, lrs_tenth = _moves(project, tmp_path, "tenth", 0.1)
    assert old_tenth < 0.2 * old_full  # the inherited weights barely move
    assert new_tenth > 0.5 * new_full  # the new blocks learn as before
    assert lrs_full == [pytest.approx(1e-4)]  # one group, down to eta_min
    assert lrs_tenth == [pytest.approx(1e-5), pytest.approx(1e-4)]  # each group down to its own floor
    with pytest.raises(ValueError, match="image_lr_scale must be in"):
        TrainConfig(image_lr_scale=1.5)


def test_the_default_share_depends_on_the_model():
    assert TrainConfig(phase="real", video_model="context").inherited_lr_scale() == 0.3
    assert TrainConfig(phase="real", video_model="dvos").inherited_lr_scale() == 1.0  # one rate, as the paper
    assert TrainConfig(phase="image", image_lr_scale=0.5).inherited_lr_scale() == 1.0  # nothing is inherited
    assert TrainConfig(phase="synthetic", video_model="dvos", image_lr_scale=0.5).inherited_lr_scale() == 0.5


def test_a_scaled_run_resumes_exactly(tmp_path):
    project = make_toy_project(tmp_path / "t.dvos", n_clips=4, n_frames=8, size=64, n_videos=0, seed=1)
    cfg = tiny_config(video_model="context", image_lr_scale=0.25, max_steps_per_epoch=2)
    train(project, cfg, "straight", resume=False)
    cancel_mid_epoch_two(project, cfg, "interrupted")
    train(project, cfg, "interrupted", resume=True)
    last = [read_checkpoint(project.model_dir(n) / "last.pt") for n in ("straight", "interrupted")]
    assert_same_state(*last)
    assert [g["lr"] for g in last[0]["info"]["train_state"]["optimizer"]["param_groups"]] == [
        pytest.approx(0.25e-4),
        pytest.approx(1e-4),
    ]
    # an unfinished run saved before the setting existed (one rate, no such key) cannot be resumed with two rates:
    # the error says how to go on
    cancel_mid_epoch_two(project, cfg.replace(image_lr_scale=1.0), "old")
    path = project.model_dir("old") / "last.pt"
    payload = torch.load(path, weights_only=True)
    del payload["info"]["train_config"]["image_lr_scale"]
    torch.save(payload, path)
    fix = r"different settings \(image_lr_scale: 1(\.0)? when it began, now unset \(0\.3 for the context model, "
    fix += r"1 for dvos, as the paper\)\); pass --no"
    with pytest.raises(ValueError, match=fix):
        train(project, tiny_config(video_model="context", max_steps_per_epoch=2), "old", resume=True)
