"""Synthetic clip sets: preallocated (N, T, H, W, ...) arrays written clip by clip, resumable and parallel-safe.

Each clip i is written into its own chunks (chunk = one frame of one clip), then ``done[i]`` is set (chunk size 1,
so parallel writers never share a chunk). Readers only use clips whose ``done`` flag is set.

A set is created with ``created=False`` in the same write as its group (with all its settings), and ``created``
becomes True once its arrays exist: the leftover of a killed creation is recognisable (:attr:`half_created`) and is
replaced by the next ``create``. ``write_clip`` is called by the worker processes of ``dvos_core.synth.generate``
while their parent holds the project's writer lock, so it does not take the lock itself.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import zarr

from dvos_core.shell import quote
from dvos_core.store import arrays
from dvos_core.store.fsops import discard, io_step
from dvos_core.store.lock import store_write
from dvos_core.store.schema import DamagedStoreError, StoreError
from dvos_core.store.sequence import _index


class SyntheticSet:
    """A set of N synthetic clips of T frames at H x W with exact binary masks (provenance 'synthetic')."""

    def __init__(self, group: zarr.Group, name: str, path: str = ""):
        self.group, self.name, self.path = group, name, path

    @classmethod
    def create(
        cls,
        parent: zarr.Group,
        name: str,
        n_clips: int,
        n_frames: int,
        height: int,
        width: int,
        attrs: dict | None = None,
        path: str = "",
    ):
        """Create the set's group (with its settings and ``created=False``) and arrays, then set ``created``; all or
        nothing (a half-created leftover of the same name is replaced; the caller holds the writer lock)."""
        if name in parent:
            old = cls(parent[name], name, path)
            if not old.half_created:
                raise StoreError(f"{path}: synthetic set {name!r} exists; resume it, pick another name or delete it")
            old._discard()
        meta = {
            "kind": "synthetic",
            "n_clips": int(n_clips),
            "n_frames": int(n_frames),
            "height": int(height),
            "width": int(width),
            **(attrs or {}),
            "created": False,
            "uid": uuid.uuid4().hex,  # tells it from a set made again under the same name (a resumed training asks)
        }
        where = f"{path}/{parent.path}/{name}" if path else name
        try:
            with store_write(path, where, f"creating synthetic set {name!r}", "Nothing of it was kept."):
                g = parent.create_group(name, attributes=meta)
                shape = (n_clips, n_frames, height, width)
                arrays.create(g, "frames", (*shape, 3), "uint8", chunks=(1, 1, height, width, 3))
                arrays.create(
                    g, "masks", shape, "uint8", chunks=(1, 1, height, width), compressors=arrays.mask_codecs()
                )
                arrays.create(g, "done", (n_clips,), "uint8", chunks=(1,))
                g.attrs["created"] = True
        except BaseException:
            if name in parent:
                try:
                    cls(parent[name], name, path)._discard()
                except Exception:  # the first error matters; the leftover says created=False anyway
                    pass
            raise
        return cls(g, name, path)

    @property
    def half_created(self) -> bool:
        """True for the leftover of a creation that was killed before its arrays existed (it holds no clip)."""
        a = self.group.attrs
        if a.get("created") is False:
            return True
        if "created" in a:
            return False
        # written before the flag existed: settings were recorded last, and no clip can be done without them
        return "config" not in a and ("done" not in self.group or not np.any(self.group["done"][:]))

    def _discard(self) -> None:
        root = Path(str(self.group.store.root))
        discard(root / self.group.path, root)

    @property
    def where(self) -> str:
        return f"{self.path}/{self.group.path}" if self.path else self.name

    def __repr__(self) -> str:
        a = self.group.attrs
        size = f"{a.get('height', '?')}x{a.get('width', '?')}"
        state = "half-created" if self.half_created else f"{len(self.done())} of {self.n_clips} clips done"
        return f"SyntheticSet({self.name!r}, {state}, {a.get('n_frames', '?')} frames of {size}, split={self.split!r})"

    @property
    def attrs(self) -> dict:
        return dict(self.group.attrs)

    @property
    def n_clips(self) -> int:
        return self._count("n_clips")

    @property
    def n_frames(self) -> int:
        return self._count("n_frames")

    def _count(self, key: str) -> int:
        """A whole-number setting of the set; missing or not a number is a :class:`DamagedStoreError` naming the
        file (it was a bare ``KeyError: 'n_clips'`` in ``dvos info``)."""
        n = self.group.attrs.get(key)
        if isinstance(n, int) and not isinstance(n, bool) and n >= 0:
            return n
        raise DamagedStoreError(
            f"{self._meta()}: synthetic set {self.name!r} has no valid {key} ({n!r}): the file was edited or "
            f"damaged. {self._fix()}"
        )

    def _meta(self, key: str = "") -> Path:
        return arrays.member_metadata(self.group, key)

    def _fix(self) -> str:
        return (
            f"Restore it from a backup of the project, or delete the set (`dvos delete {quote(self.path)} "
            f"synthetic {quote(self.name)} --yes`) and make it again"
        )

    def _read(self, key: str, rows, what: str, present=None):
        """``key[rows]`` with a damaged or missing file named (see :func:`~dvos_core.store.arrays.read`)."""
        arr = arrays.open_member(self.group, key, f"the {key!r} array of synthetic set {self.name!r}", self._fix())
        owner = f"{self.path}: synthetic set {self.name!r}" if self.path else f"synthetic set {self.name!r}"
        return arrays.read(arr, rows, owner, what, self._fix(), present)

    @property
    def split(self) -> str:
        return str(self.group.attrs.get("split", "train"))

    def set_split(self, split: str) -> None:
        from dvos_core.store.schema import SPLITS

        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        with store_write(self.path, self.where, f"setting split {split!r}"):
            self.group.attrs["split"] = split

    def done(self) -> np.ndarray:
        """Indices of completed clips (none in a half-created set)."""
        if "done" not in self.group:
            return np.zeros(0, np.int64)
        return np.flatnonzero(self._read("done", slice(None), "clip flags"))

    def write_clip(self, i: int, frames: np.ndarray, masks: np.ndarray) -> None:
        """Write clip i (frames (T,H,W,3) uint8, masks (T,H,W) {0,1}) then mark it done."""
        i = self._clip_index(i)
        shp = (self.n_frames, int(self.group.attrs["height"]), int(self.group.attrs["width"]))
        if frames.shape != shp + (3,) or masks.shape != shp:
            raise ValueError(f"clip {i}: frames {frames.shape} / masks {masks.shape} do not match set shape {shp}")
        with io_step(self.where, f"writing clip {i}", "Clips already done are kept; run it again to resume."):
            self.group["frames"][i] = frames
            self.group["masks"][i] = masks.astype(np.uint8)
            self.group["done"][i] = 1

    def read_clip(self, i: int, start: int = 0, stop: int | None = None):
        """(frames, masks) of a completed clip, frames [start, stop)."""
        i = self._clip_index(i)
        if not self._read("done", i, f"flag of clip {i}"):
            raise IndexError(f"{self.path}: synthetic clip {self.name}[{i}] is not generated yet")
        stop = self.n_frames if stop is None else stop
        return self._clip("frames", i, start, stop), self._clip("masks", i, start, stop)

    def _clip_index(self, i) -> int:
        """``i`` as a clip number of this set: a whole number 0 .. n_clips-1 (``True`` read clip 1, ``-1`` the last
        clip, and a float failed inside Zarr)."""
        i = _index(i, "clip")
        if not 0 <= i < self.n_clips:
            raise IndexError(f"synthetic set {self.name!r} has clips 0-{self.n_clips - 1}; there is no clip {i}")
        return i

    def _clip(self, key: str, i: int, start: int, stop: int) -> np.ndarray:
        """Frames ``[start, stop)`` of done clip ``i`` of ``key``: its chunks (one per frame) were all written, so a
        missing one is named instead of read as zeros, and one that cannot be decoded is named too."""
        self._read(key, slice(0, 0), key)  # a missing or corrupt zarr.json named
        arr = self.group[key]
        owner = f"{self.path}: synthetic set {self.name!r}" if self.path else f"synthetic set {self.name!r}"
        what = f"{key} of clip {i}"
        gone = []
        if arr.attrs.get(arrays.EVERY_CHUNK) and getattr(arr.store, "root", None) is not None:
            for t in range(*slice(start, stop).indices(arr.shape[1])):
                key_t = arr.metadata.encode_chunk_key((i, t) + (0,) * (arr.ndim - 2))
                f = Path(str(arr.store.root)) / arr.path / key_t
                if not f.is_file():
                    gone.append(str(f))
        if gone:
            raise DamagedStoreError(
                f"{owner}: the {what} cannot be read: {', '.join(gone[:5])} missing (deleted, or not yet copied by a "
                f"sync tool). {self._fix()}"
            )
        try:
            return arr[i, start:stop]
        except OSError:
            raise
        except Exception as e:  # Blosc/Zarr errors of a damaged chunk
            raise DamagedStoreError(
                f"{owner}: the {what} cannot be read ({e}): a file of it is damaged. {self._fix()}"
            ) from e
