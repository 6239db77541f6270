"""Review, Predict and Annotate under a real viewer (run with xvfb-run): corrections painted into ``<video> predicted``
and not saved yet survive a video switch, a model switch (which asks first) and a finished prediction; a frame past
the end of the current video is refused in words instead of an IndexError."""

from __future__ import annotations

import os

import numpy as np
import pytest
from napari_helpers import dock, prediction_set, tiny_clip, wait_job, wait_loaded

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


@pytest.fixture
def predicted(tmp_project):
    """Two training videos 'a' and 'b', both predicted by 'm' (the true masks)."""
    frames, gt = tiny_clip(6, seed=9)
    for vid in ("a", "b"):
        prediction_set(tmp_project.add_video_array(vid, frames, split="train"), "m", gt)
    return tmp_project, gt


def _correct(qtbot, viewer, rv, vid, t):
    """Jump to frame t of vid in Review and paint a blob into its predicted layer; the painted frame."""
    rv.jump_to(vid, t)
    wait_loaded(qtbot, rv.state)
    layer = viewer.layers[f"{vid} predicted"]
    layer.paint((t, 32, 32), 1)
    layer.paint((t, 5, 5), 1)
    return layer.data[t].copy()


def test_unsaved_corrections_survive_a_video_switch_and_can_be_saved_after(make_napari_viewer, qtbot, predicted):
    project, gt = predicted
    viewer = make_napari_viewer()
    rv = dock(viewer, "Review")
    rv.state.set_project(project)
    painted = _correct(qtbot, viewer, rv, "a", 2)
    assert not np.array_equal(painted > 0, gt[2] > 0)

    rv.state.select_video("b")  # the layers of 'a' used to be re-used for 'b': the correction was gone
    wait_loaded(qtbot, rv.state)
    assert "a predicted" in viewer.layers and "b predicted" in viewer.layers
    np.testing.assert_array_equal(viewer.layers["a predicted"].data[2], painted)

    rv.jump_to("a", 2)
    wait_loaded(qtbot, rv.state)
    np.testing.assert_array_equal(viewer.layers["a predicted"].data[2], painted)
    assert rv.save_correction()
    np.testing.assert_array_equal(project.video("a").mask(2), (painted > 0).astype(np.uint8))
    assert project.video("a").provenance_counts()["corrected"] == 1

    rv.state.select_video("b")  # all saved now: the layers of 'a' are re-used again
    wait_loaded(qtbot, rv.state)
    assert "a predicted" not in viewer.layers


def test_switching_the_model_asks_before_it_discards_unsaved_corrections(
    make_napari_viewer, qtbot, predicted, monkeypatch
):
    from qtpy.QtWidgets import QMessageBox

    from dvos_napari.docks.review import MOST_RECENT

    project, gt = predicted
    prediction_set(project.video("a"), "other", np.zeros_like(gt))
    viewer = make_napari_viewer()
    rv = dock(viewer, "Review")
    rv.state.set_project(project)
    rv.model.setCurrentText("m")
    painted = _correct(qtbot, viewer, rv, "a", 3)
    asked = []
    answer = QMessageBox.StandardButton.No
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or answer)

    rv.model.setCurrentText("other")  # No: nothing changes, the paint stays
    wait_loaded(qtbot, rv.state)
    assert len(asked) == 1 and "a frame 3 (masks of m)" in asked[0]
    assert rv.state.prediction_model == "m" and rv.model.currentText() == "m"
    np.testing.assert_array_equal(viewer.layers["a predicted"].data[3], painted)

    answer = QMessageBox.StandardButton.Yes
    rv.model.setCurrentText(MOST_RECENT)  # Yes: discarded, the most recent set ('other') is shown
    wait_loaded(qtbot, rv.state)
    assert len(asked) == 2 and rv.state.prediction_model is None
    layer = viewer.layers["a predicted"]
    assert layer.metadata["dvos_model"] == "other" and not layer.data.any()
    assert project.video("a").provenance_counts()["corrected"] == 0


