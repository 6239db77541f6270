"""The image model's clean-view anchor (``frame_anchor_weight``): when it trains on degraded frames, its mask on a
degraded frame is held to its mask on the same frame undegraded (the context model's ``anchor_view: clean``). The
samples carry that view only when it is read, the model decodes it as ``mask_alone``, and the trainer computes the
loss only when asked and only when the inputs are degraded."""

import pytest
import torch
from test_context_anchor import spy_on_anchor
from test_train_loop import tiny_config

from dvos_core.data import ClipDataset, ClipIndex
from dvos_core.data.augment import AugmentConfig
from dvos_core.data.toy import make_toy_project
from dvos_core.model import build_model
from dvos_core.train import TrainConfig, train

torch.set_num_threads(1)
PIXELS_OFF = {"jitter_p": 0.0, "gamma_p": 0.0, "gray_p": 0.0, "blur_p": 0.0, "patch_diffusion_p": 0.0}
NOTHING = dict.fromkeys(("blur_p", "noise_p", "exposure_p", "occlude_p"), 0.0)


def _item(project, aug: AugmentConfig, seed: int, clean_view: bool = True) -> dict:
    idx = ClipIndex.from_project(project, 1, 1, "synthetic", val_fraction=0)
    return ClipDataset(project.path, idx, 64, True, aug, "frame", clean_view=clean_view)[(1, seed)]


def test_frame_items_carry_their_frame_before_degradation(tmp_path):
    project = make_toy_project(tmp_path / "t.dvos", n_clips=2, n_frames=6, size=64, n_videos=0)
    noisy = AugmentConfig(**PIXELS_OFF, degrade_p=1.0, context={"degrade": {**NOTHING, "noise_p": 1.0}})
    item = _item(project, noisy, 5)
    assert not torch.allclose(item["frames"], item["query_view"], atol=0.05)
    assert torch.allclose(item["query_view"], item["target"], atol=1e-4)  # the undegraded frame
    # every pixel augmentation on: the view gets the very draws the degraded frame got
    pixels_on = {"jitter_p": 1.0, "gamma_p": 1.0, "blur_p": 1.0, "patch_diffusion_p": 1.0}
    same = _item(project, AugmentConfig(**pixels_on, degrade_p=1.0, context={"degrade": NOTHING}), 5)
    assert not torch.allclose(same["query_view"], same["target"], atol=0.05)
    assert torch.equal(same["query_view"], same["frames"])
    # without the anchor no view is made, and the sample is the same as with it (the same random draws)
    without = _item(project, noisy, 5, clean_view=False)
    assert "query_view" not in without
    for key in without:
        assert torch.equal(without[key], item[key]), key


def test_the_frame_model_decodes_the_clean_view_beside_its_input():
    model = build_model("tiny", "frame").eval()
    x, view = torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = model(x, heads=("mask", "frame", "mask_alone"), alone_query=view)
        assert torch.equal(out["mask"], model(x)["mask"]) and set(out) == {"mask", "frame", "mask_alone"}
        assert torch.allclose(out["mask_alone"], model(view)["mask"], atol=1e-6)
        assert set(model(x, heads=("mask",))) == {"mask"}
    with pytest.raises(ValueError, match="needs alone_query shaped"):
        model(x, heads=("mask", "mask_alone"))


def test_the_trainer_anchors_the_image_model_only_when_asked_and_degraded(tmp_path, monkeypatch):
    project = make_toy_project(tmp_path / "t.dvos", n_clips=4, n_frames=8, size=64, n_videos=0, seed=1)
    seen = spy_on_anchor(monkeypatch)
    short = {"phase": "image", "epochs": 1, "batch_size": 2, "max_steps_per_epoch": 2}
    events = []
    degraded = {"degrade_p": 0.5}
    train(project, tiny_config(frame_anchor_weight=10.0, augment=degraded, **short), "a", on_event=events.append)
    assert seen == [((2, 1, 64, 64), [1.0, 1.0])] * 2  # every sample, held to its clean view
    assert all("anchor" in e.to_dict() for e in events if e["type"] == "batch")
    seen.clear()
    train(project, tiny_config(augment=degraded, **short), "off")  # the default: no anchor
    train(project, tiny_config(frame_anchor_weight=10.0, **short), "clean")  # no degraded inputs: nothing to hold
    assert seen == []
    assert TrainConfig(phase="image", frame_anchor_weight=10.0).loss_weights().anchor == 0.0
    assert TrainConfig(phase="image", frame_anchor_weight=10.0, augment=degraded).loss_weights().anchor == 10.0
    assert TrainConfig(phase="real", video_model="context", frame_anchor_weight=3.0).loss_weights().anchor == 10.0
    with pytest.raises(ValueError, match="frame_anchor_weight must be >= 0"):
        TrainConfig(phase="image", frame_anchor_weight=-1.0)
