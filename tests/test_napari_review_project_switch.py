"""After another project is opened, the Review step shows nothing of the project before: its frame's fixing line
(it stayed, naming a video of the other project) and the frames its Save correction wrote (a video of the same name
in the new project lost the question before its own earlier correction was replaced)."""

import os

import numpy as np
import pytest
from napari_helpers import dock, prediction_set, tiny_clip, wait_loaded

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


def _project(path, corrected_at=None):
    from dvos_core.store import Project

    frames, gt = tiny_clip(6)
    p = Project.create(path)
    v = p.add_video_array("plot1", frames, split="train")
    v.set_mask(0, gt[0], "manual")
    square = np.zeros((64, 64))
    square[5:15, 5:15] = 1
    prediction_set(v, "img", [square] * 6)
    if corrected_at is not None:
        v.set_mask(corrected_at, gt[corrected_at], "corrected")  # a correction saved in an earlier session
    return p


def test_review_forgets_the_project_before(make_napari_viewer, qtbot, tmp_path):
    a, b = _project(tmp_path / "a.dvos"), _project(tmp_path / "b.dvos", corrected_at=2)
    viewer = make_napari_viewer()
    rv = dock(viewer, "Review")
    rv.state.set_project(a)
    rv.jump_to("plot1", 2)
    wait_loaded(qtbot, rv.state)
    viewer.layers["plot1 predicted"].paint((2, 30, 30), 1)
    assert rv.save_correction(2)
    assert "plot1" in rv.fix_info.text()

    rv.state.set_project(b)
    assert rv.fix_info.text() == ""
    rv.state.select_video("plot1")
    wait_loaded(qtbot, rv.state)
    viewer.dims.set_current_step(0, 2)
    with pytest.raises(ValueError, match="correction saved before"):  # b's own correction is not replaced unasked
        rv.save_correction(2)
