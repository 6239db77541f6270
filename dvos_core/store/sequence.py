"""Frame sequences in the store: videos (frames + masks + provenance) and background clips (frames only).

Safe-write rule: data is written first, then the commit (``committed_frames`` attr, or the per-frame provenance
code for masks). A process killed mid-write leaves at most an uncommitted tail that readers ignore and the next
append overwrites. A sequence is created with ``import_complete=False`` in the same write that creates its group, and
marked complete only once its arrays exist (and, for imports, once its last frame is committed), so the leftover of a
killed creation never looks finished. Every write holds the project's writer lock (see ``dvos_core.store.lock``) and
names the file and the step in any OS error.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import operator
import os
import uuid
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import zarr

from dvos_core.progress import CancelToken, ProgressFn, check, report
from dvos_core.shell import quote
from dvos_core.store import arrays
from dvos_core.store.fsops import discard, group_attrs
from dvos_core.store.lock import store_write, writer_lock
from dvos_core.store.schema import (
    CORRECTED,
    LABEL_PROVENANCES,
    MANUAL,
    NONE,
    PROVENANCE_NAMES,
    PROVENANCE_RANK,
    SPLITS,
    DamagedStoreError,
    InterruptedImportError,
    NotInStoreError,
    StoreError,
    check_project_here,
    provenance_code,
)
from dvos_core.store.training import refuse_while_training


def json_safe(value, what: str = "attributes"):
    """``value`` with numpy numbers and arrays turned into plain Python ones (tags such as
    ``plot=np.int64(3)`` come straight from pandas); anything else JSON cannot hold raises ``ValueError`` naming
    it, before anything is written (Zarr stores attributes as JSON)."""

    def plain(v, key):
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, np.ndarray):
            return v.tolist()
        if isinstance(v, dict):
            return {str(k): plain(x, f"{key}.{k}" if key else str(k)) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x, key) for x in v]
        if v is None or isinstance(v, (str, bool, int, float)):
            return v
        raise ValueError(
            f"{what}: {key or 'the value'} = {v!r} ({type(v).__name__}) cannot be stored; use text, numbers, "
            f"True/False, None, lists or dicts of them"
        )

    out = plain(value, "")
    json.dumps(out)  # what Zarr will do; plain values always pass
    return out


def _index(t, what: str = "frame") -> int:
    """``t`` as a Python int; a float, a bool (True passed as an int: ``set_mask(True, mask, ...)`` wrote frame 1)
    or anything else that is not a whole-number index is refused by name (a float reached Zarr and failed there with
    'integer arrays in an orthogonal selection ...')."""
    try:
        if isinstance(t, bool):
            raise TypeError
        return operator.index(t)
    except TypeError:
        raise TypeError(f"{what} index must be a whole number (int), got {t!r} ({type(t).__name__})") from None


def _check_frame(frame: np.ndarray, hw, where: str) -> np.ndarray:
    f = np.asarray(frame)
    if f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3:
        raise ValueError(
            f"{where}: frame has shape {f.shape} dtype {f.dtype}; the store takes uint8 RGB (H, W, 3). "
            f"Convert with dvos_core.io.to_rgb8 first"
        )
    if hw is not None and f.shape[:2] != tuple(hw):
        raise ValueError(
            f"{where}: frame size {f.shape[:2]} differs from the sequence's {tuple(hw)}; "
            f"resize/crop all frames to one size (see dvos_core.io.Preprocess)"
        )
    return f


# What each array of a sequence must be: name -> (data type, dimensions after the frame axis: 3 = (H, W, 3),
# 2 = (H, W), 0 = one value per frame). Checked when the array is opened for reading (``FrameSequence._array``).
ARRAY_LAYOUT = {
    "frames": ("uint8", 3),
    "masks": ("uint8", 2),
    "probability": ("float16", 2),
    "provenance": ("uint8", 0),
    "quality": ("float32", 0),
    "done": ("uint8", 0),
}


class FrameRun:
    """Frames ``[start, stop)`` of a stored sequence, read one at a time when indexed (3000 frames of 1080p are
    18 GB: a run is never loaded whole); ``shape`` and ``len`` as for an array of them."""

    def __init__(self, sequence, start: int = 0, stop: int | None = None):
        self.sequence, self.start = sequence, int(start)
        stop = sequence.n_frames if stop is None else int(stop)
        self.shape = (stop - self.start, *sequence.shape[1:])

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, k: int) -> np.ndarray:
        return self.sequence.frame(self.start + int(k))


class FrameSequence:
    """A group holding ``frames`` (T,H,W,3) uint8, chunked per frame, and a committed frame count."""

    kind = "sequence"

    def __init__(self, group: zarr.Group, name: str, path: str):
        self.group, self.name, self.path = group, name, path
        # the folder this handle opened: one deleted and made again under the same id is another sequence
        self._folder_id = self._folder_identity()

    def _folder_identity(self) -> tuple | None:
        """What tells this sequence from one made again under its id: its ``uid`` attribute (written at creation;
        for a sequence made before it, the time it was created) and its folder's inode; None when it has no local
        folder."""
        root = getattr(self.group.store, "root", None)
        if root is None:
            return None
        folder = Path(str(root)) / self.group.path
        try:
            inode = os.stat(folder).st_ino
        except OSError:
            return None
        a = group_attrs(folder)
        return (a["uid"], inode) if a.get("uid") else (a.get("created"), inode)

    @property
    def identity(self) -> tuple | None:
        """What tells this sequence from one deleted and made again under its id (its ``uid``, or creation time, and
        its folder's inode), as it was when this handle was opened; None when it has no local folder. A viewer that
        keeps it beside what it shows can tell that the id now names another sequence."""
        return self._folder_id

    def __repr__(self) -> str:
        a = self.group.attrs
        size = f"{a.get('height', '?')}x{a.get('width', '?')}"
        extra = f", split={a.get('split')!r}" if "split" in a else ""
        extra += "" if self.complete else ", interrupted import"
        where = f", project={self.path!r}" if self.path else ""
        return f"{type(self).__name__}({self.name!r}, {self.n_frames} frames of {size}{extra}{where})"

    # ---- creation ---------------------------------------------------------------------------------------------
    @classmethod
    def create(cls, parent: zarr.Group, name: str, height: int, width: int, attrs: dict | None = None, path: str = ""):
        """Create the group and its empty arrays; all or nothing (the caller holds the writer lock).

        The group is written with its attributes and ``import_complete=False`` in one step; the arrays follow; then
        ``import_complete`` becomes ``attrs.get('import_complete', True)`` (importers pass False and set it once
        their last frame is in). A leftover of a killed creation under the same name is replaced when it holds no
        masks; any other existing sequence is an error. On an OS error nothing is left behind."""
        attrs = dict(attrs or {})
        complete = attrs.pop("import_complete", True) is not False
        where = f"{path}/{parent.path}/{name}" if path else name
        if name in parent:
            old = cls(parent[name], name, path)
            if old.complete or not old._replaceable():
                raise StoreError(f"{path}: {cls.kind} {name!r} already exists; choose another id or delete it first")
            old._discard()
        meta = {
            "kind": cls.kind,
            "height": int(height),
            "width": int(width),
            "committed_frames": 0,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "uid": uuid.uuid4().hex,  # tells it from a sequence made again under the same id
            **attrs,
            "import_complete": False,
        }
        try:
            with store_write(path, where, f"creating {cls.kind} {name!r}", "Nothing of it was kept."):
                g = parent.create_group(name, attributes=meta)
                arrays.create(g, "frames", (0, height, width, 3), "uint8", chunks=(1, height, width, 3))
                cls._create_extra(g, height, width)
                if complete:
                    g.attrs["import_complete"] = True
        except BaseException:
            if name in parent:
                try:
                    cls(parent[name], name, path)._discard()
                except Exception:  # the first error matters; the leftover is marked incomplete anyway
                    pass
            raise
        return cls(g, name, path)

    @staticmethod
    def _create_extra(g: zarr.Group, height: int, width: int) -> None:
        pass

    def _replaceable(self) -> bool:
        """Whether an incomplete leftover may be replaced without losing work (no one's masks in it)."""
        return True

    def _discard(self) -> None:
        """Remove this sequence from the store, all or nothing (see fsops.discard)."""
        root = Path(str(self.group.store.root))
        discard(root / self.group.path, root)

    def mark_complete(self) -> None:
        """Commit the whole sequence: from now on it is a finished video/clip, not a leftover of a killed import."""
        self.update_attrs(import_complete=True)

    @property
    def complete(self) -> bool:
        """False for a sequence still being created or imported, or the leftover of one that was killed."""
        a = self.group.attrs
        flag = a.get("import_complete")
        if flag is None:  # written before the flag existed: complete when its creation got as far as its attrs
            return "kind" in a and "height" in a
        return flag is True

    @property
    def where(self) -> str:
        """The sequence's folder, for messages."""
        return f"{self.path}/{self.group.path}" if self.path else self.name

    @contextlib.contextmanager
    def _write(self, step: str, after: str = ""):
        """The context of one write: read-only check, writer lock, OS errors naming this sequence and ``step``; under
        the lock, the sequence must still be the one this handle opened (not deleted, nor deleted and made again
        while the write waited for the lock)."""
        self._check_writable(step)
        with store_write(self.path, self.where, step, after):
            self._require_present()
            yield

    @contextlib.contextmanager
    def _lock(self, step: str):
        """The writer lock alone (for loops that also read input whose errors are not the store's); checked like
        :meth:`_write`."""
        self._check_writable(step)
        with writer_lock(self.path).hold(operation=step) if self.path else contextlib.nullcontext():
            self._require_present()
            yield

    def _check_writable(self, step: str) -> None:
        if self.group.read_only:
            raise StoreError(f"{self.where}: the project was opened read-only; open it with mode='r+' for {step}")

    # ---- reading (a damaged file named in the error) -----------------------------------------------------------
    @property
    def _owner(self) -> str:
        """'<project>: video 'v'' for messages."""
        return f"{self.path}: {self.kind} {self.name!r}" if self.path else f"{self.kind} {self.name!r}"

    def _damage_fix(self) -> str:
        return (
            f"Restore that file from a backup of the project, or delete the {self.kind} (`dvos delete "
            f"{quote(self.path)} {self.kind} {quote(self.name)} --yes`; everything stored with it goes too) and add it "
            f"again"
        )

    def _array(self, key: str, fix: str | None = None) -> zarr.Array:
        """The array ``key`` of this sequence (e.g. ``masks``, ``predictions/m/done``); a corrupt or missing
        ``zarr.json`` of it, or one whose data type or frame size is not the sequence's (a file edited or replaced),
        is a :class:`~dvos_core.store.schema.DamagedStoreError` naming the file and ``fix`` (default: restore it, or
        delete and add the sequence again)."""
        fix = fix or self._damage_fix()
        what = f"the {key!r} array of {self.kind} {self.name!r}"
        arr = arrays.open_member(self.group, key, what, fix, on_missing=self._require_present)
        self._check_layout(key, arr, arrays.member_metadata(self.group, key), fix)
        return arr

    def _meta(self) -> Path:
        """This sequence's own ``zarr.json``, for messages."""
        return arrays.member_metadata(self.group)

    def _check_layout(self, key: str, arr, meta, fix: str) -> None:
        if not isinstance(arr, zarr.Array):
            raise DamagedStoreError(f"{meta}: {key!r} of {self.kind} {self.name!r} is not an array. {fix}")
        layout = ARRAY_LAYOUT.get(key.rsplit("/", 1)[-1])
        if layout is None:
            return
        a = self.group.attrs
        dtype, dims = layout
        try:
            want = ((int(a["height"]), int(a["width"])) + ((3,) if dims == 3 else ()))[:dims]
        except (KeyError, TypeError, ValueError):
            want = tuple(arr.shape[1:])  # the size is not known: only the data type is checked
        if str(arr.dtype) != dtype or tuple(arr.shape[1:]) != want:
            raise DamagedStoreError(
                f"{meta}: the {key!r} array of {self.kind} {self.name!r} is recorded as {arr.dtype} "
                f"{tuple(arr.shape[1:])} per frame, but the {self.kind} holds {dtype} {want}: "
                + (
                    "the file was changed or replaced by another one"
                    if str(arr.dtype) != dtype
                    else f"that file, or the height and width in {self._meta()}, was edited or replaced by another one"
                )
                + f". {fix}"
            )

    def _read(self, key: str, rows, what: str, present=None):
        """``self.group[key][rows]``; a chunk that cannot be decoded, or a missing chunk among the rows ``present``
        (rows that were written, see :func:`~dvos_core.store.arrays.read`: all of ``rows`` in an array marked
        ``EVERY_ROW``), is a :class:`~dvos_core.store.schema.DamagedStoreError` naming the frames and the file."""
        return arrays.read(self._array(key), rows, self._owner, what, self._fix_of(key), present)

    def _fix_of(self, key: str) -> str:
        """What to do about a damaged or missing chunk of the array ``key``."""
        fix = self._damage_fix()
        p, name = quote(self.path), quote(self.name)
        if key == "masks":  # a mask chunk holds one whole frame: writing that mask again replaces the file
            fix += (
                f". A damaged mask can also be painted again in napari, or imported again (`dvos import-masks {p} "
                f"{name} DIR --overwrite`)"
            )
        elif key == "quality":  # scores only: pseudo-labelling the video again writes them all
            fix += (
                f". The quality scores alone can also be written again by pseudo-labelling the video again, which "
                f"replaces its pseudo-labels (`dvos pseudo-label {p} MODEL --videos {name} --overwrite`: the "
                f"scores of a missing or damaged file are made again as unknown first)"
            )
        return fix

    def _require_rows(self, key: str, rows, what: str) -> None:
        """Refuse to write into a missing chunk of ``key`` among committed ``rows`` (a DamagedStoreError naming the
        file): Zarr would make a new chunk holding the fill value in every other row, so the loss of the others
        would read as "no mask" or "score unknown" from then on, unsaid. Arrays whose every committed row is
        written: provenance, and quality marked ``EVERY_ROW``. A chunk of ``rows`` that cannot be decoded is refused
        the same way in any array (Zarr reads it to write one row and failed with a bare codec error)."""
        arr = self._array(key)
        if key == "provenance" or arr.attrs.get(arrays.EVERY_ROW):
            arrays.require_chunks(arr, rows, self._owner, what, self._fix_of(key))
        # a chunk that cannot be decoded: Zarr reads it to write one row of it and fails with a bare codec error
        arrays.read(arr, rows, self._owner, what, self._fix_of(key))

    # ---- properties ------------------------------------------------------------------------------------------
    @property
    def attrs(self) -> dict:
        """The sequence's attributes, re-read from disk (another handle or process may have changed them)."""
        self.refresh()
        return dict(self.group.attrs)

    def refresh(self) -> None:
        """Reload this handle's metadata (Zarr caches attributes per handle)."""
        self._require_present()
        self.group = zarr.open_group(
            store=self.group.store, path=self.group.path, mode="r" if self.group.read_only else "r+"
        )

    def _require_present(self) -> None:
        """Raise :class:`~dvos_core.store.schema.NotInStoreError` when this sequence's folder is gone (deleted by
        another handle or process while this handle was kept): Zarr only says ``KeyError: 'frames'`` then."""
        root = getattr(self.group.store, "root", None)
        if root is None:
            return
        if (Path(str(root)) / self.group.path / "zarr.json").is_file():
            if self._folder_id is None or self._folder_identity() == self._folder_id:
                return
            raise NotInStoreError(
                f"{self.path or 'PROJECT'}: {self.kind} {self.name!r} was deleted and added again after this handle "
                f"was opened: it is another {self.kind} now; open the project again to work on it"
            )
        check_project_here(self.path)  # the whole project went: moved or renamed
        raise NotInStoreError(
            f"{self.path or 'PROJECT'}: {self.kind} {self.name!r} is no longer in the project (it was deleted after "
            f"this handle was opened); open the project again to see what it holds"
        )

    def _fresh_count(self, t: int) -> int:
        """The committed frame count; re-read from disk when ``t`` lies past this handle's count, since another
        handle or process may have appended frames since it was opened (a handle's attributes are cached)."""
        n = self.n_frames
        if t >= n:
            self.refresh()
            n = self.n_frames
        return n

    @property
    def n_frames(self) -> int:
        """The committed frame count (the ``committed_frames`` attr); a value that is missing from a finished
        sequence's attributes, or is not a whole number >= 0, is a :class:`DamagedStoreError` naming the file (read
        as 0 it hid every frame, mask and prediction)."""
        a = self.group.attrs
        n = a.get("committed_frames")
        if n is None and not ("kind" in a and "height" in a):  # a leftover of a killed creation: nothing committed
            return 0
        try:
            good = n is not None and not isinstance(n, bool) and int(n) == n and int(n) >= 0
        except (TypeError, ValueError):
            good = False
        if good:
            return int(n)
        meta = self._meta()
        try:
            rows = f" (its frames array holds {self.group['frames'].shape[0]})"
        except Exception:  # only a hint
            rows = ""
        raise DamagedStoreError(
            f"{meta}: {self.kind} {self.name!r} has no valid frame count (committed_frames = {n!r}): the file was "
            f"edited or damaged. Restore it from a backup of the project, or set committed_frames to the number of "
            f"frames it holds{rows}"
        )

    def count_damage(self) -> str | None:
        """Why the ``committed_frames`` of this finished sequence disagrees with the frames it holds (None when it
        agrees, or cannot be judged: another check names a damaged file). A finished sequence's arrays hold exactly
        its committed frames (the append trims them), so a count below the ``frames`` array's rows whose last frame's
        chunk file is on disk hides written frames, and a count above them (no chunk file past them) names frames
        never written: the attribute was edited. Either way the fix is the rows the arrays hold. Two ``stat``s."""
        if not self.complete:
            return None  # an import still running (or stopped) holds spare rows past its count
        try:
            n, rows = self.n_frames, int(self.group["frames"].shape[0])
            frames = self.group["frames"]
            on_disk = [Path(arrays._chunk_file(frames, t)).is_file() for t in (rows - 1, rows) if t >= 0]
        except Exception:  # a damaged zarr.json: named where it is read
            return None
        last_written, past_written = (on_disk if rows else [True, *on_disk])[:2]
        if n == rows or (n < rows and not last_written) or (n > rows and past_written):
            return None
        if n < rows:
            what = f"frames {n}-{rows - 1} were written and are hidden from every command"
        else:
            what = f"frames {rows}-{n - 1} were never written"
        return (
            f"{self._meta()}: {self.kind} {self.name!r} says committed_frames = {n}, but its arrays hold {rows} frames "
            f"({what}): the file was edited. Set committed_frames back to {rows} in that file (no frame is lost), then "
            f"run `dvos check {quote(self.path)}` again"
        )

    def __len__(self) -> int:
        return self.n_frames

    @property
    def shape(self):
        a = self.group.attrs
        return (self.n_frames, int(a["height"]), int(a["width"]), 3)

    @property
    def frames(self) -> zarr.Array:
        """The raw frames array; only the first ``n_frames`` are committed."""
        return self.group["frames"]

    def update_attrs(self, **kw) -> None:
        kw = json_safe(kw, f"{self.where}: attributes")
        with self._write("updating its attributes"):
            self.refresh()  # merge into the attributes on disk, not into this handle's cached copy
            self.group.update_attributes(kw)
            self._folder_id = self._folder_identity()  # (its own change of "created", in a sequence without uid)

    # ---- frames ----------------------------------------------------------------------------------------------
    def frame_run(self, start: int = 0, stop: int | None = None) -> FrameRun:
        """Frames ``[start, stop)`` (default: every committed frame) as a lazy frame source: indexed, it reads one
        frame at a time, so a long run is never loaded whole (what motion estimation and measurements take)."""
        return FrameRun(self, start, stop)

    def frame(self, t: int) -> np.ndarray:
        """The image of frame ``t`` (H,W,3) uint8; ``t`` counts from 0 (negative indices are refused)."""
        t = _index(t)
        self._check_range(t)
        return self._read("frames", slice(t, t + 1), "image", present=True)[0]

    def read_frames(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames ``[start, stop)`` as (n,H,W,3) uint8 (default: every committed frame)."""
        start = _index(start, "start")
        stop = self.n_frames if stop is None else _index(stop, "stop")
        self._check_range(start, stop)
        return self._read("frames", slice(start, stop), "image", present=True)

    def _check_range(self, t: int, stop: int | None = None) -> None:
        """IndexError naming the frames asked for and the frames there are, unless ``t`` (or ``[t, stop)``) is
        within the committed frames (re-read from disk before refusing, see :meth:`_fresh_count`)."""
        t = _index(t)
        n = self._fresh_count(max(t, -1 if stop is None else _index(stop, "stop") - 1))
        if stop is None:
            if 0 <= t < n:
                return
            asked = f"frame {t}"
        else:
            if 0 <= t <= stop <= n:
                return
            asked = f"frames [{t}, {stop})"
        valid = f"0-{n - 1}" if n else "none"
        neg = " (negative indices are not taken: count from 0)" if t < 0 else ""
        raise IndexError(
            f"{self.path}: {asked} out of range{neg}; {self.kind} {self.name!r} has {n} frames (valid: {valid})"
        )

    def append_frames(
        self,
        frames: Iterable[np.ndarray],
        n_total: int | None = None,
        batch: int = 8,
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
    ) -> int:
        """Append frames (an iterable of (H,W,3) uint8); commits every ``batch`` frames. Returns frames committed.

        On cancel or error the frames committed so far stay; the rest is discarded. The arrays are opened once and
        grow geometrically (:func:`~dvos_core.store.arrays.reserve`); once the last frame is committed, spare
        capacity is trimmed, so a finished sequence's arrays hold exactly ``n_frames`` rows.
        """
        hw = self.shape[1:3]
        buf: list = []
        added = 0
        where = f"{self.path}:{self.name}"
        total = n_total or 0
        with self._lock("append frames"):
            self.refresh()
            grown = {key: self.group[key] for key in self.GROWN}
            for f in frames:
                check(cancel)
                buf.append(_check_frame(f, hw, where))
                if len(buf) >= batch:
                    added += self._commit_frames(buf, grown)
                    buf = []
                    report(progress, added, max(total, added), f"{self.name}: {added} frames")
            if buf:
                added += self._commit_frames(buf, grown)
            with self._write("trimming its arrays to the committed frames"):
                for arr in grown.values():  # after the last commit: rows past it are spare capacity
                    arrays.trim(arr, self.n_frames)
        report(progress, added, max(total, added), f"{self.name}: {added} frames")
        return added

    # Arrays with one row per frame, grown together as frames are appended.
    GROWN: tuple[str, ...] = ("frames",)

    def _commit_frames(self, buf, grown: dict) -> int:
        t0 = self.n_frames
        t1 = t0 + len(buf)
        with self._write(f"writing frames {t0}-{t1 - 1}"):
            for arr in grown.values():
                arrays.reserve(arr, t1)
            grown["frames"][t0:t1] = np.stack(buf)
            self._new_rows(grown, t0, t1)
            self.group.attrs["committed_frames"] = t1  # the commit: after the data
        return len(buf)

    def _new_rows(self, grown: dict, t0: int, t1: int) -> None:
        """Write the per-frame rows of new frames ``[t0, t1)`` other than their images (before the commit)."""


class Video(FrameSequence):
    """A real (or imported) video: frames, binary masks, per-frame provenance, quality and predictions."""

    kind = "video"
    GROWN = ("frames", "masks", "provenance", "quality")

    @staticmethod
    def _create_extra(g: zarr.Group, height: int, width: int) -> None:
        arrays.create(
            g, "masks", (0, height, width), "uint8", chunks=(1, height, width), compressors=arrays.mask_codecs()
        )
        arrays.create(g, "provenance", (0,), "uint8", chunks=(4096,))
        arrays.create(g, "quality", (0,), "float32", chunks=(4096,), fill_value=float("nan"), every_row=True)

    def _new_rows(self, grown: dict, t0: int, t1: int) -> None:
        """New frames have no mask: their provenance rows are written as 0 and their quality rows as NaN (unknown),
        so that every committed frame's provenance and quality chunks are on disk and a deleted one is named
        instead of reading as "no masks" or as scores unknown (which the trainer's ``pseudo_quality_min`` keeps)."""
        grown["provenance"][t0:t1] = NONE
        grown["quality"][t0:t1] = np.nan

    # ---- metadata ----------------------------------------------------------------------------------------------
    @property
    def split(self) -> str:
        return str(self.group.attrs.get("split", "unassigned"))

    def set_split(self, split: str) -> None:
        """Set the video's use (train, val, test, unassigned). A test video's masks are its ground truth, so a video
        holding masks a model made (pseudo, predicted) or corrections of them cannot become a test video."""
        self._check_split_name(split)
        with self._write(f"setting split {split!r}"):
            self._check_test_masks(split)
            self.refresh()
            self.group.attrs["split"] = split

    def check_split(self, split: str) -> None:
        """Raise what :meth:`set_split` would raise, changing nothing: check every video of a group before setting
        any, so that one refused leaves them all as they were."""
        self._check_split_name(split)
        self._check_test_masks(split)

    def _check_split_name(self, split: str) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.require_complete()

    def _check_test_masks(self, split: str) -> None:
        if split != "test":
            return
        counts = {k: n for k, n in self.provenance_counts().items() if n and k not in ("none", "manual")}
        if counts:
            listed = ", ".join(f"{n} {k}" for k, n in counts.items())
            kinds = " ".join(counts)
            clear = f"dvos clear-masks {quote(self.path)} {quote(self.name)} --provenance {kinds} --yes"
            raise StoreError(
                f"{self.where}: cannot make {self.name!r} a test video: it holds {listed} mask(s), and a "
                f"test video is scored against its masks, so they must all be manual ground truth. Clear "
                f"them first (`{clear}`; Python: video.clear_masks({list(counts)})) or keep it as a "
                f"train/val video"
            )

    @property
    def import_complete(self) -> bool:
        """False for a video being imported, or the leftover of a killed import or creation (see :attr:`complete`)."""
        return self.complete

    def require_complete(self) -> Video:
        """This video, once its import finished; the leftover of a killed import raises
        :class:`~dvos_core.store.schema.InterruptedImportError` naming the fix (add it again, or delete it).

        The one check of every command that uses a video's frames, masks or predictions (importing masks,
        prediction, pseudo-labels, smoothing, evaluation, head extraction, overlay videos, head counts, setting the
        split), so none of them works on half a video, and none writes masks that would stop the leftover from
        being replaced. Not called by the importers (they fill a video before marking it complete), nor by
        ``dvos info``, ``dvos delete`` or ``dvos export-masks`` (which saves the masks of an older leftover)."""
        self.refresh()
        if self.complete:
            return self
        p, n, name = self.path or "PROJECT", self.n_frames, self.name
        masked = int(np.count_nonzero(self.provenance)) if "provenance" in self.group else 0
        qp, qn = quote(self.path), quote(name)
        delete = f"`dvos delete {qp} video {qn} --yes`"
        if not masked:
            raise InterruptedImportError(
                f"{p}: video {name!r} is an interrupted import ({n} of its frames were written); run "
                f"`dvos add-video {qp} FILE --id {qn}` again to replace it, or delete it ({delete}). If its "
                f"import is still running, wait for it to finish"
            )
        raise InterruptedImportError(
            f"{p}: video {name!r} is an interrupted import ({n} of its frames were written) that holds masks of "
            f"{masked} frame(s); keep them with `dvos export-masks {qp} {qn} DIR`, delete it ({delete}), add the "
            f"video again (`dvos add-video {qp} FILE --id {qn}`) and import them (`dvos import-masks {qp} {qn} DIR`)"
        )

    def _replaceable(self) -> bool:
        return "provenance" not in self.group or not self.provenance.any()

    @property
    def tags(self) -> dict:
        """The video's tags; tags that are not a dict (an edited ``zarr.json``) are a :class:`DamagedStoreError`
        naming the file (``dict()`` of them failed with a bare Python error in ``dvos info``)."""
        tags = self.group.attrs.get("tags", {})
        if isinstance(tags, dict):
            return dict(tags)
        raise DamagedStoreError(
            f"{self._meta()}: the tags of video {self.name!r} are {tags!r}, not a set of KEY: VALUE pairs: the file "
            f'was edited or damaged. Restore it from a backup of the project, or set "tags" to {{}} in it'
        )

    def set_tags(self, **tags) -> None:
        """Add or change tags (``video.set_tags(growth_stage="flowering")``); values are text, numbers, True/False,
        None, or lists and dicts of them (numpy numbers are taken as plain ones)."""
        tags = json_safe(tags, f"{self.where}: tags")  # checked before the handle or the disk is touched
        with self._write("setting its tags"):
            t = dict(self.attrs.get("tags", {}))
            t.update(tags)
            self.group.attrs["tags"] = t

    # ---- masks -----------------------------------------------------------------------------------------------
    @property
    def provenance(self) -> np.ndarray:
        """Per-frame provenance codes of the committed frames (0 = no mask)."""
        n = self.n_frames
        return self._read("provenance", slice(0, n), "mask provenance", present=True) if n else np.zeros(0, np.uint8)

    def provenance_counts(self) -> dict:
        codes = self.provenance
        return {name: int((codes == code).sum()) for code, name in PROVENANCE_NAMES.items()}

    def labelled_frames(self, provenances=LABEL_PROVENANCES) -> np.ndarray:
        """Indices of frames whose mask provenance is in ``provenances`` (names or codes; one name alone, e.g.
        ``"manual"``, works too)."""
        codes = [provenance_code(p) for p in _provenance_list(provenances)]
        return np.flatnonzero(np.isin(self.provenance, codes))

    def mask(self, t: int) -> np.ndarray | None:
        """The mask of frame t (H,W) uint8 {0,1}, or None when the frame has no mask."""
        t = _index(t)
        self._check_t(t)
        if self._read("provenance", t, "mask provenance", present=True) == NONE:
            return None
        return self._read("masks", t, "mask", present=True)

    def read_masks(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Masks of frames [start, stop) (frames without a mask read as zeros; check ``provenance``)."""
        start = _index(start, "start")
        stop = self.n_frames if stop is None else _index(stop, "stop")
        self._check_t(start, stop)
        painted = start + np.flatnonzero(self._read("provenance", slice(start, stop), "mask provenance", present=True))
        return self._read("masks", slice(start, stop), "mask", present=painted)

    def set_mask(
        self,
        t: int,
        mask,
        provenance="manual",
        overwrite: bool = False,
        allow_labels: bool = False,
        quality: float | None = None,
        corrected_from: str | None = None,
    ) -> bool:
        """Write the mask of frame t; returns False (and writes nothing) if a higher-ranked mask is protected.

        Human masks (manual, corrected) are only replaced by other human masks unless ``overwrite``. A test video
        takes manual masks only (see :meth:`check_label_write`). ``quality``: the new mask's score (see
        :meth:`set_quality`); without one the frame's score becomes unknown (NaN), since a score held from before
        described the mask replaced (a pseudo-label scored 0.1 and then imported again would stay filtered by the
        trainer's ``pseudo_quality_min``). The provenance code is written after the mask data: it is the commit.
        ``corrected_from``: for a 'corrected' mask, the prediction set whose mask a person corrected; recorded with
        the checkpoint that made the set (see :attr:`correction_sources`), so that its model is not scored against
        its own accepted output unsaid; a set the video does not have is a
        :class:`~dvos_core.store.schema.NotInStoreError` (nothing written).
        """
        t = _index(t)
        self._check_t(t)
        if provenance is None:
            raise ValueError("provenance is None; name one: 'manual' (painted), 'corrected', 'pseudo', 'predicted'")
        code = provenance_code(provenance)
        if code == NONE:
            raise ValueError("use clear_mask() to remove a mask")
        if quality is not None:
            quality = _quality(quality, f"{self.where} frame {t}")
        if corrected_from is not None:
            if code != CORRECTED:
                raise ValueError(
                    f"corrected_from names the prediction set a 'corrected' mask came from; the mask of frame {t} "
                    f"is saved as {PROVENANCE_NAMES[code]!r}"
                )
            # a malformed name, or one no set has (a typo would record nothing): refused before anything is written
            self.predictions[corrected_from]._require()
        m = arrays.as_uint8_mask(mask, self.shape[1:3], name=f"mask for {self.name}[{t}]", allow_labels=allow_labels)
        with self._write(f"writing the mask of frame {t}"):
            self.check_label_write(code, f"frame {t}")
            old = int(self._read("provenance", t, "mask provenance", present=True))
            if not overwrite and PROVENANCE_RANK[old] > PROVENANCE_RANK[code]:
                return False
            if quality is not None:
                self._require_rows("quality", t, "quality score")
            self.group["masks"][t] = m
            if quality is not None:
                self.group["quality"][t] = float(quality)
            else:
                self._forget_quality(t)
            self.group["provenance"][t] = code
            self._note_correction_source(t, code, corrected_from)
        return True

    def _note_correction_source(self, t: int, code: int, corrected_from: str | None) -> None:
        """Record (or forget) which prediction set frame t's mask was corrected from, after its mask is committed
        (under the writer lock). A record outlives a later mask of the frame only until it is read: only frames
        still 'corrected' count (:attr:`correction_sources`)."""
        held = self.group.attrs.get("corrected_from")
        if corrected_from is None and code != CORRECTED and not (isinstance(held, dict) and str(t) in held):
            return  # nothing to record or forget (a pseudo-label run writes thousands of frames: no attrs read)
        from dvos_core.store.predictions import checkpoint_sha

        self.refresh()  # merge into the attributes on disk, not into this handle's cached copy
        held = self.group.attrs.get("corrected_from")
        held = dict(held) if isinstance(held, dict) else {}
        preds = None if corrected_from is None else self.predictions[corrected_from]
        if preds is not None and preds.exists():
            held[str(t)] = {"set": corrected_from, "checkpoint": checkpoint_sha(preds.attrs.get("fingerprint"))}
        elif held.pop(str(t), None) is None:  # no source (or no set of that name: a set made later under it would be
            return  # taken for its source), and none held: nothing to write
        self.group.update_attributes({"corrected_from": held})

    @property
    def correction_sources(self) -> dict[int, dict]:
        """{frame: {"set": name, "checkpoint": SHA-256 or None}} of the frames whose 'corrected' mask was corrected
        from a prediction set (recorded by :meth:`set_mask`'s ``corrected_from``; frames corrected in another
        program, or before dvos recorded it, are not listed). Frames holding another mask since are left out."""
        held = self.group.attrs.get("corrected_from")
        if not isinstance(held, dict) or not held:
            return {}
        codes = self.provenance
        out = {}
        for key, rec in held.items():
            if not (isinstance(key, str) and key.isdigit() and isinstance(rec, dict)):
                continue
            t = int(key)
            if t < len(codes) and int(codes[t]) == CORRECTED and isinstance(rec.get("set"), str):
                sha = rec.get("checkpoint")
                out[t] = {"set": rec["set"], "checkpoint": sha if isinstance(sha, str) else None}
        return dict(sorted(out.items()))

    def _forget_quality(self, t: int) -> None:
        """Set frame t's quality score to unknown (NaN) when it holds one (of a mask being replaced). A damaged
        quality chunk is left as it is: the mask is still saved, and reading the scores names that file."""
        try:
            if math.isnan(float(self._read("quality", t, "quality score"))):
                return
            self.group["quality"][t] = float("nan")
        except DamagedStoreError:
            pass

    def check_label_write(self, provenance, what: str = "") -> None:
        """Raise StoreError unless masks of ``provenance`` may be written into this video's labels.

        The rule that keeps scores honest: a test video is scored against its masks, so only manual (painted or
        imported) ground truth goes there; pseudo-labels, predictions copied to labels and corrections of model
        output are refused. Core functions call this before they start (pseudo_label, predict --as-labels,
        import_masks), so they fail before any work is done."""
        code = provenance_code(provenance)
        if code in (NONE, MANUAL) or self.attrs.get("split") != "test":
            return
        raise StoreError(
            f"{self.where}{' ' + what if what else ''}: {self.name!r} is a test video; its masks are the ground truth "
            f"it is scored against, so it takes manual masks only, not {PROVENANCE_NAMES[code]!r} ones. Use a "
            f"train/val video, or change its split first if it should not be a test video"
        )

    def clear_mask(self, t: int) -> None:
        t = _index(t)
        self._check_t(t)
        with self._write(f"clearing the mask of frame {t}"):
            self._require_rows("provenance", t, "mask provenance")
            self.group["provenance"][t] = NONE

    def clear_masks(self, provenances=None) -> int:
        """Clear every mask (or those of the given provenances, e.g. ``["pseudo"]`` or ``"pseudo"``); returns how
        many frames were cleared. Refused (StoreBusyError naming the run) while a training run goes on in the
        project: it may read them (its sample list was fixed at its start, and it would learn and validate on
        empty masks). Saving or clearing single frames (:meth:`set_mask`, :meth:`clear_mask`) is not refused."""
        wanted = None if provenances is None else [provenance_code(p) for p in _provenance_list(provenances)]
        with self._write("clearing masks"):
            codes = self.provenance
            sel = codes != NONE if wanted is None else np.isin(codes, wanted)
            if sel.any():
                if self.path and self.split != "test":  # a test video's masks no training reads
                    refuse_while_training(self.path, f"the masks of video {self.name!r}", "clear them")
                prov = self.group["provenance"]
                prov[: len(codes)] = np.where(sel, NONE, codes).astype(np.uint8)
        return int(sel.sum())

    @property
    def quality(self) -> np.ndarray:
        """Per-frame quality scores of the committed frames' masks (NaN = unknown). A missing chunk file is named
        in videos whose every quality row is written (``EVERY_ROW``); a video made by an earlier dvos wrote only the
        rows it scored, so a missing chunk there still reads as unknown."""
        n = self.n_frames
        return self._read("quality", slice(0, n), "quality score") if n else np.zeros(0, np.float32)

    def set_quality(self, t: int, value: float) -> None:
        """Set the quality score of frame t's mask: a number in [0, 1] (higher is better), or NaN for unknown."""
        t = _index(t)
        self._check_t(t)
        value = _quality(value, f"{self.where} frame {t}")
        with self._write(f"writing the quality of frame {t}"):
            self._require_rows("quality", t, "quality score")
            self.group["quality"][t] = float(value)

    def reset_missing_quality(self) -> list[tuple[int, int]]:
        """Write the rows of every lost quality chunk, missing (a deleted file) or that cannot be decoded (a truncated
        or overwritten one), as unknown (NaN), so that scores can be written there again (pseudo-labelling with
        overwrite does this before it scores every pseudo-label again); returns the (first, last) frames of each chunk
        made again. Missing chunks are only told apart in videos whose every quality row was written
        (``EVERY_ROW``): in a video made before, a missing chunk may never have been written and reads as unknown."""
        arr = self._array("quality")
        n = arr.shape[0]
        made = []
        with self._write("writing the lost quality scores as unknown"):
            # each round writes whole chunks (nothing of a damaged one is read) and finds at most MAX_NAMED more
            while lost := arrays.damaged_chunks(arr, slice(0, n)) + (
                arrays.missing_chunks(arr, slice(0, n)) if arr.attrs.get(arrays.EVERY_ROW) else []
            ):
                for a, b, _ in lost:
                    arr[a : b + 1] = np.nan
                    made.append((a, b))
        return sorted(made)

    # ---- predictions (kept apart from the label masks so ground truth is never overwritten) ----------------------
    @property
    def predictions(self):
        """The model's predictions for this video (:class:`~dvos_core.store.predictions.Predictions`)."""
        from dvos_core.store.predictions import Predictions

        return Predictions(self)

    def _check_t(self, t: int, stop: int | None = None) -> None:
        self._check_range(t, stop)


def _provenance_list(provenances) -> list:
    """``provenances`` as a list; one name alone (``"pseudo"``) is one provenance, not its letters."""
    if isinstance(provenances, (str, int, np.integer)):
        return [provenances]
    return list(provenances)


def _quality(value, where: str) -> float:
    """A mask's quality score: a number in [0, 1], or NaN (unknown)."""
    try:
        q = float(value)
    except (TypeError, ValueError):
        q = None
    if q is None or not (math.isnan(q) or 0.0 <= q <= 1.0):
        raise ValueError(f"{where}: quality must be a number in [0, 1] (or NaN for unknown), got {value!r}")
    return q


class Background(FrameSequence):
    """A bare-field background clip (consecutive frames, no heads)."""

    kind = "background"

    def _damage_fix(self) -> str:
        """A clip inpainted from a painted frame (``dvos extract-backgrounds --from-annotated``) is made again by that
        command for that frame; any other clip is restored, or deleted and cut again."""
        a = self.group.attrs
        source, frame = a.get("source"), a.get("frame")
        if a.get("origin") != "inpainted" or not isinstance(source, str) or not isinstance(frame, int):
            return super()._damage_fix()
        p = quote(self.path)
        opts = ""
        n = a.get("committed_frames")
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:
            opts += f" --clip-length {n}"
        inpaint = a.get("inpaint") if isinstance(a.get("inpaint"), dict) else {}
        if inpaint.get("method") in ("telea", "ns"):
            opts += f" --inpaint {inpaint['method']}"
        if isinstance(inpaint.get("dilate_px"), int) and inpaint["dilate_px"] != 6:
            opts += f" --dilate {inpaint['dilate_px']}"
        motion = a.get("motion") if isinstance(a.get("motion"), dict) else {}
        if motion.get("kind") in ("default", "none"):
            opts += f" --motion {motion['kind']}"
        return (
            f"Restore that file from a backup of the project, or make the clip again from the painted frame it was "
            f"inpainted from (`dvos extract-backgrounds {p} --from-annotated --videos {quote(source)} --frames "
            f"{frame}{opts} --replace`: the damaged clip is deleted once the new one is made), or delete it "
            f"(`dvos delete {p} background {quote(self.name)} --yes`)"
        )
