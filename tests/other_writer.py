"""Another process holding a project's writer lock, for tests of what a second process sees meanwhile."""

from __future__ import annotations

import subprocess
import sys

_CODE = """
import sys, time
from dvos_core.store.lock import writer_lock
with writer_lock(sys.argv[1]).hold(operation=sys.argv[2]):
    print("held", flush=True)
    time.sleep(float(sys.argv[3])) if float(sys.argv[3]) >= 0 else sys.stdin.read()
"""


class OtherWriter:
    """``with OtherWriter(path) as w:`` - a child process holds the writer lock of project ``path`` (its record
    written by the lock itself) from the block's start; it lets go after ``hold_s`` seconds, or, when None, at the
    block's end. ``w.pid`` is its process id."""

    def __init__(self, path, hold_s: float | None = None, operation: str = "predicting"):
        args = [sys.executable, "-c", _CODE, str(path), operation, str(-1 if hold_s is None else hold_s)]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.pid = self.proc.pid

    def __enter__(self) -> OtherWriter:
        assert self.proc.stdout.readline().strip() == "held"
        return self

    def __exit__(self, *exc) -> None:
        self.proc.stdin.close()  # (a timed hold ends by itself)
        try:
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
