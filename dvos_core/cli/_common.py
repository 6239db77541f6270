"""Shared CLI pieces: a terminal progress bar, Ctrl+C as cancel, clean error messages."""

from __future__ import annotations

import argparse
import codecs
import contextlib
import os
import shutil
import signal
import sys
import time
import traceback

from dvos_core.progress import Cancelled, CancelToken, OutputClosed, TimeLeft, time_left_words


def napari_command(path) -> str:
    """The command line that opens a project in napari: ``napari PATH --plugin dvos-napari``. Without ``--plugin``
    napari finds two readers for a folder (its own and dvos's) and asks which one to use first."""
    import shlex

    return f"napari {shlex.quote(str(path))} --plugin dvos-napari"


QT_BINDINGS = ("PyQt6", "PySide6", "PyQt5", "PySide2")  # the ones napari's qtpy can run on


def missing_gui_packages() -> list[str]:
    """What the napari panel needs and this environment lacks (looked up, never imported: the core does not
    import Qt): "napari", "qtpy", and "a Qt binding (PyQt6, ...)" when none of :data:`QT_BINDINGS` is installed
    (napari installed without its ``[pyqt6]`` extra)."""
    import importlib.util

    missing = [m for m in ("napari", "qtpy") if importlib.util.find_spec(m) is None]
    if not any(importlib.util.find_spec(b) is not None for b in QT_BINDINGS):
        missing.append(f"a Qt binding ({', '.join(QT_BINDINGS)})")
    return missing


def fit_line(head: str, message: str, width: int) -> str:
    """``head + message`` in at most ``width`` characters: the message loses its middle, not its end (where a
    progress message says which frame, pass and tile it is at)."""
    room = width - len(head)
    if len(message) <= room:
        return head + message
    if room < 12:
        return (head + message)[:width]
    keep_end = (room - 3) * 2 // 3
    return head + message[: room - 3 - keep_end] + "..." + message[-keep_end:]


class TerminalProgress:
    """A progress callback that draws a one-line bar on stderr (plain lines when stderr is not a terminal), with
    ``done/total`` beside it, or with ``percent`` the share done (for a run of stages, whose units count nothing a
    user would count)."""

    def __init__(self, stream=None, width: int = 30, min_interval: float = 0.2, percent: bool = False):
        self.stream = stream or sys.stderr
        self.width, self.min_interval, self.percent = width, min_interval, percent
        self._last = 0.0
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_msg = None
        self._time_left = TimeLeft()

    def __call__(self, done: int, total: int, message: str = "") -> None:
        now = time.monotonic()
        left = self._time_left.update(done, total)
        final = total and done >= total
        if not final and now - self._last < self.min_interval:
            return
        self._last = now
        cols = max(40, shutil.get_terminal_size((150, 24)).columns - 1) if self._tty else 0  # one line: \r redraws it
        width = self.width if not self._tty or cols >= 79 else max(8, cols // 5)  # a narrow terminal: room for words
        if total:
            frac = min(1.0, done / total)
            bar = "#" * int(frac * width)
            when = f" ({time_left_words(left)})" if left is not None and not final and self._tty else ""
            count = f"{int(100 * frac)}%" if self.percent else f"{done}/{total}"
            head = f"[{bar:<{width}}] {count}{when} "
        else:  # no total: a count alone (none when nothing is counted: a step with nothing to do says so itself)
            head = f"{done} " if done else ""
        line = head + message
        if self._tty:
            self.stream.write("\r" + fit_line(head, message, cols).ljust(cols))
            if final:
                self.stream.write("\n")
        elif line != self._last_msg:
            self.stream.write(line + "\n")
        self._last_msg = line
        self.stream.flush()


def output_to_devnull(stream) -> bool:
    """Point the file descriptor under ``stream`` at the null device, so that what its buffer still holds and all it
    is given later go nowhere without an error (the recipe of the Python docs' "Note on SIGPIPE": a reader gone away
    must not fail the flush at exit with a second error); False where it has none (closed, None, in memory)."""
    try:
        fd = stream.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError, AttributeError):
        return False
    try:
        os.dup2(null, fd)
    except OSError:
        return False
    finally:
        os.close(null)
    return True


