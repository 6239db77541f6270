"""The progress-callback + cancel-token contract shared by every long job.

A long core function takes ``progress: ProgressFn | None`` called as ``progress(done, total, message)`` and
``cancel: CancelToken | None``; it calls ``cancel.check()`` at least once per frame or batch, which raises
:class:`Cancelled` once cancellation was requested. On ``Cancelled`` the function stops cleanly and leaves the store
consistent (only fully written, committed items count).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

ProgressFn = Callable[[int, int, str], None]


class Cancelled(Exception):
    """Raised inside a long job when its cancel token was triggered."""


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
    """

    def __init__(self, progress: ProgressFn | None, start: int, span: int, total: int, prefix: str = ""):
        self.progress, self.start, self.span, self.total, self.prefix = progress, start, span, total, prefix

    def __call__(self, done: int, total: int, message: str = "") -> None:
        frac = done / total if total else 1.0
        msg = f"{self.prefix}{message}" if self.prefix else message
        report(self.progress, self.start + round(frac * self.span), self.total, msg)
