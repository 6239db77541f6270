"""The panel builds every step at once: a step's keys act only while its page is shown (C on the Annotate page
saved the model's mask as 'corrected' over unsaved paint; S on the Review page accepted an unseen pseudo-label), and
Save correction never replaces unsaved paint of the masks layer."""

import os

import numpy as np
import pytest
from napari_helpers import PANEL, dock, prediction_set, tiny_clip, wait_loaded
from qtpy.QtCore import Qt

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]

PSEUDO, CORRECTED = 2, 4


def _setup(make_napari_viewer, qtbot, tmp_path):
    from dvos_core.store import Project

    frames, gt = tiny_clip(12)
    p = Project.create(tmp_path / "k.dvos")
    v = p.add_video_array("plot1", frames, split="train")
    for t in (0, 6, 11):
        v.set_mask(t, gt[t], "manual")
    stripe = (np.arange(64)[None, :] < 10).repeat(64, 0).astype(np.uint8)
    for t in (1, 2, 3, 4, 5, 7, 8, 9, 10):
        v.set_mask(t, stripe, "pseudo")
    square = np.zeros((64, 64))
    square[5:15, 5:15] = 1
    prediction_set(v, "img", [square] * 12)
    viewer = make_napari_viewer(show=True)
    panel = dock(viewer, PANEL)
    panel.state.set_project(p)
    panel.state.select_video("plot1")
    wait_loaded(qtbot, panel.state)
    canvas = viewer.window._qt_viewer.canvas.native
    return viewer, panel, v, gt, canvas


def _press(qtbot, canvas, key):
    canvas.setFocus()
    qtbot.keyClick(canvas, key)
    qtbot.wait(100)


def test_C_acts_only_on_the_review_page_and_never_replaces_unsaved_paint(make_napari_viewer, qtbot, tmp_path, notes):
    viewer, panel, v, gt, canvas = _setup(make_napari_viewer, qtbot, tmp_path)
    panel.go("Review").jump_to("plot1", 2)  # the predictions were looked at once
    wait_loaded(qtbot, panel.state)
    ann = panel.go("Annotate")
    ann.start_painting()
    viewer.dims.set_current_step(0, 4)
    ml = viewer.layers["plot1 masks"]
    idx = np.nonzero(gt[4])
    ml.data_setitem((np.full(idx[0].shape, 4),) + idx, 1)  # paints the heads of frame 4, not saved
    painted = np.asarray(ml.data[4]).copy()

    _press(qtbot, canvas, Qt.Key.Key_C)  # C (Review's key) on the Annotate page: nothing saved
    assert v.provenance[4] == PSEUDO
    np.testing.assert_array_equal(np.asarray(ml.data[4]), painted)
    assert ann.unsaved() == 1
    assert any("C works in the Review step" in str(n.message) for n in notes), [str(n.message) for n in notes]

    rv = panel.go("Review")  # on the Review page C saves corrections, but not over the masks layer's unsaved paint
    viewer.dims.set_current_step(0, 4)
    _press(qtbot, canvas, Qt.Key.Key_C)
    assert v.provenance[4] == PSEUDO
    np.testing.assert_array_equal(np.asarray(ml.data[4]), painted)
    assert "Save frame (S) in the Annotate step" in rv.status.text()
    with pytest.raises(ValueError, match="not saved yet"):  # the button's way too
        rv.save_correction(4)

    ann = panel.go("Annotate")  # S saves it there: the paint becomes the frame's mask (a pseudo-label corrected)
    _press(qtbot, canvas, Qt.Key.Key_S)
    assert v.provenance[4] == CORRECTED and ann.unsaved() == 0
    np.testing.assert_array_equal(v.mask(4) > 0, painted > 0)


def test_S_on_the_review_page_does_not_accept_the_pseudo_label(make_napari_viewer, qtbot, tmp_path, notes):
    viewer, panel, v, _gt, canvas = _setup(make_napari_viewer, qtbot, tmp_path)
    rv = panel.go("Review")
    rv.jump_to("plot1", 4)
    wait_loaded(qtbot, panel.state)
    viewer.layers["plot1 predicted"].paint((4, 30, 30), 1)  # fixes the prediction
    _press(qtbot, canvas, Qt.Key.Key_S)  # S (Annotate's key) instead of C
    assert v.provenance[4] == PSEUDO
    assert any("S works in the Annotate step" in str(n.message) for n in notes)
    _press(qtbot, canvas, Qt.Key.Key_C)  # the right key saves the correction
    assert v.provenance[4] == CORRECTED


def test_refresh_masks_keeps_unsaved_paint(make_napari_viewer, qtbot, tmp_path):
    from dvos_napari._layers import refresh_masks

    viewer, panel, v, gt, _canvas = _setup(make_napari_viewer, qtbot, tmp_path)
    ml = viewer.layers["plot1 masks"]
    ml.paint((3, 40, 40), 1)  # unsaved paint on frame 3
    ml.paint((5, 40, 40), 1)
    ml.paint((5, 40, 40), 0)  # ... and on frame 5, painted back to what is stored (nothing to save)
    painted = np.asarray(ml.data[3]).copy()
    v.set_mask(3, gt[3], "corrected")  # written meanwhile
    v.set_mask(5, np.asarray(ml.data[5]), "corrected")  # what the layer shows there
    assert refresh_masks(viewer, v, panel.state, [3, 5]) == [3]
    np.testing.assert_array_equal(np.asarray(ml.data[3]), painted)  # kept, still unsaved
    assert 3 in panel.state.dirty["plot1"] and 5 not in panel.state.dirty["plot1"]
