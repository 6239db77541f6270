"""Paint undone (Ctrl+Z), or painted back to what the project holds, is not unsaved work: closing napari does not
ask about it. Paint that still differs is."""

import os

import numpy as np
import pytest
from napari_helpers import dock, tiny_clip, wait_loaded

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


def test_undone_paint_is_not_unsaved_work(make_napari_viewer, qtbot, tmp_project):
    from dvos_napari._close_guard import unsaved_work

    frames, masks = tiny_clip(6)
    v = tmp_project.add_video_array("a", frames, split="train")
    v.set_mask(3, masks[3], "manual")
    viewer = make_napari_viewer()
    ann = dock(viewer, "Annotate")
    state = ann.state
    state.set_project(tmp_project)
    state.select_video("a")
    wait_loaded(qtbot, state)
    layer = viewer.layers["a masks"]
    layer.paint((2, 30, 30), 1)  # a frame without a stored mask
    layer.paint((3, 5, 5), 1)  # a frame with one
    assert unsaved_work(viewer, state) == ["a: painted mask frames 2, 3"]
    layer.undo()
    layer.undo()  # Ctrl+Z twice: both frames are as stored again
    assert state.dirty["a"] == {2, 3}  # the paint events counted them
    assert not np.any(layer.data[2]) and np.array_equal(layer.data[3] != 0, masks[3] != 0)
    assert unsaved_work(viewer, state) == []
    layer.paint((2, 30, 30), 1)
    assert unsaved_work(viewer, state) == ["a: painted mask frame 2"]
