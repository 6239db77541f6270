"""Reusable Qt pieces of the steps: the step base class, the job bar, the message line with its "details" toggle, a
collapsible section, the object gallery and a plot that follows napari's theme."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable

import numpy as np
from qtpy.QtCore import QEvent, Qt, QTimer
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dvos_core.progress import TimeLeft, time_left_words
from dvos_napari._close_guard import guard_close
from dvos_napari._errors import UserMessage, user_message
from dvos_napari._keys import key_router, used
from dvos_napari._state import get_state
from dvos_napari._warmup import warm_up
from dvos_napari._workers import CANCEL_KEEPS, Job


def wrapped_label(text: str = "") -> QLabel:
    """A label that wraps instead of widening the panel."""
    lab = QLabel(text)
    lab.setWordWrap(True)
    lab.setMinimumWidth(40)
    return lab


def compact_combo(items=(), tooltip: str = "") -> QComboBox:
    """A combo box that does not widen the panel to its longest entry."""
    c = QComboBox()
    c.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    c.setMinimumContentsLength(6)
    c.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    c.addItems(list(items))
    if tooltip:
        c.setToolTip(tooltip)
    return c


def ask_yes_no(parent: QWidget, title: str, text: str) -> bool:
    """Ask ``text`` with Yes and No, No the default (a step's question before it replaces or stores what cannot be
    taken back): whether the answer was Yes."""
    yes, no = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
    return QMessageBox.question(parent, title, text, yes | no, no) == yes


def ask_choice(parent: QWidget, title: str, text: str, items: list[str]) -> str | None:
    """Ask ``text`` with a list of ``items`` to pick one from (the first shown), OK and Cancel: the item picked, or
    None when cancelled."""
    item, ok = QInputDialog.getItem(parent, title, text, list(items), 0, False)
    return str(item) if ok and item else None


def button(text: str, slot: Callable, tooltip: str = "") -> QPushButton:
    b = QPushButton(text)
    ref = weakref.ref(b)
    b.clicked.connect(lambda *_: (used(ref()), slot()))  # (the step clicked last gets the keys: dvos_napari._keys)
    if tooltip:
        b.setToolTip(tooltip)
    b.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
    b.setMinimumWidth(40)
    return b


def on_enter(box: QWidget, slot: Callable) -> None:
    """Enter (Return) pressed in ``box`` - a line edit, or a spin box's text - calls ``slot()``: the action of the
    button beside it. Leaving the box does not."""
    edit = box if isinstance(box, QLineEdit) else box.findChild(QLineEdit)
    edit.returnPressed.connect(lambda *_: slot())


def button_grid(*buttons: QWidget, columns: int = 2) -> QGridLayout:
    """Buttons in rows of ``columns`` (narrow panels wrap instead of cutting buttons off)."""
    grid = QGridLayout()
    grid.setContentsMargins(0, 0, 0, 0)
    for i, b in enumerate(buttons):
        grid.addWidget(b, i // columns, i % columns)
    return grid


class MessageBox(QWidget):
    """The step's message line: what happened, in plain words; errors add a "details" toggle for the technical text."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.label = wrapped_label("")
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_button = QToolButton()
        self.details_button.setText("details")
        self.details_button.setCheckable(True)
        self.details_button.setToolTip("show the technical details (for a bug report)")
        self.details_button.toggled.connect(self._toggle)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setMaximumHeight(140)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.label, 1)
        row.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignTop)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.details)
        self._toggle(False)
        self.clear()

    def _toggle(self, on: bool) -> None:
        self.details.setVisible(on)
        self.details_button.setText("hide details" if on else "details")

    def info(self, text: str) -> None:
        self.label.setStyleSheet("")
        self.label.setText(text)
        self.details_button.setChecked(False)
        self.details_button.setVisible(False)

    def error(self, message: UserMessage) -> None:
        self.label.setStyleSheet("font-weight: bold")
        self.label.setText(message.text)
        self.details.setPlainText(message.details)
        self.details_button.setChecked(False)
        self._toggle(False)
        self.details_button.setVisible(bool(message.details))

    def clear(self) -> None:
        self.info("")

    def text(self) -> str:
        return self.label.text()


