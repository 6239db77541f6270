"""import_video: stored frames are the source frames (exactly), attributes, preprocessing, all-or-nothing."""

import numpy as np
import pytest

from conftest import decode_frame_code
from dvos_core import CancelToken, Cancelled
from dvos_core.io import Preprocess, import_video


def test_import_stores_exact_frames_and_attrs(tmp_project, video_mp4, sequential_frames):
    calls = []
    v = import_video(tmp_project, video_mp4, split="train", tags={"variety": "Arina"},
                     progress=lambda d, t, m: calls.append((d, t)))
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
