"""Helpers of the napari GUI tests: open docks and the panel, wait for jobs, measure event-loop gaps, tiny clips."""

from __future__ import annotations

import os
import threading
import time

import numpy as np

PANEL = "dvos workflow"


def age_files(root, seconds: float = 30.0) -> None:
    """Make every file and folder of a project look written ``seconds`` ago (settled: the summary cache keeps its
    rows, as after a while)."""
    then = time.time() - seconds
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (then, then))
    os.utime(root, (then, then))


def hold_project_reads(monkeypatch) -> threading.Event:
    """Hold every background read of a project until ``.set()`` on the returned event (a cancel ends a read held);
    its ``readers`` list says, for each video read, whether it was read on the main thread."""
    import dvos_napari._summary as summary
    from dvos_core.progress import check
    from dvos_core.store import project as core

    event, readers = threading.Event(), []
    real, video_summary = summary.read_summary, core._video_summary

    def held(project, progress=None, cancel=None):
        while not event.wait(0.01):
            check(cancel)
        return real(project, progress=progress, cancel=cancel)

    def counted(v):
        readers.append(threading.current_thread() is threading.main_thread())
        return video_summary(v)

    monkeypatch.setattr(summary, "read_summary", held)
    monkeypatch.setattr(core, "_video_summary", counted)
    event.readers = readers
    return event


def prediction_set(video, name, masks) -> None:
    """Store ``masks`` as the prediction set ``name`` of ``video`` (probabilities 0/1)."""
    video.predictions[name].start({"kind": "test"}, None)
    video.predictions[name].set_many(range(len(masks)), np.asarray(masks, np.float32))


def dock(viewer, name):
    return viewer.window.add_plugin_dock_widget("dvos-napari", name)[1]


def shown_in(viewer, qtbot, name, project, video):
    """The dvos step ``name`` docked in ``viewer``, on ``project``, with ``video`` shown and its masks read."""
    widget = dock(viewer, name)
    widget.state.set_project(project)
    widget.state.select_video(video)
    wait_loaded(qtbot, widget.state)
    return widget


def wait_job(qtbot, job, timeout=120_000) -> str:
    """Wait (keeping the Qt event loop running) until ``job`` ends; it must not fail."""
    assert job is not None, "the step refused to start the job (see notifications)"
    qtbot.waitUntil(lambda: job.status is not None, timeout=timeout)
    assert job.status != "error", f"{job.label} failed: {job.message}"
    return job.status


def wait_loaded(qtbot, state, timeout=30_000) -> None:
    """Wait until the stored masks are read into their layers."""
    qtbot.waitUntil(lambda: not state.loading, timeout=timeout)


def tiny_clip(n_frames=12, size=64, seed=3, heads=True):
    from dvos_core.demo import FieldSpec, render_field

    return render_field(
        FieldSpec(
            n_frames=n_frames,
            height=size,
            width=size,
            n_heads=8,
            head_length=(12, 18),
            head_width=(5, 7),
            n_leaves=10,
            heads=heads,
        ),
        seed=seed,
    )


class GapMeter:
    """Ticks of a 10 ms QTimer on the GUI thread; the gaps between ticks are how long the event loop was blocked."""

    def __init__(self, interval_ms: int = 10):
        from qtpy.QtCore import QTimer

        self.ticks: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(lambda: self.ticks.append(time.monotonic()))
        self.timer.start()
        self.spans: dict[str, np.ndarray] = {}
        self.durations: dict[str, float] = {}

    def gaps(self, start: float, end: float) -> np.ndarray:
        """Gaps (ms) between the ticks that fell in [start, end]."""
        t = np.asarray([x for x in self.ticks if start <= x <= end])
        return np.diff(t) * 1000 if len(t) > 1 else np.zeros(0)

    def run(self, qtbot, name: str, start_job, timeout=120_000):
        """Start a job with ``start_job()``, wait for it, and keep the gaps measured while it ran under ``name``."""
        t0 = time.monotonic()
        job = start_job()
        wait_job(qtbot, job, timeout)
        self.spans[name] = self.gaps(t0, time.monotonic())
        self.durations[name] = time.monotonic() - t0
        return job

    def p95(self, name: str) -> float:
        g = self.spans[name]
        return float(np.percentile(g, 95)) if len(g) else 0.0

    def report(self) -> dict:
        """{job: (p95 gap ms, max gap ms, number of gaps)}."""
        return {
            k: (round(self.p95(k), 1), round(float(v.max() if len(v) else 0), 1), len(v)) for k, v in self.spans.items()
        }

    def stop(self) -> None:
        self.timer.stop()
