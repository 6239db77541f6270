"""Ask before the user closes the napari window over unsaved paint or corrections.

A filter on the viewer's main window catches the close that the user starts (the window's close button, the window
manager, a system quit: Qt marks those events spontaneous) and, when masks painted in Annotate or corrections painted
in Review are not saved yet, asks whether to close anyway; No keeps the window and the paint. napari's File > Close
Window and Exit (Ctrl+W, Ctrl+Q) close the window from code (not spontaneous); they call the window's
``close(quit_app, confirm_need=True)``, which the guard wraps to ask the same question first. A close from code
(``viewer.close()``, scripts and tests: ``confirm_need`` false) is not asked about: it has already torn the viewer
down. Once the window closes, however it was closed, the jobs of its dvos steps are stopped (:func:`stop_steps`).
"""

from __future__ import annotations

import inspect
import weakref

from qtpy.QtCore import QEvent, QObject, QTimer
from qtpy.QtWidgets import QMainWindow, QMessageBox, QWidget

from dvos_napari import _layers


def unsaved_work(viewer, state) -> list[str]:
    """One line per video with unsaved work: its painted mask frames and its corrected prediction frames (of a layer
    whose data was replaced from code, the frames that differ from the project)."""
    project = state.project
    if project is None or viewer is None:
        return []
    lines = []
    try:
        ids = project.video_ids()
    except Exception:  # a project deleted or damaged under us: name what the state knows
        ids = sorted(state.dirty)
    for vid in ids:
        try:  # masks data replaced from outside dvos (layer.data = ...): its frames that differ count as painted
            _layers.resolve_replaced(viewer, state, vid)
        except Exception:  # data of another shape, a damaged video: said below as not compared
            pass
        painted = [t for t in sorted(state.dirty.get(vid, ())) if _differs_from_stored(viewer, project, vid, t)]
        corrected = _layers.unsaved_corrections(viewer, vid)
        parts = []
        if painted:
            parts.append(f"painted mask frame{'s' if len(painted) > 1 else ''} {_frames(painted)}")
        if corrected:
            parts.append(f"corrected frame{'s' if len(corrected) > 1 else ''} {_frames(corrected)}")
        parts += [  # still marked: its data could not be compared (another shape, a damaged video)
            f"the {role} layer's data, replaced from code (not comparable with the project)"
            for role in ("masks", "predicted")
            if _layers.is_replaced(viewer, vid, role)
        ]
        if parts:
            lines.append(f"{vid}: {' and '.join(parts)}")
    return lines


def _differs_from_stored(viewer, project, vid: str, t: int) -> bool:
    """Whether painted frame ``t`` of ``vid`` still differs from what the project holds: paint undone (Ctrl+Z) or
    painted back to the stored mask is nothing to save. When in doubt (no layer, a read error), it differs."""
    layer = _layers.video_layer(viewer, vid, "masks")
    try:
        return _layers.differs_from_label(project.video(vid), layer.data, t)
    except Exception:  # no layer, a frame past its end, a damaged or deleted video: keep it listed
        return True


def _frames(frames: list[int], most: int = 8) -> str:
    shown = ", ".join(map(str, frames[:most]))
    return shown + (f" ... ({len(frames)} in all)" if len(frames) > most else "")


def close_anyway(parent, lines: list[str], doing: str = "Close anyway") -> bool:
    """Ask whether to go on (``doing``: "Close anyway", ...) with ``lines`` of unsaved work; True to go on (the
    work is lost)."""
    answer = QMessageBox.question(
        parent,
        "Unsaved dvos work",
        "Not saved to the project yet:\n  " + "\n  ".join(lines) + f"\n\n{doing} and lose it? (No: keep it; save "
        "with Annotate's Save all painted frames and Review's Save correction.)",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes


def may_leave_project(parent, viewer, state, doing: str) -> bool:
    """True when the open project has no unsaved work, or the user agrees to lose it (``doing`` names the action,
    e.g. "Open another project anyway")."""
    lines = unsaved_work(viewer, state)
    return not lines or close_anyway(parent, lines, doing)


class CloseGuard(QObject):
    """Event filter of the viewer's main window: a user's close over unsaved work asks first; once the window does
    close (however it was closed), the jobs of its dvos steps are stopped."""

    def __init__(self, window, state):
        super().__init__(window)
        self._state = weakref.ref(state)
        self._closing = False  # a close is under way: the window's hide that follows it stops the steps' jobs

    def eventFilter(self, obj, event) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Hide and self._closing:
            # Qt hides a window right after its close was accepted, while its widgets still exist
            self._closing = False
            stop_steps(obj)
            return False
        if kind != QEvent.Type.Close:
            return False
        if event.spontaneous():
            state = self._state()
            lines = unsaved_work(state.viewer, state) if state is not None else []
            if lines and not close_anyway(obj, lines):
                event.ignore()
                return True  # the window stays, and so does the paint
        if not obj.isVisible():  # a window never shown (scripts, notebooks) gets no hide: stop its steps' jobs now
            stop_steps(obj)
            return False
        # napari may still keep the window (it asks about its own tasks): no hide follows then, and the next turn of
        # the event loop forgets this close
        self._closing = True
        QTimer.singleShot(0, self._close_kept)
        return False

    def _close_kept(self) -> None:
        self._closing = False


def stop_steps(window) -> None:
    """The napari window ``window`` closed: stop the jobs of every dvos step in it (a training or prediction left
    running would go on writing the project with nothing left to show or stop it; what they finished is kept)."""
    for step in window.findChildren(QWidget):  # the steps (DvosDock) by what they do: _widgets imports this module
        stop = getattr(step, "window_closed", None)
        if not callable(stop):
            continue
        try:
            stop()
        except RuntimeError:  # a part of the step already deleted
            continue


def _ask_on_menu_close(window, state) -> bool:
    """Wrap ``window.close`` when it is napari's ``close(quit_app, confirm_need)``: its Close Window and Exit
    actions (Ctrl+W, Ctrl+Q) pass ``confirm_need=True``; such a close over unsaved work asks first. Returns whether
    it wrapped (another napari may close otherwise; the event filter still guards the user's own closes)."""
    close = window.close
    try:
        if "confirm_need" not in inspect.signature(close).parameters:
            return False
    except (TypeError, ValueError):
        return False
    state_ref = weakref.ref(state)

    def close_asking_first(*args, **kwargs):
        confirm = kwargs.get("confirm_need", args[1] if len(args) > 1 else False)
        state = state_ref()
        if confirm and state is not None:
            lines = unsaved_work(state.viewer, state)
            if lines and not close_anyway(window, lines):
                return False  # the window stays, and so does the paint
        return close(*args, **kwargs)

    window.close = close_asking_first
    return True


def guard_close(state, widget) -> CloseGuard | None:
    """Install the close guard of ``state`` (once) on the main window that holds ``widget``, a dvos dock being shown
    (found through Qt's parents, not napari's private window attributes); None while it sits in no main window."""
    if getattr(state, "close_guard", None) is not None:
        return state.close_guard
    window = widget.window()
    if not isinstance(window, QMainWindow):
        return None
    state.close_guard = CloseGuard(window, state)
    window.installEventFilter(state.close_guard)
    _ask_on_menu_close(window, state)
    return state.close_guard
