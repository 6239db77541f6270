"""Small reusable Qt pieces of the docks: the dock base class, the job bar, the object gallery, a plot canvas."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from dvos_napari._state import get_state
from dvos_napari._workers import Job


class JobBar(QWidget):
    """A progress bar, a status line and a Cancel button bound to the dock's running :class:`Job`."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.status = QLabel("idle")
        self.status.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.status)
        self.job: Job | None = None
        self.cancel_button.clicked.connect(self.cancel)

    def attach(self, job: Job) -> None:
        self.job = job
        self.bar.setRange(0, 0)  # busy until the first progress report
        self.status.setText(f"{job.label}: starting")
        self.cancel_button.setEnabled(True)
        job.progressed.connect(self._on_progress)
        job.finished.connect(self._on_finished)

    def cancel(self) -> None:
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.status.setText(f"{self.job.label}: cancelling...")
            self.cancel_button.setEnabled(False)

    def _on_progress(self, done: int, total: int, msg: str) -> None:
        if total > 0:
            self.bar.setRange(0, total)
            self.bar.setValue(min(done, total))
        if msg:
            self.status.setText(msg)

    def _on_finished(self, status: str) -> None:
        self.bar.setRange(0, 1)
        self.bar.setValue(1 if status == "ok" else 0)
        label = self.job.label if self.job else "job"
        self.status.setText(
            {"ok": f"{label}: done", "cancelled": f"{label}: cancelled"}.get(
                status, f"{label}: failed ({self.job.error if self.job else ''})"
            )
        )
        self.cancel_button.setEnabled(False)


class DvosDock(QWidget):
    """Base of every dvos dock: holds the viewer, its shared state, and runs one job at a time."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.state = get_state(napari_viewer)
        self.job: Job | None = None
        self.job_bar = JobBar()
        self._busy_widgets: list[QWidget] = []

    def run(self, func: Callable, *args, label: str, on_result: Callable | None = None, **kwargs) -> Job | None:
        """Start ``func`` as a background job unless one is already running in this dock."""
        from napari.utils.notifications import show_warning

        if self.job is not None and self.job.running:
            show_warning(f"{self.job.label} is still running; wait for it or press Cancel")
            return None
        job = Job(func, *args, label=label, on_result=on_result, **kwargs)
        self.job = job
        self.job_bar.attach(job)
        job.finished.connect(self._job_finished)
        self._set_busy(True)
        return job.start()

    def _job_finished(self, status: str) -> None:
        self._set_busy(False)

    def _set_busy(self, busy: bool) -> None:
        for w in self._busy_widgets:
            w.setEnabled(not busy)

    def guard(self, action: Callable, *args, **kwargs):
        """Run a GUI action; turn errors (no project, bad input, missing core module) into a notification."""
        from napari.utils.notifications import show_error

        try:
            return action(*args, **kwargs)
        except ImportError as e:
            show_error(f"dvos: this action needs a part of dvos_core that is not installed: {e}")
        except Exception as e:
            show_error(f"dvos: {e}")
        return None


def button(text: str, slot: Callable, tooltip: str = "") -> QPushButton:
    b = QPushButton(text)
    b.clicked.connect(lambda *_: slot())
    if tooltip:
        b.setToolTip(tooltip)
    return b


def rgba_pixmap(rgba: np.ndarray, size: int = 64) -> QPixmap:
    """An RGBA (or RGB) uint8 crop as a pixmap scaled to fit ``size`` px."""
    a = np.ascontiguousarray(rgba if rgba.shape[-1] == 4 else np.dstack([rgba, np.full(rgba.shape[:2], 255, np.uint8)]))
    h, w = a.shape[:2]
    img = QImage(a.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()
    return QPixmap.fromImage(img).scaled(
        size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
    )


class Gallery(QScrollArea):
    """A scrollable grid of object crops (extracted heads or fakes)."""

    def __init__(self, columns: int = 5, thumb: int = 56, parent=None):
        super().__init__(parent)
        self.columns, self.thumb = columns, thumb
        self.setWidgetResizable(True)
        self._inner = QWidget()
        self._grid = QGridLayout(self._inner)
        self._grid.setSpacing(2)
        self.setWidget(self._inner)
        self.setMinimumHeight(thumb * 2 + 20)
        self.count = 0

    def set_items(self, crops: list, tooltips: list | None = None) -> None:
        while self._grid.count():
            item = self._grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        for i, crop in enumerate(crops):
            lab = QLabel()
            lab.setPixmap(rgba_pixmap(crop, self.thumb))
            lab.setFixedSize(self.thumb + 4, self.thumb + 4)
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
            if tooltips:
                lab.setToolTip(str(tooltips[i]))
            self._grid.addWidget(lab, i // self.columns, i % self.columns)
        self.count = len(crops)


class PlotCanvas(QWidget):
    """A small matplotlib figure (QtAgg canvas) with ``axes`` and ``draw()``."""

    def __init__(self, n_axes: int = 1, height: float = 2.4, parent=None):
        super().__init__(parent)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(3.6, height), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.canvas.setMinimumHeight(int(height * 60))
        self.axes = [self.figure.add_subplot(1, n_axes, i + 1) for i in range(n_axes)]
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.canvas)

    def draw(self) -> None:
        self.canvas.draw_idle()
