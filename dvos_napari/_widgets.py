"""Reusable Qt pieces of the steps: the step base class, the job bar, the message line with its "details" toggle, a
collapsible section, the object gallery and a plot that follows napari's theme."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable

import numpy as np
from qtpy.QtCore import QEvent, QObject, QRect, QSize, Qt, QTimer
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLayout,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QStyle,
    QStyleOptionButton,
    QStylePainter,
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


class _WrapsText:
    """Text of a button or check box that wraps onto more lines where the widget is narrower than it (a narrow panel,
    a large font): the widget then needs no more width than its longest word, and grows a line higher per line."""

    _control = QStyle.ControlElement.CE_PushButton
    _lines = 1

    def _one_line(self) -> QSize:
        return super().sizeHint()

    def _chrome(self) -> int:
        """The width the widget adds to its text (margins, a check box's box)."""
        return self._one_line().width() - self.fontMetrics().horizontalAdvance(self.text())

    def wrapped(self, width: int) -> list[str]:
        """The text's lines in a widget ``width`` px wide."""
        text = self.text()
        if width >= self._one_line().width() or " " not in text:
            return [text]
        fm, room, lines = self.fontMetrics(), width - self._chrome(), []
        for word in text.split(" "):
            if lines and fm.horizontalAdvance(f"{lines[-1]} {word}") <= room:
                lines[-1] = f"{lines[-1]} {word}"
            else:
                lines.append(word)
        return lines

    def _height(self, lines: int) -> int:
        return self._one_line().height() + (lines - 1) * self.fontMetrics().lineSpacing()

    def minimumSizeHint(self) -> QSize:
        fm = self.fontMetrics()
        word = max((fm.horizontalAdvance(w) for w in self.text().split(" ")), default=0)
        return QSize(min(self._chrome() + word, self._one_line().width()), self._height(1))

    def sizeHint(self) -> QSize:
        return QSize(self._one_line().width(), self._height(self._lines))

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._height(len(self.wrapped(width)))

    def _rewrap(self) -> None:
        lines = len(self.wrapped(self.width()))
        if lines != self._lines:
            self._lines = lines
            self.updateGeometry()
            self.update()

    def setText(self, text: str) -> None:
        super().setText(text)
        self._rewrap()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._rewrap()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._rewrap()

    def paintEvent(self, event) -> None:
        if self._lines <= 1:
            return super().paintEvent(event)
        painter = QStylePainter(self)
        opt = QStyleOptionButton()
        self.initStyleOption(opt)
        opt.text = "\n".join(self.wrapped(self.width()))
        painter.drawControl(self._control, opt)
        return None


class WrapButton(_WrapsText, QPushButton):
    """A push button whose text wraps in a narrow panel instead of being cut."""


class WrapCheckBox(_WrapsText, QCheckBox):
    """A check box whose text wraps in a narrow panel instead of being cut; a click anywhere on it toggles it."""

    _control = QStyle.ControlElement.CE_CheckBox

    def __init__(self, *args):
        super().__init__(*args)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

    def hitButton(self, pos) -> bool:
        return self.rect().contains(pos)


def check_box(text: str, tooltip: str = "") -> WrapCheckBox:
    """A check box whose text wraps in a narrow panel."""
    box = WrapCheckBox(text)
    if tooltip:
        box.setToolTip(tooltip)
    return box


def button(text: str, slot: Callable, tooltip: str = "") -> QPushButton:
    """A push button (its text wraps in a narrow panel) running ``slot``."""
    b = WrapButton(text)
    ref = weakref.ref(b)
    b.clicked.connect(lambda *_: (used(ref()), slot()))  # (the step clicked last gets the keys: dvos_napari._keys)
    if tooltip:
        b.setToolTip(tooltip)
    b.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
    return b


def on_enter(box: QWidget, slot: Callable) -> None:
    """Enter (Return) pressed in ``box`` - a line edit, or a spin box's text - calls ``slot()``: the action of the
    button beside it. Leaving the box does not."""
    edit = box if isinstance(box, QLineEdit) else box.findChild(QLineEdit)
    edit.returnPressed.connect(lambda *_: slot())


class FlowLayout(QLayout):
    """Widgets side by side, as many to a row as fit (at most ``columns``), each row filling the width: a narrow
    panel gets more rows instead of cutting them."""

    def __init__(self, parent=None, columns: int = 0):
        super().__init__(parent)
        self.columns = columns
        self._items: list = []
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item) -> None:
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int):
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int):
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self):
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect) -> None:
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    def _gap(self) -> int:
        gap = self.spacing()
        if gap < 0:
            parent = self.parentWidget()
            style = parent.style() if parent is not None else None
            gap = (
                style.layoutSpacing(*(QSizePolicy.ControlType.PushButton,) * 2, Qt.Orientation.Horizontal)
                if style
                else 6
            )
        return max(gap, 0)

    def _shown(self) -> list:
        return [item for item in self._items if not item.isEmpty()]

    def _margins(self) -> tuple[int, int]:
        m = self.contentsMargins()
        return m.left() + m.right(), m.top() + m.bottom()

    def sizeHint(self) -> QSize:
        items, (mw, mh) = self._shown(), self._margins()
        row = items[: self.columns] if self.columns else items
        width = sum(i.sizeHint().width() for i in row) + self._gap() * max(len(row) - 1, 0)
        return QSize(width + mw, max((i.sizeHint().height() for i in items), default=0) + mh)

    def minimumSize(self) -> QSize:
        items, (mw, mh) = self._shown(), self._margins()
        return QSize(
            max((i.minimumSize().width() for i in items), default=0) + mw,
            max((i.minimumSize().height() for i in items), default=0) + mh,
        )

    def _arrange(self, rect, move: bool) -> int:
        """Lay the items out in ``rect`` (``move``: place them): the height they take."""
        m = self.contentsMargins()
        room = max(rect.width() - m.left() - m.right(), 1)
        gap, rows = self._gap(), [[]]
        used = 0
        for item in self._shown():
            want = min(max(item.sizeHint().width(), item.minimumSize().width()), room)
            full = self.columns and len(rows[-1]) >= self.columns
            if rows[-1] and (full or used + gap + want > room):
                rows.append([])
                used = 0
            used += (gap if rows[-1] else 0) + want
            rows[-1].append([item, want])
        y = rect.y() + m.top()
        for row in (r for r in rows if r):
            extra = room - sum(w for _, w in row) - gap * (len(row) - 1)
            wide = [c for c in row if c[0].expandingDirections() & Qt.Orientation.Horizontal] or row
            for k, cell in enumerate(wide):  # the room left to the items that expand (else to all): the row is full
                cell[1] += extra // len(wide) + (1 if k < extra % len(wide) else 0)
            height = max(i.heightForWidth(w) if i.hasHeightForWidth() else i.sizeHint().height() for i, w in row)
            x = rect.x() + m.left()
            for item, w in row:
                if move:
                    item.setGeometry(QRect(x, y, w, height))
                x += w + gap
            y += height + gap
        return y - gap - rect.y() + m.bottom()