class QuietStream:
    """``sys.stderr`` of the `dvos` command: a write or flush that fails (stderr a pipe whose reader went away, a
    closed file) sends it, and what follows, to the null device instead of failing the command - its progress lines,
    warnings and messages say how the work goes, and a command that writes data finishes it (or fails for its own
    reason) with or without anyone reading them."""

    def __init__(self, stream):
        self._stream = stream

    def _gone(self) -> None:
        if not output_to_devnull(self._stream):
            self._stream = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (held for the process's life)

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (OSError, ValueError):
            self._gone()
            return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError):
            self._gone()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def guard_standard_streams() -> None:
    """Make the `dvos` command safe to run with its output closed (``dvos info P >&-``, ``dvos demo 2>&-``, pythonw's
    None streams) or read by a program that goes away (``| head``): a standard descriptor the shell closed gets the
    null device (else the first file the command opens takes its number, and a print or a child process writes into
    it), ``sys.stdout`` / ``sys.stderr`` that are None or closed write to the null device, and stderr becomes a
    :class:`QuietStream`. A pipe closed on stdout is :func:`run_command`'s to tell (exit 0 at the result, 141 while
    the command works)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)  # the lowest free number: ``fd`` itself, as lower ones are open
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None or getattr(stream, "closed", False):
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115
        else:
            _names_as_their_bytes(getattr(sys, name))
    if not isinstance(sys.stderr, QuietStream):
        sys.stderr = QuietStream(sys.stderr)


def _bytes_of_names(error: UnicodeEncodeError):
    """Encoding error handler ``dvos-names``: the bytes a file name held that Python could not decode (in an ASCII
    locale, every UTF-8 letter of a name) are written back as those bytes, so ``été.dvos`` shows as it does in
    ``ls``, not as ``\\udcc3\\udca9t...``; any other character is escaped as with ``backslashreplace``."""
    bad = error.object[error.start : error.end]
    if all(0xDC80 <= ord(c) <= 0xDCFF for c in bad):
        return bytes(ord(c) - 0xDC00 for c in bad), error.end
    return codecs.backslashreplace_errors(error)


def _names_as_their_bytes(stream) -> None:
    """Let ``stream`` (a text stream that cannot write every character: Python in an ASCII locale) write file names
    as their bytes (see :func:`_bytes_of_names`)."""
    if getattr(stream, "encoding", "utf-8").lower().replace("-", "") in ("utf8", "utf_8"):
        return
    codecs.register_error("dvos-names", _bytes_of_names)
    with contextlib.suppress(AttributeError, ValueError, OSError):  # not a TextIOWrapper (a test's capture)
        stream.reconfigure(errors="dvos-names")


def flush_stdout() -> None:
    """Flush stdout as the command ends (the help text of ``dvos --help | head -1`` is still in its buffer); a reader
    gone away is no error: the output is sent to the null device, so the flush at exit does not fail either."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        output_to_devnull(sys.stdout)


# the signal that set the cancel token of the running command (None: none, or the cancel came from elsewhere): a
# command stopped by SIGTERM exits with 143 (128 + 15), one stopped by Ctrl+C with 130 (128 + 2), as shells do
_CANCELLED_BY: list[int] = []
REPEAT_GRACE_S = 1.0  # a second Ctrl+C or SIGTERM sooner than this after the first is the same stop, sent twice


def cancel_on_sigint() -> CancelToken:
    """A cancel token set by the first Ctrl+C or SIGTERM (what ``timeout``, ``docker stop`` and batch schedulers
    send before they kill): the command stops at its next safe point and keeps what it committed (a training run
    saves its checkpoint). A second one of either ends the process as usual - once :data:`REPEAT_GRACE_S` have
    passed: GNU ``timeout`` sends its signal twice at once (to the command, then to its process group), and a
    second signal taken as "stop at once" turned its clean cancel into a kill."""
    token = CancelToken()
    defaults = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
    owner = os.getpid()
    first: list[float] = []

    def handler(signum, _frame):
        if os.getpid() != owner:  # a forked data-loader worker (Ctrl+C reaches it too): the command's process stops
            return
        if first:  # a second signal
            if time.monotonic() - first[0] < REPEAT_GRACE_S:
                return  # the same stop sent twice (timeout's process group), not a user's "now"
            for sig, default in defaults.items():
                signal.signal(sig, default)
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            os.kill(os.getpid(), signum)  # SIGTERM's default: end the process
            return
        first.append(time.monotonic())
        what = "Ctrl+C" if signum == signal.SIGINT else "SIGTERM"
        sys.stderr.write(f"\ncancelling on {what} (send it again to stop at once)...\n")
        _CANCELLED_BY[:] = [signum]
        token.cancel()

    try:
        for sig in defaults:
            signal.signal(sig, handler)
    except ValueError:  # not in the main thread
        pass
    return token


