"""A test video named among the videos to train on is refused by name, as extract_heads refuses it: it was dropped
in silence (the image phase trained on synthetic clips alone; the real phase said to label frames the video held)."""

import numpy as np
import pytest
from conftest import tiny_train_config

from dvos_core.data import ClipIndex
from dvos_core.data.toy import make_toy_project
from dvos_core.train import train

REFUSED = r"video 'vt' is a test video; a model trained on it would be scored on frames it learnt from .*`dvos split "


@pytest.fixture
def project(tmp_path):
    p = make_toy_project(tmp_path / "p.dvos", n_clips=2, n_frames=4, size=32, n_videos=1, video_frames=6)
    v = p.add_video_array("vt", np.zeros((4, 32, 32, 3), np.uint8), split="test")
    for t in range(4):
        v.set_mask(t, np.ones((32, 32), np.uint8), "manual")
    return p


@pytest.mark.parametrize("phase", ["image", "real"])
def test_a_named_test_video_is_refused_by_name(project, phase):
    with pytest.raises(ValueError, match=REFUSED + r"[^`]* train vt`"):
        ClipIndex.from_project(project, 1, 1, phase, video_ids=["video0", "vt"])
    # all videos (the default) leave the test video out, as before
    assert "vt" not in {s.source for s in ClipIndex.from_project(project, 1, 1, phase).samples}


def test_train_refuses_it_and_leaves_no_model(project):
    with pytest.raises(ValueError, match=REFUSED):
        train(project, tiny_train_config(phase="image", size=32, device="cpu", video_ids=["vt"]), "x")
    assert not (project.path / "models" / "x").exists()


def test_the_command_line_and_the_panel_say_the_same(project, tmp_path, capsys):
    from dvos_core.cli import main

    tiny_train_config(size=32, video_ids=["vt"]).to_yaml(tmp_path / "c.yaml")
    args = ["train", str(project.path), "--config", str(tmp_path / "c.yaml"), "--phase", "real", "--device", "cpu"]
    assert main([*args, "--name", "y"]) == 2
    err = capsys.readouterr().err
    assert "video 'vt' is a test video; a model trained on it" in err, err
    pytest.importorskip("napari")
    from dvos_napari._errors import user_message

    with pytest.raises(ValueError) as e:
        ClipIndex.from_project(project, 1, 1, "real", video_ids=["vt"])
    text = user_message(e.value).text
    assert "is a test video" in text and "change its split ('set split' in the Project step)" in text, text
