"""A smoothed prediction set stopped half-way is finished by smoothing again (info and check name `dvos smooth` with
its settings, not `dvos predict`), and a model's prediction never overwrites a smoothed set."""

import numpy as np
import pytest
import torch

from dvos_core.cli import main as dvos
from dvos_core.infer import predict_video
from dvos_core.infer.smooth import smooth_predictions
from dvos_core.model import build_model, save_checkpoint
from dvos_core.progress import Cancelled, CancelToken
from dvos_core.store import Project
from dvos_core.store.check import check_project

torch.set_num_threads(1)


@pytest.fixture
def stopped(tmp_path):
    p = Project.create(tmp_path / "field.dvos")
    rng = np.random.default_rng(0)
    p.add_video_array("v", rng.integers(0, 255, (6, 32, 32, 3), dtype=np.uint8), split="test")
    s = p.video("v").predictions["img"]
    s.start({"kind": "frame", "checkpoint": "img"}, None)
    s.set_many(range(6), rng.random((6, 32, 32)).astype(np.float32))
    token = CancelToken()

    def progress(done, total, message):
        if done >= 2:
            token.cancel()

    with pytest.raises(Cancelled):
        smooth_predictions(p, "v", "img", before=2, only_outliers=True, progress=progress, cancel=token)
    return p


def test_info_and_check_name_the_smooth_that_finishes_it(stopped, capsys):
    assert dvos(["info", str(stopped.path)]) == 0
    out = capsys.readouterr().out
    expected = f"dvos smooth {stopped.path} img --videos v --name img_smoothed --before 2 --after 0 --only-outliers"
    assert expected in out and "dvos predict" not in out
    (found,) = check_project(stopped, models=False)
    assert expected in found.message
    assert dvos(["smooth", str(stopped.path), "img", "--videos", "v", "--before", "2", "--only-outliers"]) == 0
    assert check_project(stopped, models=False) == []


def test_a_model_does_not_predict_into_a_smoothed_set(stopped):
    ckpt = save_checkpoint(stopped.model_dir("m", create=True) / "best.pt", build_model("tiny", "frame"))
    before = stopped.video("v").predictions["img_smoothed"].frames().tolist()
    with pytest.raises(ValueError, match="smoothed over time"):
        predict_video(stopped, "v", ckpt, device="cpu", name="img_smoothed")
    assert stopped.video("v").predictions["img_smoothed"].frames().tolist() == before


def test_smoothing_a_set_stopped_before_its_first_frame_says_so(tmp_path):
    """It said the set was missing while naming it among the project's sets."""
    p = Project.create(tmp_path / "field.dvos")
    p.add_video_array("v", np.zeros((3, 32, 32, 3), np.uint8))
    p.video("v").predictions["img"].start({"kind": "frame", "checkpoint": "img"}, None)  # nothing predicted yet
    with pytest.raises(ValueError, match="'img' holds no predicted frame yet .* resumes it"):
        smooth_predictions(p, "v", "img")
    with pytest.raises(ValueError, match="no predictions of 'other' to smooth"):
        smooth_predictions(p, "v", "other")