class JobBar(QWidget):
    """A progress bar and a Cancel button bound to the step's running :class:`Job`, above its message line."""

    show_progress_text = True  # progress messages go to the message line (a step may report in its own words)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("stop the running job; what it finished so far is kept")
        self.messages = MessageBox()
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.messages)
        self.job: Job | None = None
        self._time_left = TimeLeft()
        self._said = ""  # the last message the bar wrote itself
        self.cancel_button.clicked.connect(self.cancel)

    @property
    def status(self) -> QLabel:
        return self.messages.label

    def attach(self, job: Job) -> None:
        self.job = job
        self._time_left = TimeLeft()
        self.bar.setFormat("%p%")
        self.bar.setRange(0, 0)  # busy until the first progress report
        self._say(f"{job.label}: starting...")
        self.cancel_button.setEnabled(True)
        job.progressed.connect(self._on_progress)
        job.finished.connect(self._on_finished)

    def cancel(self) -> None:
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.messages.info(f"{self.job.label}: cancelling...")
            self.cancel_button.setEnabled(False)

    def _on_progress(self, done: int, total: int, msg: str) -> None:
        if total > 0:
            self.bar.setRange(0, total)
            self.bar.setValue(min(done, total))
        left = self._time_left.update(done, total)  # the bar says how long is left once it can tell
        self.bar.setFormat(f"%p% - {time_left_words(left)}" if left is not None and done < total else "%p%")
        if msg and self.show_progress_text:
            self._say(f"{self.job.label}: {msg}" if self.job else msg)

    def _on_finished(self, status: str) -> None:
        self.bar.setFormat("%p%")
        self.bar.setRange(0, 1)
        self.bar.setValue(1 if status == "ok" else 0)
        label = self.job.label if self.job else "job"
        if status == "error" and self.job is not None and self.job.message is not None:
            self.messages.error(UserMessage(f"{label} failed: {self.job.message.text}", self.job.message.details))
        elif status != "ok" or self.messages.text() == self._said:  # keep what the step wrote about its result
            kept = self.job.cancel_keeps if self.job is not None else CANCEL_KEEPS
            words = {"ok": "done", "cancelled": f"cancelled ({kept})", "killed": "ended"}
            self._say(f"{label}: {words.get(status, status)}")
        self.cancel_button.setEnabled(False)

    def _say(self, text: str) -> None:
        self._said = text
        self.messages.info(text)


class Collapsible(QWidget):
    """A header button that shows or hides ``content`` (collapsed by default)."""

    def __init__(self, title: str, content: QWidget, expanded: bool = False, parent=None):
        super().__init__(parent)
        self.title = title
        self.toggle_button = QToolButton()
        self.toggle_button.setCheckable(True)
        self.toggle_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle_button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.toggle_button.setStyleSheet("QToolButton { border: none; font-weight: bold; text-align: left; }")
        self.toggle_button.toggled.connect(self.set_expanded)
        self.toggle_button.setToolTip("click to show or hide this section")
        self.content = content
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.toggle_button)
        lay.addWidget(content)
        self.set_expanded(expanded)

    def set_expanded(self, on: bool) -> None:
        self.toggle_button.blockSignals(True)
        self.toggle_button.setChecked(on)
        self.toggle_button.blockSignals(False)
        self.toggle_button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.toggle_button.setText(self.title)
        self.content.setVisible(on)

    @property
    def expanded(self) -> bool:
        return self.toggle_button.isChecked()


def section(title: str) -> QLabel:
    """A bold heading inside a step."""
    lab = wrapped_label(title)
    lab.setStyleSheet("font-weight: bold; margin-top: 6px")
    return lab


class Listening:
    """The (signal, slot) pairs a widget of the panel listens to while it is open: connected when added (if open),
    dropped when it closes and connected again when it opens (a closed step or panel no longer reacts)."""

    def __init__(self):
        self.pairs: list[tuple] = []
        self.open = True

    def add(self, signal, slot) -> None:
        self.pairs.append((signal, slot))
        if self.open:
            signal.connect(slot)

    def set_open(self, open_: bool) -> bool:
        """Connect (``open_``) or drop every pair; False when it was so already."""
        if open_ == self.open:
            return False
        self.open = open_
        for signal, slot in self.pairs:
            if open_:
                signal.connect(slot)
            else:
                with contextlib.suppress(Exception):  # already gone with its emitter
                    signal.disconnect(slot)
        return True


