"""The dvos project store: one Zarr v3 directory that is the single source of truth (see docs/store.md)."""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno as _errno
import json
import os
import shutil
import uuid
from pathlib import Path

import zarr

from dvos_core.prediction_options import PSEUDO_PASSES
from dvos_core.progress import CancelToken, ProgressFn, report
from dvos_core.shell import quote, user_path
from dvos_core.store import arrays
from dvos_core.store.fsops import (
    TRASH,
    another_projects_file,
    discard,
    group_attrs,
    io_step,
    model_folders,
    settle_writes,
)
from dvos_core.store.lock import StoreBusyError, WriterLock, training_holder, writer_lock
from dvos_core.store.migrate import MIGRATIONS, newer_schema_parts
from dvos_core.store.objects import ObjectBank
from dvos_core.store.schema import (
    INPAINTED,
    SCHEMA_VERSION,
    STORE_FORMAT,
    DamagedStoreError,
    NotInStoreError,
    ProjectExistsError,
    SchemaVersionError,
    StoreError,
    check_id,
    check_project_here,
    id_list,
)
from dvos_core.store.sequence import Background, Video, json_safe
from dvos_core.store.synthetic import SyntheticSet
from dvos_core.store.training import refuse_while_training
from dvos_core.user_warnings import warn_user

_GROUPS = ("videos", "objects", "backgrounds", "synthetic")
# What `Project.delete` removes: kind -> (folder of the store, what the name is called in messages)
KINDS = {
    "video": ("videos", "video"),
    "background": ("backgrounds", "background clip"),
    "synthetic": ("synthetic", "synthetic set"),
    "model": ("models", "model"),
    "report": ("reports", "report"),
}
OPEN_MODES = ("r", "r+")
# Migrations from schema N to N+1 ({N: callable(project_path, progress)}) live in dvos_core.store.migrate.


def _root_attrs(path: Path) -> dict:
    """The root attrs of a dvos project, read straight from its zarr.json (no Zarr open, no version check)."""
    meta = path / "zarr.json"
    if not meta.exists():
        if all((path / g / "zarr.json").is_file() for g in ("videos", "objects")):
            raise DamagedStoreError(
                f"{meta} is missing (deleted, or not yet copied by a sync tool): the folder holds a dvos project's "
                f"videos and objects, but not the file that makes it a project. Restore that file from a backup"
            )
        replaced, creating = _hidden_builds(path)
        kept = [r for r in replaced if _is_project(r)]
        if kept and not (path.is_dir() and any(path.iterdir())):
            raise StoreError(_interrupted_overwrite(path, kept, creating))
        hint = "create it with `dvos new PATH`" if not path.exists() else "it is not a dvos project folder"
        raise StoreError(f"{path}: no dvos project here ({hint})")
    try:
        attrs = json.loads(meta.read_text()).get("attributes", {})
    except (OSError, ValueError) as e:
        raise StoreError(f"{meta}: unreadable project metadata ({e}); restore it from a backup") from e
    if attrs.get("format") != STORE_FORMAT:
        inside = next((p for p in path.resolve().parents if _is_project(p)), None)
        hint = f"; it is a folder inside the dvos project {inside}: open that" if inside else ""
        raise StoreError(f"{path} is a Zarr store but not a dvos project (format={attrs.get('format')!r}){hint}")
    return attrs


def _is_project(path: Path) -> bool:
    return group_attrs(path).get("format") == STORE_FORMAT


REPLACED, CREATING = "replaced", "creating"  # hidden siblings of a project being created: .NAME.creating-*, ...
STALE_BUILD_S = 600  # an unfinished .NAME.creating-* this old is a leftover, not a build in progress
NAME_MAX = 255  # bytes in one file or folder name, where the file system does not say
_SIBLING_EXTRA = len(f"..{CREATING}-") + 12  # what a hidden sibling's name adds to its stem (its kind: 8 letters)


def _name_max(folder: Path) -> int:
    """The longest file name (bytes) of the file system holding ``folder`` (or its nearest existing parent)."""
    for p in (folder, *folder.parents):
        try:
            return int(os.pathconf(p, "PC_NAME_MAX"))
        except FileNotFoundError:
            continue
        except (OSError, ValueError, AttributeError):  # no such query here (Windows) or on this file system
            break
    return NAME_MAX


def _sibling_stem(path: Path) -> str:
    """The NAME of the hidden siblings ``.NAME.creating-*`` and ``.NAME.replaced-*`` of the project folder ``path``:
    its own name, or for a name too long to take 23 more bytes, its start and a hash of it (``.NAME~1a2b3c4d``)."""
    import hashlib

    raw = os.fsencode(path.name)
    room = _name_max(path.parent) - _SIBLING_EXTRA
    if len(raw) <= room:
        return path.name
    head = raw[: max(0, room - 9)].decode("utf-8", errors="ignore")  # never half a character
    return f"{head}~{hashlib.sha256(raw).hexdigest()[:8]}"


def _sibling(path: Path, kind: str) -> Path:
    """A new hidden sibling ``.NAME.<kind>-<12 hex>`` of the project folder ``path`` (``kind``: CREATING, REPLACED)."""
    return path.parent / f".{_sibling_stem(path)}.{kind}-{uuid.uuid4().hex[:12]}"


# fixes of an OS error while creating a project (the usual ones speak of a project that exists)
_CREATE_FIXES = {
    _errno.EROFS: "choose a folder on a writable disk for the project",
    _errno.EACCES: "choose a folder you may write to for the project, or check that folder's permissions",
    _errno.EPERM: "choose a folder you may write to for the project, or check that folder's permissions",
}


@contextlib.contextmanager
def _named_as(build: Path, folder: Path):
    """An OS error about the hidden build folder ``build`` (or a file in it) names ``folder`` instead, where the
    project was to be made: the build is no name the user knows."""
    try:
        yield
    except OSError as e:
        if e.filename is not None and os.fsdecode(e.filename).startswith(str(build)):
            e.filename = str(folder)
        raise


def _check_name_lengths(path: Path) -> None:
    """A StoreError naming ``path`` when one of its names is longer than its file system allows (else the OS's bare
    'File name too long')."""
    limit = _name_max(path)
    for part in path.parts:
        n = len(os.fsencode(part))
        if n > limit:
            what = "its name" if part == path.name else f"the folder name {part!r} in it"
            raise StoreError(
                f"cannot create a project at {path}: {what} is {n} bytes long, and the file system there allows at "
                f"most {limit} bytes per file or folder name. Choose a shorter name; nothing was created"
            )


def _hidden_builds(path: Path) -> tuple[list[Path], list[Path]]:
    """(``.NAME.replaced-*``, ``.NAME.creating-*``) folders beside the project folder ``path``, newest first: what a
    :meth:`Project.create` that was killed left behind (the old project it was replacing, its new build)."""
    out: dict = {REPLACED: [], CREATING: []}
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return [], []
    stem = _sibling_stem(path)
    for e in entries:
        for kind in out:
            if e.name.startswith(f".{stem}.{kind}-") and e.is_dir(follow_symlinks=False):
                out[kind].append(Path(e.path))

    def age(p: Path) -> float:
        try:
            return -p.stat().st_mtime
        except OSError:
            return 0.0

    return sorted(out[REPLACED], key=age), sorted(out[CREATING], key=age)


