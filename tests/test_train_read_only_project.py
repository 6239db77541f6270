"""train() given a project opened read-only refuses as every other writer does (predict_video, evaluate, extract_heads
and generate say "opened read-only; open it with mode='r+'"): it wrote models/NAME into it."""

import pytest
from conftest import tiny_train_config

from dvos_core.data.toy import make_toy_project
from dvos_core.store import Project
from dvos_core.store.schema import StoreError
from dvos_core.train import train


def test_a_read_only_project_is_refused_and_left_as_it_was(tmp_path):
    make_toy_project(tmp_path / "p.dvos", n_clips=2, n_frames=4, size=32, n_videos=0)
    ro = Project.open(tmp_path / "p.dvos", mode="r")
    with pytest.raises(
        StoreError, match=r"p\.dvos: the project was opened read-only; open it with mode='r\+' to train model 'ro'"
    ):
        train(ro, tiny_train_config(phase="synthetic", size=32, device="cpu"), "ro")
    assert not (tmp_path / "p.dvos" / "models" / "ro").exists()
    with pytest.raises(StoreError, match="opened read-only; open it with mode='r\\+' to write"):
        ro.writing()  # the one refusal, shared
