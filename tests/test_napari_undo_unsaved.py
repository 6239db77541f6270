"""Paint undone (Ctrl+Z), or painted back to what the project holds, is not unsaved work: closing napari does not
ask about it. Paint that still differs is, also when undo or redo (Ctrl+Shift+Z) made it differ, which napari does
without a paint event."""

import os

import numpy as np
import pytest
from napari_helpers import prediction_set, shown_in, tiny_clip

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


def _open(make_napari_viewer, qtbot, project, step: str, video: str, role: str):
    """A viewer with the dvos step ``step`` on ``project``, ``video`` shown: (viewer, step, its ``role`` layer)."""
    viewer = make_napari_viewer()
    widget = shown_in(viewer, qtbot, step, project, video)
    return viewer, widget, viewer.layers[f"{video} {role}"]


def test_undone_paint_is_not_unsaved_work(make_napari_viewer, qtbot, tmp_project):
    from dvos_napari._close_guard import unsaved_work

    frames, masks = tiny_clip(6)
    tmp_project.add_video_array("a", frames, split="train").set_mask(3, masks[3], "manual")
    viewer, ann, layer = _open(make_napari_viewer, qtbot, tmp_project, "Annotate", "a", "masks")
    state = ann.state
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


def test_undo_and_redo_after_a_save_are_unsaved_work(make_napari_viewer, qtbot, tmp_project):
    from dvos_napari._close_guard import unsaved_work

    v = tmp_project.add_video_array("a", tiny_clip(6)[0], split="train")
    viewer, ann, layer = _open(make_napari_viewer, qtbot, tmp_project, "Annotate", "a", "masks")
    state = ann.state
    layer.paint((2, 30, 30), 1)
    assert ann.save_all() == [2] and v.mask(2).any()
    layer.undo()  # the saved stroke undone: the project holds it, the layer not
    assert state.dirty["a"] == {2}
    assert unsaved_work(viewer, state) == ["a: painted mask frame 2"]
    assert ann.save_all() == [2] and not v.mask(2).any()
    layer.paint((4, 30, 30), 1)
    layer.undo()
    assert ann.save_all() == [] and unsaved_work(viewer, state) == []  # nothing to save: frame 4 is clean
    layer.redo()  # the stroke is back on screen, not in the project
    assert state.dirty["a"] == {4}
    assert unsaved_work(viewer, state) == ["a: painted mask frame 4"]
    assert ann.save_all() == [4] and np.array_equal(v.mask(4) != 0, layer.data[4] != 0) and v.mask(4).any()
    layer.undo()  # the saved stroke of frame 4 undone; then nothing is left to undo, which marks nothing
    layer.undo()
    assert state.dirty["a"] == {4} and unsaved_work(viewer, state) == ["a: painted mask frame 4"]


def test_undo_and_redo_of_a_saved_correction_are_unsaved(make_napari_viewer, qtbot, tmp_project):
    from dvos_napari._layers import unsaved_corrections

    frames, masks = tiny_clip(6)
    v = tmp_project.add_video_array("plot", frames, split="val")
    pred = np.zeros_like(masks)
    pred[:, 10:30, 10:30] = 1
    prediction_set(v, "m", pred)
    viewer, rv, layer = _open(make_napari_viewer, qtbot, tmp_project, "Review", "plot", "predicted")
    viewer.dims.set_current_step(0, 1)
    layer.paint((1, 50, 50), 1)
    assert unsaved_corrections(viewer, "plot") == [1]
    assert rv.save_correction() and unsaved_corrections(viewer, "plot") == []
    layer.undo()  # the saved fix undone on screen: a correction to save (or discard) again
    assert unsaved_corrections(viewer, "plot") == [1]
    assert rv.save_correction() and np.array_equal(v.mask(1) != 0, pred[1] != 0)
    layer.redo()
    assert unsaved_corrections(viewer, "plot") == [1]
