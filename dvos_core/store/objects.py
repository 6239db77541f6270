"""Extracted objects (real heads and fake heads) as RGBA crops in one flat pixel array plus an append-only table.

Layout (store schema 2, see docs/store.md):

- ``objects/pixels``: flat uint8 array, every object's (h, w, 4) RGBA crop back to back.
- ``objects/records``: flat uint8 array, one JSON line per object (UTF-8, ``\\n``-terminated) back to back; a record
  holds ``id``, ``kind``, ``offset`` (into pixels), ``h``, ``w`` and the stats.
- ``objects`` group attrs (the commit): ``n_bytes`` (committed pixel bytes), ``records_start`` and ``records_bytes``
  (the committed records are ``records[records_start:records_bytes]``), ``n_objects``, ``counts`` (per kind) and
  ``next_id``.
- ``objects/index``: int64 (M, 9), one row per committed object in record order (see
  :mod:`dvos_core.store.object_index`), committed in the same attrs write as the records (``index``), so
  ``get(id)`` and the frames already extracted are found without decoding the table.

Every write holds the project's writer lock (so two extractions never interleave), puts its data first (pixels,
then records) and then commits all attrs in one ``update_attributes``/``attrs.put``
(one atomic ``zarr.json`` write). Bytes past the committed ranges are leftovers of a killed write: readers ignore
them and the next ``add`` overwrites them. ``add`` writes only the new objects' bytes, so its cost does not grow with
the size of the bank. ``rebuild`` (``extract-objects --replace``) writes a whole new bank past the committed ranges
(the records of the objects it keeps, say other videos', written again there; their pixels stay where they are) and
commits it in one attrs write, so a kill before that commit leaves the old bank as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import zarr

from dvos_core.shell import quote
from dvos_core.store import arrays
from dvos_core.store import object_index as oix
from dvos_core.store.fsops import discard
from dvos_core.store.lock import store_write
from dvos_core.store.schema import DamagedStoreError, NotInStoreError, StoreError

KINDS = ("head", "fake")
CHUNK_BYTES = 1 << 20
# the table's columns when the bank is empty (so ``table()["kind"]`` works before the first extraction)
TABLE_COLUMNS = ("id", "kind", "video", "frame", "y", "x", "h", "w", "area", "offset", "mean_r", "mean_g", "mean_b")


class ItemRef:
    """A record value that names an earlier object of the same :meth:`ObjectBank.append` (its position in the items):
    the append writes that object's id in its place. So a frame's heads and the fakes made from them (``source`` =
    the head's id) go in one append, one commit: a kill never leaves the heads without their fakes."""

    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = int(index)

    def __repr__(self) -> str:
        return f"ItemRef({self.index})"

    def __eq__(self, other) -> bool:
        return isinstance(other, ItemRef) and other.index == self.index

    def __hash__(self) -> int:
        return hash((ItemRef, self.index))


def _check_kind(kind) -> None:
    """A kind of object is "head" or "fake": any other word (say "heads") found nothing and read as an empty bank."""
    if kind not in KINDS:
        raise ValueError(f"object kind must be one of {KINDS}, got {kind!r}")


def _json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"object record value {v!r} ({type(v).__name__}) is not JSON-serialisable")


def encode_lines(rows: Iterable[dict]) -> list[bytes]:
    """Each record as one JSON line (UTF-8, '\\n'-terminated). JSON escapes newlines inside strings, and the byte
    0x0A never occurs inside a multi-byte UTF-8 character, so '\\n' always separates records."""
    return [
        json.dumps(r, ensure_ascii=False, separators=(",", ":"), default=_json_default).encode("utf-8") + b"\n"
        for r in rows
    ]


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
    return write_lines(group, encode_lines(rows), pos)


def write_lines(group: zarr.Group, lines: list[bytes], pos: int = 0) -> int:
    """Write encoded record lines into ``records`` from byte ``pos`` (data only); returns the end offset."""
    if "records" not in group:
        arrays.create(group, "records", (0,), "uint8", chunks=(CHUNK_BYTES,))
    data = b"".join(lines)
    if data:
        rec = group["records"]
        arrays.reserve(rec, pos + len(data))
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


