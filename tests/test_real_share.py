"""The image phase gives real labelled frames a set share of its draws beside synthetic clips (``real_share``)."""

import dataclasses

import pytest
import torch
from test_train_loop import cancel_mid_epoch_two, tiny_config

from dvos_core.data.toy import make_toy_project
from dvos_core.model.checkpoint import read_checkpoint
from dvos_core.train import train

torch.set_num_threads(1)


def painted_and_synthetic(path):
    """12 synthetic clips of 4 frames and one video with 3 painted frames: 3 x 3 / (48 + 9) = 16 % by weight alone."""
    return make_toy_project(path, n_clips=12, n_frames=4, size=64, n_videos=1, video_frames=6)


def test_the_trainer_draws_real_frames_at_the_share_and_records_it(tmp_path):
    project = painted_and_synthetic(tmp_path / "s.dvos")
    cfg = tiny_config(phase="image", epochs=1, max_steps_per_epoch=1, real_share=0.3)
    info = read_checkpoint(train(project, cfg, "shared", resume=False))["info"]
    assert info["data"]["train"]["real_draw_share"] == pytest.approx(0.3)
    assert info["data"]["val"]["videos"] == []  # the painted video is never held out whole
    assert info["train_config"]["real_share"] == 0.3
    off = read_checkpoint(train(project, dataclasses.replace(cfg, real_share=None), "by_weight", resume=False))["info"]
    assert off["data"]["train"]["real_draw_share"] == pytest.approx(9 / (44 + 9), abs=1e-4)  # one clip validates


def test_a_run_begun_before_the_setting_says_how_to_resume_it(tmp_path):
    project = painted_and_synthetic(tmp_path / "s.dvos")
    cfg = tiny_config(phase="image", epochs=2, max_steps_per_epoch=2, real_share=None)
    cancel_mid_epoch_two(project, cfg, "old")
    path = project.model_dir("old") / "last.pt"
    payload = torch.load(path, weights_only=True)
    del payload["info"]["train_config"]["real_share"]
    torch.save(payload, path)
    with pytest.raises(ValueError, match=r"began before real_share existed: --real-share off"):
        train(project, cfg.replace(real_share=0.3), "old", resume=True)
    train(project, cfg, "old", resume=True)  # with no share, as it began: it resumes
    assert read_checkpoint(path)["info"]["train_state"]["epoch"] == 2