def test_a_finished_prediction_keeps_unsaved_corrections_until_they_are_saved(make_napari_viewer, qtbot, predicted):
    project, gt = predicted
    viewer = make_napari_viewer()
    pr = dock(viewer, "Predict")
    rv = dock(viewer, "Review")
    rv.state.set_project(project)
    painted = _correct(qtbot, viewer, rv, "a", 1)
    prediction_set(project.video("a"), "new", np.zeros_like(gt))  # what a Predict job stores, then reports
    pr._predicted(6, "new")
    wait_loaded(qtbot, rv.state)
    layer = viewer.layers["a predicted"]
    assert layer.metadata["dvos_model"] == "m" and rv.state.prediction_model == "new"
    np.testing.assert_array_equal(layer.data[1], painted)
    assert "unsaved corrections of frames [1]" in pr.status.text()

    viewer.dims.set_current_step(0, 1)
    assert rv.save_correction()  # the user's fix of the masks they saw is saved...
    np.testing.assert_array_equal(project.video("a").mask(1), (painted > 0).astype(np.uint8))
    wait_loaded(qtbot, rv.state)
    layer = viewer.layers["a predicted"]  # ...and then the chosen model is shown
    assert layer.metadata["dvos_model"] == "new" and not layer.data.any()


def test_a_frame_past_the_end_of_the_video_is_refused_in_words(make_napari_viewer, qtbot, tmp_project):
    tmp_project.add_video_array("long", np.zeros((12, 32, 32, 3), np.uint8), split="train")
    short = tmp_project.add_video_array("short", np.zeros((4, 32, 32, 3), np.uint8), split="train")
    prediction_set(short, "m", np.zeros((4, 32, 32), np.float32))
    viewer = make_napari_viewer()
    ann = dock(viewer, "Annotate")
    rv = dock(viewer, "Review")
    st = ann.state
    st.set_project(tmp_project)
    st.select_video("long")
    wait_loaded(qtbot, st)
    viewer.layers["long masks"].paint((9, 10, 10), 1)  # unsaved: the long video's layers stay open
    st.select_video("short")
    wait_loaded(qtbot, st)
    viewer.dims.set_current_step(0, 9)
    assert st.current_frame() == 9
    for action, step in ((ann.save_frame, ann), (ann.clear_frame, ann), (rv.save_correction, rv)):
        assert step.guard(action) is None
        assert "frame 9 is past the end of video 'short', which has 4 frames (0-3)" in step.status.text()
    assert short.provenance_counts()["none"] == 4


def test_save_correction_refuses_a_frame_the_model_never_predicted(make_napari_viewer, qtbot, tmp_project):
    """A cancelled Predict leaves a partial set: its empty frames were stored as empty 'corrected' masks."""
    frames, gt = tiny_clip(6, seed=9)
    video = tmp_project.add_video_array("a", frames, split="train")
    video.predictions["m"].start({"kind": "test"}, None)
    video.predictions["m"].set_many([0, 1], np.asarray(gt[:2], np.float32))  # cancelled after two frames
    viewer = make_napari_viewer()
    rv = dock(viewer, "Review")
    rv.state.set_project(tmp_project)
    rv.jump_to("a", 4)
    wait_loaded(qtbot, rv.state)
    assert rv.guard(rv.save_correction) is None
    assert "frame 4 of a was not predicted by 'm' (it holds 2 of 6 frames" in rv.status.text()
    assert video.provenance_counts()["corrected"] == 0
    viewer.layers["a predicted"].paint((4, 20, 20), 1)  # a painted frame is the user's own mask: saved
    assert rv.save_correction() and video.mask(4).any()
    viewer.dims.set_current_step(0, 1)
    assert rv.save_correction()  # a predicted frame accepted as it is
    np.testing.assert_array_equal(video.mask(1), (gt[1] > 0).astype(np.uint8))


