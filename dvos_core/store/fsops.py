"""File-system steps of the store: OS errors turned into messages naming the file and the step, all-or-nothing
removal of folders (rename into ``.trash``, then delete) and the sweep of leftovers a killed writer left behind."""

from __future__ import annotations

import asyncio
import contextlib
import errno as _errno
import functools
import os
import shutil
import uuid
from pathlib import Path

from dvos_core.store.schema import StoreError, StoreWriteError

TRASH = ".trash"
CHECKPOINTS = ("best.pt", "last.pt")  # a models/<name> folder is a model once one of these is committed
STAGING_PREFIX = ".staging-"

_REASONS = {
    _errno.ENOSPC: "the disk is full (no space left on device)",
    _errno.EDQUOT: "the disk quota is exceeded",
    _errno.EROFS: "the file system is read-only",
    _errno.EACCES: "permission denied",
    _errno.EPERM: "operation not permitted",
    _errno.EIO: "input/output error (a failing disk or network share?)",
    _errno.EFBIG: "the file is too large for this file system",
}
_FIXES = {
    _errno.ENOSPC: "free some disk space, then run it again",
    _errno.EDQUOT: "free some space in your quota, then run it again",
    _errno.EROFS: "copy the project to a writable disk",
    _errno.EACCES: "check the folder's permissions",
    _errno.EPERM: "check the folder's permissions",
}


