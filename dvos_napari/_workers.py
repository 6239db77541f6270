"""Run core functions off the GUI thread with progress, cancel and napari notifications.

:class:`Job` runs ``func(*args, progress=..., cancel=token, **kwargs)`` in a napari ``FunctionWorker``. The core's
progress callback is called on the worker thread; it only puts ``(done, total, message)`` into a queue, which a
main-thread ``QTimer`` drains into a ``napari.utils.progress`` bar (activity dock) and the dock's own bar. The worker
never touches layers: results come back through ``on_result`` on the main thread. Errors become ``show_error``
notifications, a cancel becomes ``show_info``.

:func:`train_events` is a generator for ``thread_worker`` that polls a ``dvos_core.train.TrainProcess`` and yields
its event dicts until the child process has exited.
"""

from __future__ import annotations

import queue
import time
import traceback
from collections.abc import Callable

from qtpy.QtCore import QObject, QTimer, Signal

from dvos_core.progress import Cancelled, CancelToken

TERMINAL_EVENTS = ("done", "error", "cancelled")


class Job(QObject):
    """One long core call in a background thread. Signals: ``progressed(done, total, message)``,
    ``finished(status)`` with status 'ok', 'cancelled' or 'error'."""

    progressed = Signal(int, int, str)
    finished = Signal(str)

    def __init__(
        self,
        func: Callable,
        *args,
        label: str = "dvos job",
        on_result: Callable | None = None,
        notify: bool = True,
        **kwargs,
    ):
        super().__init__()
        self.func, self.args, self.kwargs = func, args, kwargs
        self.label, self.on_result, self.notify = label, on_result, notify
        self.token = CancelToken()
        self.status: str | None = None  # None while running
        self.result = None
        self.error: BaseException | None = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._pbar = None
        self._draining = False
        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._drain)
        self.worker = None

    # ---- control ---------------------------------------------------------------------------------------------
    def start(self) -> Job:
        from napari.qt.threading import create_worker

        self.worker = create_worker(self._run, _start_thread=False)
        self.worker.returned.connect(self._on_returned)
        self._timer.start()
        self.worker.start()
        return self

    def cancel(self) -> None:
        """Ask the core function to stop at its next check (it leaves the store consistent)."""
        self.token.cancel()

    @property
    def running(self) -> bool:
        return self.worker is not None and self.status is None

    # ---- worker thread -----------------------------------------------------------------------------------------
    def _progress(self, done: int, total: int, message: str = "") -> None:
        self._queue.put((int(done), int(total), str(message)))

    def _run(self):
        try:
            return "ok", self.func(*self.args, progress=self._progress, cancel=self.token, **self.kwargs), ""
        except Cancelled:
            return "cancelled", None, ""
        except BaseException as e:
            return "error", e, traceback.format_exc()

    # ---- main thread -------------------------------------------------------------------------------------------
    def _drain(self) -> None:
        if self._draining or self.status is not None:
            return
        self._draining = True  # napari's progress bar may process events: never re-enter
        try:
            last = None
            while True:
                try:
                    last = self._queue.get_nowait()
                except queue.Empty:
                    break
            if last is None:
                return
            done, total, msg = last
            if self._pbar is None:
                from napari.utils import progress

                self._pbar = progress(total=max(total, 1), desc=self.label)
            pbar = self._pbar
            if total and pbar.total != total:
                pbar.total = total
            pbar.n = min(done, total) if total else done
            pbar.set_description(f"{self.label}: {msg}" if msg else self.label)
            pbar.refresh()
            self.progressed.emit(done, total, msg)
        finally:
            self._draining = False

    def _on_returned(self, outcome) -> None:
        from napari.utils.notifications import show_error, show_info

        if self._draining:  # arrived while the progress bar was updating: finish right after it
            QTimer.singleShot(0, lambda: self._on_returned(outcome))
            return
        self._drain()
        self._timer.stop()
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None
        status, value, tb = outcome
        if status == "ok":
            self.result = value
            if self.on_result is not None:
                try:
                    self.on_result(value)
                except Exception as e:
                    status, self.error = "error", e
                    show_error(f"{self.label}: could not show the result: {e}")
        elif status == "cancelled":
            if self.notify:
                show_info(f"{self.label}: cancelled; everything finished before the cancel is kept")
        else:
            self.error = value
            if tb:
                import logging

                logging.getLogger("dvos_napari").debug(tb)
            show_error(f"{self.label} failed: {value}")
        self.status = status
        self.finished.emit(status)


def run_job(func: Callable, *args, label: str = "dvos job", on_result: Callable | None = None, **kwargs) -> Job:
    """Start a :class:`Job` and return it (keep a reference while it runs)."""
    return Job(func, *args, label=label, on_result=on_result, **kwargs).start()


def train_events(process, interval: float = 0.2):
    """Generator (for ``thread_worker``): poll ``process`` every ``interval`` s and yield lists of event dicts.

    Ends once the child process has exited; if it died without a final event, yields an 'error' event saying so.
    """
    finished = False
    while True:
        events = list(process.poll() or [])
        if events:
            finished = finished or any(e.get("type") in TERMINAL_EVENTS for e in events)
            yield events
        if not process.is_alive():
            rest = list(process.poll() or [])
            finished = finished or any(e.get("type") in TERMINAL_EVENTS for e in rest)
            if not finished:
                code = getattr(process, "exitcode", None)
                rest.append(
                    {"type": "error", "message": f"the training process exited unexpectedly (exit code {code})"}
                )
            if rest:
                yield rest
            return
        time.sleep(interval)