def _interrupted_overwrite(
    path: Path, kept: list[Path], creating: list[Path], head: str = "no dvos project here"
) -> str:
    """The message for a project folder that is gone while a ``.NAME.replaced-*`` beside it holds a whole project."""
    more = f" (older copies: {', '.join(str(p) for p in kept[1:])})" if len(kept) > 1 else ""
    new = " ".join(quote(str(p)) for p in creating)
    new = f". The new empty project it was building is not needed: `rm -rf {new}`" if creating else ""
    return (
        f"{path}: {head}, but {kept[0]} holds the project that `dvos new --overwrite` was replacing when it "
        f"was stopped{more}. Restore it with `mv {quote(str(kept[0]))} {quote(str(path))}`; or, to start again with "
        f"an empty project, run `dvos new {quote(str(path))} --overwrite` (Python: Project.create(path, "
        f"overwrite=True)), which deletes the old one{new}"
    )


def _sweep_builds(path: Path, overwrite: bool) -> None:
    """After ``path`` was created: delete what killed creations of it left beside it. A ``.replaced-*`` folder goes
    only when it is not a whole project or the new one was made with ``overwrite`` (create refuses otherwise); a
    ``.creating-*`` build once finished (only its rename was left) or older than ``STALE_BUILD_S``."""
    import time

    if not _is_project(path):
        return
    replaced, creating = _hidden_builds(path)
    for p in replaced:
        if overwrite or not _is_project(p):
            shutil.rmtree(p, ignore_errors=True)
    for p in creating:
        try:
            old = time.time() - p.stat().st_mtime > STALE_BUILD_S
        except OSError:
            continue
        if old or _is_project(p):
            shutil.rmtree(p, ignore_errors=True)


def _through_link(path: Path) -> str:
    """The refusal to create or replace a project at ``path``, a symbolic link: the project would be built beside
    the link and renamed over it, leaving the link (hidden) beside it and what it points to as it was, or be replaced
    in a folder elsewhere that the command never named."""
    target = Path(os.path.realpath(path))
    if _is_project(target):
        return (
            f"{path} is a symbolic link to the dvos project {target}, which is not replaced through a link: to "
            f"replace that project, run `dvos new {quote(str(target))} --overwrite` (Python: Project.create(target, "
            f"overwrite=True)); for a new project at {path}, remove the link first (`rm {quote(str(path))}`)"
        )
    what = "" if target.exists() else ", which does not exist"
    return (
        f"{path} is a symbolic link to {target}{what}, and no project is created through a link: create it at "
        f"{target} (`dvos new {quote(str(target))}`), or remove the link first (`rm {quote(str(path))}`)"
    )


def _project_path(path) -> Path:
    """``path`` as an absolute Path, ``~`` expanded (the shell does that for the command line; Python does not, and
    ``Project.create("~/field.dvos")`` made a folder named ``~`` in the working folder). Absolute because the
    project keeps it: a relative one would mean another folder once the working folder changes (os.chdir), and
    writes went there. Not resolved: a project reached through a symbolic link keeps the name it was opened by."""
    return user_path(path).absolute()


def _migratable(version) -> bool:
    return (
        isinstance(version, int)
        and not isinstance(version, bool)
        and version < SCHEMA_VERSION
        and all(v in MIGRATIONS for v in range(version, SCHEMA_VERSION))
    )


def _mislabelled(path: Path, version) -> SchemaVersionError | None:
    """The error for a store whose root says the older schema ``version`` but that holds parts only a dvos of
    schema 4 or later writes (see :func:`~dvos_core.store.migrate.newer_schema_parts`), else None: migrating it would
    rewrite a current store as an old one."""
    parts = newer_schema_parts(path)
    if not parts:
        return None
    return SchemaVersionError(
        f"{path} says store schema {version} in {path / 'zarr.json'}, but it holds parts only a dvos of schema 4 or "
        f"later writes ({'; '.join(parts)}): its schema_version was changed by hand or by another tool, and "
        f'migrating it would strip marks this dvos relies on. Nothing was changed: set "schema_version" back to '
        f"{SCHEMA_VERSION} in {path / 'zarr.json'}, then run `dvos check {quote(str(path))}`"
    )


def _version_error(path: Path, attrs: dict) -> SchemaVersionError:
    version = attrs.get("schema_version")
    if _migratable(version):
        mislabelled = _mislabelled(path, version)
        if mislabelled is not None:
            return mislabelled
        return SchemaVersionError(
            f"{path} uses store schema {version}; this dvos uses {SCHEMA_VERSION}. "
            f"Run `dvos migrate {quote(path)}` (back the folder up first)"
        )
    from dvos_core import __version__

    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        wrote = attrs.get("dvos_version")
        wrote = f" ({wrote})" if isinstance(wrote, str) and wrote != __version__ else ""  # one number says nothing
        return SchemaVersionError(
            f"{path} uses store schema {version}, written by a newer dvos{wrote}; this is dvos {__version__}, "
            f"which reads schema {SCHEMA_VERSION}. Upgrade dvos to open it (pip install -U "
            f'"dvos-napari[napari]"); the project is unchanged'
        )
    return SchemaVersionError(
        f"{path} has no store schema dvos knows ({version!r}, written by dvos {attrs.get('dvos_version', '?')}; "
        f"this dvos reads schema {SCHEMA_VERSION}): its root zarr.json may be damaged. Restore the folder from a "
        f"backup, or open it with the dvos version that wrote it"
    )


