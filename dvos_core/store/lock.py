"""The store's writer lock: one writing process at a time per project; readers never take it and never wait.

Every write to a project goes through :func:`writer_lock` (``Project.writing()`` and the ``@writes_store`` functions
use it). The lock is an OS file lock (``filelock``, i.e. ``flock`` on POSIX) on ``PROJECT/.dvos-writer.lock``, so
the operating system drops it when its process dies: a lock left by a killed process is never "stale". Who holds it
(PID, host, command, since when) is written to ``PROJECT/.dvos-writer.json`` so a second writer's error names it.

Within one process the lock is re-entrant, from any thread: a core function that holds it can call others that take
it again, and worker threads of the holder write freely. Writers in other processes either fail at once with
:class:`StoreBusyError` naming the holder, or wait (``wait=True``, a number of seconds, or ``--wait`` on the command
line). Under ``torchrun`` only rank 0 takes the lock; the other ranks write as part of its job. Worker processes of
a holder (parallel synthesis) write their own chunks without taking it.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno as _errno
import functools
import inspect
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from dvos_core.shell import quote
from dvos_core.store.fsops import _FIXES, describe_os_error, sweep
from dvos_core.store.schema import StoreError, StoreWriteError

LOCK_NAME = ".dvos-writer.lock"
HOLDER_NAME = ".dvos-writer.json"
POLL_S = 0.2

_defaults: dict = {"wait": False, "on_wait": None}


class StoreBusyError(StoreError):
    """Another process is writing the project; the message names it (``holder`` holds its PID, host, command)."""

    def __init__(self, message: str, holder: dict | None = None):
        super().__init__(message)
        self.holder = holder or {}


def set_default_wait(wait: bool | float = False, on_wait: Callable[[str], None] | None = None) -> None:
    """Process-wide default for ``wait=None`` (the CLI's ``--wait`` sets it): False = fail at once, True = wait as
    long as it takes, a number = wait at most that many seconds. ``on_wait(message)`` is called once when a writer
    starts waiting."""
    _defaults.update(wait=wait, on_wait=on_wait)


def _program(argv0: str) -> str:
    """The name a holder's command reads with: its program's file name, but ``dvos`` for ``python -m dvos_core.cli``
    (also under torchrun), whose argv[0] is the package's ``__main__.py``, and ``python -m PACKAGE`` for another
    package run so."""
    path = Path(argv0)
    if path.name != "__main__.py":
        return path.name
    return (
        "dvos"
        if (path.parent.parent.name, path.parent.name) == ("dvos_core", "cli")
        else f"python -m {path.parent.name}"
    )


def _command() -> str:
    text = " ".join(_program(a) if i == 0 else quote(a) for i, a in enumerate(sys.argv)) if sys.argv else ""
    return text[:200] or "python"


def process_record(operation: str = "") -> dict:
    """What a lock holder records about itself: pid, host, command, operation and since when."""
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": _command(),
        "operation": operation,
        "since": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def write_record(path: Path, record: dict) -> None:
    """Write a holder's ``record`` to ``path`` whole (a temporary file, then a rename); a failure is ignored: the
    record only improves messages, and a full disk must not stop the lock."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


def read_record(path: Path) -> dict | None:
    """The holder's record at ``path``, or None when there is none or it cannot be read."""
    try:
        info = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def describe_record(info: dict | None) -> str:
    """A lock holder in words, from its record (``process 123 on host (`dvos train ...`, since ...)``)."""
    if not info:
        return "another process (it has not recorded its name yet)"
    if info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int) and not _alive(info["pid"]):
        return "another process (it has just taken over from a finished one)"
    op = f", {info['operation']}" if info.get("operation") else ""
    return (
        f"process {info.get('pid')} on {info.get('host')} (`{info.get('command', '?')}`{op}, "
        f"since {info.get('since', '?')})"
    )


# a model folder's training lock (held by the process training it) and the file naming that process
TRAIN_LOCK, TRAIN_HOLDER = ".training.lock", ".training.json"


def training_holder(folder: Path) -> str | None:
    """Who trains the model in ``folder`` now (:func:`describe_record` of its holder), or None when no one does (its
    training lock is free, or the file system has no locks)."""
    import filelock

    lock_path = Path(folder) / TRAIN_LOCK
    if not lock_path.is_file():
        return None
    lock = filelock.FileLock(str(lock_path), thread_local=False, is_singleton=False)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        return describe_record(read_record(Path(folder) / TRAIN_HOLDER))
    except OSError:
        return None
    lock.release()
    return None


