"""``TrainProcess``: run ``train`` in a child process (a :class:`~dvos_core.jobs.JobProcess`), so a GUI stays
responsive and the child's memory (GPU memory included) is returned when it ends.

>>> proc = TrainProcess("field.dvos", TrainConfig(phase="synthetic", preset="small"), "phase1")
>>> proc.start()
>>> for event in proc.poll(): ...        # typed events (dvos_core.train.events); non-blocking, call from a timer
>>> proc.stop()                          # cancel: the child writes last.pt and reports a CancelledEvent

The child is a fresh Python process, so a script that starts training needs no ``if __name__ == "__main__"`` guard.
"""

from __future__ import annotations

from pathlib import Path

from dvos_core.jobs import Event, JobProcess, Outcome
from dvos_core.train.config import TrainConfig
from dvos_core.train.events import ErrorEvent, TrainEvent


def run_training(
    project_path: str,
    config: dict,
    name: str,
    resume: bool = True,
    on_event=None,
    progress=None,
    cancel=None,
    threads: int | None = None,
) -> str:
    """What the child runs: ``train`` with the config given as a dict; returns the best checkpoint's path."""
    from dvos_core.train.loop import train

    cfg = TrainConfig.from_dict(config)
    return str(
        train(
            project_path, cfg, name, progress=progress, cancel=cancel, on_event=on_event, resume=resume, threads=threads
        )
    )


def outcome_event(outcome: Outcome) -> ErrorEvent | None:
    """The closing event a child's outcome adds: an error or a kill (done and cancel were reported by ``train``)."""
    if outcome.status == "error":
        return ErrorEvent(message=f"{outcome.error_type}: {outcome.message}", traceback=outcome.traceback)
    if outcome.status == "killed":
        return ErrorEvent(message="the training process was ended before it finished")
    return None


class TrainProcess:
    """One training run in a child process; events arrive through :meth:`poll` (see ``train`` for the types)."""

    def __init__(self, project_path, config: TrainConfig, name: str, resume: bool = True, threads: int | None = None):
        self.project_path, self.config, self.name, self.resume = str(Path(project_path)), config, name, resume
        self.job = JobProcess(
            run_training,
            self.project_path,
            config.to_dict(),
            name,
            resume,
            events="on_event",
            threads=threads,
            progress_arg=None,
        )
        self.finished_event: TrainEvent | None = None

    def start(self) -> TrainProcess:
        self.job.start()
        return self

    def poll(self) -> list[TrainEvent]:
        """All events received so far (non-blocking); a failure or a kill of the child ends with an ErrorEvent."""
        out = []
        for msg in self.job.poll():
            ev = msg.value if isinstance(msg, Event) else outcome_event(msg) if isinstance(msg, Outcome) else None
            if ev is None:
                continue
            out.append(ev)
            if ev.terminal:
                self.finished_event = ev
        return out

    def stop(self) -> None:
        """Ask the child to cancel (it saves last.pt first); returns immediately."""
        self.job.cancel()

    def is_alive(self) -> bool:
        return self.job.is_alive()

    def join(self, timeout: float | None = None) -> int | None:
        return self.job.join(timeout)

    def kill(self) -> None:
        """End the child without saving (last resort; the last.pt of the last epoch or stop stays)."""
        self.job.kill()