class Project:
    """A dvos project store.

    >>> p = Project.create("field.dvos")
    >>> v = p.add_video_array("plot1", frames)       # or dvos_core.io.import_video(p, "plot1.mp4")
    >>> v.set_mask(0, mask, "manual")
    """

    def __init__(self, root: zarr.Group, path: Path, mode: str):
        self.root, self.path, self.mode = root, Path(path), mode

    # ---- open / create -----------------------------------------------------------------------------------------
    @classmethod
    def create(cls, path, overwrite: bool = False, wait: bool | float | None = None) -> Project:
        """Create an empty project at ``path``, all or nothing: it is built in a hidden sibling folder and renamed
        into place when finished. ``overwrite`` replaces an existing dvos project (never any other folder), once no
        other process is writing it (``wait`` as in :meth:`writing`). A leading ``~`` is your home folder."""
        path = _project_path(path)
        _check_name_lengths(path)
        replacing = path.exists() and (not path.is_dir() or any(path.iterdir()))
        if path.is_symlink() and (overwrite or not replacing):  # (a link to a project without overwrite: it exists)
            raise StoreError(_through_link(path))
        if not replacing and not overwrite:
            kept = [r for r in _hidden_builds(path)[0] if _is_project(r)]
            if kept:  # the only copy of a project whose replacement was stopped half-way: never deleted unasked
                raise StoreError(_interrupted_overwrite(path, kept, [], "not created"))
        if replacing:  # only a dvos project is replaced: anything else is refused first, so that
            # ProjectExistsError's overwrite=True is suggested only where it would work
            if not path.is_dir() or not (path / "zarr.json").is_file():
                what = "a file" if not path.is_dir() else "a folder that holds other files"
                raise StoreError(
                    f"{path} exists and is not a dvos project ({what}); refusing to delete it: choose another path "
                    f"for the new project"
                )
            try:
                _root_attrs(path)
            except StoreError as e:
                raise StoreError(f"{e}; refusing to delete it: choose another path for the new project") from None
            if not overwrite:
                raise ProjectExistsError(path)
            refuse_while_training(path, "this project", "replace the project")  # (it died as if the store was damaged)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create project at {path}: {e.strerror or e}; choose a writable folder") from e
        build = _sibling(path, CREATING)
        try:
            with (
                io_step(path, "creating the project", "Nothing was created.", _CREATE_FIXES),
                _named_as(build, path.parent),
            ):
                _build_empty(build)
                if not replacing:
                    if path.is_dir():
                        path.rmdir()  # an empty folder made for it
                    os.rename(build, path)
            if replacing:
                old = _sibling(path, REPLACED)
                with writer_lock(path).hold(wait, "create --overwrite"):
                    with io_step(path, "replacing the old project", "The old project is unchanged."):
                        os.rename(path, old)
                    try:
                        os.rename(build, path)
                    except OSError as e:
                        os.rename(old, path)
                        raise StoreError(f"{path}: replacing the old project failed ({e}); it is unchanged") from e
                shutil.rmtree(old, ignore_errors=True)
        finally:
            if build.exists():
                shutil.rmtree(build, ignore_errors=True)
        _sweep_builds(path, overwrite)
        return cls.open(path)

    @classmethod
    def of(cls, project, mode: str = "r+") -> Project:
        """``project`` itself when it is a Project, else the project at that path opened with ``mode``: the core's
        functions take either."""
        return project if isinstance(project, cls) else cls.open(project, mode)

    @classmethod
    def open(cls, path, mode: str = "r+") -> Project:
        """Open an existing project; ``mode='r'`` for read-only use, ``'r+'`` (default) to read and write. A leading
        ``~`` is your home folder. To make a new project use :meth:`create`."""
        if mode not in OPEN_MODES:
            raise ValueError(
                f"mode must be 'r' (read only) or 'r+' (read and write), got {mode!r}; to make a new project use "
                f"Project.create(path) (overwrite=True replaces an existing one)"
            )
        path = _project_path(path)
        attrs = _root_attrs(path)
        if attrs.get("schema_version") != SCHEMA_VERSION:
            raise _version_error(path, attrs)
        root = arrays.open_local(path, "r" if mode == "r" else "r+")
        return cls(root, path, mode)

    @classmethod
    def migrate(cls, path, progress: ProgressFn | None = None, wait: bool | float | None = None) -> list[int]:
        """Upgrade a project in place to this dvos's schema (``dvos migrate PATH``; back the folder up first).

        Returns the schema versions it went through (e.g. ``[1, 2]``), or ``[]`` when the store is already current
        (nothing is changed then). A store of an unknown or newer schema raises ``SchemaVersionError``, and so does
        one whose root says an older schema but that holds parts only schema 4 writes (nothing is changed). Each step
        sets ``schema_version`` last, so a killed migration leaves the store at its last finished step; run it again.
        """
        path = _project_path(path)
        attrs = _root_attrs(path)
        version = attrs.get("schema_version")
        if version == SCHEMA_VERSION:
            return []
        if not _migratable(version) or _mislabelled(path, version):
            raise _version_error(path, attrs)
        if not os.access(path / "zarr.json", os.W_OK):
            raise StoreError(f"{path}: the project is not writable; migrate a writable copy")
        with writer_lock(path).hold(wait, "migrate"), io_step(path, f"migrating from schema {version}"):
            # again under the lock: another migration (another window, or a waited-for process) may have run
            version = _root_attrs(path).get("schema_version")
            if version == SCHEMA_VERSION:
                return []
            if not _migratable(version) or _mislabelled(path, version):
                raise _version_error(path, _root_attrs(path))
            steps = [version]
            for v in range(version, SCHEMA_VERSION):
                MIGRATIONS[v](path, progress)
                steps.append(v + 1)
        report(progress, 1, 1, f"store schema {SCHEMA_VERSION}")  # the bar ends (its line is closed)
        return steps

    @classmethod
    def outdated(cls, path) -> int | None:
        """The older store schema of the project at ``path`` when :meth:`migrate` can upgrade it, else None (a
        current project, or anything that is not a project dvos can migrate: :meth:`open` says what it is)."""
        try:
            version = _root_attrs(_project_path(path)).get("schema_version")
        except (StoreError, OSError):
            return None
        return version if _migratable(version) and not _mislabelled(_project_path(path), version) else None

    # ---- writer lock --------------------------------------------------------------------------------------------
    @property
    def lock(self) -> WriterLock:
        """This project's writer lock (see :mod:`dvos_core.store.lock`)."""
        return writer_lock(self.path)

    def writing(self, wait: bool | float | None = None, operation: str = "write", cancel: CancelToken | None = None):
        """``with project.writing(): ...`` holds the writer lock: other processes cannot write the project meanwhile
        (readers are never blocked). Re-entrant within the process. ``wait``: False fail at once with
        :class:`~dvos_core.store.lock.StoreBusyError` naming the holder, True wait, a number = wait at most that
        many seconds, None = the process default (False unless the CLI's ``--wait`` set it)."""
        self.refuse_read_only()
        return self.lock.hold(wait, operation, cancel)

    def refuse_read_only(self, to: str = "write") -> None:
        """A :class:`StoreError` when this handle was opened read-only (``mode='r'``), saying to open it with
        ``mode='r+'`` ``to`` do what was asked; for work that writes beside the store's arrays (a model's folder)."""
        if self.mode == "r":
            raise StoreError(f"{self.path}: the project was opened read-only; open it with mode='r+' to {to}")

    def check_writable(self, operation: str = "write") -> None:
        """Take and give back the writer lock at once, so that long work that writes only at its end (scoring
        every frame, then the report) fails first, not last, where the project cannot be written (a read-only disk,
        no permission, another writer: the same errors as :meth:`writing`)."""
        with self.writing(operation=operation):
            pass

    # ---- info -----------------------------------------------------------------------------------------------------
    @property
    def attrs(self) -> dict:
        return dict(self.root.attrs)

    def __repr__(self) -> str:
        return f"Project({str(self.path)!r}, videos={self.video_ids()})"

    # ---- videos ---------------------------------------------------------------------------------------------------
    def video_ids(self) -> list[str]:
        """Every video, including unfinished imports (``Video.import_complete`` False)."""
        return _member_ids(self._group("videos"))

    def video(self, video_id: str) -> Video:
        """The video ``video_id``, finished or not (commands that use its frames or masks then call
        :meth:`Video.require_complete`); a corrupt metadata file of it is a :class:`DamagedStoreError` naming it."""
        g = self._member("video", video_id)
        if g is None:
            raise NotInStoreError(f"{self.path}: no video {video_id!r}; videos are {self.video_ids()}")
        return Video(g, video_id, str(self.path))

    def set_split(self, video_ids, split: str) -> None:
        """Set the split of every video of ``video_ids`` (:meth:`Video.set_split`), each checked first: one refused
        (say a video holding pseudo-labels made a test video) leaves them all as they were."""
        videos = [self.video(v) for v in id_list(video_ids)]  # every id found before anything changes
        with self.writing(operation="split"):
            for v in videos:
                v.check_split(split)
            for v in videos:
                v.set_split(split)
        if split == "test":
            self._warn_made_from({v.name for v in videos})

    def _warn_made_from(self, cut_from: set) -> None:
        """Warn of what was made from the videos ``cut_from``, made test videos now: objects of the bank,
        synthetic sets made with their heads, background clips cut or inpainted from them."""
        cut = {vid: self.objects.video_counts(vid) for vid in sorted(cut_from)}
        cut = {vid: c for vid, c in cut.items() if c.get("head") or c.get("fake")}
        if cut:
            listed = ", ".join(f"{vid} ({c.get('head', 0)} heads, {c.get('fake', 0)} fakes)" for vid, c in cut.items())
            warn_user(
                f"{self.path}: objects were cut from the new test video(s) {listed}: "
                f"synthesis leaves them out (its masks are now ground truth); `dvos extract-objects {quote(self.path)} "
                f"--replace` cuts the bank again from the training videos only",
            )
        from dvos_core.synth.bank import sets_from_test_videos, test_video_backgrounds

        fed = {
            name: hit for name, videos in sets_from_test_videos(self).items() if (hit := sorted(cut_from & set(videos)))
        }
        if fed:
            listed = "; ".join(f"{name} (heads of {', '.join(v)})" for name, v in fed.items())
            warn_user(
                f"{self.path}: synthetic set(s) {listed} were made with heads cut from the new test video(s): "
                f"training on them learns its ground truth; make them again under a new --name (after "
                f"`dvos extract-objects {quote(self.path)} --replace`) and train from those",
            )
        made = sorted(b for b, vid in test_video_backgrounds(self).items() if vid in cut_from)
        if made:
            shown = ", ".join(made[:8]) + (" ..." if len(made) > 8 else "")
            warn_user(
                f"{self.path}: background clip(s) {shown} were cut or inpainted from the new test video(s): "
                f"synthesis leaves them out (delete them: `dvos delete {quote(self.path)} background ID --yes`)",
            )

    def _group(self, folder: str) -> zarr.Group:
        """The top-level group ``folder`` (videos, backgrounds, objects, synthetic); a ``zarr.json`` of it that is
        missing or cannot be read is a :class:`DamagedStoreError` naming the file and the fix (Zarr's errors named
        neither: ``dvos info`` printed "videos (KeyError)")."""
        meta = self.path / folder / "zarr.json"
        if folder == "objects":
            fix = (
                "it holds the object bank's commit (how many heads and fakes are stored): restore it from a backup "
                "of the project"
            )
        else:
            fix = (
                'that file holds no data of its own: restore it from a backup of the project, or write {"zarr_format": '
                '3, "node_type": "group", "attributes": {}} into it'
            )
        try:
            g = self.root[folder]
        except KeyError:
            check_project_here(self.path)  # the whole project moved or deleted, not one damaged file
            gone = "is missing" if (self.path / folder).is_dir() else "and its folder are missing"
            raise DamagedStoreError(f"{meta} {gone} (deleted, or not yet copied by a sync tool); {fix}") from None
        except Exception as e:  # json/Zarr errors of a corrupt metadata file
            raise DamagedStoreError(f"{meta}: unreadable project metadata ({e}); {fix}") from e
        if not isinstance(g, zarr.Group):
            raise DamagedStoreError(f"{meta}: {folder} is not a group of the project; {fix}")
        return g

    def _member(self, kind: str, name: str) -> zarr.Group | None:
        """The group of video/background/synthetic ``name``, or None when there is none. Its ``zarr.json`` is read
        here: when it cannot be (truncated, overwritten), a :class:`DamagedStoreError` names the file and the fix,
        and the project's other members stay usable."""
        folder, what = KINDS[kind]
        if not _valid(name):
            return None
        parent = self._group(folder)
        meta = self.path / folder / name / "zarr.json"
        if _orphaned(meta.parent):
            raise DamagedStoreError(
                f"{meta}: the metadata file of {what} {name!r} is missing (deleted, or not yet copied by a sync tool), "
                f"so its data in {meta.parent} cannot be used; restore the file from a backup of the project, or "
                f"delete the {what} (`dvos delete {quote(self.path)} {kind} {quote(name)} --yes`) and make it again"
            )
        try:
            return parent[name]
        except KeyError:
            return None
        except Exception as e:  # json/Zarr errors of a corrupt metadata file
            raise DamagedStoreError(
                f"{meta}: unreadable metadata of {what} {name!r} ({e}); restore the file from a backup of the "
                f"project, or delete the {what} (`dvos delete {quote(self.path)} {kind} {quote(name)} --yes`) and "
                f"make it again"
            ) from e

    def videos(self, split: str | None = None, include_incomplete: bool = False) -> list[Video]:
        """Finished videos (of ``split``); unfinished imports only with ``include_incomplete``."""
        vs = [self.video(v) for v in self.video_ids()]
        return [v for v in vs if (split is None or v.split == split) and (include_incomplete or v.import_complete)]

    def create_video(self, video_id: str, height: int, width: int, **attrs) -> Video:
        """Create an empty video; fill it with ``append_frames``. attrs: source, fps, preprocessing, split, tags.

        ``import_complete=False`` marks it as an import in progress until ``video.mark_complete()`` (what
        :func:`~dvos_core.io.import_video` does); a leftover of a killed import of the same id is replaced."""
        check_id(video_id, "video id")
        attrs = _video_attrs(video_id, height, width, attrs)
        self._member("video", video_id)  # a damaged one of that id: named, not a Zarr error
        with self.writing(operation=f"create video {video_id}"):
            return Video.create(self._group("videos"), video_id, height, width, attrs, str(self.path))

    def add_video_array(self, video_id: str, frames, progress=None, cancel=None, **attrs) -> Video:
        """Create a video from a (T,H,W,3) uint8 array (or a sequence of frames), all or nothing: on any error or
        cancel the video is removed again, and a kill leaves a leftover marked incomplete."""
        import numpy as np

        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
            raise ValueError(f"frames must be a non-empty (T,H,W,3) uint8 array, got {frames.shape} {frames.dtype}")
        return self.add_video_frames(video_id, frames, len(frames), frames.shape[1:3], progress, cancel, **attrs)

    def add_video_frames(self, video_id: str, frames, n: int, size, progress=None, cancel=None, **attrs) -> Video:
        """Create a video from ``n`` frames of ``size`` (height, width) that ``frames`` yields one at a time ((H,W,3)
        uint8 each: a lazy source is never held whole), all or nothing as :meth:`add_video_array`: on any error or
        cancel the video is removed again, and a kill leaves a leftover marked incomplete."""
        height, width = (int(s) for s in size)
        check_id(video_id, "video id")
        _video_attrs(video_id, height, width, dict(attrs))  # bad attrs refused before any write
        with self.writing(operation=f"add video {video_id}"):
            v = self.create_video(video_id, height, width, import_complete=False, **attrs)
            try:
                v.append_frames(frames, n_total=n, progress=progress, cancel=cancel)
                v.mark_complete()
            except BaseException:
                _quietly(v._discard)
                raise
        return v

    def delete_video(self, video_id: str, wait: bool | float | None = None) -> dict:
        """Delete a video with the objects and inpainted clips made from it (see :meth:`delete`)."""
        return self.delete("video", video_id, wait)

    # ---- backgrounds ------------------------------------------------------------------------------------------
    def background_ids(self, include_incomplete: bool = False) -> list[str]:
        """Finished background clips (synthesis uses these); leftovers of killed cuts only with
        ``include_incomplete`` (they are replaced when the same id is cut again, or deleted with ``delete``)."""
        ids = _member_ids(self._group("backgrounds"))
        return ids if include_incomplete else [b for b in ids if self.background(b).complete]

    def background(self, bg_id: str) -> Background:
        g = self._member("background", bg_id)
        if g is None:
            raise NotInStoreError(f"{self.path}: no background clip {bg_id!r}; have {self.background_ids()}")
        return Background(g, bg_id, str(self.path))

    def delete_background(self, bg_id: str, wait: bool | float | None = None) -> None:
        self.delete("background", bg_id, wait)

    def create_background(self, bg_id: str, height: int, width: int, **attrs) -> Background:
        """Create an empty background clip (``import_complete=False`` until ``mark_complete()``, as for videos)."""
        check_id(bg_id, "background id")
        _check_size(f"background clip {bg_id!r}", height, width)
        attrs = json_safe(attrs, f"background clip {bg_id!r}")
        self._member("background", bg_id)
        with self.writing(operation=f"create background {bg_id}"):
            return Background.create(self._group("backgrounds"), bg_id, height, width, attrs, str(self.path))

    # ---- objects ----------------------------------------------------------------------------------------------
    @property
    def objects(self) -> ObjectBank:
        return ObjectBank(self._group("objects"), str(self.path))

    # ---- synthetic ----------------------------------------------------------------------------------------------
    def synthetic_ids(self) -> list[str]:
        return _member_ids(self._group("synthetic"))

    def synthetic(self, name: str) -> SyntheticSet:
        g = self._member("synthetic", name)
        if g is None:
            raise NotInStoreError(f"{self.path}: no synthetic set {name!r}; have {self.synthetic_ids()}")
        return SyntheticSet(g, name, str(self.path))

    def create_synthetic(
        self, name: str, n_clips: int, n_frames: int, height: int, width: int, **attrs
    ) -> SyntheticSet:
        check_id(name, "synthetic set name")
        self._member("synthetic", name)
        with self.writing(operation=f"create synthetic set {name}"):
            return SyntheticSet.create(
                self._group("synthetic"), name, n_clips, n_frames, height, width, attrs, str(self.path)
            )

    def delete_synthetic(self, name: str, wait: bool | float | None = None) -> None:
        self.delete("synthetic", name, wait)

    # ---- models and reports (plain files beside the Zarr arrays) ----------------------------------------------
    def model_dir(self, name: str, create: bool = False, wait: bool | float | None = None) -> Path:
        """``models/<name>``; with ``create`` the folder is made (holding the writer lock). It counts as a model
        (``model_names``) only once a checkpoint is committed in it, so a run that failed early leaves no model."""
        check_id(name, "model name")
        d = self.path / "models" / name
        if create:
            with self.lock.hold(wait, f"create model {name}"), io_step(d, "creating the model folder"):
                _refuse_symlink(self.path / "models", d)
                d.mkdir(parents=True, exist_ok=True)
        return d

    def model_names(self) -> list[str]:
        """Models with a committed checkpoint (best.pt or last.pt); empty folders of failed runs are not models."""
        return [p.name for p in model_folders(self.path) if _valid(p.name)]

    def misnamed_models(self) -> list[str]:
        """Folders under ``models/`` that hold a checkpoint but whose name is no valid model name (one with a
        space, copied in by hand): not models to dvos until renamed (:func:`~dvos_core.store.notes.misnamed_model_note`
        says how)."""
        return [str(p) for p in model_folders(self.path) if not _valid(p.name)]

    def report_dir(self, name: str) -> Path:
        """``reports/<name>`` (not created: reports are written by :func:`~dvos_core.evaluate.report.save_report`,
        which builds a report in a staging folder and moves it into place whole)."""
        check_id(name, "report name")
        return self.path / "reports" / name

    def report_names(self) -> list[str]:
        d = self.path / "reports"
        return sorted(p.name for p in d.iterdir() if p.is_dir() and _valid(p.name)) if d.is_dir() else []

    # ---- deleting -----------------------------------------------------------------------------------------------
    def derived_from(self, video_id: str) -> dict:
        """What was made from video ``video_id`` and goes with it when it is deleted: ``heads`` and ``fakes`` (counts
        of the objects cut from it) and ``backgrounds`` (ids of the clips inpainted from its painted frames, by
        ``extract-backgrounds --from-annotated``; clips cut from a bare-field video are kept)."""
        counts = self.objects.video_counts(video_id)
        clips = [b for b, a in self.inpainted_clips(include_incomplete=True).items() if a.get("source") == video_id]
        return {"heads": counts.get("head", 0), "fakes": counts.get("fake", 0), "backgrounds": clips}

    def inpainted_clips(self, include_incomplete: bool = False) -> dict:
        """{clip id: attrs} of the background clips inpainted from painted frames (by
        ``extract-backgrounds --from-annotated``; their attrs name the source video and frame); finished ones unless
        ``include_incomplete``. A clip whose metadata cannot be read is left out: it says nothing of its origin."""
        out = {}
        for b in self.background_ids(include_incomplete=True):
            try:
                clip = self.background(b)
                a, finished = clip.attrs, clip.complete
            except StoreError:
                continue
            if a.get("origin") == INPAINTED and (finished or include_incomplete):
                out[b] = a
        return out

    def delete(self, kind: str, name: str, wait: bool | float | None = None) -> dict | None:
        """Delete a video, background clip, synthetic set, model or report (``kind``: one of :data:`KINDS`), all
        or nothing: the folder is first renamed into ``.trash`` (one step), then removed. Works on leftovers of
        killed or failed runs too (half-created sets, models without a checkpoint). Holds the writer lock.

        A video takes with it what was made from it (:meth:`derived_from`, returned): the objects cut from it and
        the background clips inpainted from it, so a video later added under its id starts clean. The objects go
        first (one commit of the object bank), then those clips, then the video's folder (each renamed into
        ``.trash``): a delete killed half-way leaves the video, and running it again finishes the job. On an
        error the folders are moved back and the bank's commit restored: nothing has changed. Objects or clips
        left of a video whose folder is gone already (:meth:`orphaned_objects`) are removed too."""
        if kind not in KINDS:
            also = " (a model's predictions: delete_predictions(model, video_ids))" if kind == "predictions" else ""
            raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}{also}")
        folder, what = KINDS[kind]
        check_id(name, f"{what} name")
        target = self.path / folder / name
        with self.writing(wait, f"delete {kind} {name}"):
            if not (target.is_dir() or target.is_symlink()):
                if kind == "video" and _leftovers(self.derived_from(name)):  # its folder went, the rest stayed
                    return self._delete_video(name, None)
                names = {
                    "video": self.video_ids,
                    "background": lambda: self.background_ids(True),
                    "synthetic": self.synthetic_ids,
                    "model": lambda: sorted(p.name for p in (self.path / folder).iterdir() if p.is_dir()),
                    "report": self.report_names,
                }[kind]()
                raise NotInStoreError(f"{self.path}: no {what} {name!r}; have {names}")
            if kind in ("video", "synthetic"):  # a training run reads its frames or clips (stopped once deleted)
                refuse_while_training(self.path, f"{what} {name!r}", f"delete the {what}")
            if kind == "video":
                return self._delete_video(name, target)
            if kind == "model" and (holder := training_holder(target)) is not None:
                raise StoreBusyError(
                    f"{self.path}: model {name!r} is being trained by {holder}; stop that training first (it saves "
                    f"last.pt), then delete the model"
                )
            with io_step(target, f"deleting {what} {name!r}"):
                discard(target, self.path)
        return None

    def delete_predictions(self, model: str, video_ids=None, wait: bool | float | None = None) -> list[str]:
        """Delete the predictions of ``model`` from every video that has them (or from ``video_ids`` only); returns
        the videos they were deleted from. Each set goes whole (renamed into ``.trash`` first). The model itself,
        its checkpoints and the reports that scored its predictions stay. A model no video (of ``video_ids``) has
        predictions of is a :class:`NotInStoreError` naming the models that have."""
        having = self.predicted_by(model, video_ids)
        if not having:
            if self.mode != "r" and (self.path / TRASH).is_dir():  # a delete killed after its move: finish it
                with contextlib.suppress(StoreError), self.writing(False, "clearing the trash"):
                    pass  # taking the writer lock sweeps the trash
            ids = self.video_ids() if video_ids is None else [str(v) for v in id_list(video_ids)]
            there = sorted({m for v in ids for m in self.video(v).predictions.models()})
            where = "no video" if video_ids is None else f"none of the videos {', '.join(ids)}"
            raise NotInStoreError(
                f"{self.path}: {where} holds predictions of {model!r}; predictions there are of {there or 'no model'}"
            )
        with self.writing(wait, f"delete the predictions of {model}"):
            for vid in having:
                self.video(vid).predictions.delete(model)
        return having

    def predicted_by(self, model: str, video_ids=None) -> list[str]:
        """The videos (of ``video_ids``, default all) that hold predictions of ``model``; an unknown video id is a
        :class:`NotInStoreError`."""
        check_id(model, "model name")
        ids = self.video_ids() if video_ids is None else [str(v) for v in id_list(video_ids)]
        videos = [self.video(v) for v in ids]  # every id checked first
        return [v.name for v in videos if _holds_set(v, model)]

    def _delete_video(self, name: str, target: Path | None) -> dict:
        """The video's objects, its inpainted clips, then its folder (the caller holds the lock); ``target`` None:
        the folder is gone already (a delete killed before): only what was made from it is left to remove.

        The steps go in that order so that a kill between them leaves the video in place and a rerun of the delete
        finishes the job (its folder went first before, and a kill then left its objects in the bank for good). An
        error (a full disk, no permission) puts the clips, the folder and the bank's old commit back: nothing has
        changed then."""
        made = self.derived_from(name)
        clips = [self.path / "backgrounds" / b for b in made["backgrounds"]]
        paths = clips + ([] if target is None else [target])
        trash, moved, bank, old_commit = self.path / TRASH, [], None, None
        with io_step(target or self.path, f"deleting video {name!r}", "Nothing was deleted."):
            settle_writes()
            try:
                if made["heads"] or made["fakes"]:
                    bank = self.objects
                    old_commit = bank._fresh_attrs()
                    bank.remove(lambda r: r.get("video") == name, f"removing the objects cut from video {name!r}")
                if paths:
                    trash.mkdir(exist_ok=True)
                for p in paths:
                    dest = trash / f"{p.name}-{uuid.uuid4().hex[:12]}"
                    os.rename(p, dest)
                    moved.append((p, dest))
            except BaseException:
                for p, dest in reversed(moved):  # put every folder back: nothing was deleted
                    _quietly(lambda p=p, dest=dest: os.rename(dest, p))
                if old_commit is not None and bank is not None:  # the old records and index rows are untouched
                    _quietly(lambda: bank.group.attrs.put(old_commit))
                raise
        for _, dest in moved:
            if dest.is_symlink():
                _quietly(dest.unlink)
            else:
                shutil.rmtree(dest, ignore_errors=True)
        _quietly(trash.rmdir)
        return made

    def orphaned_objects(self) -> dict:
        """{video id: {"head": n, "fake": m}} of objects cut from videos the project no longer holds (left by a
        delete that was killed, in a dvos before 2026-12, or a video folder removed by hand); running
        ``dvos delete PROJECT video ID --yes`` removes them. Read from the bank's id index when it is usable."""
        ob = self.objects
        info = ob._index()
        have = set(self.video_ids())
        if info is not None:
            candidates = [v for v in info["videos"] if v not in have]
        else:
            candidates = sorted({str(r.get("video")) for r in ob._rows() if r.get("video") not in have})
        out = {}
        for v in candidates:
            counts = ob.video_counts(v)
            if any(counts.values()):
                out[v] = {k: int(n) for k, n in counts.items()}
        return out

    # ---- summary ------------------------------------------------------------------------------------------------
    def summary(self, video_row=None, background_row=None) -> dict:
        """Plain-dict overview used by `dvos info` and the Project dock.

        A video, background clip or synthetic set whose files cannot be read (a corrupt ``zarr.json`` or chunk) is
        still listed, with the message naming the file and the fix: the video's row holds ``unreadable`` (its other
        fields are placeholders: 0 frames, split "unreadable"), and ``unreadable`` lists every such message.
        ``video_row(video_id)`` gives a video's row (default: read from the store; the napari panel keeps rows of
        videos whose files did not change); ``background_row(clip_id)`` likewise a background clip's row, whether
        it is whole and its frames (default: :func:`background_summary`)."""
        vids, bgs, bgs_interrupted, sets, unreadable = [], {}, [], {}, []

        def listed(ids):
            try:
                return ids()
            except DamagedStoreError as e:  # a damaged videos/, backgrounds/ or synthetic/ folder: named, not fatal
                unreadable.append(str(e))
                return []

        row = video_row or (lambda vid: _video_summary(self.video(vid)))
        for vid in listed(self.video_ids):
            try:
                vids.append(row(vid))
                unreadable.extend((vids[-1].get("predictions_damaged") or {}).values())  # a set: the video reads
            except DamagedStoreError as e:
                unreadable.append(str(e))
                vids.append(
                    {
                        "id": vid,
                        "frames": 0,
                        "size": [0, 0],
                        "split": "unreadable",
                        "complete": True,  # not known; ``unreadable`` says what is wrong
                        "fps": None,
                        "source": None,
                        "tags": {},
                        "provenance": {},
                        "predicted_by": [],
                        "unreadable": str(e),
                    }
                )
        clip_row = background_row or (lambda b: background_summary(self.background(b)))
        for b in listed(lambda: _member_ids(self._group("backgrounds"))):
            try:
                complete, n = clip_row(b)
                if complete:
                    bgs[b] = n
                else:
                    bgs_interrupted.append(b)
            except DamagedStoreError as e:
                unreadable.append(str(e))
        for name in listed(self.synthetic_ids):
            try:
                sets[name] = _set_summary(self.synthetic(name))
            except DamagedStoreError as e:
                unreadable.append(str(e))
                sets[name] = {"clips_done": 0, "clips": 0, "unreadable": str(e)}
        objects, orphans = {"head": 0, "fake": 0}, {}
        try:
            ob = self.objects
            objects = {"head": ob.count("head"), "fake": ob.count("fake")}
            # which videos are gone needs the list of videos: a damaged videos/zarr.json (named above) leaves it
            # unknown, while the counts still read
            orphans = self.orphaned_objects() if objects["head"] or objects["fake"] else {}
        except DamagedStoreError as e:
            if str(e) not in unreadable:  # each damaged file named once
                unreadable.append(str(e))
        return {
            "path": str(self.path),
            "schema_version": self.attrs.get("schema_version"),
            "videos": vids,
            "objects": objects,
            "orphaned_objects": orphans,
            "backgrounds": bgs,
            "backgrounds_interrupted": bgs_interrupted,
            "synthetic": sets,
            "models": self.model_names(),
            "misnamed_models": self.misnamed_models(),  # holding a checkpoint, but not a name dvos can use
            "reports": self.report_names(),
            "unreadable": unreadable,
            "hidden_leftovers": [str(p) for group in _hidden_builds(self.path) for p in group],
            # another process writing now (its holder record), else None: what looks unfinished may be its work
            "writer": self.lock.describe_holder() if not self.lock.held and self.lock.writing() else None,
            # the record of a writer that no longer writes (killed, or the project copied while it wrote), else None
            "stale_writer": self.lock.stale_record(),
        }


