"""Run core functions away from the GUI with progress, cancel and napari notifications.

:class:`Job` runs ``func(*args, progress=..., cancel=..., **kwargs)`` either in a child process (the default, a
:class:`dvos_core.jobs.JobProcess`: the heavy work and its GIL stay out of napari, so the event loop never stutters)
or, for work on data that only this process holds (an image layer), in a napari worker thread. A main-thread
``QTimer`` collects the child's messages: progress goes to a ``napari.utils.progress`` bar (the activity dock; not
for a job made with ``activity=False``) and the ``progressed`` signal, events to ``on_event``, the result to
``on_result``, the child's warnings to napari warnings. Layers are only touched on the main thread. Errors become
notifications in the user's words (:mod:`dvos_napari._errors`).
"""

from __future__ import annotations

import queue
import threading
import traceback
from collections.abc import Callable

from qtpy.QtCore import QObject, QTimer, Signal

from dvos_core.jobs import NOT_STARTED, Event, JobProcess, Outcome, Progress, Warned, target_name
from dvos_core.progress import Cancelled, CancelToken
from dvos_napari._errors import STEP_CHILDREN, STEP_COMMAND, STEP_JOBS, UserMessage, plain_words, user_message

POLL_MS = 50
MAX_WARNINGS = 5  # warnings of one job shown in napari; the rest are in the terminal (the child's stderr)


def alive(obj) -> bool:
    """False once the Qt object behind ``obj`` was deleted (e.g. its viewer closed while a job was running)."""
    if obj is None:
        return True
    try:
        obj.objectName()
    except RuntimeError:
        return False
    return True


CANCEL_KEEPS = "everything finished before the cancel is kept"  # what a cancelled job leaves, by default