class DvosDock(QScrollArea):
    """Base of every dvos step: scrolls vertically (never sideways), holds the viewer and its shared state, and runs
    one job at a time. Subclasses lay out ``self.body``. The same widget is a step page of the dvos panel and a
    dock of its own (Plugins menu)."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(parent)
        warm_up()
        self.viewer = napari_viewer
        self.state = get_state(napari_viewer)
        self.job: Job | None = None
        self.job_bar = JobBar()
        self._busy_widgets: list[QWidget] = []
        self._listening = Listening()  # signals of the shared state and the viewer: dropped while the step is closed
        self._key_actions: dict = {}
        self._keys: list = []  # the keys bound (while open)
        self.is_open = True  # False once napari took the step (its dock, or the panel holding it) out of the window
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.body = QWidget()
        self.body.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setWidget(self.body)
        self.setMinimumWidth(260)

    def showEvent(self, event) -> None:
        """Once shown inside napari's main window, closing that window over unsaved paint asks first."""
        guard_close(self.state, self)
        super().showEvent(event)

    # ---- open and closed -----------------------------------------------------------------------------------------
    def listen(self, signal, slot) -> None:
        """Connect ``slot`` to a signal of the shared state or the viewer while the step is open: a closed step (its
        dock closed, or the panel holding it) no longer reacts, so a step closed and opened again from the Plugins
        menu does not do its work twice (or report its errors twice)."""
        self._listening.add(signal, slot)

    def event(self, event) -> bool:
        """napari removes a dock by taking its widget out of the window (parent None): the step closes then (and
        opens again when put back)."""
        if event.type() == QEvent.Type.ParentChange and hasattr(self, "is_open"):  # not while being built
            if self.parent() is None:
                self.step_closed()
            else:
                self.step_reopened()
                # in a window never shown (napari.Viewer(show=False): scripts, notebooks) showEvent never comes:
                # guard the window once the dock is in it, so closing it still stops the step's jobs
                QTimer.singleShot(0, self._guard_window)
        return super().event(event)

    def _guard_window(self) -> None:
        if self.is_open:
            guard_close(self.state, self)

    def step_closed(self) -> None:
        """The step left the window: unbind its keys, stop listening to the shared state, stop its job (what it
        finished is kept: nobody could see or cancel it any more, and a step opened again would run beside it)."""
        if not self.is_open:
            return
        self.is_open = False
        if self._keys:
            self._unbind_keys()
        self._listening.set_open(False)
        self.on_closed()
        self.stop_job_on_close()

    def step_reopened(self) -> None:
        """The same step was put back into a window: listen and bind its keys again, and catch up on what changed."""
        if self.is_open:
            return
        self.is_open = True
        self._listening.set_open(True)
        if self._key_actions:
            self.bind_keys(self._key_actions)
        self.on_reopened()
        for signal, slot in self._listening.pairs:  # the refreshers: what the project holds may have changed meanwhile
            if signal is self.state.store_changed:
                slot()

    def window_closed(self) -> None:
        """The napari window holding the step was closed (:mod:`dvos_napari._close_guard`): stop its job as when its
        dock is closed; nothing could show or stop it any more, and another napari may still run."""
        self.step_closed()

    def on_closed(self) -> None:
        """Hook: stop what the step runs by itself (timers)."""

    def on_reopened(self) -> None:
        """Hook: start again what :meth:`on_closed` stopped."""

    def stop_job_on_close(self) -> None:
        from napari.utils.notifications import show_info

        if self.job is not None and self.job.running:
            self.job.cancel()
            name = type(self).__name__.removesuffix("Dock")
            show_info(f"the {name} step was closed: stopped {self.job.label} (what it finished is kept)")

    # ---- keys --------------------------------------------------------------------------------------------------
    def bind_keys(self, actions: dict) -> None:
        """Bind viewer keys (napari names: "n", "Shift-S") to this step's actions, each run through :meth:`guard`
        while the step is shown (:meth:`page_shown`; else the key only says which step it works in); they are
        unbound again when the step is closed. The same step open twice (the panel's page and a dock of its own)
        shares the keys: :mod:`dvos_napari._keys` says which one a press goes to."""
        self._key_actions = dict(actions)
        self._keys = list(actions)
        key_router(self.viewer).bind(self, self._keys)

    def page_shown(self) -> bool:
        """Whether this step is the one shown: a page of the dvos panel only while the panel shows that page (the
        panel builds every step at once and keeps the others hidden); a step in a dock of its own always."""
        parent = self.parentWidget()
        return parent.currentWidget() is self if isinstance(parent, QStackedWidget) else True

    def _key_pressed(self, key: str, action: Callable):
        """A key of this step: its action while the step is shown; else nothing but a word saying where it works
        (S pressed on the Review page must not save the masks layer's frame, nor C on the Annotate page a
        correction)."""
        if self.page_shown():
            return self.guard(action)
        from napari.utils.notifications import show_info

        name = type(self).__name__.removesuffix("Dock")
        shown = key.replace("-", "+")
        show_info(
            f"dvos: {shown.upper() if len(shown) == 1 else shown} works in the {name} step, which is not the "
            f"step shown: nothing done (open the {name} step to use it)"
        )
        return None

    def _unbind_keys(self) -> None:
        key_router(self.viewer).unbind(self, self._keys)
        self._keys = []

    @property
    def messages(self) -> MessageBox:
        return self.job_bar.messages

    def forget_messages(self) -> None:
        """Clear the step's message line (another project is open: "no dvos project is open" and the last project's
        errors no longer hold), unless a job of this step is running and reports there."""
        if self.job is None or not self.job.running:
            self.messages.clear()

    @property
    def status(self) -> QLabel:
        """The step's message line (what happened last)."""
        return self.job_bar.status

    def threads(self) -> int | None:
        """CPU threads for this step's jobs (None: the machine default, see :mod:`dvos_core.machine`)."""
        return None

    def run(
        self, func: Callable | str, *args, label: str, on_result: Callable | None = None, process: bool = True, **kwargs
    ) -> Job | None:
        """Start ``func`` as a background job (in a child process unless ``process=False``) unless one is running."""
        from napari.utils.notifications import show_warning

        from dvos_core.machine import default_threads

        if self.job is not None and self.job.running:
            show_warning(f"{self.job.label} is still running; wait for it or press Cancel")
            return None
        threads = (self.threads() or default_threads()) if process else None
        if on_result is not None and self.state.project is not None:
            on_result = self._in_this_project(on_result, str(self.state.project.path), label)
        job = Job(func, *args, label=label, on_result=on_result, process=process, threads=threads, owner=self, **kwargs)
        try:  # a job that cannot start (no memory for its process) leaves the step as it was: buttons usable
            job.start()
        except BaseException:
            job.cancel()  # (a child started before the failure stops)
            raise
        self.job = job  # no report comes before the event loop runs again: the bar and the step follow it from here
        self.job_bar.attach(job)
        job.finished.connect(self._job_finished)
        self._set_busy(True)
        return job

    def _in_this_project(self, on_result: Callable, where: str, label: str) -> Callable:
        """``on_result`` of a job started on the project at ``where``; once another project is open (or none), the
        result is not shown over that one (its layers, its video, its chosen model): the step says where it went."""
        import os

        def shown_where_it_belongs(result):
            now = self.state.project
            if now is not None and os.path.realpath(str(now.path)) == os.path.realpath(where):
                return on_result(result)
            from napari.utils.notifications import show_info

            text = (
                f"{label}: finished on the project {where}, which is no longer open here, so its result is not "
                f"shown over this one; what it wrote is kept (open that project again in the Project step to see it)"
            )
            self.messages.info(text)
            show_info(text)
            return None

        return shown_where_it_belongs

    def _job_finished(self, status: str) -> None:
        self._set_busy(False)

    def _set_busy(self, busy: bool) -> None:
        for w in self._busy_widgets:
            w.setEnabled(not busy)

    def guard(self, action: Callable, *args, **kwargs):
        """Run a GUI action; an error becomes a notification and the step's message (with details), in user words."""
        from napari.utils.notifications import show_error

        try:
            return action(*args, **kwargs)
        except Exception as e:
            msg = user_message(e)
            self.messages.error(msg)
            show_error(f"dvos: {msg.text}")
        return None