def _check_size(what: str, height, width) -> None:
    try:
        ok = int(height) == height and int(width) == width and int(height) > 0 and int(width) > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{what}: height and width must be whole numbers of pixels above 0, got {height!r}x{width!r}")


def check_tags(tags, what: str, option: str = "") -> None:
    """Refuse ``tags`` of a video (``what``: "video 'plot1'") that are not a dict, naming ``option`` (the
    command-line option that gives them) where there is one."""
    if not isinstance(tags, dict):
        also = f" ({option})" if option else ""
        raise ValueError(f"{what}: tags{also} must be a dict such as {{'growth_stage': 'flowering'}}, got {tags!r}")


def _video_attrs(video_id: str, height, width, attrs: dict) -> dict:
    """The attributes of a new video, checked before anything is written: ``split`` one of the splits (a video of
    an unknown split, say "training", was silently left out of training), ``tags`` a dict (any other value made
    ``dvos info`` and ``Project.summary()`` fail for the whole project), ``fps`` a positive number, every value
    JSON-safe (numpy numbers become plain ones)."""
    import math

    from dvos_core.store.schema import SPLITS

    what = f"video {video_id!r}"
    _check_size(what, height, width)
    attrs = dict(attrs)
    attrs.setdefault("split", "unassigned")
    attrs.setdefault("tags", {})
    if attrs["split"] not in SPLITS:
        raise ValueError(f"{what}: split must be one of {', '.join(SPLITS)}, got {attrs['split']!r}")
    check_tags(attrs["tags"], what)
    fps = attrs.get("fps")
    if fps is not None:
        try:
            good = math.isfinite(float(fps)) and float(fps) > 0 and not isinstance(fps, bool)
        except (TypeError, ValueError):
            good = False
        if not good:
            raise ValueError(f"{what}: fps must be a positive number of frames per second (or None), got {fps!r}")
        attrs["fps"] = float(fps)
    return json_safe(attrs, what)