def test_closing_the_window_over_unsaved_work_asks_and_no_keeps_it(make_napari_viewer, qtbot, predicted, monkeypatch):
    from qtpy.QtGui import QCloseEvent
    from qtpy.QtWidgets import QApplication

    from dvos_napari import _close_guard

    class UserClose(QCloseEvent):  # what the window's close button sends (Qt marks it spontaneous)
        def spontaneous(self):
            return True

    project, _gt = predicted
    viewer = make_napari_viewer(show=True)
    rv = dock(viewer, "Review")
    rv.state.set_project(project)
    asked = []
    monkeypatch.setattr(_close_guard, "close_anyway", lambda parent, lines: asked.append(lines) or False)
    qtbot.waitUntil(lambda: rv.state.close_guard is not None)  # the dock, once shown, guards its main window
    window = rv.window()
    assert window is rv.state.close_guard.parent()

    QApplication.sendEvent(window, UserClose())  # nothing unsaved: not asked (and not closed: napari asks nothing)
    assert asked == []
    _correct(qtbot, viewer, rv, "a", 2)
    rv.state.mark_dirty("b", [1, 3])  # and masks painted in Annotate

    event = UserClose()
    QApplication.sendEvent(window, event)
    assert asked == [["a: corrected frame 2", "b: painted mask frames 1, 3"]]
    assert not event.isAccepted() and window.isVisible()  # No: the window and the paint stay
    assert _close_guard.unsaved_work(viewer, rv.state) == asked[0]

    monkeypatch.setattr(_close_guard, "close_anyway", lambda parent, lines: True)
    assert rv.state.close_guard.eventFilter(window, UserClose()) is False  # Yes: the close goes on
    programmatic = QCloseEvent()  # a close from code (viewer.close(), scripts, tests) is never asked about
    monkeypatch.setattr(_close_guard, "close_anyway", lambda parent, lines: pytest.fail("asked"))
    assert rv.state.close_guard.eventFilter(window, programmatic) is False


def test_opening_another_project_over_unsaved_paint_asks_first(make_napari_viewer, qtbot, predicted, monkeypatch):
    from dvos_napari import _close_guard
    from dvos_napari.docks import project as project_dock

    project, _gt = predicted
    viewer = make_napari_viewer()
    pd = dock(viewer, "Project")
    pd.state.set_project(project)
    pd.state.mark_dirty("a", [4])
    asked, dialogs = [], []
    monkeypatch.setattr(_close_guard, "close_anyway", lambda parent, lines, doing: asked.append(doing) or False)
    monkeypatch.setattr(
        project_dock.QFileDialog, "getExistingDirectory", lambda *a, **k: dialogs.append(a) or str(project.path)
    )
    pd._open_dialog()
    assert asked == ["Open another project anyway"] and dialogs == []  # No: nothing opened, the paint stays
    assert pd.state.dirty == {"a": {4}}
    pd._new_dialog()
    assert asked[-1] == "Start a new project anyway" and pd.state.dirty == {"a": {4}}

    monkeypatch.setattr(_close_guard, "close_anyway", lambda parent, lines, doing: True)
    pd._open_dialog()  # Yes: the folder dialog opens
    assert len(dialogs) == 1


def test_clear_frame_asks_before_it_removes_a_saved_mask(make_napari_viewer, qtbot, predicted, monkeypatch):
    from dvos_napari.docks import annotate

    project, gt = predicted
    video = project.video("a")
    video.set_mask(1, gt[1], "manual")
    viewer = make_napari_viewer()
    an = dock(viewer, "Annotate")
    an.state.set_project(project)
    an.state.select_video("a")
    wait_loaded(qtbot, an.state)
    asked = []
    monkeypatch.setattr(
        annotate.QMessageBox, "question", lambda *a: asked.append(a[2]) or annotate.QMessageBox.StandardButton.No
    )
    viewer.dims.set_current_step(0, 1)
    an._clear_dialog()  # No: the saved manual mask stays
    assert len(asked) == 1 and "saved manual mask" in asked[0] and "no undo" in asked[0]
    assert video.provenance[1] != 0 and np.array_equal(video.mask(1) > 0, gt[1] > 0)

    viewer.dims.set_current_step(0, 2)  # nothing saved on frame 2: cleared without a question
    an._clear_dialog()
    assert len(asked) == 1

    monkeypatch.setattr(annotate.QMessageBox, "question", lambda *a: annotate.QMessageBox.StandardButton.Yes)
    viewer.dims.set_current_step(0, 1)
    an._clear_dialog()
    assert video.provenance[1] == 0


