"""The progress-callback + cancel-token contract shared by every long job.

A long core function takes ``progress: ProgressFn | None`` called as ``progress(done, total, message)`` and
``cancel: CancelToken | None``; it calls ``cancel.check()`` at least once per frame or batch, which raises
:class:`Cancelled` once cancellation was requested. On ``Cancelled`` the function stops cleanly and leaves the store
consistent (only fully written, committed items count).
"""

from __future__ import annotations

import collections
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

ProgressFn = Callable[[int, int, str], None]


class Cancelled(Exception):
    """Raised inside a long job when its cancel token was triggered."""


class OutputClosed(BrokenPipeError):
    """The program reading a command's output closed it while the command was still working (a log or event line
    written mid-run: ``dvos train --json | head -1``): the work stopped there, unlike a pipe closed at the final
    output (``dvos info | head``)."""


def print_working(text: str) -> None:
    """``print`` a line of a command's output while it still works, flushed (stdout sent to a file is block-buffered,
    so with ``> run.log 2>&1`` lines came in clumps long after the progress lines of stderr); a closed reader raises
    :class:`OutputClosed`."""
    try:
        print(text, flush=True)
    except BrokenPipeError as e:
        raise OutputClosed(*e.args) from e


class CancelToken:
    """A thread-safe flag that a GUI or CLI sets and a worker polls.

    ``CancelToken(event)`` can wrap any object with ``is_set()`` (e.g. a ``multiprocessing.Event``) so that a child
    process can be stopped from its parent.
    """

    def __init__(self, event=None):
        self._event = event if event is not None else threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return bool(self._event.is_set())

    def check(self) -> None:
        if self.cancelled:
            raise Cancelled("cancelled by user")


class _EitherSet:
    """Set when its own flag or the ``outer`` token is (for :func:`interrupt_cancels`)."""

    def __init__(self, outer: CancelToken | None):
        self.outer, self.own = outer, threading.Event()

    def is_set(self) -> bool:
        return self.own.is_set() or (self.outer is not None and self.outer.cancelled)

    def set(self) -> None:
        self.own.set()


@contextlib.contextmanager
def interrupt_cancels(cancel: CancelToken | None, what: str) -> Iterator[CancelToken | None]:
    """Within: the first Ctrl+C (a notebook's "Interrupt kernel") sets the token it yields - ``cancel``'s or its own
    - instead of raising wherever the code is, so the job stops at its next safe point and keeps what it committed;
    the :class:`Cancelled` that follows is raised as ``KeyboardInterrupt`` (``what`` says what was kept). A second
    one interrupts at once. Only where Python's own handler is in place, in the main thread (the CLI and the GUI
    set their own): elsewhere ``cancel`` is yielded as it is."""
    try:
        own = threading.current_thread() is threading.main_thread()
        own = own and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    except ValueError:
        own = False
    if not own:
        yield cancel
        return
    flag = _EitherSet(cancel)
    token = CancelToken(flag)
    interrupted = []

    def handler(_signum, _frame):
        interrupted.append(True)
        flag.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, handler)
    try:
        yield token
    except Cancelled as e:
        if interrupted:
            raise KeyboardInterrupt(f"interrupted; {what}") from e
        raise
    finally:
        if signal.getsignal(signal.SIGINT) is handler:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def report(progress: ProgressFn | None, done: int, total: int, message: str = "") -> None:
    """Call ``progress(done, total, message)`` if a callback was given."""
    if progress is None:
        return
    progress(int(done), int(total), str(message))


def check(cancel: CancelToken | None) -> None:
    """``cancel.check()`` when a token was given."""
    if cancel is not None:
        cancel.check()


class Steps:
    """Helper for nested progress: maps a sub-job's (done, total) onto a slice of the parent's range.

    >>> sub = Steps(progress, start=10, span=20, total=100)  # sub-job covers 10..30 of 100

    ``prefix`` goes before each message (not before one that already starts with it).
    """

    def __init__(self, progress: ProgressFn | None, start: int, span: int, total: int, prefix: str = ""):
        self.progress, self.start, self.span, self.total, self.prefix = progress, start, span, total, prefix

    def __call__(self, done: int, total: int, message: str = "") -> None:
        frac = done / total if total else 1.0
        # a message that already starts with the prefix (the video's name, say) does not get it twice
        msg = f"{self.prefix}{message}" if self.prefix and not message.startswith(self.prefix) else message
        report(self.progress, self.start + round(frac * self.span), self.total, msg)


RECENT_STEPS = 3  # the time left is measured over at least this many of the latest steps


class TimeLeft:
    """How long a job still needs, from its progress reports: the rate over its recent steps - the last quarter of
    those made since the first report of the current range, at least :data:`RECENT_STEPS` (a new ``total``, or
    ``done`` going backwards, e.g. the next stage of a command, starts the measure again).

    ``update(done, total)`` returns the seconds left, or None until ``min_elapsed`` seconds of progress were seen (a
    job's first steps are often slow: loading, warm-up). Measured over recent steps, that start-up leaves the pace
    once the job runs, and a job whose steps change cost (4K frames first, then HD ones) is followed. A resumed
    training run starts at its saved step: the rate counts only the steps made since.
    """

    def __init__(self, min_elapsed: float = 5.0, clock: Callable[[], float] | None = None):
        import time

        self.min_elapsed = float(min_elapsed)
        self._clock = clock or time.monotonic
        self._start: tuple[float, int, int] | None = None  # (time, done, total) of the range's first report
        self._seen: collections.deque = collections.deque()  # (time, done) of the range's reports still needed
        self._last_done = 0

    def update(self, done: int, total: int) -> float | None:
        now, done, total = self._clock(), int(done), int(total)
        if total <= 0:
            self._start = None
            return None
        if self._start is None or self._start[2] != total or done < self._last_done:
            self._start = (now, done, total)
            self._seen.clear()
        self._last_done = done
        if not self._seen or self._seen[-1][1] != done:  # each count's first time (a step may report several times)
            self._seen.append((now, done))
        t0, d0, _ = self._start
        if now - t0 < self.min_elapsed or done <= d0:
            return None
        since = done - max(RECENT_STEPS, 0.25 * (done - d0))  # measured from the last report at or before it
        while len(self._seen) > 1 and self._seen[1][1] <= since:
            self._seen.popleft()
        t1, d1 = self._seen[0]
        return max(0.0, (total - done) * (now - t1) / (done - d1))


def duration_words(seconds: float) -> str:
    """'40 s', '3 min', '1 h 05 min' (rounded up: a bar never says less time than it measured)."""
    s = max(0, int(-(-float(seconds) // 1)))
    if s < 60:
        return f"{max(s, 1)} s"
    m = -(-s // 60)
    return f"{m} min" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def time_left_words(seconds: float | None) -> str:
    """'about 3 min left', or '' when not known yet."""
    return "" if seconds is None else f"about {duration_words(seconds)} left"