def durable_replace(tmp, path) -> None:
    """``os.replace(tmp, path)`` that survives a power cut: ``tmp``'s bytes are flushed to the disk first and the
    rename after it (the folder's entry), so after a crash ``path`` holds the old file or the whole new one, never
    an empty or partial file (a rename alone is atomic against a killed process, not against a lost page cache).
    Flushing the folder is skipped where the system cannot (Windows)."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def describe_os_error(e: OSError) -> str:
    """'the disk is full (no space left on device): /path/file' for an OSError."""
    reason = _REASONS.get(e.errno) or e.strerror or str(e) or type(e).__name__
    name = getattr(e, "filename", None)
    return f"{reason}: {name}" if name else reason


def settle_writes(timeout: float = 30.0) -> None:
    """Wait until Zarr's writes still in flight have ended.

    Zarr writes the chunks of one assignment concurrently (tasks on its I/O loop, each in a thread). When one fails
    (a full disk), the error reaches the caller while the others still run: they may create folders and files after
    the caller has cleaned up, or succeed once the clean-up has freed space. So every failed write and every removal
    first lets them end, and the store is then exactly what the clean-up leaves."""
    try:
        from zarr.core import sync as zsync

        loop = zsync.loop[0]
    except (ImportError, AttributeError, IndexError):  # another zarr layout: nothing we can wait for
        return
    if loop is None or not loop.is_running():
        return
    try:
        if asyncio.get_running_loop() is loop:  # called from a task on that loop: it cannot wait for itself
            return
    except RuntimeError:
        pass

    async def others_done():
        me = asyncio.current_task()
        while pending := [t for t in asyncio.all_tasks() if t is not me and not t.done()]:
            await asyncio.wait(pending)

    with contextlib.suppress(Exception):
        asyncio.run_coroutine_threadsafe(others_done(), loop).result(timeout)


_RERUN = ", then run it again"


def _tail(after: str, fix: str) -> str:
    """``after`` (the state the store is left in) and ``fix`` (what to do) as sentences, 'run it again' said once:
    a step whose ``after`` already says to run it again (to resume) gets only what to do first."""
    if fix.endswith(_RERUN) and "run it again" in after.lower():
        fix = f"{fix[: -len(_RERUN)]} first."
    return " ".join(s for s in (after, fix and fix[0].upper() + fix[1:]) if s)


@contextlib.contextmanager
def io_step(where, step: str, after: str = "", fixes: dict[int, str] | None = None):
    """Turn an OSError raised inside the block into a :class:`StoreWriteError` naming ``where`` (a file or folder of
    the store) and ``step`` ('writing frames 8-15'); ``after`` says what state the store is left in; ``fixes``
    ({errno: fix}) replace the usual fixes where they do not fit the step."""
    try:
        yield
    except StoreError:
        settle_writes()
        raise
    except OSError as e:
        settle_writes()
        fix = {**_FIXES, **(fixes or {})}.get(e.errno, "")
        tail = _tail(after, fix)
        raise StoreWriteError(f"{where}: {step} failed: {describe_os_error(e)}. {tail}".strip(), e.errno) from e


def discard(path, root) -> None:
    """Remove ``path`` (a folder or file of the store at ``root``) so that readers see it either whole or gone: a
    folder is first renamed into ``root/.trash`` (one atomic step), then deleted. A symbolic link is unlinked, its
    target left alone. A delete interrupted by a kill leaves only trash, removed by :func:`sweep`."""
    path, root = Path(path), Path(root)
    settle_writes()  # no write of a failed step may land after the removal
    if path.is_symlink() or path.is_file():
        path.unlink()
        return
    if not path.exists():
        return
    trash = root / TRASH
    dest = trash / f"{path.name}-{uuid.uuid4().hex[:12]}"
    try:
        trash.mkdir(exist_ok=True)
        os.rename(path, dest)
    except OSError:  # no room for the trash folder, or another file system: delete in place
        shutil.rmtree(path)
        return
    shutil.rmtree(dest, ignore_errors=True)
    with contextlib.suppress(OSError):
        trash.rmdir()


def sweep(root) -> None:
    """Delete what killed writers left behind: the trash and unfinished report folders (``reports/.staging-*``).
    Called each time a process takes the writer lock, so nobody else can be using them."""
    root = Path(root)
    trash = root / TRASH
    if trash.is_dir():
        shutil.rmtree(trash, ignore_errors=True)
    reports = root / "reports"
    if reports.is_dir() and not reports.is_symlink():
        with os.scandir(reports) as it:
            stale = [Path(e.path) for e in it if e.name.startswith(STAGING_PREFIX)]
        for p in stale:
            if p.is_symlink() or p.is_file():
                p.unlink(missing_ok=True)
            else:
                shutil.rmtree(p, ignore_errors=True)


def group_attrs(folder) -> dict:
    """The attributes of the Zarr group in ``folder``, read straight from its ``zarr.json`` (no Zarr open); {} when
    it has none or the file is missing or unreadable."""
    import json

    try:
        attrs = json.loads((Path(folder) / "zarr.json").read_text()).get("attributes")
    except (OSError, ValueError, AttributeError):
        return {}
    return attrs if isinstance(attrs, dict) else {}


def file_sha256(path) -> str:
    """SHA-256 (hex) of the file at ``path``, hashed once per version of the file (its real path, inode, size and
    modification and change times: a file replaced or rewritten is hashed again), however often it is asked: a
    paper-preset checkpoint is hundreds of MB."""
    st = os.stat(path)
    return _sha256_of(os.path.realpath(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@functools.lru_cache(maxsize=64)
def _sha256_of(path: str, *version) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_folders(root) -> list[Path]:
    """The folders under ``root/models`` that hold a committed checkpoint (:data:`CHECKPOINTS`), sorted by name;
    empty folders of failed runs are left out, and so is everything when ``root`` is None or has no ``models``."""
    d = Path(root) / "models" if root is not None else None
    if d is None or not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.is_dir() and any((p / c).is_file() for c in CHECKPOINTS))


def in_project(checkpoint, root) -> bool | None:
    """Whether the checkpoint file lies in the project folder ``root`` (one of its models, which moves with it: a
    record of another project's file must never be taken for this project's model of the same name); None for a
    model in memory or no project."""
    if root is None or isinstance(checkpoint, (tuple, list)) or hasattr(checkpoint, "forward"):
        return None
    try:
        return Path(checkpoint).resolve().is_relative_to(Path(root).resolve())
    except OSError:
        return False


def _model_place(p: Path) -> bool:
    """Whether path ``p`` ends in a project's ``models/NAME/FILE``."""
    return len(p.parts) >= 3 and p.parts[-3] == "models"


