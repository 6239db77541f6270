"""Extracted objects (real heads and fake heads) as RGBA crops in one flat pixel array plus an append-only table.

Layout (store schema 2, see docs/store.md):

- ``objects/pixels``: flat uint8 array, every object's (h, w, 4) RGBA crop back to back.
- ``objects/records``: flat uint8 array, one JSON line per object (UTF-8, ``\\n``-terminated) back to back; a record
  holds ``id``, ``kind``, ``offset`` (into pixels), ``h``, ``w`` and the stats.
- ``objects`` group attrs (the commit): ``n_bytes`` (committed pixel bytes), ``records_start`` and ``records_bytes``
  (the committed records are ``records[records_start:records_bytes]``), ``n_objects``, ``counts`` (per kind) and
  ``next_id``.

Every write holds the project's writer lock (so two extractions never interleave), puts its data first (pixels,
then records) and then commits all attrs in one ``attrs.update``/``put``
(one atomic ``zarr.json`` write). Bytes past the committed ranges are leftovers of a killed write: readers ignore
them and the next ``add`` overwrites them. ``add`` writes only the new objects' bytes, so its cost does not grow with
the size of the bank.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np
import zarr

from dvos_core.store import arrays
from dvos_core.store.lock import store_write
from dvos_core.store.schema import StoreError

KINDS = ("head", "fake")
CHUNK_BYTES = 1 << 20


def _json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"object record value {v!r} ({type(v).__name__}) is not JSON-serialisable")


def encode_records(rows: Iterable[dict]) -> bytes:
    """Records as JSON lines (UTF-8, one '\\n'-terminated line each). JSON escapes newlines inside strings, and the
    byte 0x0A never occurs inside a multi-byte UTF-8 character, so '\\n' always separates records."""
    return b"".join(
        json.dumps(r, ensure_ascii=False, separators=(",", ":"), default=_json_default).encode("utf-8") + b"\n"
        for r in rows
    )


def decode_records(raw: bytes) -> list[dict]:
    lines = [ln for ln in raw.split(b"\n") if ln]
    if not lines:
        return []
    return json.loads(b"[" + b",".join(lines) + b"]")


def _counts(rows: Iterable[dict]) -> dict:
    counts = dict.fromkeys(KINDS, 0)
    for r in rows:
        counts[r["kind"]] = counts.get(r["kind"], 0) + 1
    return counts


def write_records(group: zarr.Group, rows: list[dict], pos: int = 0) -> int:
    """Write ``rows`` as JSON lines into ``records`` starting at byte ``pos`` (data only, no commit); returns the
    end offset. Creates the array if missing (used by ``initialise`` and the schema 1 -> 2 migration)."""
    if "records" not in group:
        arrays.create(group, "records", (0,), "uint8", chunks=(CHUNK_BYTES,))
    data = encode_records(rows)
    if data:
        rec = group["records"]
        arrays.ensure_length(rec, pos + len(data))
        rec[pos : pos + len(data)] = np.frombuffer(data, dtype=np.uint8)
    return pos + len(data)


def records_commit(rows: list[dict], start: int, end: int) -> dict:
    """The attrs that commit ``rows`` stored at ``records[start:end]``."""
    return {
        "records_start": int(start),
        "records_bytes": int(end),
        "n_objects": len(rows),
        "counts": _counts(rows),
        "next_id": (max(int(r["id"]) for r in rows) + 1) if rows else 0,
    }


class ObjectBank:
    """Heads and fake heads extracted from annotated frames."""

    def __init__(self, group: zarr.Group, path: str = ""):
        self.group, self.path = group, path

    def _write(self, step: str):
        if self.group.read_only:
            raise StoreError(f"{self.path}: the project was opened read-only; open it with mode='r+' to {step}")
        where = f"{self.path}/objects" if self.path else "objects"
        return store_write(self.path, where, step, "The objects added before are kept.")

    def _fresh_attrs(self) -> dict:
        """The committed attrs as on disk (another handle or process may have added objects since this one opened)."""
        self.group = zarr.open_group(store=self.group.store, path=self.group.path, mode="r+")
        return dict(self.group.attrs)

    @staticmethod
    def initialise(group: zarr.Group) -> None:
        """Create the empty pixel and record arrays and the commit attrs (called once when the project is created)."""
        arrays.create(group, "pixels", (0,), "uint8", chunks=(CHUNK_BYTES,))
        arrays.create(group, "records", (0,), "uint8", chunks=(CHUNK_BYTES,))
        group.attrs.update({"n_bytes": 0, **records_commit([], 0, 0)})

    # ---- reading ------------------------------------------------------------------------------------------------
    def _range(self) -> tuple[int, int]:
        a = self.group.attrs
        return int(a.get("records_start", 0)), int(a.get("records_bytes", 0))

    def _rows(self) -> list[dict]:
        """Every committed record, in the order added."""
        start, end = self._range()
        if end <= start:
            return []
        rows = decode_records(self.group["records"][start:end].tobytes())
        n = int(self.group.attrs.get("n_objects", len(rows)))
        if len(rows) != n:
            raise StoreError(
                f"{self.path}: the object table holds {len(rows)} records but {n} are committed; the "
                f"store is damaged, restore it from a backup or re-run `dvos extract-objects --replace`"
            )
        return rows

    def table(self):
        """The stats table as a pandas DataFrame (one row per object; columns id, kind, video, frame, y, x, h, w,
        area, offset, mean_r, mean_g, mean_b, source, ...)."""
        import pandas as pd

        return pd.DataFrame.from_records(self._rows())

    def __len__(self) -> int:
        return int(self.group.attrs.get("n_objects", 0))

    def count(self, kind: str | None = None) -> int:
        if kind is None:
            return len(self)
        return int(self.group.attrs.get("counts", {}).get(kind, 0))

    def get(self, object_id: int) -> np.ndarray:
        """The RGBA crop of one object (alpha 255 inside the object, 0 outside)."""
        for r in self._rows():
            if r["id"] == object_id:
                return self._read(r)
        raise KeyError(f"{self.path}: no object with id {object_id}")

    def load(self, kind: str | None = None) -> list[tuple[np.ndarray, dict]]:
        """All objects (optionally of one kind) as (rgba, record) pairs, read with one pass over the pixels."""
        rows = [r for r in self._rows() if kind is None or r["kind"] == kind]
        if not rows:
            return []
        flat = self.group["pixels"][: int(self.group.attrs["n_bytes"])]
        return [
            (flat[r["offset"] : r["offset"] + r["h"] * r["w"] * 4].reshape(r["h"], r["w"], 4), dict(r)) for r in rows
        ]

    def _read(self, r: dict) -> np.ndarray:
        return self.group["pixels"][r["offset"] : r["offset"] + r["h"] * r["w"] * 4].reshape(r["h"], r["w"], 4)

    # ---- writing ------------------------------------------------------------------------------------------------
    def add(self, items: Iterable[tuple[np.ndarray, dict]]) -> int:
        """Append objects (see :meth:`append`); returns the number added."""
        return len(self.append(items))

    def append(self, items: Iterable[tuple[np.ndarray, dict]]) -> list[dict]:
        """Append objects: ``(rgba (h,w,4) uint8, record dict with at least 'kind')``. Returns their records as
        committed (with ``id``, ``offset``, ``h``, ``w``), so callers need not read them back.

        Writes only the new pixels and records, then commits the attrs (one metadata write)."""
        items = list(items)
        with self._write(f"adding {len(items)} objects"):
            return self._append(items)

    def _append(self, items: list) -> list[dict]:
        a = self._fresh_attrs()
        start_bytes = n_bytes = int(a.get("n_bytes", 0))
        rec_start, rec_end = int(a.get("records_start", 0)), int(a.get("records_bytes", 0))
        next_id = int(a.get("next_id", 0))
        counts = {**dict.fromkeys(KINDS, 0), **a.get("counts", {})}
        chunks, new_rows = [], []
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
            counts[row["kind"]] += 1
            chunks.append(rgba.ravel())
            new_rows.append(row)
        if not new_rows:
            return []
        pix = self.group["pixels"]
        arrays.ensure_length(pix, n_bytes)
        pix[start_bytes:n_bytes] = np.concatenate(chunks)
        new_end = write_records(self.group, new_rows, rec_end)
        self.group.attrs.update(
            {
                "n_bytes": n_bytes,
                "records_start": rec_start,
                "records_bytes": new_end,
                "n_objects": int(a.get("n_objects", 0)) + len(new_rows),
                "counts": counts,
                "next_id": next_id,
            }
        )  # the commit, after the data
        return new_rows

    def clear(self, kind: str | None = None) -> None:
        """Drop objects (all, or one kind); pixels of dropped objects are left unreferenced.

        The kept records are written where they cannot touch the committed range (at the start of ``records`` if
        they fit before it, else after its end) and only then committed, so a kill in between leaves the old bank."""
        with self._write("clearing objects" if kind is None else f"clearing the {kind} objects"):
            self._fresh_attrs()
            self._clear(kind)

    def _clear(self, kind: str | None) -> None:
        if kind is None:
            self.group.attrs.update(records_commit([], 0, 0))
            return
        start, end = self._range()
        kept = [r for r in self._rows() if r["kind"] != kind]
        if not kept:
            self.group.attrs.update(records_commit([], 0, 0))
            return
        size = len(encode_records(kept))
        pos = 0 if size <= start else end
        new_end = write_records(self.group, kept, pos)
        self.group.attrs.update(records_commit(kept, pos, new_end))