class _FitsHeight(QObject):
    """Keeps a word-wrapped label as high as its lines at its width (QFormLayout does not ask a label's height for
    its width: a row label wrapped onto two lines stayed one line high, its text clipped)."""

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.Resize and isinstance(obj, QLabel) and obj.wordWrap():
            need = obj.heightForWidth(obj.width())
            if need > 0 and need != obj.minimumHeight():
                obj.setMinimumHeight(need)
        return False


_fits_height = None


def fit_form(form: QFormLayout) -> None:
    """Rows of ``form`` that fit a narrow panel: a label goes above its field where both do not fit side by side, and
    wraps onto more lines (the row as high as they are) where it is wider than the panel."""
    global _fits_height
    if _fits_height is None:
        _fits_height = _FitsHeight()
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
    for row in range(form.rowCount()):
        item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
        label = item.widget() if item is not None else None
        if isinstance(label, QLabel) and label.text():
            label.setWordWrap(True)  # and at most about 20 characters a line: a long label does not widen its form
            label.setMaximumWidth(max(label.minimumSizeHint().width(), 20 * label.fontMetrics().averageCharWidth()))
            label.removeEventFilter(_fits_height)
            label.installEventFilter(_fits_height)


def button_grid(*buttons: QWidget, columns: int = 2) -> FlowLayout:
    """Buttons in rows of ``columns``, fewer to a row where the panel is too narrow for them."""
    flow = FlowLayout(columns=columns)
    for b in buttons:
        flow.addWidget(b)
    return flow


