"""The dvos panel: one dock that walks the loop step by step (Project, Annotate, Extract, Synthesize, Train, Predict,
Review), shows which steps are done and which one is current, and fits a 1280x800 screen.

Each step is the same widget as its separate dock (Plugins > dvos-napari > Train, ...): the panel only stacks them,
one at a time, under a bar of step buttons, each scrolling on its own. Steps that need heavy parts of dvos (the Train
step imports torch) are built when first shown; torch itself is imported in the background as the panel opens
(:mod:`dvos_napari._warmup`).
"""

from __future__ import annotations

import importlib

from qtpy.QtCore import QEvent, QSize, Qt
from qtpy.QtWidgets import QHBoxLayout, QSizePolicy, QStackedWidget, QToolButton, QVBoxLayout, QWidget

from dvos_napari._state import get_state
from dvos_napari._steps import STEPS, SUMMARIES, workflow_status
from dvos_napari._steps import next_step as _next_step
from dvos_napari._warmup import warm_up
from dvos_napari._widgets import FlowLayout, Listening, button, wrapped_label

STEP_WIDGETS = {
    "Project": "dvos_napari.docks.project:ProjectDock",
    "Annotate": "dvos_napari.docks.annotate:AnnotateDock",
    "Extract": "dvos_napari.docks.extract:ExtractDock",
    "Synthesize": "dvos_napari.docks.synthesize:SynthesizeDock",
    "Train": "dvos_napari.docks.train:TrainDock",
    "Predict": "dvos_napari.docks.predict:PredictDock",
    "Review": "dvos_napari.docks.review:ReviewDock",
}
BUILT_LATER = {"Train"}  # built when first shown (needs torch)
PER_ROW = 4  # step buttons a row at most (fewer where their names do not fit)


def step_class(name: str):
    module, _, cls = STEP_WIDGETS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


