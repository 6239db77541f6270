"""Run a long core function in a child Python process; progress, events, cancel and the result travel over pipes.

A GUI stays responsive because the work (and its GIL) lives in another process, and ending the child frees its memory
(GPU memory included). The child is a fresh Python running ``dvos_core.jobs``: it never re-imports the caller's
``__main__``, so a script needs no ``if __name__ == "__main__":`` guard. It calls
``target(*args, **kwargs, progress=..., cancel=...)`` and sends back, in order:

- :class:`Progress` ``(done, total, message)`` from the progress callback (at most every ``PROGRESS_INTERVAL_S``),
- :class:`Event` for each object given to the callback named by ``events`` (e.g. the trainer's ``on_event``),
- :class:`Warned` for each ``UserWarning`` it gives (also written to its stderr, as a script's would be),
- one :class:`Outcome`: status ``ok`` (with the result), ``cancelled``, ``error`` (message, type and traceback) or
  ``killed``.

>>> job = JobProcess("dvos_core.extract:extract_heads", project, min_area=30).start()
>>> while job.outcome is None:
...     for message in job.poll():   # non-blocking
...         ...
...     time.sleep(0.1)
>>> job.cancel()   # the child's CancelToken fires (it stops cleanly); job.kill() ends it at once

A cancel that comes before the target runs (while the child still imports its modules) ends the child then, with
the outcome ``cancelled`` and the message :data:`NOT_STARTED`.

Or, blocking: ``JobProcess(...).run(progress=..., cancel=token)`` returns the result and raises on failure.
After :func:`keep_warm` (the napari panel calls it) one spare child waits with the heavy modules already imported,
so a job starts at once instead of after the imports.

Arguments and results are pickled; a :class:`~dvos_core.store.Project` or ``Video`` travels as its path and is opened
again on the other side. ``threads`` sets the child's CPU thread count (``OMP_NUM_THREADS`` and ``DVOS_THREADS``,
and the target's own ``threads`` argument when it has one).
"""

from __future__ import annotations

import collections
import importlib
import io
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvos_core.progress import Cancelled, CancelToken

PROGRESS_INTERVAL_S = 0.05
_HEADER = struct.Struct(">Q")
_CANCEL = "cancel"
NOT_STARTED = "cancelled before it started; nothing was done"
# The child imports this module by name (not as __main__), so its messages unpickle as dvos_core.jobs classes. Its
# work is saved and reported when _child_main returns: it then leaves without the slow interpreter teardown.
CHILD_COMMAND = (
    "import os, sys; from dvos_core.jobs import _child_main; code = _child_main(); "
    "sys.stdout.flush(); sys.stderr.flush(); os._exit(code)"
)
PRELOAD_ENV = "DVOS_JOB_PRELOAD"
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "DVOS_THREADS")


# ---- messages ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    message: str = ""


@dataclass(frozen=True)
class Event:
    value: Any


@dataclass(frozen=True)
class Warned:
    """A warning the job gave (a ``UserWarning`` or a subclass, e.g. footage stored dark, labels of two models
    mixed): its text and category, for a GUI to show; the child's stderr shows it too, as a script's would."""

    message: str
    category: str = "UserWarning"


@dataclass(frozen=True)
class Outcome:
    """How a job ended: ``status`` is ok, cancelled, error or killed; ``result`` is the target's return value."""

    status: str
    result: Any = None
    message: str = ""
    error_type: str = ""
    traceback: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class JobError(RuntimeError):
    """A job failed in its child process; ``error_type`` names the original exception, ``details`` its traceback."""

    def __init__(self, outcome: Outcome):
        super().__init__(outcome.message)
        self.error_type, self.details = outcome.error_type, outcome.traceback


# ---- pickling: store handles travel as paths -----------------------------------------------------------------------
def _open_project(path: str, mode: str):
    from dvos_core.store import Project

    return Project.open(path, mode=mode)


def _open_video(path: str, name: str):
    return _open_project(path, "r+").video(name)


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        store = sys.modules.get("dvos_core.store.project")
        if store is not None:
            from dvos_core.store.sequence import Video

            if isinstance(obj, store.Project):
                return _open_project, (str(obj.path), obj.mode)
            if isinstance(obj, Video):
                return _open_video, (str(obj.path), obj.name)
        return NotImplemented


def dumps(obj) -> bytes:
    buf = io.BytesIO()
    _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buf.getvalue()