def button_row(*widgets: QWidget) -> FlowLayout:
    """Widgets side by side in one row where they fit, wrapped onto more rows where they do not."""
    return button_grid(*widgets, columns=0)


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
    """A header (an arrow and the bold title, which wraps in a narrow panel) that shows or hides ``content`` when
    clicked (collapsed by default)."""

    def __init__(self, title: str, content: QWidget, expanded: bool = False, parent=None):
        super().__init__(parent)
        self.toggle_button = QToolButton()
        self.toggle_button.setCheckable(True)
        self.toggle_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.toggle_button.setStyleSheet("QToolButton { border: none; }")
        self.toggle_button.toggled.connect(self.set_expanded)
        self.toggle_button.setToolTip("click to show or hide this section")
        self.title_label = wrapped_label(title)
        self.title_label.setStyleSheet("font-weight: bold")
        self.title_label.setToolTip("click to show or hide this section")
        self.title_label.setCursor(Qt.CursorShape.PointingHandCursor)
        self.title_label.installEventFilter(self)
        self.content = content
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.toggle_button, 0, Qt.AlignmentFlag.AlignTop)
        header.addWidget(self.title_label, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(header)
        lay.addWidget(content)
        self.set_expanded(expanded)

    @property
    def title(self) -> str:
        return self.title_label.text()

    @title.setter
    def title(self, text: str) -> None:
        self.title_label.setText(text)

    def eventFilter(self, obj, event) -> bool:
        if obj is self.title_label and event.type() == QEvent.Type.MouseButtonRelease:
            self.toggle_button.toggle()  # a click on the title opens or closes the section, as on the arrow
            return True
        return super().eventFilter(obj, event)

    def set_expanded(self, on: bool) -> None:
        self.toggle_button.blockSignals(True)
        self.toggle_button.setChecked(on)
        self.toggle_button.blockSignals(False)
        self.toggle_button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
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
    """Base of every dvos step: scrolls vertically (sideways only where the panel is narrower than the step needs),
    holds the viewer and its shared state, and runs one job at a time. Subclasses lay out ``self.body``. The same
    widget is a step page of the dvos panel and a dock of its own (Plugins menu)."""

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
        self.body = QWidget()
        self.setWidget(self.body)
        self.setMinimumWidth(260)

    def showEvent(self, event) -> None:
        """Once shown inside napari's main window, closing that window over unsaved paint asks first. The labels of
        the step's forms wrap in a narrow panel (:func:`fit_form`)."""
        guard_close(self.state, self)
        for form in self.body.findChildren(QFormLayout):
            fit_form(form)
        self._pin_job_bar()
        super().showEvent(event)

    # ---- the job bar, pinned below the page ----------------------------------------------------------------------
    def _pin_job_bar(self) -> None:
        """The job bar (progress, Cancel and the message line) below the scrolling page, always in view: a step lays
        it out last on its page, where a long page hid it while its job ran."""
        bar = self.job_bar
        if bar.parentWidget() is self:
            return
        if bar.parentWidget() is not None and bar.parentWidget().layout() is not None:
            bar.parentWidget().layout().removeWidget(bar)
        bar.setParent(self)
        bar.installEventFilter(self)
        bar.show()
        self._place_job_bar()

    def _place_job_bar(self) -> None:
        bar = getattr(self, "job_bar", None)  # (a resize may come before the bar is made)
        if bar is None or bar.parentWidget() is not self:
            return
        width = self.viewport().width()
        height = bar.heightForWidth(width) if bar.hasHeightForWidth() else bar.sizeHint().height()
        height = min(max(height, bar.minimumSizeHint().height()), self.height() // 2)
        gap = 4 if height > 0 else 0
        if self.viewportMargins().bottom() != height + gap:
            self.setViewportMargins(0, 0, 0, height + gap)
        v = self.viewport().geometry()
        bar.setGeometry(v.left(), v.bottom() + 1 + gap, v.width(), height)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._place_job_bar()

    def eventFilter(self, obj, event) -> bool:
        # (a subclass's filter, e.g. the Train step's, may see events before this class made its job bar)
        if obj is getattr(self, "job_bar", None) and event.type() in (QEvent.Type.LayoutRequest, QEvent.Type.Show):
            self._place_job_bar()  # its message wrapped onto another line, or its progress bar was shown
        return super().eventFilter(obj, event)

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
