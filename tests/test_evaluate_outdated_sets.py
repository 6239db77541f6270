"""Scoring predictions made by a model file trained again since (same name) says so: the scores were shown under
the model's name as if they were the new model's."""

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
    predict_video(p, "plot", best, device="cpu")  # predicted again: the set is the model's as it is
    assert v.predictions["m"].outdated() is None