# Errors a user can act on from the message alone: bad input or settings (ValueError family, incl. CheckpointError),
# a broken or missing store (StoreError), the file system (OSError: FileNotFoundError, PermissionError, disk full...),
# a missing optional package (ImportError, whose message says what to install) and a diverging training run
# (FloatingPointError). Anything else (KeyError, IndexError, TypeError, RuntimeError, AttributeError...) may be a bug.
def user_error_types() -> tuple[type[BaseException], ...]:
    """The exception types `dvos` reports as one line without a traceback (see the comment above)."""
    from dvos_core.store.schema import StoreError

    return (StoreError, ValueError, OSError, ImportError, FloatingPointError)


def debug_enabled(args=None) -> bool:
    """True when `dvos --debug` was given or the environment sets DVOS_DEBUG (to anything but 0/false/no/off)."""
    from dvos_core.user_warnings import debug_from_environment

    return bool(getattr(args, "debug", False)) or debug_from_environment()


def run_command(args) -> int:
    """Run ``args.func(args)`` and turn an exception into a message and an exit code.

    Without ``--debug``: a user error (:func:`user_error_types`) is one line; any other exception is one line naming
    its type plus a hint to rerun with ``--debug``. Both exit with 2 (1 stays free for commands that report "nothing
    done"); cancel and Ctrl+C exit with 130, a cancel on SIGTERM with 143. With ``--debug`` (or ``DVOS_DEBUG=1``)
    the full traceback comes first.
    """
    debug = debug_enabled(args)
    _CANCELLED_BY.clear()
    try:
        with _wait_option(args), _plain_warnings(args.command, debug), _signals_restored():
            rc = args.func(args)
            sys.stdout.flush()  # a closed pipe shows here, not at exit
        return int(rc or 0)
    except Cancelled:
        _traceback_if(debug)
        return cancelled_exit("everything committed before the cancel is kept")
    except KeyboardInterrupt:
        _traceback_if(debug)
        print("dvos: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError as e:
        output_to_devnull(sys.stdout)  # no second error at exit
        if not isinstance(e, OutputClosed):  # the reader went away from the command's result (dvos info | head)
            return 0
        # the reader went away while the command worked (dvos train --json | head -1): it stopped there, so a
        # pipeline (set -o pipefail) must not take it for done; 141 = 128 + SIGPIPE, as a Unix tool killed so
        try:
            print(
                f"dvos {args.command}: stopped: the program reading its output closed it before the command was "
                f"done (anything it had finished writing is kept; run it again to go on)",
                file=sys.stderr,
            )
        except OSError:
            pass
        return 141
    except Exception as e:
        _traceback_if(debug)
        if isinstance(e, user_error_types()):
            print(f"dvos {args.command}: error: {e}", file=sys.stderr)
            return 2
        msg = e.args[0] if isinstance(e, KeyError) and len(e.args) == 1 else e
        print(f"dvos {args.command}: error: {msg} ({type(e).__name__})", file=sys.stderr)
        if not debug:
            print(
                "dvos: unexpected error type; if the message does not say what to fix, rerun with --debug "
                "(or DVOS_DEBUG=1) for the full traceback and report it",
                file=sys.stderr,
            )
        return 2


def cancelled_exit(kept: str) -> int:
    """Say what a cancelled command kept (``kept``) and give its exit status: 143 for a cancel on SIGTERM, as shells
    do, else 130 (Ctrl+C, or a cancel from elsewhere)."""
    print(f"dvos: cancelled; {kept}", file=sys.stderr)
    return 128 + signal.SIGTERM if _CANCELLED_BY == [signal.SIGTERM] else 130


def _traceback_if(debug: bool) -> None:
    if debug:
        traceback.print_exc(file=sys.stderr)


def add_wait(parser) -> None:
    """``--wait`` for a command that writes the project (see dvos_core.store.lock)."""
    parser.add_argument(
        "--wait",
        action="store_true",
        help="if another dvos process is writing this project, wait for it to finish instead of stopping "
        "with an error that names it",
    )


@contextlib.contextmanager
def _signals_restored():
    """Put back the Ctrl+C and SIGTERM handlers a command's :func:`cancel_on_sigint` replaced (for callers that run
    several commands in one process, e.g. tests and scripts)."""
    try:
        saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:
        saved = {}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            try:
                signal.signal(sig, handler)
            except (ValueError, TypeError):  # not the main thread, or a handler not set from Python
                pass


@contextlib.contextmanager
def _plain_warnings(command: str, debug: bool):
    """Print a warning raised during the command as one line, ``dvos COMMAND: warning: ...`` (a video left out of an
    evaluation, frames too few for a clip...), not Python's file:line form, and each message once (a warning about
    the run's options, raised for each video, from lines Python's own filter tells apart); ``--debug`` keeps that
    form."""
    if debug:
        yield
        return
    import warnings

    said = set()

    def show(message, category, filename, lineno, file=None, line=None):
        if str(message) not in said:
            said.add(str(message))
            print(f"dvos {command}: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


@contextlib.contextmanager
def _wait_option(args):
    """Apply ``--wait`` to every write of the command (the store's process-wide default), restored afterwards."""
    if not getattr(args, "wait", False):
        yield
        return
    from dvos_core.store.lock import set_default_wait

    set_default_wait(True, on_wait=lambda message: print(f"dvos: {message}", file=sys.stderr, flush=True))
    try:
        yield
    finally:
        set_default_wait(False)


def add_project(parser, help_text: str = "path of the project store (a folder ending in .dvos)") -> None:
    parser.add_argument("project", help=help_text)


def add_preprocess(p, what: str = "frames", as_is: str | None = None) -> None:
    """``--paper-preprocess`` | ``--height H``, and ``--crop H W``: how imported frames are resized and cropped
    (read back by :func:`preprocess_from_args`); with ``as_is`` (its help) also ``--no-preprocess``."""
    g = p.add_mutually_exclusive_group()
    if as_is:  # not in the group: its usage line would not fit 80 columns
        p.add_argument("--no-preprocess", action="store_true", help=as_is)
    g.add_argument(
        "--paper-preprocess",
        action="store_true",
        help=f"resize the {what} to 1024 pixels high, then keep the central 1024x1024 square (the paper's setting)",
    )
    g.add_argument("--height", type=int, help=f"resize the {what} to this height in pixels (width follows)")
    p.add_argument(
        "--crop",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        help="keep only the central H x W pixels (after --height resizing)",
    )


def preprocess_from_args(args):
    """The :class:`dvos_core.io.Preprocess` that :func:`add_preprocess`'s options ask for."""
    from dvos_core.io import Preprocess

    if getattr(args, "no_preprocess", False) and (args.paper_preprocess or args.height is not None or args.crop):
        raise ValueError("--no-preprocess keeps the frames as they are; drop --paper-preprocess, --height and --crop")
    if args.paper_preprocess:
        if args.crop:
            raise ValueError("--paper-preprocess already crops to 1024x1024; drop --crop")
        return Preprocess.paper()
    return Preprocess(height=args.height, crop=tuple(args.crop) if args.crop else None)


def device_option(text: str) -> str:
    """``--device``: a device name, refused when empty (``--device ''`` would otherwise be taken as auto)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda, cuda:N or mps, got {text!r}")
    return text.strip()


def threads_option(text: str) -> int:
    """``--threads``: a whole number; one above the CPU cores this process may use is kept, with a note that the
    extra threads only wait on each other."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of threads, got {text!r}") from None
    from dvos_core.threads import available_cores

    cores = available_cores()
    if n > cores:
        print(
            f"dvos: note: --threads {n} exceeds the {cores} CPU core(s) this process may use: the extra threads wait "
            f"on each other (slower, not faster); use --threads {cores} or fewer",
            file=sys.stderr,
        )
    return n


def add_threads(p) -> None:
    """``--threads N``: CPU threads of a compute command (the rule lives in dvos_core.threads)."""
    p.add_argument(
        "--threads",
        type=threads_option,
        default=None,
        metavar="N",
        help="CPU threads per process (default: $DVOS_THREADS, else the free cores shared among the worker "
        "processes; on a shared machine use 1)",
    )


def masks_choice(args, verb: str) -> str:
    """'predictions' or 'labels' from a command's --predictions / --model (``--model`` alone is an error: it chooses
    whose predictions to ``verb``)."""
    if args.model and not args.predictions:
        raise ValueError(f"--model chooses whose predictions to {verb}; add --predictions")
    return "predictions" if args.predictions else "labels"