def _build_empty(build: Path) -> None:
    """Write an empty project into the folder ``build`` (root attrs last)."""
    root = arrays.open_local(build, "w")
    for g in _GROUPS:
        root.create_group(g)
    ObjectBank.initialise(root["objects"])
    (build / "models").mkdir()
    (build / "reports").mkdir()
    from dvos_core import __version__

    root.update_attributes(
        {
            "format": STORE_FORMAT,
            "schema_version": SCHEMA_VERSION,
            "dvos_version": __version__,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
    )


def _valid(name: str) -> bool:
    try:
        check_id(name)
    except ValueError:
        return False
    return True


def _member_ids(group: zarr.Group) -> list[str]:
    """Child groups that are dvos objects (valid ids); anything else in the folder is not listed.

    Read from the folder (each child's ``zarr.json``), not through Zarr, which fails on the first corrupt one: a
    child whose ``zarr.json`` cannot be parsed is listed (and named as damaged when it is opened)."""
    root = getattr(group.store, "root", None)
    if root is None:
        return sorted(k for k in group.group_keys() if _valid(k))
    folder = Path(str(root)) / group.path
    try:
        entries = sorted(folder.iterdir())
    except FileNotFoundError:
        return []
    return [d.name for d in entries if _valid(d.name) and (_is_group(d / "zarr.json") or _orphaned(d))]


def _orphaned(folder: Path) -> bool:
    """Whether ``folder`` holds a video, clip or set whose own ``zarr.json`` is gone (its ``frames`` array is still
    there): listed, and named as damaged when opened, instead of vanishing from the project without a word."""
    return not (folder / "zarr.json").is_file() and (folder / "frames" / "zarr.json").is_file()


def _is_group(meta: Path) -> bool:
    """Whether ``meta`` is the ``zarr.json`` of a group (or of something that cannot be read, hence not known not
    to be one)."""
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text()).get("node_type") != "array"
    except (OSError, ValueError, AttributeError):
        return True