class DvosPanel(QWidget):
    """One dock for the whole loop: step buttons (a tick when done), the current step's page, Back and Next."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(parent)
        warm_up()
        self.viewer = napari_viewer
        self.state = get_state(napari_viewer)
        self.pages: dict[str, QWidget] = {}
        self.status: dict = {}
        self.current: str | None = None

        self.where = wrapped_label("")
        self.where.setStyleSheet("font-weight: bold")
        self.note = wrapped_label("")
        grid = FlowLayout(columns=PER_ROW)
        grid.setSpacing(3)
        self.step_buttons: dict[str, QToolButton] = {}
        for name in STEPS:
            b = QToolButton()
            b.setCheckable(True)
            b.setAutoExclusive(True)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            b.clicked.connect(lambda _=False, n=name: self.go(n))
            self.step_buttons[name] = b
            grid.addWidget(b)
        self.stack = QStackedWidget()
        self.stack.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        for name in STEPS:
            self.pages[name] = QWidget()  # placeholder until the step is built
            self.stack.addWidget(self.pages[name])
        self.back_button = button("< Back", lambda: self._move(-1), "the previous step")
        self.next_button = button("Next >", lambda: self._move(1), "the next step")
        nav = QHBoxLayout()
        nav.addWidget(self.back_button)
        nav.addStretch(1)
        nav.addWidget(self.next_button)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(grid)
        lay.addWidget(self.where)
        lay.addWidget(self.note)
        lay.addWidget(self.stack, 1)
        lay.addLayout(nav)
        self.setMinimumWidth(280)

        for name in STEPS:
            if name not in BUILT_LATER:
                self.step(name)
        self._style_buttons()
        self._listening = Listening()
        self._listening.add(napari_viewer.events.theme, lambda *_: self._style_buttons())
        self._listening.add(self.state.project_changed, lambda *_: self._project_changed())
        self._listening.add(self.state.store_changed, self.refresh_status)
        self.is_open = True
        self.refresh_status()
        self.go(self.suggested_step())

    def event(self, event) -> bool:
        """napari closes the panel's dock by taking the panel out of the window (parent None): its steps close with
        it (keys unbound, no more reactions to the project, their jobs stopped), and open again if it is put back."""
        if event.type() == QEvent.Type.ParentChange and hasattr(self, "is_open"):
            closing = self.parent() is None
            if self._listening.set_open(not closing):
                self.is_open = not closing
                for page in self.pages.values():
                    if hasattr(page, "step_closed"):
                        page.step_closed() if closing else page.step_reopened()
                if not closing:
                    self.refresh_status()
        return super().event(event)

    def sizeHint(self) -> QSize:
        return QSize(380, 700)

    def _style_buttons(self) -> None:
        """The current step's button in the theme's accent colour, bold; done steps carry a tick."""
        from dvos_napari._plots import theme_colors

        c = theme_colors(self.viewer)
        sheet = (
            "QToolButton { padding: 3px; border-radius: 3px; }"
            f"QToolButton:checked {{ background-color: {c['accent']}; font-weight: bold; }}"
        )
        for b in self.step_buttons.values():
            b.setStyleSheet(sheet)

    # ---- steps -----------------------------------------------------------------------------------------------
    def step(self, name: str):
        """The widget of step ``name`` (built on first use)."""
        page = self.pages[name]
        if type(page) is QWidget:  # the placeholder
            widget = step_class(name)(self.viewer)
            index = self.stack.indexOf(page)
            self.stack.insertWidget(index, widget)
            self.stack.removeWidget(page)
            page.deleteLater()
            self.pages[name] = page = widget
        return page

    def go(self, name: str):
        """Show step ``name``; returns its widget."""
        from dvos_napari._keys import used

        widget = self.step(name)
        self.current = name
        self.stack.setCurrentWidget(widget)
        used(widget)  # its keys win over the same step's in a dock of its own (dvos_napari._keys)
        self.step_buttons[name].setChecked(True)
        self._update_header()
        i = STEPS.index(name)
        self.back_button.setEnabled(i > 0)
        self.next_button.setEnabled(i < len(STEPS) - 1)
        return widget

    def _move(self, delta: int) -> None:
        i = STEPS.index(self.current) + delta
        if 0 <= i < len(STEPS):
            self.go(STEPS[i])

    def suggested_step(self) -> str:
        return _next_step(self.status) if self.status else STEPS[0]

    # ---- status ----------------------------------------------------------------------------------------------
    def _project_changed(self) -> None:
        """Another project is open: the steps' messages about the last one ("no dvos project is open", its errors)
        no longer hold; a step running a job keeps its progress line."""
        for page in self.pages.values():
            if hasattr(page, "forget_messages"):
                page.forget_messages()
        self.refresh_status()

    def refresh_status(self) -> None:
        try:
            self.status = workflow_status(self.state.project, self.state.summaries)
        except Exception as e:  # a damaged store must not break the panel: show it, keep the last status
            self.note.setText(f"could not read the project: {e}")
            return
        suggested = self.suggested_step()
        for i, name in enumerate(STEPS):
            st = self.status[name]
            mark = "✓" if st.done else ("→" if name == suggested else str(i + 1))
            b = self.step_buttons[name]
            b.setText(f"{mark} {name}")
            b.setToolTip(
                f"step {i + 1}: {SUMMARIES[name]}\n"
                + ("done: " if st.done else ("next: " if name == suggested else "to do: "))
                + st.note
            )
        self._update_header()

    def _update_header(self) -> None:
        if self.current is None:
            return
        i = STEPS.index(self.current)
        st = self.status.get(self.current)
        self.where.setText(f"Step {i + 1} of {len(STEPS)}: {self.current}, {SUMMARIES[self.current]}")
        if st is None:
            self.note.setText("")
            return
        state = "done" if st.done else "not done yet"
        suggested = self.suggested_step()
        # the step to do next whenever it is another one: after a done step, and before a step that needs it
        hint = "" if suggested == self.current else f"; next to do: step {STEPS.index(suggested) + 1}, {suggested}"
        self.note.setText(f"{state}: {st.note}{hint}")