def _write(stream, obj) -> None:
    data = dumps(obj)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _read_exact(stream, n: int) -> bytes:
    parts, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _read(stream):
    """The next message of the unbuffered ``stream``; raises EOFError when the other side has closed it.

    Both ends use raw (unbuffered) pipes: a thread blocked in a buffered read would hold its lock at interpreter
    shutdown and abort the process.
    """
    n = _HEADER.unpack(_read_exact(stream, _HEADER.size))[0]
    return pickle.loads(_read_exact(stream, n))


def target_name(target) -> str:
    """``"module:qualified.name"`` of a module-level function (or the string itself)."""
    if isinstance(target, str):
        if ":" not in target:
            raise ValueError(f"job target {target!r} must look like 'package.module:function'")
        return target
    module, qual = getattr(target, "__module__", None), getattr(target, "__qualname__", "")
    if not module or module == "__main__" or "<" in qual:
        raise ValueError(
            f"{target!r} cannot run in a child process: pass a function defined at the top level of an importable "
            f"module (not a lambda, a nested function or one defined in the script being run)"
        )
    return f"{module}:{qual}"


def _resolve(name: str):
    module, _, qual = name.partition(":")
    obj = importlib.import_module(module)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj


def _accepts(func, name: str) -> bool:
    import inspect

    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def _package_root(module: str) -> str | None:
    mod = sys.modules.get(module.split(".")[0])
    f = getattr(mod, "__file__", None)
    if not f:
        return None
    p = Path(f).resolve().parent
    return str(p.parent if p.name == module.split(".")[0] else p)


# ---- the parent side ----------------------------------------------------------------------------------------------
class JobProcess:
    """One call of ``target`` in a child process (see the module docstring)."""

    def __init__(
        self,
        target,
        *args,
        events: str | None = None,
        threads: int | None = None,
        progress_arg: str | None = "progress",
        cancel_arg: str | None = "cancel",
        process_name: str | None = None,
        **kwargs,
    ):
        self.target = target_name(target)
        self.process_name = process_name  # the child's command line (default `dvos-job TARGET`), see _child_main
        self.args, self.kwargs = args, kwargs
        self.events, self.threads = events, threads
        self.progress_arg, self.cancel_arg = progress_arg, cancel_arg
        self.outcome: Outcome | None = None
        self._child: _Child | None = None
        self._proc: subprocess.Popen | None = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._stdin_lock = threading.Lock()
        self._killed = False

    # ---- control ----------------------------------------------------------------------------------------------
    def start(self) -> JobProcess:
        if self._proc is not None:
            raise RuntimeError("this job was already started; create a new JobProcess")
        spec = {
            "target": self.target,
            "args": self.args,
            "kwargs": self.kwargs,
            "events": self.events,
            "progress_arg": self.progress_arg,
            "cancel_arg": self.cancel_arg,
            "threads": self.threads,
            "process_name": self.process_name,
        }
        payload = dumps(spec)  # fails here, in the caller, when an argument cannot be sent
        roots = _roots(self.target)
        self._child = _take_spare(roots) or _Child(roots, self.threads)
        self._proc = self._child.proc
        self._send_raw(_HEADER.pack(len(payload)) + payload)
        threading.Thread(target=self._read_messages, name="dvos-job-reader", daemon=True).start()
        _refill_spare()
        return self

    def cancel(self) -> None:
        """Ask the child to stop at its next cancel check (it keeps everything finished so far)."""
        if self.is_alive():
            try:
                self._send_raw(None)
            except OSError:
                pass  # the child has just exited

    def kill(self) -> None:
        """End the child at once (last resort: whatever it had not saved is lost)."""
        if self.is_alive():
            self._killed = True
            self._proc.kill()

    def is_alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def join(self, timeout: float | None = None) -> int | None:
        """Wait for the child to exit (at most ``timeout`` s); its exit code, or None while it runs."""
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def poll(self) -> list:
        """Messages received since the last call (non-blocking); the last one of a job is its :class:`Outcome`."""
        out = []
        while True:
            try:
                msg = self._queue.get_nowait()
            except queue.Empty:
                return out
            if isinstance(msg, Outcome):
                self.outcome = msg
            out.append(msg)

    def run(self, progress=None, on_event=None, cancel: CancelToken | None = None, interval: float = 0.05):
        """Start (if needed), wait for the end and return the result; raises :class:`Cancelled` or
        :class:`JobError`. ``progress``/``on_event`` receive the child's reports; ``cancel`` is passed on to it."""
        if self._proc is None:
            self.start()
        sent_cancel = False
        while self.outcome is None:
            for msg in self.poll():
                if isinstance(msg, Progress) and progress is not None:
                    progress(msg.done, msg.total, msg.message)
                elif isinstance(msg, Event) and on_event is not None:
                    on_event(msg.value)
            if cancel is not None and cancel.cancelled and not sent_cancel:
                self.cancel()
                sent_cancel = True
            if self.outcome is None:
                time.sleep(interval)
        self.join()
        if self.outcome.status == "ok":
            return self.outcome.result
        if self.outcome.status == "cancelled":
            raise Cancelled(self.outcome.message or "cancelled by user")
        raise JobError(self.outcome)

    # ---- threads ----------------------------------------------------------------------------------------------
    def _send_raw(self, data: bytes | None) -> None:
        with self._stdin_lock:
            stdin = self._proc.stdin
            if data is None:
                _write(stdin, _CANCEL)
            else:
                stdin.write(data)
                stdin.flush()

    def _read_messages(self) -> None:
        """Queue the child's messages; its Outcome only once the process has exited (its memory is free then)."""
        outcome = None
        stream = self._proc.stdout
        while True:
            try:
                msg = _read(stream)
            except EOFError:
                break
            except Exception as e:  # a result that cannot be unpickled here
                msg = Outcome("error", message=f"the job's reply could not be read: {e}", error_type=type(e).__name__)
            if isinstance(msg, Outcome):
                outcome = msg
            else:
                self._queue.put(msg)
        code = self._proc.wait()
        if outcome is not None:
            self._queue.put(outcome)
        else:
            if self._killed:
                self._queue.put(Outcome("killed", message="the job was ended before it finished"))
            else:
                tail = "".join(self._child.stderr_tail).strip()
                self._queue.put(
                    Outcome(
                        "error",
                        message=f"the job's process ended unexpectedly (exit code {code})",
                        error_type="ProcessExit",
                        traceback=tail,
                    )
                )