def rgba_pixmap(rgba: np.ndarray, size: int = 64) -> QPixmap:
    """An RGBA (or RGB) uint8 crop as a pixmap scaled to fit ``size`` px."""
    a = np.ascontiguousarray(rgba if rgba.shape[-1] == 4 else np.dstack([rgba, np.full(rgba.shape[:2], 255, np.uint8)]))
    h, w = a.shape[:2]
    img = QImage(a.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()
    return QPixmap.fromImage(img).scaled(
        size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
    )


class Gallery(QScrollArea):
    """A scrollable grid of object crops (extracted heads or fakes); as many columns as the width allows."""

    def __init__(self, thumb: int = 52, parent=None):
        super().__init__(parent)
        self.thumb = thumb
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._inner = QWidget()
        self._grid = QGridLayout(self._inner)
        self._grid.setSpacing(2)
        self._grid.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setWidget(self._inner)
        self.setMinimumHeight(thumb * 2 + 16)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._labels: list[QLabel] = []
        self.count = 0

    @property
    def columns(self) -> int:
        return max(1, (self.viewport().width() - 4) // (self.thumb + 6))

    def sizeHint(self):
        hint = super().sizeHint()
        hint.setHeight(self.thumb * 3 + 24)
        return hint

    def set_items(self, crops: list, tooltips: list | None = None) -> None:
        for lab in self._labels:
            self._grid.removeWidget(lab)
            lab.deleteLater()
        self._labels = []
        for i, crop in enumerate(crops):
            lab = QLabel()
            lab.setPixmap(rgba_pixmap(crop, self.thumb))
            lab.setFixedSize(self.thumb + 4, self.thumb + 4)
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
            if tooltips:
                lab.setToolTip(str(tooltips[i]))
            self._labels.append(lab)
        self._reflow()
        self.count = len(crops)

    def _reflow(self) -> None:
        cols = self.columns
        for i, lab in enumerate(self._labels):
            self._grid.addWidget(lab, i // cols, i % cols)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._reflow()
