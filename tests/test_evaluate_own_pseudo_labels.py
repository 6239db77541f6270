"""A model scored against pseudo-labels its own checkpoint made (evaluate's default ground truth takes pseudo
masks) measures how well it agrees with itself: evaluate and compare_models now say so, as they do for corrections
of its own predictions."""

import numpy as np
import pytest
import torch

from dvos_core.evaluate import compare_models, evaluate
from dvos_core.infer import predict_video, pseudo_label
from dvos_core.model import build_model, save_checkpoint
from dvos_core.store import Project

torch.set_num_threads(1)


def test_a_model_scored_on_its_own_pseudo_labels_is_warned_about(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    frames = np.random.default_rng(0).integers(0, 255, (4, 32, 32, 3), np.uint8)
    v = p.add_video_array("v", frames, split="train")
    painted = np.zeros((32, 32), np.uint8)
    painted[4:12, 4:12] = 1
    v.set_mask(0, painted, "manual")
    torch.manual_seed(0)
    own, other = tmp_path / "own.pt", tmp_path / "other.pt"
    save_checkpoint(own, build_model("tiny", "frame"), kind="frame", input_size=32)
    save_checkpoint(other, build_model("tiny", "frame"), kind="frame", input_size=32)
    pseudo_label(p, "v", own, device="cpu", n_passes=1)
    predict_video(p, "v", own, device="cpu", name="own")
    predict_video(p, "v", other, device="cpu", name="other")
    with pytest.warns(
        UserWarning,
        match=r"'own' was scored on 3 of 4 frames whose ground truth is a pseudo-label its "
        r"own checkpoint made \(3 in video 'v'\)",
    ):
        report = evaluate(p, ["v"], model="own", save=False)
    assert report.overall["own_pseudo_labels"] == {"v": [1, 2, 3]}
    assert evaluate(p, ["v"], model="other", save=False).overall["own_pseudo_labels"] == {}
    with pytest.warns(UserWarning, match="'own' was scored on 3 of 4 frames whose ground truth is a pseudo-label"):
        cmp = compare_models(p, ["own", "other"], video_ids=["v"], save=False)
    assert cmp.info["own_pseudo_labels"] == {"own": {"v": [1, 2, 3]}}