# ---- child processes, and one spare kept warm ---------------------------------------------------------------------
def _roots(target: str) -> list[str]:
    """sys.path roots the child needs: where this dvos_core and the target's package were imported from."""
    return [r for r in dict.fromkeys((_package_root("dvos_core"), _package_root(target.partition(":")[0]))) if r]


class _Child:
    """A started child Python waiting for its job spec on stdin; its stderr is echoed and its tail kept."""

    def __init__(self, roots: list[str], threads: int | None = None, preload: tuple[str, ...] = ()):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*roots, *filter(None, [env.get("PYTHONPATH")])]))
        env["PYTHONUNBUFFERED"] = "1"
        env[PRELOAD_ENV] = ",".join(preload)
        if threads:
            env.update(dict.fromkeys(THREAD_ENV, str(int(threads))))
        self.roots = roots
        self.stderr_tail: collections.deque = collections.deque(maxlen=40)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD_COMMAND],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            env=env,
        )
        threading.Thread(target=self._read_stderr, name="dvos-job-stderr", daemon=True).start()

    def _read_stderr(self) -> None:
        for raw in iter(self.proc.stderr.readline, b""):
            line = raw.decode(errors="replace")
            self.stderr_tail.append(line)
            try:
                sys.stderr.write(line)
            except (OSError, ValueError, AttributeError):
                pass


_warm: dict = {"preload": (), "spare": None}
_warm_lock = threading.Lock()


def keep_warm(preload: tuple[str, ...] = ("dvos_core.store",)) -> None:
    """From now on keep one spare child started, with ``preload`` modules imported, so the next job starts at once
    (a GUI calls this; a spare costs one idle Python process). Jobs that set ``threads`` get it applied on arrival."""
    with _warm_lock:
        _warm["preload"] = tuple(preload)
    _refill_spare()


def stop_warm() -> None:
    """Stop keeping a spare child and end the current one."""
    with _warm_lock:
        _warm["preload"] = ()
        spare, _warm["spare"] = _warm["spare"], None
    if spare is not None and spare.proc.poll() is None:
        spare.proc.stdin.close()  # the spare exits when its stdin closes


def _take_spare(roots: list[str]) -> _Child | None:
    with _warm_lock:
        spare = _warm["spare"]
        if spare is None or spare.proc.poll() is not None or not set(roots) <= set(spare.roots):
            return None
        _warm["spare"] = None
        return spare