def _crop(rgba) -> np.ndarray:
    """An object's crop as contiguous (h, w, 4) uint8. Whole numbers 0..255 of another integer type are taken as
    they are; floats and other values are refused (a crop of floats in [0, 1] was cast to zeros: invisible heads)."""
    a = np.asarray(rgba)
    if a.ndim != 3 or a.shape[2] != 4 or min(a.shape[:2]) < 1:
        raise ValueError(f"object crop must be (h, w, 4) uint8 RGBA, got {a.shape}")
    whole = np.issubdtype(a.dtype, np.integer) and not (a.size and (a.min() < 0 or a.max() > 255))
    if a.dtype != np.uint8 and not whole:
        raise ValueError(
            f"object crop must be (h, w, 4) uint8 RGBA (values 0-255), got dtype {a.dtype}"
            + (f" with values {a.min()}..{a.max()}" if a.size and np.issubdtype(a.dtype, np.number) else "")
            + "; scale it to 0-255 and convert it (np.uint8) first"
        )
    return np.ascontiguousarray(a, dtype=np.uint8)


class ObjectBank:
    """Heads and fake heads extracted from annotated frames."""

    def __init__(self, group: zarr.Group, path: str = ""):
        self.group, self.path = group, path

    def __repr__(self) -> str:
        where = f" of {self.path!r}" if self.path else ""
        return f"ObjectBank({self.count('head')} heads, {self.count('fake')} fakes{where})"

    def _write(self, step: str):
        if self.group.read_only:
            raise StoreError(f"{self.path}: the project was opened read-only; open it with mode='r+' for {step}")
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
        oix.write(group, np.zeros((0, oix.N_COLUMNS), np.int64), 0)
        empty = records_commit([], 0, 0)
        group.update_attributes({"n_bytes": 0, **empty, **oix.commit(0, 0, [], empty)})

    # ---- reading (a damaged file named in the error) -------------------------------------------------------------
    def _fix(self) -> str:
        p = self.path or "PROJECT"
        return (
            f"Restore it from a backup of the project, or empty the object bank (Python: "
            f"`Project.open({p!r}).objects.clear()`) and cut the objects again (`dvos extract-objects "
            f"{quote(self.path)}`)"
        )

    def _array(self, name: str) -> zarr.Array:
        """The array ``name`` (pixels, records, index); a missing or corrupt ``zarr.json`` is a
        :class:`~dvos_core.store.schema.DamagedStoreError` naming it."""
        return arrays.open_member(self.group, name, f"the object bank's {name!r} array", self._fix())

    def _span(self, name: str, lo: int, hi: int, arr=None) -> np.ndarray:
        """``name[lo:hi]`` (committed bytes or index rows); a chunk that is missing or cannot be decoded, or a range
        past the array's end, is a :class:`~dvos_core.store.schema.DamagedStoreError` naming the file(s)."""
        arr = self._array(name) if arr is None else arr
        what = f"the object bank's {name!r} array"
        if hi > arr.shape[0]:
            raise DamagedStoreError(
                f"{self.path}: {what} holds {arr.shape[0]} rows, but the bank's commit (objects/zarr.json) uses "
                f"{hi}: one of the two files was edited or replaced by an older copy. {self._fix()}"
            )
        if hi <= lo:
            return arr[lo:lo]
        gone = arrays.missing_chunks(arr, slice(lo, hi))
        if gone:
            files = ", ".join(f for _, _, f in gone)
            raise DamagedStoreError(f"{self.path}: {what} cannot be read: {files} missing. {self._fix()}")
        try:
            return arr[lo:hi]
        except OSError:
            raise
        except Exception as e:  # Blosc/Zarr errors of a damaged chunk
            files = ", ".join(f for _, _, f in arrays.damaged_chunks(arr, slice(lo, hi))) or "one of its chunk files"
            raise DamagedStoreError(f"{self.path}: {what} cannot be read ({e}); {files} damaged. {self._fix()}") from e

    def _decode(self, raw: bytes) -> list[dict]:
        """Records from committed bytes; bytes that are not JSON lines (overwritten chunks, a commit pointing past
        the records written) are a :class:`~dvos_core.store.schema.DamagedStoreError`."""
        try:
            return decode_records(raw)
        except ValueError as e:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise DamagedStoreError(
                f"{self.path}: the object table (objects/records) does not hold the records its commit "
                f"(objects/zarr.json) names ({e}): one of them was damaged or edited. {self._fix()}"
            ) from e

    def _n_bytes(self) -> int:
        """The committed pixel bytes (``n_bytes``); missing from a bank that holds objects is damage, named."""
        n = self.group.attrs.get("n_bytes")
        if isinstance(n, int) and not isinstance(n, bool) and n >= 0:
            return n
        raise DamagedStoreError(
            f"{self.path}: the object bank's commit (objects/zarr.json) has no valid n_bytes ({n!r}): the file was "
            f"edited or damaged. {self._fix()}"
        )

    def _range(self) -> tuple[int, int]:
        a = self.group.attrs
        return int(a.get("records_start", 0)), int(a.get("records_bytes", 0))

    def _rows(self) -> list[dict]:
        """Every committed record, in the order added."""
        start, end = self._range()
        rows = self._decode(self._span("records", start, end).tobytes()) if end > start else []
        n = self.group.attrs.get("n_objects", len(rows))
        if not isinstance(n, int) or len(rows) != n:
            raise DamagedStoreError(
                f"{self.path}: the object table holds {len(rows)} records but its commit (objects/zarr.json) says "
                f"{n!r}: the store is damaged. {self._fix()}"
            )
        ids = [r.get("id") for r in rows]
        if len(set(ids)) != len(ids):
            from collections import Counter

            twice = sorted(i for i, k in Counter(ids).items() if k > 1)[:5]
            raise DamagedStoreError(
                f"{self.path}: the object table holds objects of one id more than once (ids {twice}): the store is "
                f"damaged. {self._fix()}"
            )
        return rows

    def table(self):
        """The stats table as a pandas DataFrame (one row per object; columns id, kind, video, frame, y, x, h, w,
        area, offset, mean_r, mean_g, mean_b, source, ...)."""
        import pandas as pd

        rows = self._rows()
        return pd.DataFrame.from_records(rows) if rows else pd.DataFrame(columns=list(TABLE_COLUMNS))

    def __len__(self) -> int:
        return int(self.group.attrs.get("n_objects", 0))

    def count(self, kind: str | None = None) -> int:
        """Objects in the bank, or of one kind ("head" or "fake")."""
        if kind is None:
            return len(self)
        _check_kind(kind)
        return int(self.group.attrs.get("counts", {}).get(kind, 0))

    def _index(self) -> dict | None:
        """The committed id index when it matches the bank's commit (see :mod:`~dvos_core.store.object_index`)."""
        return self._index_handle()[0]

    def _index_handle(self):
        """(info, index array, id of its first committed row), or (None, None, None) without a usable index; kept
        per handle and commit, so repeated lookups cost one small read each."""
        attrs = self.group.attrs
        key = (self.group, repr(attrs.get(oix.NAME)), self._range(), len(self), attrs.get("next_id"))
        cached = getattr(self, "_ix", None)
        if cached is not None and cached[0] == key:
            return cached[1:]
        info = attrs.get(oix.NAME)
        arr = None
        if isinstance(info, dict) and oix.matches(info, attrs):
            try:
                arr = self.group[oix.NAME]
            except Exception:  # missing or unreadable metadata: the index is only a shortcut, decode the table
                info = None
        else:
            info = None
        first = 0
        if arr is not None and int(info["stop"]) > int(info["start"]):
            try:  # a damaged index (missing or undecodable chunk) is not used: the table says the same
                if int(info["stop"]) > arr.shape[0] or arrays.missing_chunks(arr, slice(info["start"], info["stop"])):
                    raise ValueError("index rows missing")
                first = int(arr[int(info["start"]), oix.ID])
            except Exception:
                info, arr = None, None
        self._ix = (key, info, arr, first)
        return self._ix[1:]

    def _drop_index(self) -> None:
        """Stop using this handle's index for the current commit (a chunk of it cannot be decoded)."""
        key = getattr(self, "_ix", (None,))[0]
        self._ix = (key, None, None, 0)

    def _index_cols(self, info: dict):
        """The committed index rows, or None when they cannot be read (then the table is decoded instead)."""
        try:
            return self._span(oix.NAME, int(info["start"]), int(info["stop"]))
        except DamagedStoreError:
            self._drop_index()
            return None

    def _index_row(self, object_id: int):
        """(found, row): the index row of ``object_id`` when the index is usable, (False, None) when it is not."""
        info, arr, first = self._index_handle()
        if info is None:
            return False, None
        try:
            row = oix.find(arr, info, int(object_id), first)
        except Exception:  # an index chunk that cannot be decoded: look it up in the table instead
            self._drop_index()
            return False, None
        if row is None:
            raise NotInStoreError(f"{self.path}: no object with id {object_id}")
        return True, row

    def get(self, object_id: int) -> np.ndarray:
        """The RGBA crop of one object (alpha 255 inside the object, 0 outside). Found through the id index (a few
        small reads, whatever the size of the bank); a store without a usable index decodes the table."""
        found, row = self._index_row(object_id)
        if found:
            return self._read({"offset": int(row[oix.OFFSET]), "h": int(row[oix.H]), "w": int(row[oix.W])})
        for r in self._rows():
            if r["id"] == object_id:
                return self._read(r)
        raise NotInStoreError(f"{self.path}: no object with id {object_id}")

    def record(self, object_id: int) -> dict:
        """The table row (record) of one object, decoded alone through the id index."""
        found, row = self._index_row(object_id)
        if found:
            pos, n = int(row[oix.REC_POS]), int(row[oix.REC_LEN])
            return self._decode(self._span("records", pos, pos + n).tobytes())[0]
        for r in self._rows():
            if r["id"] == object_id:
                return r
        raise NotInStoreError(f"{self.path}: no object with id {object_id}")

    def frames_with(self, kind: str = "head") -> set[tuple[str, int]]:
        """The (video, frame) pairs that objects of ``kind`` were extracted from, read from the id index's columns
        (the table is decoded only when the store has no usable index)."""
        _check_kind(kind)
        info = self._index()
        if info is None:
            return {
                (r["video"], int(r["frame"]))
                for r in self._rows()
                if r.get("kind") == kind and isinstance(r.get("video"), str) and r.get("frame") is not None
            }
        start, stop = int(info["start"]), int(info["stop"])
        if stop <= start:
            return set()
        cols = self._index_cols(info)
        if cols is None:
            return self.frames_with(kind)
        sel = (
            (cols[:, oix.KIND] == oix.KIND_CODES.get(kind, -2)) & (cols[:, oix.VIDEO] >= 0) & (cols[:, oix.FRAME] >= 0)
        )
        videos = info["videos"]
        pairs = np.unique(cols[sel][:, [oix.VIDEO, oix.FRAME]], axis=0)
        return {(videos[int(v)], int(f)) for v, f in pairs}

    def load(self, kind: str | None = None, limit: int | None = None) -> list[tuple[np.ndarray, dict]]:
        """All objects (optionally of one kind, "head" or "fake") as (rgba, record) pairs, read with one pass over
        the pixels. ``limit``: the first ``limit`` of them alone (``load(kind)[:limit]``), reading only their
        records (through the id index when usable) and the pixels they lie among."""
        if kind is not None:
            _check_kind(kind)
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 0:
                raise ValueError(f"limit must be a whole number >= 0 (or None for every object), got {limit!r}")
            rows = self._first_rows(kind, int(limit))
        else:
            rows = [r for r in self._rows() if kind is None or r["kind"] == kind]
        if not rows:
            return []
        # the span the objects lie in: pixels before it are a replaced bank's, no longer read (nor damage there)
        lo = min(int(r["offset"]) for r in rows)
        hi = max(int(r["offset"]) + r["h"] * r["w"] * 4 for r in rows)
        flat = self._span("pixels", lo, hi)
        return [
            (flat[r["offset"] - lo : r["offset"] - lo + r["h"] * r["w"] * 4].reshape(r["h"], r["w"], 4), dict(r))
            for r in rows
        ]

    def _first_rows(self, kind: str | None, limit: int) -> list[dict]:
        """The records of the first ``limit`` objects (of ``kind``), in the order added: the index rows are read a
        few chunks at a time until ``limit`` are found, then only those records are decoded (without a usable
        index, the table is decoded)."""
        info = self._index()
        if info is None:
            return [r for r in self._rows() if kind is None or r["kind"] == kind][:limit]
        found: list = []
        pos, stop = int(info["start"]), int(info["stop"])
        while pos < stop and len(found) < limit:
            end = min(stop, pos + 4 * oix.CHUNK_ROWS)
            cols = self._index_cols({"start": pos, "stop": end})
            if cols is None:  # an index chunk that cannot be read: decode the table instead
                return self._first_rows(kind, limit)
            if kind is not None:
                cols = cols[cols[:, oix.KIND] == oix.KIND_CODES.get(kind, -2)]
            found.extend(cols[: limit - len(found)])
            pos = end
        if not found:
            return []
        lo = min(int(r[oix.REC_POS]) for r in found)
        hi = max(int(r[oix.REC_POS] + r[oix.REC_LEN]) for r in found)
        raw = self._span("records", lo, hi).tobytes()
        return [
            self._decode(raw[int(r[oix.REC_POS]) - lo : int(r[oix.REC_POS] + r[oix.REC_LEN]) - lo])[0] for r in found
        ]

    def _read(self, r: dict) -> np.ndarray:
        cached = getattr(self, "_pixels", None)
        if cached is None or cached[0] is not self.group:
            cached = self._pixels = (self.group, self._array("pixels"))
        lo = int(r["offset"])
        return self._span("pixels", lo, lo + r["h"] * r["w"] * 4, cached[1]).reshape(r["h"], r["w"], 4)

    # ---- writing ------------------------------------------------------------------------------------------------
    def add(self, items: Iterable[tuple[np.ndarray, dict]]) -> int:
        """Append objects (see :meth:`append`); returns the number added."""
        return len(self.append(items))

    def append(self, items: Iterable[tuple[np.ndarray, dict]]) -> list[dict]:
        """Append objects: ``(rgba (h,w,4) uint8, record dict with at least 'kind')``. Returns their records as
        committed (with ``id``, ``offset``, ``h``, ``w``), so callers need not read them back.

        A record value may be an :class:`ItemRef` to an earlier object of ``items`` (say a fake's ``source``): it is
        stored as that object's id. Writes only the new pixels and records, then commits the attrs (one metadata
        write), so a kill keeps all of ``items`` or none."""
        items = list(items)
        with self._write(f"adding {len(items)} objects"):
            return self._append(items)

    def _pixel_end(self, a: dict) -> int:
        """The committed pixels' end: never guessed as 0 for a bank that holds objects (new crops would overwrite
        theirs)."""
        return self._n_bytes() if int(a.get("n_objects", 0) or 0) else int(a.get("n_bytes", 0) or 0)

    def _stage(self, items: list, next_id: int, n_bytes: int, rec_pos: int) -> tuple[list[dict], list[bytes]]:
        """Write the crops of ``items`` from pixel byte ``n_bytes`` and their records from byte ``rec_pos`` (data
        only, no commit), with ids from ``next_id``; returns the new records and their encoded lines."""
        chunks, new_rows = [], []
        for rgba, rec in items:
            rgba = _crop(rgba)
            if rec.get("kind") not in KINDS:
                raise ValueError(f"object kind must be one of {KINDS}, got {rec.get('kind')!r}")
            row = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in rec.items()}
            for k, v in row.items():
                if isinstance(v, ItemRef):  # an earlier object of this append: its id (the key keeps its place)
                    if not 0 <= v.index < len(new_rows):
                        raise ValueError(
                            f"object record {k!r} = {v!r} names no earlier object of this append (objects 0 to "
                            f"{len(new_rows) - 1} come before it)"
                        )
                    row[k] = new_rows[v.index]["id"]
            row.update(id=next_id, offset=n_bytes, h=int(rgba.shape[0]), w=int(rgba.shape[1]))
            next_id += 1
            n_bytes += rgba.size
            chunks.append(rgba.ravel())
            new_rows.append(row)
        if not new_rows:
            return [], []
        pix = self.group["pixels"]
        start = new_rows[0]["offset"]
        arrays.reserve(pix, n_bytes)
        pix[start:n_bytes] = np.concatenate(chunks)
        lines = encode_lines(new_rows)
        write_lines(self.group, lines, rec_pos)
        return new_rows, lines

    def _append(self, items: list) -> list[dict]:
        a = self._fresh_attrs()
        n_bytes = self._pixel_end(a)
        rec_start, rec_end = int(a.get("records_start", 0)), int(a.get("records_bytes", 0))
        new_rows, lines = self._stage(items, int(a.get("next_id", 0)), n_bytes, rec_end)
        if not new_rows:
            return []
        last = new_rows[-1]
        counts = {**dict.fromkeys(KINDS, 0), **a.get("counts", {})}
        for kind, n in _counts(new_rows).items():
            counts[kind] = counts.get(kind, 0) + n
        bank = {
            "n_bytes": int(last["offset"]) + int(last["h"]) * int(last["w"]) * 4,
            "records_start": rec_start,
            "records_bytes": rec_end + sum(len(x) for x in lines),
            "n_objects": int(a.get("n_objects", 0)) + len(new_rows),
            "counts": counts,
            "next_id": int(last["id"]) + 1,
        }
        info = oix.valid(self.group, a) if self._index() is not None else None  # a damaged index is rebuilt
        if info is not None:  # append the new rows after the committed ones
            videos = list(info["videos"])
            rows = oix.rows_for(new_rows, [len(x) for x in lines], rec_end, videos)
            stop = oix.write(self.group, rows, int(info["stop"]))
            bank.update(oix.commit(int(info["start"]), stop, videos, bank))
        else:  # no usable index (an older store): build it for the whole bank, once
            old = self._committed_lines(rec_start, rec_end)
            videos: list[str] = []
            rows = oix.rows_for(
                decode_records(b"".join(old)) + new_rows, [len(x) for x in old + lines], rec_start, videos
            )
            bank.update(oix.commit(0, oix.write(self.group, rows, 0), videos, bank))
        self.group.update_attributes(bank)  # the commit, after the data (pixels, records, index)
        return new_rows

    def rebuild(self, step: str = "replacing the object bank") -> BankRebuild:
        """A new bank that replaces the whole committed one in a single commit (``extract-objects --replace``):
        ``with bank.rebuild() as new: new.append(items); ...; new.commit()``. Until :meth:`BankRebuild.commit` the
        new objects are written past the committed data, where readers never look, so an error, a cancel or a
        kill before it leaves the old bank exactly as it was (the next write overwrites the leftover). Holds the
        writer lock from ``with`` to its end. Ids go on from the old bank's (never handed out twice).
        :meth:`BankRebuild.keep` carries old objects into the new bank as they are (``--replace --videos``: the
        other videos')."""
        return BankRebuild(self, step)

    def _committed_lines(self, start: int, end: int) -> list[bytes]:
        """The committed records as raw JSON lines ('\\n' included)."""
        if end <= start:
            return []
        return [ln + b"\n" for ln in self._span("records", start, end).tobytes().split(b"\n") if ln]

    def clear(self, kind: str | None = None) -> None:
        """Drop objects (all, or one kind); pixels of dropped objects are left unreferenced.

        The kept records are written where they cannot touch the committed range (at the start of ``records`` if
        they fit before it, else after its end) and only then committed, so a kill in between leaves the old bank."""
        if kind is not None:
            _check_kind(kind)
        with self._write("clearing objects" if kind is None else f"clearing the {kind} objects"):
            self._fresh_attrs()
            self._clear(kind)

    def _clear(self, kind: str | None) -> None:
        self._keep([] if kind is None else [r for r in self._rows() if r["kind"] != kind])

    def remove(self, drop: Callable[[dict], bool], step: str = "removing objects") -> dict:
        """Drop the committed objects whose record ``drop(record)`` is true (say, those cut from one video); returns
        the counts removed per kind. Crash safe like :meth:`clear` (one commit; a kill before it leaves the old
        bank). ``next_id`` is kept, so ids are never handed out twice; the pixels of dropped objects are left
        unreferenced."""
        with self._write(step):
            a = self._fresh_attrs()
            rows = self._rows()
            kept = [r for r in rows if not drop(r)]
            gone = _counts(r for r in rows if drop(r))
            if len(kept) < len(rows):
                self._keep(kept, next_id=int(a.get("next_id", 0)))
            return gone

    def video_counts(self, video_id: str) -> dict:
        """Objects per kind cut from video ``video_id`` (from the id index's columns when usable)."""
        info = self._index()
        if info is None:
            return _counts(r for r in self._rows() if r.get("video") == video_id)
        counts = dict.fromkeys(KINDS, 0)
        start, stop = int(info["start"]), int(info["stop"])
        if video_id not in info["videos"] or stop <= start:
            return counts
        cols = self._index_cols(info)
        if cols is None:
            return self.video_counts(video_id)
        mine = cols[cols[:, oix.VIDEO] == info["videos"].index(video_id)]
        for kind, code in oix.KIND_CODES.items():
            counts[kind] = int((mine[:, oix.KIND] == code).sum())
        return counts

    def latest_records(self, pairs: Iterable[tuple[str, int]], kind: str = "head") -> dict:
        """{(video, frame): the record of the newest object of ``kind`` cut from that frame} for those of ``pairs``
        that have one. Reads only those records through the id index (the table is decoded only without one)."""
        _check_kind(kind)
        pairs = {(str(v), int(t)) for v, t in pairs}
        info = self._index()
        if info is None:
            return {
                (r["video"], int(r["frame"])): r
                for r in self._rows()
                if r.get("kind") == kind and (r.get("video"), r.get("frame")) in pairs
            }
        start, stop = int(info["start"]), int(info["stop"])
        if stop <= start or not pairs:
            return {}
        cols = self._index_cols(info)
        if cols is None:
            return self.latest_records(pairs, kind)
        videos = info["videos"]
        last: dict = {}
        for row in cols[cols[:, oix.KIND] == oix.KIND_CODES.get(kind, -2)]:
            v, t = int(row[oix.VIDEO]), int(row[oix.FRAME])
            if v >= 0 and t >= 0 and (videos[v], t) in pairs:
                last[(videos[v], t)] = row  # rows are in id order: the last one is the newest
        if not last:
            return {}
        lo = min(int(r[oix.REC_POS]) for r in last.values())
        hi = max(int(r[oix.REC_POS] + r[oix.REC_LEN]) for r in last.values())
        raw = self._span("records", lo, hi).tobytes()
        return {
            p: self._decode(raw[int(r[oix.REC_POS]) - lo : int(r[oix.REC_POS] + r[oix.REC_LEN]) - lo])[0]
            for p, r in last.items()
        }

    def _keep(self, kept: list[dict], next_id: int | None = None) -> None:
        """Commit ``kept`` (committed records, in order) as the whole bank (the caller holds the write)."""
        if not kept:
            empty = {**records_commit([], 0, 0), "n_bytes": 0}
            if next_id is not None:
                empty["next_id"] = int(next_id)
            self.group.update_attributes({**empty, **oix.commit(0, 0, [], empty)})
            self._drop_chunks()
            return
        start, end = self._range()
        lines = encode_lines(kept)
        size = sum(len(x) for x in lines)
        pos = 0 if size <= start else end
        new_end = write_lines(self.group, lines, pos)
        commit = records_commit(kept, pos, new_end)
        if next_id is not None:
            commit["next_id"] = max(int(next_id), commit["next_id"])
        info = oix.valid(self.group, self.group.attrs)  # the kept index rows, like the records, clear of its rows
        ipos = 0 if info is None or len(kept) <= int(info["start"]) else int(info["stop"])
        videos: list[str] = []
        stop = oix.write(self.group, oix.rows_for(kept, [len(x) for x in lines], pos, videos), ipos)
        self.group.update_attributes({**commit, **oix.commit(ipos, stop, videos, commit)})

    def _drop_chunks(self) -> None:
        """The chunk files of an emptied bank's arrays (after its empty commit): the next add starts afresh rather
        than rewriting the chunk its first byte falls in - which it could not, were that chunk damaged (emptying the
        bank is the repair `dvos check` names for a damaged chunk of it)."""
        root = getattr(self.group.store, "root", None)
        if root is None:
            return
        for key in ("pixels", "records", oix.NAME):
            if key in self.group:
                discard(Path(str(root)) / self.group[key].path / "c", root)