def _spelt_in_project(p: Path) -> bool:
    """Whether ``p`` is spelt ``models/NAME/FILE``, relative to its project (how config.yaml records its own)."""
    return not p.is_absolute() and len(p.parts) == 3 and _model_place(p)


def own_model_file(root, recorded, inside: bool | None = None) -> Path | None:
    """The file of project ``root`` that a record of one of its own models names now, wherever the project has moved;
    None when the record names no model of this project. ``inside``: whether the record says the file lay in the
    project (``checkpoint_in_project``): True maps its ``.../models/NAME/FILE`` (recorded where the project was then)
    to the project as it is now, False is another project's file; unknown (None), only a record spelt
    ``models/NAME/FILE`` relative to the project, or a path into the project as it is, names one of its models (an
    absolute path into another folder is another project's, even when that file is gone)."""
    if root is None or not recorded or inside is False:
        return None
    p = Path(str(recorded))
    if not _model_place(p):
        return None
    if inside and another_projects_file(root, p):  # a video folder copied from that project: its model, not ours
        return None
    if inside is None and not _spelt_in_project(p):
        try:
            rel = Path(os.path.abspath(p)).resolve().relative_to(Path(root).resolve())
        except (ValueError, OSError):
            return None
        if len(rel.parts) != 3 or rel.parts[0] != "models":
            return None
    return Path(root) / "models" / p.parts[-2] / p.parts[-1]


def another_projects_file(root, recorded) -> bool:
    """Whether ``recorded``, a record's ``.../models/NAME/FILE`` of the project it was made in
    (``checkpoint_in_project``), is a file of another project than ``root`` now: it is there, in a project folder
    that is neither ``root`` nor a copy of it (its ``created`` differs). So a video folder copied from another
    project keeps naming that project's model, not ``root``'s model of the same name; a record of a moved project
    (the file gone) or of a copied one (the same ``created``) still names ``root``'s own."""
    p = Path(str(recorded))
    there = p.parent.parent.parent
    try:
        if not p.is_file() or there.resolve() == Path(root).resolve():
            return False
    except OSError:
        return False
    theirs = group_attrs(there).get("created")
    return theirs is not None and theirs != group_attrs(root).get("created")


def checkpoint_now(recorded, inside: bool | None = None, root=None) -> Path | None:
    """Where the checkpoint a record names (a run's starting checkpoint, as its train_config holds it) lies now: the
    path recorded when the file is still there; project ``root``'s same ``models/NAME/FILE`` when it was one of that
    project's own models (``inside`` as for :func:`own_model_file`) and the project has moved; None when it is found
    neither way (moved elsewhere or deleted), so that no command given to the user names a file that is not there."""
    if not recorded:
        return None
    if Path(str(recorded)).is_file():
        return Path(str(recorded))
    there = own_model_file(root, recorded, inside)
    return there if there is not None and there.is_file() else None


def same_checkpoint(a, b, inside: bool | None = None, root=None) -> bool:
    """Whether the checkpoint ``a`` (as a record holds it) and the file ``b`` (a path from here) name the same
    checkpoint, however spelt: the same file; in a copy of a project whose original is still there, the same
    ``models/NAME/FILE`` with the same contents; or, ``a`` not found from here (recorded from another working folder,
    or before its project was moved), the same ``models/NAME/FILE`` of the project when ``a`` was one of its own.
    ``inside``: whether the record says ``a`` lay in the project then (False: another project's file, which is never
    taken for this project's model of the same name once it has gone; None: a record that does not say, of which a
    ``models/NAME/FILE`` is taken for the project's). ``root``: the project ``b`` must then lie in, when known; a
    record spelt ``models/NAME/FILE`` (relative to the project) is read in it."""
    if not a or not b:
        return False
    a, b = Path(a), Path(b)
    if root is not None and _spelt_in_project(a):
        a = Path(root) / a
    if a == b:
        return True
    same_place = _model_place(a) and a.parts[-3:] == b.parts[-3:]
    if a.exists() and b.exists():
        return a.resolve() == b.resolve() or (same_place and file_sha256(a) == file_sha256(b))
    if not same_place or inside is False:
        return False
    return root is None or bool(in_project(b, root))