def _refill_spare() -> None:
    with _warm_lock:
        if not _warm["preload"] or (_warm["spare"] is not None and _warm["spare"].proc.poll() is None):
            return
        _warm["spare"] = _Child(_roots("dvos_core.jobs:_child_main"), preload=_warm["preload"])


# ---- the child side ----------------------------------------------------------------------------------------------
def _listen(stdin, token: CancelToken, on_cancel=None) -> None:
    """Cancel on a 'cancel' message, and when the parent goes away (its end of the pipe closes); ``on_cancel`` runs
    after each."""
    while True:
        try:
            msg = _read(stdin)
        except (EOFError, OSError):
            token.cancel()
            if on_cancel is not None:
                on_cancel()
            return
        if msg == _CANCEL:
            token.cancel()
            if on_cancel is not None:
                on_cancel()


def _apply_threads(n: int) -> None:
    """Set the thread count of a child that is already running (a spare): environment and torch if loaded."""
    os.environ.update(dict.fromkeys(THREAD_ENV, str(n)))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(max(1, n))


def _send_warnings(send) -> None:
    """Send every ``UserWarning`` the job shows as a :class:`Warned` message, besides writing it to stderr (warnings
    the job catches itself, with ``catch_warnings(record=True)``, are not shown and not sent)."""
    import warnings

    shown = warnings.showwarning

    def showwarning(message, category, filename, lineno, file=None, line=None):
        shown(message, category, filename, lineno, file, line)
        if issubclass(category, UserWarning):
            send(Warned(str(message), category.__name__))

    warnings.showwarning = showwarning


def _child_main() -> int:
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # prints of the job go to stderr, never into the channel
    lock = threading.Lock()

    def send(msg) -> None:
        with lock:
            _write(channel, msg)

    stdin = os.fdopen(os.dup(sys.stdin.fileno()), "rb", buffering=0)
    for module in filter(None, os.environ.get(PRELOAD_ENV, "").split(",")):
        try:  # a spare child loads what jobs need while it waits for one
            importlib.import_module(module)
        except Exception:
            pass
    try:
        spec = _read(stdin)
    except EOFError:
        return 2
    # what a process listing (or a store-lock message) shows for this child: the name its parent gave (a GUI's step,
    # say), else `dvos-job TARGET`
    sys.argv = [spec["process_name"]] if spec.get("process_name") else ["dvos-job", spec["target"]]
    if spec.get("threads"):
        _apply_threads(int(spec["threads"]))
    token = CancelToken()
    started = [False]  # set, under `lock`, once the target is called

    def stop_before_start() -> None:
        """A cancel that comes while the target's modules are still importing (seconds for torch) ends the child at
        once: nothing has run, so nothing is lost."""
        with lock:
            if started[0]:
                return
            try:
                _write(channel, Outcome("cancelled", message=NOT_STARTED))
            except OSError:
                pass  # the parent has gone
            sys.stderr.flush()
            os._exit(0)

    threading.Thread(target=_listen, args=(stdin, token, stop_before_start), daemon=True).start()
    last = [0.0]

    def progress(done, total, message="") -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_INTERVAL_S or (total and done >= total):
            last[0] = now
            send(Progress(int(done), int(total), str(message)))

    _send_warnings(send)
    kwargs = dict(spec["kwargs"])
    if spec.get("progress_arg"):
        kwargs[spec["progress_arg"]] = progress
    if spec.get("cancel_arg"):
        kwargs[spec["cancel_arg"]] = token
    if spec.get("events"):
        kwargs[spec["events"]] = lambda value: send(Event(value))
    try:
        target = _resolve(spec["target"])
        if spec.get("threads") and "threads" not in kwargs and _accepts(target, "threads"):
            kwargs["threads"] = int(spec["threads"])
        with lock:
            started[0] = True
        result = target(*spec["args"], **kwargs)
    except Cancelled as e:
        send(Outcome("cancelled", message=str(e)))
        return 0
    except BaseException as e:
        import traceback

        send(
            Outcome(
                "error",
                message=str(e) or type(e).__name__,
                error_type=type(e).__name__,
                traceback=traceback.format_exc(),
            )
        )
        return 1
    try:
        send(Outcome("ok", result=result))
    except Exception as e:
        send(
            Outcome(
                "error",
                message=f"the job finished but its result could not be sent back: {e}",
                error_type=type(e).__name__,
            )
        )
        return 1
    return 0
