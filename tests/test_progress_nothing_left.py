"""A call with nothing left to do reports its work done once (n == total): `train` on a run that has all its epochs
made no progress call at all, and `predict_video` on a video predicted already reported (0, 0), so a progress bar
never completed."""

import numpy as np
import pytest
import torch

from dvos_core.data.toy import make_toy_project
from dvos_core.infer import predict_video
from dvos_core.model import build_model, save_checkpoint
from dvos_core.train import TrainConfig, train

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_toy_project(
        tmp_path_factory.mktemp("n") / "n.dvos", n_clips=1, n_frames=2, size=32, n_videos=2, video_frames=6
    )


def _recorder():
    calls = []
    return calls, lambda *a: calls.append(a)


def test_train_on_a_finished_run_reports_done(project):
    cfg = {"phase": "image", "preset": "tiny", "epochs": 1, "batch_size": 2, "size": 32, "max_steps_per_epoch": 1}
    cfg = TrainConfig(**cfg, synthetic_sets=[], num_workers=0, device="cpu", seed=3)
    train(project, cfg, "fin", resume=False)
    calls = []
    train(project, cfg, "fin", progress=lambda *a: calls.append(a))
    assert len(calls) == 1 and calls[0][0] == calls[0][1] > 0 and "nothing to do" in calls[0][2], calls


def test_predict_video_with_every_frame_predicted_reports_them_done(project):
    project.add_video_array("clip", np.random.default_rng(0).integers(0, 255, (4, 32, 32, 3), np.uint8))
    torch.manual_seed(0)
    ckpt = project.model_dir("img", create=True) / "best.pt"
    save_checkpoint(ckpt, build_model("tiny", "frame"), phase="image")
    predict_video(project, "clip", ckpt, device="cpu")
    for frames, n in ((None, 4), ([1, 2], 2)):
        calls, progress = _recorder()
        assert predict_video(project, "clip", ckpt, device="cpu", frames=frames, progress=progress) == 0
        assert calls and all(c[1] == n for c in calls) and calls[-1][:2] == (n, n), calls


@pytest.mark.parametrize("passes", [1, 2])
def test_a_context_model_with_every_frame_predicted_says_so(project, passes):
    """It reported the frames done but said 'predicting 0 frames' (and 'refining 0 frames')."""
    name = f"ctx{passes}"
    project.add_video_array(name, np.random.default_rng(1).integers(0, 255, (4, 32, 32, 3), np.uint8))
    torch.manual_seed(0)
    ckpt = project.model_dir(name, create=True) / "best.pt"
    save_checkpoint(ckpt, build_model("tiny", "context"))
    predict_video(project, name, ckpt, device="cpu", passes=passes)
    for frames, n in ((None, 4), ([1, 2], 2)):
        calls, progress = _recorder()
        assert predict_video(project, name, ckpt, device="cpu", frames=frames, passes=passes, progress=progress) == 0
        assert calls[-1] == (n * passes, n * passes, f"{name}: every frame asked for is done already"), calls
        assert not any(" 0 frames" in c[2] for c in calls), calls