class Job(QObject):
    """One long core call. Signals: ``progressed(done, total, message)``, ``finished(status)`` with status 'ok',
    'cancelled', 'error' or 'killed'. After an error, ``message`` is the :class:`UserMessage` shown."""

    progressed = Signal(int, int, str)
    finished = Signal(str)

    def __init__(
        self,
        func: Callable | str,
        *args,
        label: str = "dvos job",
        on_result: Callable | None = None,
        on_event: Callable | None = None,
        events: str | None = None,
        process: bool = True,
        threads: int | None = None,
        notify: bool = True,
        owner=None,
        activity: bool = True,
        cancel_keeps: str = CANCEL_KEEPS,
        **kwargs,
    ):
        super().__init__()
        self.cancel_keeps = cancel_keeps  # what a cancel leaves: an all-or-nothing job keeps nothing
        self.func, self.args, self.kwargs = func, args, kwargs
        self.label, self.on_result, self.on_event, self.notify = label, on_result, on_event, notify
        self.events, self.process, self.threads = events, process, threads
        self.owner = owner  # the widget whose callbacks these are: skipped once it is deleted
        # False: no bar in napari's activity dock, for a short job whose progress its step shows (making a bar costs
        # napari's main thread 0.03-0.3 s: it handles the pending events then)
        self.activity = activity
        self.status: str | None = None  # None while running
        self.result = None
        self.error: BaseException | None = None
        self.message: UserMessage | None = None
        self.warnings: list[str] = []  # the child's warnings shown (_warned)
        self._pbar = None
        self._child: JobProcess | None = None
        self._token = CancelToken()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()  # thread backend: progress and the outcome
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._drain)
        self.worker = None

    # ---- control ---------------------------------------------------------------------------------------------
    def start(self) -> Job:
        if self.process:
            step = STEP_JOBS.get(target_name(self.func))
            name = None if step is None else STEP_COMMAND.format(step)  # a `dvos` command refused meanwhile names it
            self._child = JobProcess(
                self.func, *self.args, events=self.events, threads=self.threads, process_name=name, **self.kwargs
            ).start()
            STEP_CHILDREN.add(self)  # a writer-lock message naming it names its step
        else:
            from napari.qt.threading import create_worker

            self.worker = create_worker(self._run_in_thread, _start_thread=False)
            self.worker.start()
        if self.activity:
            from napari.utils import progress

            self._pbar = progress(total=0, desc=f"{self.label}: starting")  # busy in the activity dock until a report
        self._timer.start()
        return self

    def cancel(self) -> None:
        """Ask the core function to stop at its next check (it keeps what it finished and leaves the store sound)."""
        if self._child is not None:
            self._child.cancel()
        self._token.cancel()

    def kill(self) -> None:
        """End a child process at once (only for a child that does not stop; threads cannot be killed)."""
        if self._child is not None:
            self._child.kill()

    def end_unwatched(self, grace_s: float) -> None:
        """Nobody is left to watch this job (its napari window closed, with the step's timers): in a thread, wait
        for its child to exit after a cancel and reap it, ending it when it is still alive ``grace_s`` seconds on
        (a child that never stops would go on writing the project; one never waited for stays a zombie)."""
        child = self._child
        if child is None:
            return

        def reap() -> None:
            if child.join(grace_s) is None:
                child.kill()
                child.join()

        threading.Thread(target=reap, name="dvos-job-reap", daemon=True).start()

    @property
    def running(self) -> bool:
        return (self._child is not None or self.worker is not None) and self.status is None

    @property
    def pid(self) -> int | None:
        return None if self._child is None else self._child.pid

    def join(self, timeout: float | None = None) -> int | None:
        """Wait for a child process to exit; its exit code (None while it runs or for a thread)."""
        return self._child.join(timeout) if self._child is not None else None

    def is_alive(self) -> bool:
        return self._child.is_alive() if self._child is not None else self.running

    # ---- thread backend --------------------------------------------------------------------------------------
    def _run_in_thread(self) -> None:
        def progress(done, total, message=""):
            self._queue.put(Progress(int(done), int(total), str(message)))

        try:
            result = self.func(*self.args, progress=progress, cancel=self._token, **self.kwargs)
            self._queue.put(Outcome("ok", result=result))
        except Cancelled as e:
            self._queue.put(Outcome("cancelled", message=str(e)))
        except BaseException as e:
            self._queue.put(
                Outcome("error", message=str(e), error_type=type(e).__name__, traceback=traceback.format_exc())
            )

    def _messages(self) -> list:
        if self._child is not None:
            return self._child.poll()
        out = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                return out

    # ---- main thread -------------------------------------------------------------------------------------------
    def _drain(self) -> None:
        if self.status is not None:
            return
        last_progress, outcome = None, None
        for msg in self._messages():
            if isinstance(msg, Progress):
                last_progress = msg
            elif isinstance(msg, Event) and self.on_event is not None and alive(self.owner):
                self.on_event(msg.value)
            elif isinstance(msg, Warned):
                self._warned(msg.message)
            elif isinstance(msg, Outcome):
                outcome = msg
        if last_progress is not None:
            self._show_progress(last_progress)
        if outcome is not None:
            self._finish(outcome)

    def _warned(self, text: str) -> None:
        """Show a warning of the job's child process (in a thread, napari's own hook shows them) in the panel's
        words (:func:`~dvos_napari._errors.plain_words`: its controls, not the core's command-line options), at most
        :data:`MAX_WARNINGS` of them, each text once."""
        text = plain_words(text)
        if text in self.warnings or len(self.warnings) >= MAX_WARNINGS:
            return
        self.warnings.append(text)
        from napari.utils.notifications import show_warning

        more = " (further warnings of this job: see the terminal)" if len(self.warnings) == MAX_WARNINGS else ""
        show_warning(f"{self.label}: {text}{more}")

    def _show_progress(self, p: Progress) -> None:
        if not self.activity:
            self.progressed.emit(p.done, p.total, p.message)
            return
        from napari.utils import progress

        if self._pbar is None:
            self._pbar = progress(total=max(p.total, 1), desc=self.label)
        pbar = self._pbar
        if p.total and pbar.total != p.total:
            pbar.total = p.total
        pbar.n = min(p.done, p.total) if p.total else p.done
        pbar.set_description(f"{self.label}: {p.message}" if p.message else self.label)
        pbar.refresh()
        self.progressed.emit(p.done, p.total, p.message)

    def _finish(self, outcome: Outcome) -> None:
        from napari.utils.notifications import show_error, show_info

        self._timer.stop()
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None
        # napari keeps every worker it ran (its window's task list), and with it this job: drop what the call was
        # given (a layer's frames, a project handle) so that it can be freed
        self.func, self.args, self.kwargs = None, (), {}
        status = outcome.status
        if not alive(self.owner):  # nobody to show the result to
            self.status = status
            return
        if status == "ok":
            self.result = outcome.result
            if self.on_result is not None:
                try:
                    self.on_result(outcome.result)
                except Exception as e:
                    status, self.error = "error", e
                    self.message = user_message(e)
                    show_error(f"{self.label}: could not show the result: {self.message.text}")
        elif status == "cancelled":
            if outcome.message == NOT_STARTED:  # cancelled while its child was still starting
                self.cancel_keeps = "it had not started, so nothing changed"
            if self.notify:
                show_info(f"{self.label}: cancelled; {self.cancel_keeps}")
        elif status == "killed":
            if self.notify:
                show_info(f"{self.label}: ended before it finished")
        else:
            self.error = RuntimeError(outcome.message)
            self.message = user_message(outcome.message, outcome.traceback, outcome.error_type)
            show_error(f"{self.label} failed: {self.message.text}")
        self.status = status
        self.finished.emit(status)
