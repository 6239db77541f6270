"""import_video: stored frames are the source frames (exactly), attributes, preprocessing, all-or-nothing."""

import numpy as np
import pytest
from conftest import decode_frame_code

from dvos_core import Cancelled, CancelToken
from dvos_core.io import Preprocess, import_video


def test_import_stores_exact_frames_and_attrs(tmp_project, video_mp4, sequential_frames):
    calls = []
    v = import_video(
        tmp_project, video_mp4, split="train", tags={"variety": "Arina"}, progress=lambda d, t, m: calls.append((d, t))
    )
    truth = sequential_frames(video_mp4)
    assert v.name == "field_plot" and len(v) == len(truth)
    stored = v.read_frames()
    assert all(np.array_equal(stored[k], truth[k]) for k in range(len(truth)))
    a = v.attrs
    assert a["source"] == str(video_mp4.resolve()) and a["fps"] == pytest.approx(10.0)
    assert a["split"] == "train" and a["tags"] == {"variety": "Arina"}
    assert a["preprocessing"] == {"height": None, "crop": None}
    assert a["source_frames"] == {"start": 0, "stop": len(truth), "step": 1}
    assert calls[-1] == (len(truth), len(truth))


def test_import_range_and_step_map_to_source_frames(tmp_project, video_avi):
    v = import_video(tmp_project, video_avi, video_id="sub", start=5, stop=30, step=4)
    codes = [decode_frame_code(f) for f in v.read_frames()]
    assert codes == list(range(5, 30, 4))
    sf = v.attrs["source_frames"]
    assert [sf["start"] + t * sf["step"] for t in range(len(v))] == codes
    assert v.attrs["fps"] == pytest.approx(10.0 / 4)


def test_import_with_preprocessing(tmp_project, video_avi):
    pre = Preprocess(height=48, crop=(40, 40))
    v = import_video(tmp_project, video_avi, preprocess=pre, stop=3)
    assert v.shape == (3, 40, 40, 3)
    assert v.attrs["preprocessing"] == {"height": 48, "crop": [40, 40]}


def test_import_cancel_leaves_no_partial_video(tmp_project, video_mp4):
    import_video(tmp_project, video_mp4, video_id="keep", stop=4)
    token = CancelToken()

    def progress(done, total, msg):
        if done >= 16:
            token.cancel()

    with pytest.raises(Cancelled):
        import_video(tmp_project, video_mp4, video_id="cut", progress=progress, cancel=token)
    assert tmp_project.video_ids() == ["keep"]
    assert len(tmp_project.video("keep")) == 4


def test_duplicate_id_and_bad_range(tmp_project, video_avi):
    import_video(tmp_project, video_avi, stop=2)
    with pytest.raises(ValueError, match="already exists"):
        import_video(tmp_project, video_avi, stop=2)
    with pytest.raises(ValueError, match="selects no frames.*40 frames"):
        import_video(tmp_project, video_avi, video_id="x", start=50)
    with pytest.raises(ValueError, match="split"):
        import_video(tmp_project, video_avi, video_id="y", split="training")
    assert tmp_project.video_ids() == ["field_plot"]


KILLED_IMPORT = """
import os, signal, sys
from dvos_core.io import import_video
from dvos_core.store import Project

def progress(done, total, msg):
    if done >= 16:
        os.kill(os.getpid(), signal.SIGKILL)  # a real kill: no clean-up code runs

import_video(Project.open(sys.argv[1]), sys.argv[2], video_id="plot", batch=8, progress=progress)
"""


def test_killed_import_is_marked_and_replaced_by_the_next_import(tmp_project, video_mp4, sequential_frames, capsys):
    import subprocess
    import sys

    from dvos_core.cli import main

    r = subprocess.run(
        [sys.executable, "-c", KILLED_IMPORT, str(tmp_project.path), str(video_mp4)], capture_output=True, text=True
    )
    assert r.returncode == -9, r.stderr
    v = type(tmp_project).open(tmp_project.path).video("plot")
    truth = sequential_frames(video_mp4)
    assert not v.import_complete and 16 <= len(v) < len(truth)
    assert all(np.array_equal(f, truth[k]) for k, f in enumerate(v.read_frames()))  # committed frames are whole
    assert main(["info", str(tmp_project.path)]) == 0
    assert "interrupted import" in capsys.readouterr().out
    assert main(["add-video", str(tmp_project.path), str(video_mp4), "--id", "plot"]) == 0
    v = type(tmp_project).open(tmp_project.path).video("plot")
    assert v.import_complete and len(v) == len(truth)
    with pytest.raises(ValueError, match="already exists"):
        import_video(tmp_project, video_mp4, video_id="plot")


def test_interrupted_import_with_masks_is_kept(tmp_project, video_avi):
    v = import_video(tmp_project, video_avi, video_id="plot", stop=4)
    v.update_attrs(import_complete=False)  # as a killed import leaves it
    v.set_mask(1, np.ones(v.shape[1:3], np.uint8), "manual")
    with pytest.raises(ValueError, match="interrupted import.*already has masks"):
        import_video(tmp_project, video_avi, video_id="plot")
    assert tmp_project.video("plot").mask(1).all()
