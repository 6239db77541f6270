"""``TrainProcess``: run ``train`` in a child process (spawn), so a GUI stays responsive and GPU memory is freed.

>>> proc = TrainProcess("field.dvos", TrainConfig(phase="synthetic", preset="small"), "phase1")
>>> proc.start()
>>> for event in proc.poll(): ...        # non-blocking; call from a timer
>>> proc.stop()                          # cancel: the child writes last.pt and reports {"type": "cancelled"}
"""

from __future__ import annotations

import multiprocessing as mp
import queue as _queue
import traceback
from pathlib import Path

from dvos_core.train.config import TrainConfig


def _child(project_path: str, config: dict, name: str, events, stop_event, resume: bool, threads=None) -> None:
    from dvos_core.progress import Cancelled, CancelToken
    from dvos_core.train.loop import train

    try:
        train(
            project_path,
            TrainConfig.from_dict(config),
            name,
            cancel=CancelToken(stop_event),
            on_event=events.put,
            resume=resume,
            threads=threads,
        )
    except Cancelled:
        pass  # train() already reported {"type": "cancelled", ...}
    except BaseException as e:  # report everything to the parent; it decides what to show
        events.put({"type": "error", "message": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()})


class TrainProcess:
    """One training run in a spawned child process; events arrive through a queue (see ``train`` for the types)."""

    def __init__(self, project_path, config: TrainConfig, name: str, resume: bool = True, threads: int | None = None):
        self.project_path, self.config, self.name, self.resume = str(Path(project_path)), config, name, resume
        self.threads = threads  # CPU threads of the child (see dvos_core.threads)
        self._ctx = mp.get_context("spawn")
        self._events = self._ctx.Queue()
        self._stop = self._ctx.Event()
        self._proc: mp.process.BaseProcess | None = None
        self.finished_event: dict | None = None

    def start(self) -> TrainProcess:
        if self._proc is not None:
            raise RuntimeError("this TrainProcess was already started; create a new one")
        self._proc = self._ctx.Process(
            target=_child,
            name=f"dvos-train-{self.name}",
            daemon=True,
            args=(
                self.project_path,
                self.config.to_dict(),
                self.name,
                self._events,
                self._stop,
                self.resume,
                self.threads,
            ),
        )
        self._proc.start()
        return self

    def poll(self) -> list[dict]:
        """All events received so far (non-blocking). Adds an error event if the child died without a report."""
        out = []
        while True:
            try:
                ev = self._events.get_nowait()
            except _queue.Empty:
                break
            out.append(ev)
            if ev.get("type") in ("done", "cancelled", "error"):
                self.finished_event = ev
        if (
            not out
            and self._proc is not None
            and not self._proc.is_alive()
            and self.finished_event is None
            and self._proc.exitcode not in (None, 0)
        ):
            self.finished_event = {
                "type": "error",
                "message": f"training process exited with code {self._proc.exitcode}",
                "traceback": "",
            }
            out.append(self.finished_event)
        return out

    def stop(self) -> None:
        """Ask the child to cancel (it saves last.pt first); returns immediately."""
        self._stop.set()

    def is_alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    def join(self, timeout: float | None = None) -> int | None:
        if self._proc is None:
            return None
        self._proc.join(timeout)
        return self._proc.exitcode

    def kill(self) -> None:
        """Terminate the child without saving (last resort; the last epoch's last.pt stays)."""
        if self.is_alive():
            self._proc.terminate()
