"""Extracted objects (real heads and fake heads) as RGBA crops in one flat pixel array plus a stats table.

Layout: ``objects/pixels`` is a flat uint8 array of every object's (h, w, 4) RGBA crop back to back; the table
(``objects`` group attr ``table``: one record per object) holds ``offset``, ``h``, ``w`` and the stats. The table
and ``n_bytes`` are committed after the pixels are written.
"""

from __future__ import annotations

from typing import Iterable, Optional

import numpy as np
import zarr

from dvos_core.store import arrays

KINDS = ("head", "fake")


class ObjectBank:
    """Heads and fake heads extracted from annotated frames."""

    def __init__(self, group: zarr.Group, path: str = ""):
        self.group, self.path = group, path

    @staticmethod
    def initialise(group: zarr.Group) -> None:
        """Create the empty pixel array and table (called once when the project is created)."""
        arrays.create(group, "pixels", (0,), "uint8", chunks=(1 << 20,))
        group.attrs.update({"table": [], "n_bytes": 0})

    def table(self):
        """The stats table as a pandas DataFrame (one row per object; columns id, kind, video, frame, y, x, h, w,
        area, offset, mean_r, mean_g, mean_b, source, ...)."""
        import pandas as pd

        return pd.DataFrame.from_records(self.group.attrs.get("table", []))

    def __len__(self) -> int:
        return len(self.group.attrs.get("table", []))

    def count(self, kind: Optional[str] = None) -> int:
        rows = self.group.attrs.get("table", [])
        return len(rows) if kind is None else sum(r["kind"] == kind for r in rows)

    def add(self, items: Iterable[tuple[np.ndarray, dict]]) -> int:
        """Append objects: ``(rgba (h,w,4) uint8, record dict with at least 'kind')``. Returns the number added."""
        rows = list(self.group.attrs.get("table", []))
        n_bytes = int(self.group.attrs.get("n_bytes", 0))
        chunks, new_rows = [], []
        next_id = (max(r["id"] for r in rows) + 1) if rows else 0
        for rgba, rec in items:
            rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
            if rgba.ndim != 3 or rgba.shape[2] != 4 or min(rgba.shape[:2]) < 1:
                raise ValueError(f"object crop must be (h, w, 4) uint8 RGBA, got {rgba.shape}")
            if rec.get("kind") not in KINDS:
                raise ValueError(f"object kind must be one of {KINDS}, got {rec.get('kind')!r}")
            row = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in rec.items()}
            row.update(id=next_id, offset=n_bytes, h=int(rgba.shape[0]), w=int(rgba.shape[1]))
            next_id += 1
            n_bytes += rgba.size
            chunks.append(rgba.ravel())
            new_rows.append(row)
        if not new_rows:
            return 0
        pix = self.group["pixels"]
        start = int(self.group.attrs.get("n_bytes", 0))
        arrays.ensure_length(pix, n_bytes)
        pix[start:n_bytes] = np.concatenate(chunks)
        self.group.attrs.update({"table": rows + new_rows, "n_bytes": n_bytes})  # commit after the data
        return len(new_rows)

    def get(self, object_id: int) -> np.ndarray:
        """The RGBA crop of one object (alpha 255 inside the object, 0 outside)."""
        for r in self.group.attrs.get("table", []):
            if r["id"] == object_id:
                return self._read(r)
        raise KeyError(f"{self.path}: no object with id {object_id}")

    def load(self, kind: Optional[str] = None) -> list[tuple[np.ndarray, dict]]:
        """All objects (optionally of one kind) as (rgba, record) pairs, read with one pass over the pixels."""
        rows = [r for r in self.group.attrs.get("table", []) if kind is None or r["kind"] == kind]
        if not rows:
            return []
        flat = self.group["pixels"][: int(self.group.attrs["n_bytes"])]
        return [(flat[r["offset"]: r["offset"] + r["h"] * r["w"] * 4].reshape(r["h"], r["w"], 4), dict(r))
                for r in rows]

    def _read(self, r: dict) -> np.ndarray:
        return self.group["pixels"][r["offset"]: r["offset"] + r["h"] * r["w"] * 4].reshape(r["h"], r["w"], 4)

    def clear(self, kind: Optional[str] = None) -> None:
        """Drop objects (all, or one kind) from the table; pixels of dropped objects are left unreferenced."""
        rows = [r for r in self.group.attrs.get("table", []) if kind is not None and r["kind"] != kind]
        self.group.attrs["table"] = rows