def _lock_free(lock_path: Path) -> bool:
    """Whether no process holds the OS lock on ``lock_path`` (tried without waiting, on a descriptor of its own, and
    let go at once); False when that cannot be told (no ``fcntl``, or the file cannot be opened)."""
    try:
        import fcntl
    except ImportError:  # (Windows: the record's PID decides)
        return False
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except FileNotFoundError:
        return True  # no lock file: nobody can hold it
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held (or locks unsupported here: taken as held)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


# errno values of a file system that has no working file locks: NFS without its lock service (ENOLCK), some FUSE
# and SMB mounts (EOPNOTSUPP, EINVAL). filelock itself falls back to a lock file where flock is missing (ENOSYS).
_NO_LOCKS = {_errno.ENOLCK, _errno.EOPNOTSUPP, _errno.ENOTSUP, _errno.EINVAL, _errno.ENOSYS}
_READ_ONLY_STILL_WORKS = (
    "Reading it still works (dvos info, dvos export-masks, napari), and so does scoring it without saving a report "
    "(`dvos evaluate --no-save`; Python: evaluate(project, save=False))"
)


def lock_error(root: Path, lock_path: Path, e: OSError) -> StoreWriteError:
    """The error for a writer lock that could not be taken because of ``e`` (not because another process holds it):
    it names the project, why and the fix; nothing has been written."""
    code = e.errno
    if code == _errno.EROFS:
        why = "the project is on a read-only file system"
        fix = f"{_READ_ONLY_STILL_WORKS}; to change it, copy the folder to a writable disk and work on the copy"
    elif code in (_errno.EACCES, _errno.EPERM):
        why = "you have no permission to write the project folder"
        fix = f"{_READ_ONLY_STILL_WORKS}; to change it, ask its owner for write access, or copy it to a folder of yours"
    elif code in _NO_LOCKS:
        why = f"its file system does not support file locks ({e.strerror or e}; a network share such as NFS?)"
        fix = (
            "dvos needs them to keep two processes from writing the project at once: copy the project to a local "
            "disk, or have file locking enabled on the share (NFS: the lock service, mounted without nolock)"
        )
    else:
        why = describe_os_error(e).split(": ")[0]
        fix = _FIXES.get(code, "check that the folder is still reachable, then run it again")
        fix = fix[0].upper() + fix[1:]
    return StoreWriteError(
        f"{root}: cannot take the writer lock {lock_path.name}: {why}. Nothing was written. {fix}", code
    )