def background_summary(clip) -> tuple[bool, int]:
    """(whether background ``clip`` is whole - not the leftover of a killed cut -, its frames): its row of
    :meth:`Project.summary`, read from its ``zarr.json``."""
    complete = clip.complete
    return complete, clip.n_frames if complete else 0


def _video_summary(v: Video) -> dict:
    a = v.attrs
    models, damaged = v.predictions._scan()
    unfinished, elsewhere, outdated = _prediction_sets(v, models)
    return {
        "id": v.name,
        "frames": v.n_frames,
        "size": [a.get("height", 0), a.get("width", 0)],
        "split": v.split,
        "complete": v.import_complete,
        "fps": a.get("fps"),
        "source": a.get("source"),
        "tags": v.tags,
        "provenance": {k: c for k, c in v.provenance_counts().items() if c and k != "none"},
        "predicted_by": models,  # models with predictions of it, oldest first
        "predictions_unfinished": unfinished,
        "predicted_by_other_projects": elsewhere,
        "predictions_outdated": outdated,
        # {set name: the error naming its file and the fix} of sets whose own zarr.json cannot be read
        "predictions_damaged": damaged,
        "pseudo_label_stopped": _stopped_pseudo_label(a.get("pseudo_label")),
    }


def stopped_relabelling(record: dict) -> bool:
    """Whether a video's ``pseudo_label`` record is of a relabelling (overwrite) that was stopped: the frames it did
    not reach still hold what they held before it (another model's labels, or none)."""
    return record.get("complete") is False and bool(record.get("overwrite"))


