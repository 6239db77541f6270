"""Shared CLI pieces: a terminal progress bar, Ctrl+C as cancel, clean error messages."""

from __future__ import annotations

import signal
import sys
import time

from dvos_core.progress import Cancelled, CancelToken


class TerminalProgress:
    """A progress callback that draws a one-line bar on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, stream=None, width: int = 30, min_interval: float = 0.2):
        self.stream = stream or sys.stderr
        self.width, self.min_interval = width, min_interval
        self._last = 0.0
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_msg = None

    def __call__(self, done: int, total: int, message: str = "") -> None:
        now = time.monotonic()
        final = total and done >= total
        if not final and now - self._last < self.min_interval:
            return
        self._last = now
        if total:
            frac = min(1.0, done / total)
            bar = "#" * int(frac * self.width)
            line = f"[{bar:<{self.width}}] {done}/{total} {message}"
        else:
            line = f"{done} {message}"
        if self._tty:
            self.stream.write("\r" + line[:150].ljust(150))
            if final:
                self.stream.write("\n")
        elif line != self._last_msg:
            self.stream.write(line + "\n")
        self._last_msg = line
        self.stream.flush()


def cancel_on_sigint() -> CancelToken:
    """A cancel token set by the first Ctrl+C (the second one kills the process as usual)."""
    token = CancelToken()

    def handler(signum, frame):
        sys.stderr.write("\ncancelling (press Ctrl+C again to abort immediately)...\n")
        token.cancel()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    try:
        signal.signal(signal.SIGINT, handler)
    except ValueError:  # not in the main thread
        pass
    return token


def run_command(args) -> int:
    """Run ``args.func(args)``; turn known errors into one clear line and an exit code."""
    from dvos_core.store.schema import StoreError

    try:
        rc = args.func(args)
        return int(rc or 0)
    except Cancelled:
        print("dvos: cancelled; everything committed before the cancel is kept", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("dvos: interrupted", file=sys.stderr)
        return 130
    except (
        StoreError,
        ValueError,
        KeyError,
        FileNotFoundError,
        PermissionError,
        IndexError,
        OSError,
        RuntimeError,
    ) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"dvos {args.command}: error: {msg}", file=sys.stderr)
        return 2


def add_project(parser, help_text: str = "path of the project store (a folder ending in .dvos)") -> None:
    parser.add_argument("project", help=help_text)


def add_threads(p) -> None:
    """``--threads N``: CPU threads of a compute command (the rule lives in dvos_core.threads)."""
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="CPU threads per process (default: $DVOS_THREADS, else the free cores shared among the worker "
        "processes; on a shared machine use 1)",
    )