def _is_other_rank() -> bool:
    """True in ranks 1.. of a torchrun job: rank 0 holds the lock for the whole job."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1 and int(os.environ.get("RANK", "0")) != 0
    except ValueError:
        return False


class WriterLock:
    """The writer lock of one project folder (one instance per folder and process: see :func:`writer_lock`)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.lock_path, self.holder_path = self.root / LOCK_NAME, self.root / HOLDER_NAME
        self._mutex = threading.Lock()
        self._count = 0
        self._file_lock = None
        self._since = ""

    # ---- state ----------------------------------------------------------------------------------------------
    @property
    def held(self) -> bool:
        """True while this process holds the lock."""
        return self._count > 0

    def holder(self) -> dict | None:
        """The holder's record (pid, host, command, operation, since), or None when unknown."""
        return read_record(self.holder_path)

    def writing(self) -> bool:
        """Whether a holder's record says some process is writing now: False without a record, and for the record
        of a process of this machine that no longer runs (killed mid-write, it could not remove its record) or
        whose lock is free (its PID reused since by another process)."""
        if self.held:
            return True
        if not self.holder_path.exists():
            return False
        info = self.holder()
        if info and info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int):
            return _alive(info["pid"]) and not _lock_free(self.lock_path)
        return True  # a record being written, or a process of another machine: taken as writing

    def describe_holder(self) -> str:
        return describe_record(self.holder())

    def stale_record(self) -> dict | None:
        """The holder record left in the project by a writer that no longer writes it (see :meth:`writing`: killed
        mid-write, or the project was copied while a command wrote it), else None. Any writer replaces it, and
        removes it when it ends."""
        if self.held or self.writing():
            return None
        record = self.holder()  # (a writer that ended meanwhile removed its record before letting the lock go)
        return record if record is not None and not self.writing() else None

    # ---- acquire / release -------------------------------------------------------------------------------------
    def _try(self, operation: str) -> bool:
        """Take the OS lock without waiting (caller holds the mutex); True on success."""
        import filelock

        from dvos_core.store.schema import project_gone_error

        if not self.root.is_dir():  # moved or deleted while open: taking the lock would make its folder again, empty
            raise project_gone_error(self.root)
        if self._file_lock is None:
            self._file_lock = filelock.FileLock(str(self.lock_path), thread_local=False)
        try:
            self._file_lock.acquire(timeout=0)
        except filelock.Timeout:
            return False
        except OSError as e:
            raise lock_error(self.root, self.lock_path, e) from e
        record = process_record(operation)
        self._since = record["since"]
        write_record(self.holder_path, record)
        return True

    def acquire(self, wait: bool | float | None = None, operation: str = "", cancel=None) -> None:
        """Take the lock (re-entrant within the process). ``wait``: False fail at once, True wait, a number = at
        most that many seconds, None = the process default (:func:`set_default_wait`)."""
        if wait is None:
            wait = _defaults["wait"]
        deadline = None if wait is True else time.monotonic() + (0.0 if wait is False else float(wait))
        told = False
        while True:
            with self._mutex:
                if self._count or _is_other_rank():
                    self._count += 1
                    return
                if self._try(operation):
                    self._count = 1
                    break
            who = self.describe_holder()
            if deadline is not None and time.monotonic() >= deadline:
                waited = "" if wait is False else f" after waiting {float(wait):g} s"
                raise StoreBusyError(
                    f"{self.root} is being written by {who}{waited}. Let it finish, then run this again, or queue "
                    f"behind it with --wait (Python: wait=True); reading the project is not blocked",
                    self.holder(),
                )
            if not told and _defaults["on_wait"] is not None:
                _defaults["on_wait"](f"waiting for {who} to finish writing {self.root}")
            told = True
            if cancel is not None:
                from dvos_core.progress import check

                check(cancel)
            time.sleep(POLL_S if deadline is None else max(0.0, min(POLL_S, deadline - time.monotonic())))
        try:
            sweep(self.root)  # leftovers of killed writers: nobody else can be using them now
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        with self._mutex:
            if self._count <= 0:
                return
            self._count -= 1
            if self._count or self._file_lock is None or not self._file_lock.is_locked:
                return
            with contextlib.suppress(OSError):
                info = self.holder()
                if info and info.get("pid") == os.getpid() and info.get("since") == self._since:
                    self.holder_path.unlink()
            self._file_lock.release()

    @contextlib.contextmanager
    def hold(self, wait: bool | float | None = None, operation: str = "", cancel=None):
        """``with lock.hold(): ...`` — the lock for the duration of the block."""
        self.acquire(wait, operation, cancel)
        try:
            yield self
        finally:
            self.release()


_LOCKS: dict[str, WriterLock] = {}
_LOCKS_MUTEX = threading.Lock()


def writer_lock(path) -> WriterLock:
    """The (per-process) writer lock of the project at ``path``; the same object for every path spelling."""
    key = os.path.realpath(os.fspath(path))
    with _LOCKS_MUTEX:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = WriterLock(Path(key))
        return lock


@contextlib.contextmanager
def store_write(path, where, step: str, after: str = ""):
    """One write step of a store object: holds the writer lock of the project at ``path`` (re-entrant) and names
    ``where`` and ``step`` in any OS error (see :func:`~dvos_core.store.fsops.io_step`)."""
    from dvos_core.store.fsops import io_step

    with writer_lock(path).hold(operation=step) if path else contextlib.nullcontext(), io_step(where, step, after):
        yield


def _store_path(obj):
    """The project folder of a Project, a store object (Video, SyntheticSet, ObjectBank...) or a path."""
    path = getattr(obj, "path", obj)
    return path if path not in (None, "") else None


def writes_store(fn):
    """Decorator for core functions that write a project: the call holds the project's writer lock, and gains a
    keyword argument ``wait`` (see :meth:`WriterLock.acquire`). The project is the argument named ``project`` (a
    Project or its path), else the first argument (a store object such as a Video). A ``cancel`` argument of the
    function also stops the wait."""
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    names = [q.name for q in params]
    index = names.index("project") if "project" in names else 0
    wait_param = inspect.Parameter("wait", inspect.Parameter.KEYWORD_ONLY, default=None)
    if params and params[-1].kind is inspect.Parameter.VAR_KEYWORD:
        params.insert(len(params) - 1, wait_param)
    else:
        params.append(wait_param)

    @functools.wraps(fn)
    def wrapper(*args, wait: bool | float | None = None, **kwargs):
        target = args[index] if len(args) > index else kwargs.get(names[index]) if names else None
        path = _store_path(target)
        if path is None:
            return fn(*args, **kwargs)
        with writer_lock(path).hold(wait, fn.__name__, kwargs.get("cancel")):
            return fn(*args, **kwargs)

    wrapper.__signature__ = sig.replace(parameters=params)
    return wrapper