def _stopped_pseudo_label(record) -> dict | None:
    """The video's ``pseudo_label`` record when that pseudo-labelling stopped before every frame (or is running):
    {"checkpoint", "overwrite", "options"} (the command line options it ran with); else None."""
    if not isinstance(record, dict) or record.get("complete") is not False:
        return None
    import shlex

    opts = ""
    if record.get("uncertainty_from") != "query alone" and record.get("n_passes") not in (None, PSEUDO_PASSES):
        opts += f" --passes {record['n_passes']}"
    if isinstance(record.get("quality_threshold"), (int, float)):
        opts += f" --quality-threshold {record['quality_threshold']:g}"
    opts += " --drop-below" if record.get("drop_below") else ""
    blend = [str(b) for b in record.get("blend_with") or ()]
    opts += (" --blend-with " + " ".join(shlex.quote(b) for b in blend)) if blend else ""
    return {
        "checkpoint": record.get("checkpoint"),
        "checkpoint_in_project": record.get("checkpoint_in_project"),
        "overwrite": stopped_relabelling(record),
        "options": opts,
        "relabelled_through": record.get("relabelled_through") if stopped_relabelling(record) else None,
    }


def _prediction_sets(v: Video, models: list[str]) -> tuple[dict, dict, dict]:
    """What the summary says of the prediction sets of ``v`` (each set's attributes read once):

    - {set name: {"done", "frames", "checkpoint", ...}} of the sets that do not cover every frame (a ``dvos predict``
      stopped or killed half-way, or run on some frames only): ``done`` frames of ``frames`` are finished (by every
      pass the set was made with);
    - {set name: checkpoint} of the sets made by a model file outside the project (another project's, e.g. last
      season's): the set's name alone reads like one of this project's models;
    - {set name: {"why", "checkpoint", ...}} of the sets out of date: made by a checkpoint trained again since, or
      smoothed from a set made again since (``why``; the rest as for an unfinished set, to rebuild the command).

    A set whose attributes or flags cannot be read is left out here; it is named when it is used."""
    out, elsewhere, outdated = {}, {}, {}
    n = v.n_frames
    for model in models:  # the video's sets (Predictions.models(), read once by the caller)
        mp = v.predictions[model]
        try:
            a = mp.attrs
        except (StoreError, ValueError):
            continue
        inside = a.get("checkpoint_in_project")
        if inside is False or (inside and v.path and another_projects_file(v.path, a.get("checkpoint"))):
            elsewhere[model] = a.get("checkpoint")  # (a video folder copied from another project: that one's model)
        stale = outdated_record(mp, a)
        if stale:
            outdated[model] = stale
        try:
            done = int(mp.finished(slice(0, n)).sum()) if n else 0
        except (StoreError, ValueError):
            continue
        if done < n:  # (with why, when out of date too: it cannot be resumed)
            why = {k: stale[k] for k in ("why", "source_change") if k in stale} if stale else {}
            out[model] = {"done": done, "frames": n, **set_record(a), **why}
    return out, elsewhere, outdated


