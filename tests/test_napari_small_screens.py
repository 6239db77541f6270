"""The dvos panel at its minimum width (what napari gives it on a laptop screen at 150% scaling, or in its default
unmaximized window), with the normal font and a font 4 points larger: nothing is cut (buttons, check boxes and
labels wrap instead), no row is squeezed below the height its widget needs, the step bar shows whole names, tables
keep their names readable and the job bar stays in view while a job runs."""

from __future__ import annotations

import os

import numpy as np
import pytest
from napari_helpers import PANEL, dock, wait_loaded

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


@pytest.fixture(params=[0, 4], ids=["font", "font+4pt"])
def larger_font(request, qapp):
    font = qapp.font()
    if request.param:
        bigger = qapp.font()
        bigger.setPointSize(font.pointSize() + request.param)
        qapp.setFont(bigger)
    yield request.param
    qapp.setFont(font)


def narrowest_panel(viewer, qtbot, project, video):
    """The dvos panel docked in a 1280x800 window and made as narrow as it goes."""
    from qtpy.QtCore import Qt

    win = viewer.window._qt_window
    win.resize(1280, 800)
    panel = dock(viewer, PANEL)
    panel.state.set_project(project)
    panel.state.select_video(video)
    wait_loaded(qtbot, panel.state)
    dock_widget = panel.parentWidget()
    while dock_widget.parentWidget() is not win:
        dock_widget = dock_widget.parentWidget()
    win.resizeDocks([dock_widget], [100], Qt.Orientation.Horizontal)  # as narrow as the panel lets it
    qtbot.wait(50)
    assert panel.width() <= panel.minimumWidth() + 4, (panel.width(), panel.minimumWidth())
    return panel


def cut_widgets(page) -> list[str]:
    """What is cut or squeezed on a step page, in words (empty: everything shows whole)."""
    from qtpy.QtCore import QPoint
    from qtpy.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QLabel, QLineEdit, QWidget

    body, viewport = page.widget(), page.viewport()
    problems = []
    if body.width() > viewport.width():
        problems.append(f"the page is {body.width()} px wide in a {viewport.width()} px panel")
    for w in body.findChildren(QWidget):
        if not w.isVisibleTo(body) or w.width() <= 0:
            continue
        text = w.text() if isinstance(w, (QAbstractButton, QLabel)) else ""
        what = f"{type(w).__name__} {text or getattr(w, 'currentText', lambda: '')()!r}"
        pos = w.mapTo(body, QPoint(0, 0))
        if pos.x() < 0 or pos.x() + w.width() > body.width() + 1:
            problems.append(f"{what} sticks out ({pos.x()}+{w.width()} of {body.width()} px)")
        needs_text_room = isinstance(w, QAbstractButton) or (isinstance(w, QLabel) and not w.wordWrap())
        if text and needs_text_room and w.width() < w.minimumSizeHint().width() - 1:
            problems.append(f"{what} is cut: {w.width()} px of {w.minimumSizeHint().width()}")
        if text and (w.hasHeightForWidth() or (isinstance(w, QLabel) and w.wordWrap())):
            need = w.heightForWidth(w.width())
            if w.height() < need - 1:
                problems.append(f"{what} is clipped: {w.height()} px high of {need}")
        inside = isinstance(w.parentWidget(), (QComboBox, QAbstractSpinBox))  # (an editable box's own line edit)
        box = isinstance(w, (QAbstractButton, QComboBox, QLineEdit, QAbstractSpinBox)) and not inside
        if box and w.height() < w.minimumSizeHint().height() - 1:
            problems.append(f"{what} is squeezed: {w.height()} px high of {w.minimumSizeHint().height()}")
    return problems


def test_nothing_is_cut_at_the_panels_minimum_width(make_napari_viewer, qtbot, tmp_project, larger_font):
    from qtpy.QtWidgets import QApplication

    from dvos_napari._steps import STEPS
    from dvos_napari._widgets import Collapsible

    v = tmp_project.add_video_array("plot_with_a_long_name_1", np.zeros((8, 48, 48, 3), np.uint8), split="train")
    v.set_mask(2, np.eye(48, dtype=np.uint8), "manual")
    panel = narrowest_panel(make_napari_viewer(show=True), qtbot, tmp_project, v.name)
    problems = []
    for name in STEPS:
        page = panel.go(name)
        for expanded in (False, True):
            for c in page.findChildren(Collapsible):
                c.set_expanded(expanded)
            for _ in range(3):  # wrapped text settles its height
                QApplication.processEvents()
                qtbot.wait(10)
            problems += [f"{name} ({'open' if expanded else 'closed'}): {p}" for p in cut_widgets(page)]
    assert not problems, f"panel {panel.width()} px:\n" + "\n".join(problems)


