"""What a score does not cover is said: predictions made by a model file trained again since (same name), or
covering only part of the ground truth; settings that mean nothing (min_area under 1) are refused."""

import warnings

import numpy as np
import pytest
import torch

from dvos_core.evaluate import evaluate
from dvos_core.evaluate.compare import compare_models
from dvos_core.infer import predict_video
from dvos_core.model import build_model, save_checkpoint
from dvos_core.store import Project


def test_predictions_of_an_earlier_version_of_the_model_are_said_to_be(tmp_path):
    torch.manual_seed(0)
    p = Project.create(tmp_path / "p.dvos")
    v = p.add_video_array(
        "plot", np.random.default_rng(0).integers(0, 255, (3, 32, 32, 3), dtype=np.uint8), split="test"
    )
    m = np.zeros((32, 32), np.uint8)
    m[5:15, 5:15] = 1
    for t in range(3):
        v.set_mask(t, m, "manual")
    best = p.model_dir("m", create=True) / "best.pt"
    save_checkpoint(best, build_model("tiny", "frame"), phase="image")
    predict_video(p, "plot", best, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluate(p, "plot", model="m")
        compare_models(p, ["m"], video_ids=["plot"])
    save_checkpoint(best, build_model("tiny", "frame"), phase="image")  # trained again under the same name
    with pytest.warns(UserWarning, match=r"predictions of 'm' in plot were made by an earlier version of .*best\.pt"):
        evaluate(p, "plot", model="m")
    with pytest.warns(UserWarning, match=r"made by an earlier version"):
        compare_models(p, ["m"], video_ids=["plot"])
    assert v.predictions["m"].outdated() == str(best)
    predict_video(p, "plot", best, device="cpu", replace=True)  # predicted again: the set is the model's as it is
    assert v.predictions["m"].outdated() is None


def test_a_model_scored_on_part_of_the_ground_truth_is_said_to_be(tmp_path):
    """`dvos evaluate --model m` on a set covering 2 of 4 painted frames scored those 2 (Dice 1.0) without a word,
    where compare_models warned; a min_area under 1 was accepted and recorded."""
    p = Project.create(tmp_path / "p.dvos")
    v = p.add_video_array("v", np.zeros((4, 32, 32, 3), np.uint8), split="test")
    g = np.zeros((32, 32), np.uint8)
    g[8:20, 8:20] = 1
    for t in range(4):
        v.set_mask(t, g, "manual")
    v.predictions["m"].start({"checkpoint": "x", "kind": "frame"}, "fp")
    v.predictions["m"].set_many([0, 1], np.repeat(g[None].astype(np.float32), 2, 0))
    with pytest.warns(UserWarning, match=r"scored on fewer ground-truth frames than there are \(2 of 4 in video 'v'\)"):
        rep = evaluate(p, "v", model="m")
    assert rep.overall["partial"] == {"v": [2, 4]} and rep.overall["n_frames"] == 2
    for bad in (0, -3):
        with pytest.raises(ValueError, match="min_area .* at least 1 pixel"):
            evaluate(p, "v", model="m", min_area=bad)
        with pytest.raises(ValueError, match="min_area .* at least 1 pixel"):
            compare_models(p, ["m"], video_ids=["v"], min_area=bad)


def test_info_names_out_of_date_prediction_sets_and_the_command_that_makes_them_again(tmp_path, capsys):
    """`dvos info` listed a set made by a model trained again since, and a smoothed set whose source was predicted
    again, as if they held what their names stand for."""
    from dvos_core.cli import main
    from dvos_core.infer import smooth_predictions

    torch.manual_seed(0)
    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("plot", np.random.default_rng(0).integers(0, 255, (3, 32, 32, 3), dtype=np.uint8))
    best = save_checkpoint(p.model_dir("m", create=True) / "best.pt", build_model("tiny", "frame"), phase="image")
    predict_video(p, "plot", best, device="cpu", threshold=0.4)
    smooth_predictions(p, "plot", "m")
    assert main(["info", str(p.path)]) == 0
    assert "trained again" not in capsys.readouterr().out  # in step: nothing to say
    save_checkpoint(best, build_model("tiny", "frame"), phase="image")  # trained again, not predicted again
    assert main(["info", str(p.path)]) == 0
    out = capsys.readouterr().out
    assert f"m: made by an earlier version of {best} (trained again since)" in out
    assert f"make it again with `dvos predict {p.path} m --videos plot --threshold 0.4 " in out
    assert f"m_smoothed: 'm' was made by an earlier version of {best}" in out
    assert f"`dvos smooth {p.path} m --videos plot --name m_smoothed" in out
    summary = Project.open(p.path).summary()["videos"][0]["predictions_outdated"]
    assert sorted(summary) == ["m", "m_smoothed"]


def test_training_a_model_again_names_the_predictions_its_earlier_version_made(tmp_path):
    """`dvos train --no-resume` under a model's name ended without a word about the prediction sets the earlier
    model had made (they kept its name but no longer said what it does)."""
    from dvos_core.data.toy import make_toy_project
    from dvos_core.train import TrainConfig, train

    p = make_toy_project(tmp_path / "toy.dvos", n_clips=2, n_frames=4, size=64, video_frames=6)
    cfg = TrainConfig(phase="image", preset="tiny", epochs=1, batch_size=2, size=64, max_steps_per_epoch=1)
    notes = []
    on_event = lambda e: notes.append(e.note) if e["type"] == "done" else None  # noqa: E731
    best = train(p, cfg, "img", resume=False, on_event=on_event)
    assert notes == [""]  # nothing predicted yet: nothing to say
    vid = p.video_ids()[0]
    predict_video(p, vid, best, device="cpu", threshold=0.4)
    other = tmp_path / "other.pt"
    other.write_bytes(best.read_bytes())
    predict_video(p, vid, other, device="cpu", name="kept")  # made by another file
    train(p, TrainConfig(**{**cfg.to_dict(), "seed": 5}), "img", resume=False, on_event=on_event)
    assert f"made by the earlier version of {best}" in notes[-1]
    assert f"'img' in {vid} (`dvos predict {p.path} img --videos {vid} --threshold 0.4" in notes[-1]
    assert "'kept'" not in notes[-1]
