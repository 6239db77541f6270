"""The keys of a step open twice in one viewer (a page of the dvos panel and a dock of its own): closing one leaves
the keys to the other (they were unbound for good), and a key goes to the one the user used last, not to the one
opened last."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


def _press(viewer, key) -> None:
    """``key`` pressed in the viewer (napari's key handler: the selected layer's keys first, then the viewer's)."""
    handler = viewer.window._qt_viewer._key_map_handler
    handler.press_key(key)
    handler.release_key(key)


def _dock_widget(viewer, name):
    return next(d for n, d in viewer.window._dock_widgets.items() if n.startswith(name))


@pytest.fixture
def shown(make_napari_viewer, qtbot, tmp_project):
    """The panel on Annotate, video "a" shown and its masks layer selected."""
    from napari_helpers import PANEL, dock, tiny_clip, wait_loaded

    frames, _ = tiny_clip(6, size=32)
    tmp_project.add_video_array("a", frames, split="train")
    viewer = make_napari_viewer()
    panel = dock(viewer, PANEL)
    panel.state.set_project(tmp_project)
    panel.state.select_video("a")
    wait_loaded(qtbot, panel.state)
    panel.go("Annotate")
    viewer.layers.selection.active = viewer.layers["a masks"]
    return viewer, panel


def _paint_and_save(viewer, project, t) -> bool:
    """Paint frame ``t`` of "a", press S: whether it was saved."""
    viewer.dims.set_current_step(0, t)
    viewer.layers["a masks"].paint((t, 16, 16), 1)
    _press(viewer, "s")
    return bool(project.video("a").provenance[t])


@pytest.mark.parametrize("closed", ["the dock", "the panel"])
def test_closing_one_of_two_annotate_steps_leaves_the_keys_to_the_other(shown, tmp_project, monkeypatch, closed):
    from napari_helpers import PANEL, dock
    from qtpy.QtWidgets import QMessageBox

    viewer, _panel = shown
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    dock(viewer, "Annotate")
    viewer.window.remove_dock_widget(_dock_widget(viewer, "Annotate" if closed == "the dock" else PANEL))
    assert {"N", "S", "Shift+S"} <= {str(k) for k in viewer.keymap}
    assert _paint_and_save(viewer, tmp_project, 2)
    for name in ("Annotate", PANEL):  # both closed: no key left
        if any(n.startswith(name) for n in viewer.window._dock_widgets):
            viewer.window.remove_dock_widget(_dock_widget(viewer, name))
    assert not {"N", "S", "Shift+S"} & {str(k) for k in viewer.keymap}
    assert not np.any(viewer.layers["a masks"].data[3])


def _worst_rows(review, rows) -> None:
    """``rows`` ((video, frame)) listed as the worst frames of ``review`` (as Evaluate lists them)."""
    from qtpy.QtWidgets import QTableWidgetItem

    review.worst_table.setRowCount(len(rows))
    for r, (vid, t) in enumerate(rows):
        for c, val in enumerate((vid, t, "0.5")):
            review.worst_table.setItem(r, c, QTableWidgetItem(str(val)))


def test_a_key_goes_to_the_review_step_used_last_not_the_one_opened_last(shown, qtbot, tmp_project, notes):
    from napari_helpers import dock, prediction_set, wait_loaded

    viewer, panel = shown
    prediction_set(tmp_project.video("a"), "m", np.zeros((6, 32, 32)))
    other = dock(viewer, "Review")  # opened last: its list is empty
    page = panel.go("Review")  # the user works on the panel's page, which lists worst frames
    _worst_rows(page, [("a", 4), ("a", 1)])
    viewer.dims.set_current_step(0, 0)
    _press(viewer, "w")
    wait_loaded(qtbot, panel.state)
    assert viewer.dims.current_step[0] == 4 and page.worst_table.currentRow() == 0
    assert not any("no worst frames listed yet" in str(n.message) for n in notes)
    other.compare_button.click()  # the user clicks in the other dock: its keys now
    notes.clear()
    _press(viewer, "w")
    assert any("no worst frames listed yet" in str(n.message) for n in notes)
    assert viewer.dims.current_step[0] == 4


def test_a_key_goes_to_the_review_step_on_screen(make_napari_viewer, qtbot, tmp_project, notes):
    """The panel and a Review dock, one of them hidden (napari's Window menu): the key goes to the one on screen,
    even when the hidden one was used last."""
    from napari_helpers import PANEL, dock, prediction_set, tiny_clip, wait_loaded

    frames, _ = tiny_clip(6, size=32)
    prediction_set(tmp_project.add_video_array("a", frames, split="train"), "m", np.zeros((6, 32, 32)))
    viewer = make_napari_viewer(show=True)
    panel = dock(viewer, PANEL)
    panel.state.set_project(tmp_project)
    panel.state.select_video("a")
    wait_loaded(qtbot, panel.state)
    page = panel.go("Review")
    _worst_rows(page, [("a", 4)])
    other = dock(viewer, "Review")
    for shown_tab, hidden in ((page, other), (other, page)):
        _dock_widget(viewer, PANEL if shown_tab is page else "Review").show()
        _dock_widget(viewer, PANEL if hidden is page else "Review").hide()
        qtbot.waitUntil(lambda shown_tab=shown_tab, hidden=hidden: shown_tab.isVisible() and not hidden.isVisible())
        hidden.compare_button.click()  # used last, but hidden
        notes.clear()
        viewer.dims.set_current_step(0, 0)
        _press(viewer, "w")
        assert (viewer.dims.current_step[0] == 4) == (shown_tab is page)
        assert any("no worst frames listed yet" in str(n.message) for n in notes) == (shown_tab is other)


def test_the_keys_work_with_any_dvos_layer_selected_and_leave_other_layers_keys_alone(
    shown, qtbot, tmp_project, monkeypatch
):
    """napari tries the selected layer's keys first: with the frames (Image) layer selected C was its auto-contrast and
    not Save correction. The dvos layers answer the dvos keys; a layer of the user's own keeps napari's (S on
    Points: select mode)."""
    from napari_helpers import prediction_set, wait_loaded
    from qtpy.QtWidgets import QMessageBox

    from dvos_napari._layers import show_predictions

    viewer, panel = shown
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    video = tmp_project.video("a")
    viewer.layers["a masks"].paint((2, 16, 16), 1)
    viewer.dims.set_current_step(0, 2)
    viewer.layers.selection.active = viewer.layers["a"]
    _press(viewer, "s")
    assert video.provenance[2] == 1  # manual
    prediction_set(video, "m", np.zeros((6, 32, 32)))
    panel.go("Review")
    show_predictions(viewer, video, panel.state)
    wait_loaded(qtbot, panel.state)
    predicted = viewer.layers["a predicted"]
    predicted.paint((3, 8, 8), 1)
    viewer.dims.set_current_step(0, 3)
    frames = viewer.layers["a"]
    frames.contrast_limits = (10, 20)
    viewer.layers.selection.active = frames
    _press(viewer, "c")
    assert video.provenance[3] == 4 and tuple(frames.contrast_limits) == (10, 20)  # corrected, no auto-contrast
    points = viewer.add_points(name="mine")
    viewer.layers.selection.active = points
    points.mode = "add"
    _press(viewer, "s")
    assert points.mode == "select"