def test_step_bar_names_are_whole_at_the_minimum_width(make_napari_viewer, qtbot, tmp_project, larger_font):
    v = tmp_project.add_video_array("clip", np.zeros((4, 32, 32, 3), np.uint8))
    panel = narrowest_panel(make_napari_viewer(show=True), qtbot, tmp_project, v.name)
    cut = [
        f"{b.text()!r}: {b.width()} px of {b.sizeHint().width()}"
        for b in panel.step_buttons.values()
        if not b.isVisible() or b.width() < b.sizeHint().width() - 1 or b.height() < b.sizeHint().height() - 1
    ]
    assert not cut, f"step bar names cut in a {panel.width()} px panel: {cut}"
    buttons = panel.step_buttons.values()
    assert all(b.x() >= 0 and b.geometry().right() < panel.width() for b in buttons)


def test_job_bar_stays_in_view_while_a_job_runs(make_napari_viewer, qtbot, tmp_project):
    """Extract's page (advanced settings open) is longer than the panel: the progress bar, Cancel and the message
    line stay below it in view while its job runs, wherever the page is scrolled."""
    import threading

    from qtpy.QtWidgets import QApplication

    from dvos_napari._widgets import Collapsible

    v = tmp_project.add_video_array("clip", np.zeros((4, 32, 32, 3), np.uint8))
    panel = narrowest_panel(make_napari_viewer(show=True), qtbot, tmp_project, v.name)
    page = panel.go("Extract")
    for c in page.findChildren(Collapsible):
        c.set_expanded(True)
    release = threading.Event()

    def work(progress=None, cancel=None):
        while not release.wait(0.02) and not (cancel is not None and cancel.cancelled):
            pass

    job = page.run(work, label="extracting heads", process=False)
    try:
        qtbot.wait(50)
        assert page.verticalScrollBar().maximum() > 0, "the page fits: the test shows nothing"
        bar = page.job_bar
        for where in (0, page.verticalScrollBar().maximum()):
            page.verticalScrollBar().setValue(where)
            QApplication.processEvents()
            for w in (bar.bar, bar.cancel_button, bar.status):
                assert w.isVisible() and not w.visibleRegion().isEmpty(), (type(w).__name__, where)
            assert "extracting heads" in bar.status.text() and bar.cancel_button.isEnabled()
            top_left = bar.mapTo(panel, bar.rect().topLeft())
            assert top_left.y() >= 0 and top_left.y() + bar.height() <= panel.height(), (top_left, bar.height())
    finally:
        release.set()
        qtbot.waitUntil(lambda: job.status is not None, timeout=10_000)


def test_review_tables_keep_names_readable_at_the_minimum_width(make_napari_viewer, qtbot, tmp_project):
    from qtpy.QtWidgets import QApplication, QTableWidgetItem

    name = "plot_with_a_long_name_from_the_2024_field_trials"
    v = tmp_project.add_video_array(name, np.zeros((4, 32, 32, 3), np.uint8), split="test")
    panel = narrowest_panel(make_napari_viewer(show=True), qtbot, tmp_project, v.name)
    page = panel.go("Review")
    for table, row in (
        (page.videos_table, (name, "4", "0.812", "0.701", "1.25")),
        (page.worst_table, (name, "3", "0.1")),
    ):
        table.setRowCount(1)
        for c, text in enumerate(row):
            table.setItem(0, c, QTableWidgetItem(text))
        QApplication.processEvents()
        qtbot.wait(20)
        need = table.fontMetrics().horizontalAdvance(name)
        assert table.columnWidth(0) >= need, (table.columnWidth(0), need)  # the name whole, not '...'
        for c in range(1, table.columnCount()):  # the numbers whole too, reached by scrolling sideways
            assert table.columnWidth(c) >= table.fontMetrics().horizontalAdvance(row[c]), (c, table.columnWidth(c))
