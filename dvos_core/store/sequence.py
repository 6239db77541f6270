"""Frame sequences in the store: videos (frames + masks + provenance) and background clips (frames only).

Safe-write rule: data is written first, then the commit (``committed_frames`` attr, or the per-frame provenance
code for masks). A process killed mid-write leaves at most an uncommitted tail that readers ignore and the next
append overwrites.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable

import numpy as np
import zarr

from dvos_core.progress import CancelToken, ProgressFn, check, report
from dvos_core.store import arrays
from dvos_core.store.schema import (
    CORRECTED,
    LABEL_PROVENANCES,
    MANUAL,
    NONE,
    PROVENANCE_NAMES,
    PROVENANCE_RANK,
    SPLITS,
    StoreError,
    provenance_code,
)


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


class FrameSequence:
    """A group holding ``frames`` (T,H,W,3) uint8, chunked per frame, and a committed frame count."""

    kind = "sequence"

    def __init__(self, group: zarr.Group, name: str, path: str):
        self.group, self.name, self.path = group, name, path

    # ---- creation ---------------------------------------------------------------------------------------------
    @classmethod
    def create(cls, parent: zarr.Group, name: str, height: int, width: int, attrs: dict | None = None, path: str = ""):
        if name in parent:
            raise StoreError(f"{path}: {cls.kind} {name!r} already exists; choose another id or delete it first")
        g = parent.create_group(name)
        arrays.create(g, "frames", (0, height, width, 3), "uint8", chunks=(1, height, width, 3))
        cls._create_extra(g, height, width)
        meta = {
            "kind": cls.kind,
            "height": int(height),
            "width": int(width),
            "committed_frames": 0,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        meta.update(attrs or {})
        g.attrs.update(meta)
        return cls(g, name, path)

    @staticmethod
    def _create_extra(g: zarr.Group, height: int, width: int) -> None:
        pass

    # ---- properties ------------------------------------------------------------------------------------------
    @property
    def attrs(self) -> dict:
        """The sequence's attributes, re-read from disk (another handle or process may have changed them)."""
        self.refresh()
        return dict(self.group.attrs)

    def refresh(self) -> None:
        """Reload this handle's metadata (Zarr caches attributes per handle)."""
        self.group = zarr.open_group(
            store=self.group.store, path=self.group.path, mode="r" if self.group.read_only else "r+"
        )

    @property
    def n_frames(self) -> int:
        return int(self.group.attrs.get("committed_frames", 0))

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
        self.group.attrs.update(kw)

    # ---- frames ----------------------------------------------------------------------------------------------
    def frame(self, t: int) -> np.ndarray:
        return self.read_frames(t, t + 1)[0]

    def read_frames(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        n = self.n_frames
        stop = n if stop is None else stop
        if not (0 <= start <= stop <= n):
            raise IndexError(f"{self.path}: frames [{start}, {stop}) out of range; {self.name!r} has {n} frames")
        return self.frames[start:stop]

    def append_frames(
        self,
        frames: Iterable[np.ndarray],
        n_total: int | None = None,
        batch: int = 8,
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
    ) -> int:
        """Append frames (an iterable of (H,W,3) uint8); commits every ``batch`` frames. Returns frames committed.

        On cancel or error the frames committed so far stay; the rest is discarded.
        """
        hw = self.shape[1:3]
        buf: list = []
        added = 0
        where = f"{self.path}:{self.name}"
        total = n_total or 0
        for f in frames:
            check(cancel)
            buf.append(_check_frame(f, hw, where))
            if len(buf) >= batch:
                added += self._commit_frames(buf)
                buf = []
                report(progress, added, max(total, added), f"{self.name}: {added} frames")
        if buf:
            added += self._commit_frames(buf)
        report(progress, added, max(total, added), f"{self.name}: {added} frames")
        return added

    def _commit_frames(self, buf) -> int:
        t0 = self.n_frames
        t1 = t0 + len(buf)
        arr = self.frames
        arrays.ensure_length(arr, t1)
        self._grow_extra(t1)
        arr[t0:t1] = np.stack(buf)
        self.group.attrs["committed_frames"] = t1  # the commit: after the data
        return len(buf)

    def _grow_extra(self, n: int) -> None:
        pass


class Video(FrameSequence):
    """A real (or imported) video: frames, binary masks, per-frame provenance, quality and predictions."""

    kind = "video"

    @staticmethod
    def _create_extra(g: zarr.Group, height: int, width: int) -> None:
        arrays.create(g, "masks", (0, height, width), "uint8", chunks=(1, height, width))
        arrays.create(g, "provenance", (0,), "uint8", chunks=(4096,))
        arrays.create(g, "quality", (0,), "float32", chunks=(4096,), fill_value=float("nan"))

    def _grow_extra(self, n: int) -> None:
        for key in ("masks", "provenance", "quality"):
            arrays.ensure_length(self.group[key], n)

    # ---- metadata ----------------------------------------------------------------------------------------------
    @property
    def split(self) -> str:
        return str(self.group.attrs.get("split", "unassigned"))

    def set_split(self, split: str) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.group.attrs["split"] = split

    @property
    def import_complete(self) -> bool:
        """False only for the leftover of an import that was killed before its last frame (see import_video)."""
        return self.group.attrs.get("import_complete", True) is not False

    @property
    def tags(self) -> dict:
        return dict(self.group.attrs.get("tags", {}))

    def set_tags(self, **tags) -> None:
        t = self.tags
        t.update(dict(tags.items()))
        self.group.attrs["tags"] = t

    # ---- masks -----------------------------------------------------------------------------------------------
    @property
    def provenance(self) -> np.ndarray:
        """Per-frame provenance codes of the committed frames (0 = no mask)."""
        n = self.n_frames
        return self.group["provenance"][:n] if n else np.zeros(0, np.uint8)

    def provenance_counts(self) -> dict:
        codes = self.provenance
        return {name: int((codes == code).sum()) for code, name in PROVENANCE_NAMES.items()}

    def labelled_frames(self, provenances=LABEL_PROVENANCES) -> np.ndarray:
        """Indices of frames whose mask provenance is in ``provenances``."""
        codes = [provenance_code(p) for p in provenances]
        return np.flatnonzero(np.isin(self.provenance, codes))

    def mask(self, t: int) -> np.ndarray | None:
        """The mask of frame t (H,W) uint8 {0,1}, or None when the frame has no mask."""
        self._check_t(t)
        if self.group["provenance"][t] == NONE:
            return None
        return self.group["masks"][t]

    def read_masks(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Masks of frames [start, stop) (frames without a mask read as zeros; check ``provenance``)."""
        stop = self.n_frames if stop is None else stop
        self._check_t(start, stop)
        return self.group["masks"][start:stop]

    def set_mask(
        self,
        t: int,
        mask,
        provenance="manual",
        overwrite: bool = False,
        allow_labels: bool = False,
        quality: float | None = None,
    ) -> bool:
        """Write the mask of frame t; returns False (and writes nothing) if a higher-ranked mask is protected.

        Human masks (manual, corrected) are only replaced by other human masks unless ``overwrite``. The provenance
        code is written after the mask data: it is the commit.
        """
        self._check_t(t)
        code = provenance_code(provenance)
        if code == NONE:
            raise ValueError("use clear_mask() to remove a mask")
        m = arrays.as_uint8_mask(mask, self.shape[1:3], name=f"mask for {self.name}[{t}]", allow_labels=allow_labels)
        old = int(self.group["provenance"][t])
        if not overwrite and PROVENANCE_RANK[old] > PROVENANCE_RANK[code]:
            return False
        if old == MANUAL and code == CORRECTED and self.split == "test":
            raise StoreError(
                f"{self.name} frame {t}: this test video's manual mask is the ground truth it is scored "
                f"against; an edited prediction may not replace it. Correct frames of train videos, or "
                f"clear this frame's mask first if the ground truth itself is wrong"
            )
        self.group["masks"][t] = m
        if quality is not None:
            self.group["quality"][t] = float(quality)
        self.group["provenance"][t] = code
        return True

    def clear_mask(self, t: int) -> None:
        self._check_t(t)
        self.group["provenance"][t] = NONE

    @property
    def quality(self) -> np.ndarray:
        n = self.n_frames
        return self.group["quality"][:n] if n else np.zeros(0, np.float32)

    def set_quality(self, t: int, value: float) -> None:
        self._check_t(t)
        self.group["quality"][t] = float(value)

    # ---- predictions (kept apart from the label masks so ground truth is never overwritten) ----------------------
    def prediction_arrays(self, create: bool = False):
        """(pred_masks, pred_probability, pred_done) arrays, created on demand; None when absent."""
        g = self.group
        if "pred_masks" not in g:
            if not create:
                return None
            n, h, w, _ = self.shape
            arrays.create(g, "pred_probability", (n, h, w), "float16", chunks=(1, h, w))
            arrays.create(g, "pred_masks", (n, h, w), "uint8", chunks=(1, h, w))
            arrays.create(g, "pred_done", (n,), "uint8", chunks=(4096,))
        for key in ("pred_masks", "pred_probability", "pred_done"):
            arrays.ensure_length(g[key], self.n_frames)
        return g["pred_masks"], g["pred_probability"], g["pred_done"]

    def set_prediction(self, t: int, probability: np.ndarray, threshold: float = 0.5) -> None:
        """Store a probability map for frame t (and its thresholded mask), then mark the frame as predicted."""
        self._check_t(t)
        pm, pp, done = self.prediction_arrays(create=True)
        p = np.asarray(probability, dtype=np.float32)
        if p.shape != self.shape[1:3]:
            raise ValueError(f"probability for {self.name}[{t}] has shape {p.shape}, expected {self.shape[1:3]}")
        pp[t] = p.astype(np.float16)
        pm[t] = (p >= threshold).astype(np.uint8)
        done[t] = 1

    def set_predictions(self, ts, probabilities, threshold: float = 0.5) -> None:
        """:meth:`set_prediction` for a batch of frames ``ts`` with (len(ts), H, W) ``probabilities``: the arrays are
        opened once, each run of consecutive frames is one write, and frames are marked predicted after their data."""
        ts = [int(t) for t in ts]
        p = np.asarray(probabilities, dtype=np.float32)
        if p.shape != (len(ts), *self.shape[1:3]):
            raise ValueError(
                f"probabilities for {self.name} frames {ts[:5]} have shape {p.shape}, "
                f"expected {(len(ts), *self.shape[1:3])}"
            )
        if ts:
            self._check_t(min(ts), max(ts) + 1)
        pm, pp, done = self.prediction_arrays(create=True)
        runs, start = [], 0
        for i in range(1, len(ts) + 1):
            if i == len(ts) or ts[i] != ts[i - 1] + 1:
                runs.append((start, i))
                start = i
        for a, b in runs:
            pp[ts[a] : ts[a] + b - a] = p[a:b].astype(np.float16)
            pm[ts[a] : ts[a] + b - a] = (p[a:b] >= threshold).astype(np.uint8)
        for a, b in runs:
            done[ts[a] : ts[a] + b - a] = 1

    def predicted_frames(self) -> np.ndarray:
        arrs = self.prediction_arrays()
        if arrs is None:
            return np.zeros(0, np.int64)
        return np.flatnonzero(arrs[2][: self.n_frames])

    def prediction(self, t: int):
        """(mask, probability) of frame t, or None if not predicted."""
        self._check_t(t)
        arrs = self.prediction_arrays()
        if arrs is None or not arrs[2][t]:
            return None
        return arrs[0][t], arrs[1][t].astype(np.float32)

    def _check_t(self, t: int, stop: int | None = None) -> None:
        n = self.n_frames
        if stop is None:
            if not (0 <= int(t) < n):
                raise IndexError(f"{self.path}: frame {t} out of range; {self.name!r} has {n} frames")
        elif not (0 <= int(t) <= int(stop) <= n):
            raise IndexError(f"{self.path}: frames [{t}, {stop}) out of range; {self.name!r} has {n} frames")


class Background(FrameSequence):
    """A bare-field background clip (consecutive frames, no heads)."""

    kind = "background"
