"""The dvos panel in a 1280x800 napari window: every step page (advanced settings open) fits the panel's width, no
button or label is squeezed below the size its text needs, everything is reachable by scrolling, and the panel lies
inside the window and the window inside the screen."""

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
WIDTH, HEIGHT = 1280, 800


def _inside(outer, inner) -> bool:
    return (
        inner.left() >= outer.left()
        and inner.top() >= outer.top()
        and inner.right() <= outer.right()
        and inner.bottom() <= outer.bottom()
    )


def test_every_step_fits_a_1280x800_window(make_napari_viewer, qtbot, tmp_project):
    from qtpy.QtCore import QPoint, QRect
    from qtpy.QtWidgets import QAbstractButton, QApplication, QLabel, QWidget

    from dvos_napari._steps import STEPS
    from dvos_napari._widgets import Collapsible

    v = tmp_project.add_video_array("plot_with_a_long_name_1", np.zeros((8, 48, 48, 3), np.uint8), split="train")
    v.set_mask(2, np.eye(48, dtype=np.uint8), "manual")
    viewer = make_napari_viewer(show=True)
    win = viewer.window._qt_window
    win.resize(WIDTH, HEIGHT)
    panel = dock(viewer, PANEL)
    panel.state.set_project(tmp_project)
    panel.state.select_video(v.name)
    wait_loaded(qtbot, panel.state)
    qtbot.wait(50)
    assert (win.width(), win.height()) == (WIDTH, HEIGHT)
    screen = win.screen().availableGeometry()
    assert _inside(screen, win.frameGeometry()), (screen, win.frameGeometry())
    window_rect = QRect(QPoint(0, 0), win.size())
    dock_widget = panel.parentWidget()
    while dock_widget is not None and dock_widget.parentWidget() is not win:
        dock_widget = dock_widget.parentWidget()
    assert dock_widget is not None and _inside(window_rect, dock_widget.geometry())
    for b in panel.step_buttons.values():  # the step bar: every step visible, its name not cut
        assert b.isVisible() and b.width() >= b.minimumSizeHint().width() - 2, (b.text(), b.width())
    problems = []
    for name in STEPS:
        page = panel.go(name)
        for c in page.findChildren(Collapsible):
            c.set_expanded(True)
        QApplication.processEvents()
        qtbot.wait(20)
        body, viewport = page.widget(), page.viewport()
        if body.width() > viewport.width():
            problems.append(f"{name}: the page is {body.width()} px wide in a {viewport.width()} px panel")
        for w in body.findChildren(QWidget):
            if not w.isVisibleTo(body) or w.width() <= 0:
                continue
            pos = w.mapTo(body, QPoint(0, 0))
            if pos.x() < 0 or pos.x() + w.width() > body.width() + 1:
                problems.append(f"{name}: {type(w).__name__} {getattr(w, 'text', lambda: '')()!r} sticks out")
            needs_text_room = isinstance(w, QAbstractButton) or (isinstance(w, QLabel) and not w.wordWrap())
            if needs_text_room and w.text() and w.width() < w.minimumSizeHint().width() - 2:
                problems.append(f"{name}: {type(w).__name__} {w.text()!r} is cut ({w.width()} px)")
        last = body.findChildren(QWidget)[-1] if body.findChildren(QWidget) else body  # the page's end: reachable
        page.ensureWidgetVisible(last, 0, 0)
        QApplication.processEvents()
        top_left = last.mapTo(viewport, QPoint(0, 0))
        if not _inside(viewport.rect().adjusted(0, 0, 1, 1), QRect(top_left, last.size())) and last.isVisible():
            problems.append(f"{name}: the bottom of the page cannot be scrolled into view")
        bar = page.job_bar  # pinned below the page, always in view
        if not _inside(page.rect(), bar.geometry()) or bar.geometry().intersects(viewport.geometry()):
            problems.append(f"{name}: the job bar {bar.geometry()} is not below the page {viewport.geometry()}")
        page_rect = QRect(page.mapTo(win, QPoint(0, 0)), page.size())
        if not _inside(window_rect, page_rect):
            problems.append(f"{name}: the page is outside the window {page_rect}")
    assert not problems, "\n".join(problems)