SMOOTH_KEYS = ("source", "before", "after", "follow_sway", "only_outliers", "threshold")
# the settings `dvos predict` must be given again to resume a set rather than replace it
PREDICT_KEYS = (
    "kind",
    "image_checkpoint",
    "image_checkpoint_in_project",
    "threshold",
    "passes",
    "reference_masks",
    "scales",
    "tile_size",
    "overlap",
    "precision",
)


def set_record(a: dict) -> dict:
    """What a prediction set's attributes ``a`` say of how it was made: the checkpoint, and the settings of the
    ``dvos smooth`` (a smoothed set) or ``dvos predict`` that makes it again (``store.notes.set_command``)."""
    out = {"checkpoint": a.get("checkpoint"), "checkpoint_in_project": a.get("checkpoint_in_project")}
    if a.get("kind") == "smoothed":  # made by `dvos smooth`, not by a model
        return {**out, "kind": "smoothed", **{k: a.get(k) for k in SMOOTH_KEYS}}
    return {**out, **{k: a.get(k) for k in PREDICT_KEYS}, "resumable": a.get("fingerprint") is not None}


def outdated_record(mp, attrs: dict | None = None) -> dict | None:
    """When prediction set ``mp`` no longer says what made it - its checkpoint file was trained again since
    (``ModelPredictions.outdated``), or, smoothed, its source set changed since (``stale_source``) - its
    :func:`set_record` plus ``why`` (for ``store.notes``' notes and warnings) and, smoothed, ``source_change``
    (``ModelPredictions.source_change``), else None. ``attrs``: the set's
    attributes, when already read (they are read once either way)."""
    try:
        a = mp.attrs if attrs is None else attrs
        change = None
        if a.get("kind") == "smoothed":
            change, why = mp.source_change(a) or (None, None)
        else:
            made_by = mp.outdated(a)
            why = f"made by an earlier version of {made_by} (trained again since)" if made_by else None
    except (StoreError, ValueError, OSError):
        return None
    return {**set_record(a), "why": why, **({"source_change": change} if change else {})} if why else None


def migrate_project(path, progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> list[int]:
    """:meth:`Project.migrate` as a job (the napari panel's upgrade): ``cancel`` is looked at before it starts only,
    since a step once begun must run to its end."""
    if cancel is not None:
        cancel.check()
    return Project.migrate(path, progress)


def _holds_set(v: Video, model: str) -> bool:
    """Whether video ``v`` holds predictions of ``model``; a set whose metadata is damaged counts (so that
    ``dvos delete PROJECT predictions MODEL`` can remove it, as its error message says)."""
    try:
        return v.predictions[model].exists()
    except DamagedStoreError:
        return True


def _refuse_symlink(parent: Path, d: Path) -> None:
    """dvos writes only inside the project folder: a symbolic link in its place would send the files elsewhere."""
    for p in (parent, d):
        if p.is_symlink():
            raise StoreError(
                f"{p} is a symbolic link (to {os.readlink(p)}); dvos writes only inside the project folder. "
                f"Remove the link (dvos delete) or use another name"
            )


def _set_summary(s: SyntheticSet) -> dict:
    if s.half_created:
        return {"clips_done": 0, "clips": int(s.attrs.get("n_clips", 0)), "interrupted": True}
    return {"clips_done": int(len(s.done())), "clips": s.n_clips}


def _leftovers(made: dict) -> bool:
    """Whether :meth:`Project.derived_from` found anything."""
    return bool(made.get("heads") or made.get("fakes") or made.get("backgrounds"))


def _quietly(fn) -> None:
    try:
        fn()
    except Exception:  # the original error matters more than a failed clean-up
        pass