class BankRebuild:
    """A whole new object bank staged past the committed one and committed in one attrs write (see
    :meth:`ObjectBank.rebuild`)."""

    def __init__(self, bank: ObjectBank, step: str):
        self.bank, self.step = bank, step
        self._held = None
        self.rows: list[dict] = []

    def __enter__(self) -> BankRebuild:
        self._held = self.bank._write(self.step)
        self._held.__enter__()
        try:
            a = self.bank._fresh_attrs()
            # each array's new part starts at a chunk of its own, clear of the committed rows: no chunk of the old
            # bank is read and written again (a damaged one - what a rebuild is for - could not be)
            self._pix_end = self.bank._pixel_end(a)  # where the committed pixels end (kept objects' lie before)
            self._pix0 = self._pix = self._boundary("pixels", self._pix_end)
            self._rec0 = self._rec = self._boundary("records", int(a.get("records_bytes", 0)))
            self._next_id = int(a.get("next_id", 0))
            info = oix.valid(self.bank.group, a)
            self._ix0 = self._ix = self._boundary(oix.NAME, int(info["stop"]) if info is not None else 0)
            self._videos: list[str] = []
            self._committed = False
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _boundary(self, key: str, pos: int) -> int:
        """``pos`` rounded up to the start of a chunk of array ``key`` of the bank (``pos`` when it has none yet)."""
        group = self.bank.group
        step = int(group[key].chunks[0]) if key in group else 1
        return -(-int(pos) // step) * step

    def __exit__(self, *exc) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.__exit__(*exc)

    def keep(self, rows: list[dict]) -> None:
        """Carry committed objects (``rows``: their records, as the old bank holds them, in its order) into the new
        bank unchanged: same ids, same records, their pixels left where they are (the new objects' pixels start
        past the committed ones, so none of theirs is overwritten). Call it before :meth:`append` (ids go on
        increasing down the bank). ``extract-objects --replace --videos`` keeps the other videos' objects so."""
        if self._held is None or self._committed or self._pix != self._pix0:
            raise RuntimeError(
                "BankRebuild.keep: use it inside `with bank.rebuild() as new:`, before append() and commit()"
            )
        rows = [dict(r) for r in rows]
        if not rows:
            return
        ids = [int(r["id"]) for r in rows]
        last = max((int(r["id"]) for r in self.rows), default=-1)
        if ids != sorted(set(ids)) or ids[0] <= last or ids[-1] >= self._next_id:
            raise ValueError("BankRebuild.keep: rows must be committed objects of the bank, in id order, given once")
        if any(int(r["offset"]) + int(r["h"]) * int(r["w"]) * 4 > self._pix_end for r in rows):
            raise ValueError("BankRebuild.keep: rows must be committed objects of the bank (their pixels lie past it)")
        lines = encode_lines(rows)
        end = write_lines(self.bank.group, lines, self._rec)
        idx = oix.rows_for(rows, [len(x) for x in lines], self._rec, self._videos)
        self._ix = oix.write(self.bank.group, idx, self._ix)
        self._rec = end
        self.rows.extend(rows)

    def keep_where(self, test: Callable[[dict], bool]) -> int:
        """:meth:`keep` the committed objects whose record ``test(record)`` is true; returns how many."""
        if self._held is None:
            raise RuntimeError("BankRebuild.keep_where: use it inside `with bank.rebuild() as new:`")
        rows = [r for r in self.bank._rows() if test(r)]
        self.keep(rows)
        return len(rows)

    def append(self, items: Iterable[tuple[np.ndarray, dict]]) -> list[dict]:
        """Write objects into the new bank (not committed yet); returns their records (with ``id``, ``offset``,
        ``h``, ``w``), like :meth:`ObjectBank.append`."""
        if self._held is None or self._committed:
            raise RuntimeError("BankRebuild.append: use it inside `with bank.rebuild() as new:`, before commit()")
        new_rows, lines = self.bank._stage(list(items), self._next_id, self._pix, self._rec)
        if not new_rows:
            return []
        last = new_rows[-1]
        self._pix = int(last["offset"]) + int(last["h"]) * int(last["w"]) * 4
        self._next_id = int(last["id"]) + 1
        idx = oix.rows_for(new_rows, [len(x) for x in lines], self._rec, self._videos)
        self._ix = oix.write(self.bank.group, idx, self._ix)
        self._rec += sum(len(x) for x in lines)
        self.rows.extend(new_rows)
        return new_rows

    def commit(self) -> None:
        """Make the objects kept and appended so far the whole bank (one atomic attrs write); the other old objects
        are gone."""
        if self._held is None or self._committed:
            raise RuntimeError("BankRebuild.commit: use it once, inside `with bank.rebuild() as new:`")
        # the pixels' end: the new objects', else (only kept ones) the committed end, which holds theirs
        pix = self._pix if self._pix > self._pix0 or not self.rows else self._pix_end
        bank = {"n_bytes": pix, **records_commit(self.rows, self._rec0, self._rec)}
        bank["next_id"] = max(bank["next_id"], self._next_id)
        bank.update(oix.commit(self._ix0, self._ix, self._videos, bank))
        self.bank.group.update_attributes(bank)
        self._committed = True
