"""Synthetic clip sets: preallocated (N, T, H, W, ...) arrays written clip by clip, resumable and parallel-safe.

Each clip i is written into its own chunks (chunk = one frame of one clip), then ``done[i]`` is set (chunk size 1,
so parallel writers never share a chunk). Readers only use clips whose ``done`` flag is set.
"""

from __future__ import annotations

import numpy as np
import zarr

from dvos_core.store import arrays
from dvos_core.store.schema import StoreError


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
        if name in parent:
            raise StoreError(f"{path}: synthetic set {name!r} exists; resume it, pick another name or delete it")
        g = parent.create_group(name)
        arrays.create(g, "frames", (n_clips, n_frames, height, width, 3), "uint8", chunks=(1, 1, height, width, 3))
        arrays.create(g, "masks", (n_clips, n_frames, height, width), "uint8", chunks=(1, 1, height, width))
        arrays.create(g, "done", (n_clips,), "uint8", chunks=(1,))
        g.attrs.update(
            {
                "kind": "synthetic",
                "n_clips": int(n_clips),
                "n_frames": int(n_frames),
                "height": int(height),
                "width": int(width),
                **(attrs or {}),
            }
        )
        return cls(g, name, path)

    @property
    def attrs(self) -> dict:
        return dict(self.group.attrs)

    @property
    def n_clips(self) -> int:
        return int(self.group.attrs["n_clips"])

    @property
    def n_frames(self) -> int:
        return int(self.group.attrs["n_frames"])

    @property
    def split(self) -> str:
        return str(self.group.attrs.get("split", "train"))

    def set_split(self, split: str) -> None:
        self.group.attrs["split"] = split

    def done(self) -> np.ndarray:
        """Indices of completed clips."""
        return np.flatnonzero(self.group["done"][:])

    def write_clip(self, i: int, frames: np.ndarray, masks: np.ndarray) -> None:
        """Write clip i (frames (T,H,W,3) uint8, masks (T,H,W) {0,1}) then mark it done."""
        shp = (self.n_frames, int(self.group.attrs["height"]), int(self.group.attrs["width"]))
        if frames.shape != shp + (3,) or masks.shape != shp:
            raise ValueError(f"clip {i}: frames {frames.shape} / masks {masks.shape} do not match set shape {shp}")
        self.group["frames"][i] = frames
        self.group["masks"][i] = masks.astype(np.uint8)
        self.group["done"][i] = 1

    def read_clip(self, i: int, start: int = 0, stop: int | None = None):
        """(frames, masks) of a completed clip, frames [start, stop)."""
        if not self.group["done"][i]:
            raise IndexError(f"{self.path}: synthetic clip {self.name}[{i}] is not generated yet")
        stop = self.n_frames if stop is None else stop
        return self.group["frames"][i, start:stop], self.group["masks"][i, start:stop]