def test_ctrl_w_and_ctrl_q_over_unsaved_work_ask_first(make_napari_viewer, qtbot, predicted, monkeypatch):
    """napari's File > Close Window / Exit (Ctrl+W / Ctrl+Q) close the window from code, which the event filter lets
    pass: they ask first now; No keeps the window and the paint, and ``viewer.close()`` from code never asks."""
    from napari._app_model import get_app_model

    from dvos_napari import _close_guard

    project, _gt = predicted
    viewer = make_napari_viewer(show=True)
    rv = dock(viewer, "Review")
    rv.state.set_project(project)
    qtbot.waitUntil(lambda: rv.state.close_guard is not None)
    window = rv.window()
    asked = []
    monkeypatch.setattr(_close_guard, "close_anyway", lambda parent, lines: asked.append(lines) or False)
    rv.state.mark_dirty("b", [1, 3])
    get_app_model().commands.execute_command("napari.window.file.quit_dialog").result()  # Ctrl+Q
    assert asked == [["b: painted mask frames 1, 3"]] and window.isVisible()
    window.close(False, True)  # Ctrl+W's call when the main window is the active one
    assert len(asked) == 2 and window.isVisible()
    monkeypatch.setattr(_close_guard, "close_anyway", lambda parent, lines: pytest.fail("asked"))
    viewer.close()  # a close from code: not asked
    assert not window.isVisible()


def test_review_deletes_the_ticked_models_predictions(make_napari_viewer, qtbot, predicted, monkeypatch):
    """Review's "Delete ticked predictions...": asks, refuses over unsaved corrections of them, removes their layers,
    deletes the sets from every video and shows the next set; the other model's predictions stay."""
    from qtpy.QtWidgets import QMessageBox

    from dvos_napari._layers import mark_corrections_saved

    project, gt = predicted
    for vid in ("a", "b"):
        prediction_set(project.video(vid), "n", gt)
    viewer = make_napari_viewer()
    rv = dock(viewer, "Review")
    rv.state.set_project(project)
    rv.choose_model("m")
    _correct(qtbot, viewer, rv, "a", 2)
    rv.set_ticked(["m"])
    with pytest.raises(ValueError, match="unsaved corrections of these predictions in a"):
        rv.delete_predictions()
    mark_corrections_saved(viewer, "a")
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No)
    assert rv.delete_predictions() is None and "m: 2 video(s) (a, b)" in asked[0]
    assert project.video("a").predictions.models() == ["m", "n"]  # No: nothing deleted
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    wait_job(qtbot, rv.delete_predictions())
    assert [project.video(v).predictions.models() for v in ("a", "b")] == [["n"], ["n"]]
    assert rv.state.prediction_model is None and "deleted the predictions of m (2 video(s))" in rv.compare_info.text()
    qtbot.waitUntil(lambda: (viewer.layers["a predicted"].metadata or {}).get("dvos_model") == "n")


def test_review_keys_walk_the_worst_frames_and_save_a_correction(make_napari_viewer, qtbot, predicted):
    """W / Shift-W go to the next / previous worst frame listed (its predicted mask ready to paint), C saves the
    correction: the correcting loop without the mouse."""
    from qtpy.QtWidgets import QTableWidgetItem

    from dvos_core.store.schema import CORRECTED

    project, _gt = predicted
    viewer = make_napari_viewer()
    rv = dock(viewer, "Review")
    rv.state.set_project(project)
    with pytest.raises(ValueError, match="no worst frames listed yet"):
        rv.next_worst()
    rows = [("b", 3), ("a", 1), ("a", 5)]
    rv.worst_table.setRowCount(len(rows))
    for r, (vid, t) in enumerate(rows):
        for c, val in enumerate((vid, t, "0.5")):
            rv.worst_table.setItem(r, c, QTableWidgetItem(str(val)))
    keys = {str(k): f for k, f in viewer.keymap.items()}
    assert {"W", "Shift+W", "C"} <= set(keys)
    keys["W"](viewer)  # the first worst frame
    wait_loaded(qtbot, rv.state)
    assert (rv.state.video_id, rv.state.current_frame(), rv.worst_table.currentRow()) == ("b", 3, 0)
    keys["W"](viewer)
    wait_loaded(qtbot, rv.state)
    assert (rv.state.video_id, rv.state.current_frame()) == ("a", 1)
    layer = viewer.layers["a predicted"]
    assert viewer.layers.selection.active is layer and layer.mode == "paint"
    layer.paint((1, 30, 30), 1)
    keys["C"](viewer)
    assert project.video("a").provenance[1] == CORRECTED
    assert rv.next_worst() == 2 and rv.next_worst() == 2  # stays on the last
    assert rv.next_worst(-1) == 1
