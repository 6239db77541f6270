"""The object bank's id index: one int64 row per committed object, so lookups need not decode the JSON table.

``objects/index`` is an int64 array (M, 9) with the columns below, rows in record order (so ids increase down the
rows: ids are handed out increasing and ``clear`` keeps the order). The committed rows are
``index[start:stop]``; the commit is the ``index`` attr of ``objects``, written in the same attrs write as the
records it describes (see :mod:`dvos_core.store.objects`)::

    index = {"start": i0, "stop": i1, "videos": [names...],
             "records": [records_start, records_bytes], "n_objects": n, "next_id": k}

``videos`` maps the VIDEO column's codes to video ids. The index is used only while its ``records``, ``n_objects``
and ``next_id`` equal the bank's commit: a store last written by a dvos without the index (or converted by an older
migration) fails that check, its readers decode the table as before, and its next add rebuilds the index. Rows
past ``stop`` are the leftover of a killed write, ignored and overwritten like the records'.
"""

from __future__ import annotations

import numpy as np
import zarr

from dvos_core.store import arrays

ID, OFFSET, H, W, KIND, VIDEO, FRAME, REC_POS, REC_LEN = range(9)
N_COLUMNS = 9
CHUNK_ROWS = 1024  # 72 KiB of int64 per chunk: one small read per lookup
KIND_CODES = {"head": 0, "fake": 1}
NAME = "index"


def rows_for(records: list[dict], lengths: list[int], pos: int, videos: list[str]) -> np.ndarray:
    """Index rows of ``records`` whose JSON lines (``lengths`` bytes each) lie back to back from byte ``pos``;
    new video ids are appended to ``videos`` (in place)."""
    codes = {v: i for i, v in enumerate(videos)}
    out = np.full((len(records), N_COLUMNS), -1, np.int64)
    ends = pos + np.cumsum(np.asarray(lengths, np.int64)) if records else np.zeros(0, np.int64)
    for k, r in enumerate(records):
        vid = r.get("video")
        if isinstance(vid, str):
            if vid not in codes:
                codes[vid] = len(videos)
                videos.append(vid)
            out[k, VIDEO] = codes[vid]
        frame = r.get("frame")
        if isinstance(frame, (int, np.integer)) and not isinstance(frame, bool):
            out[k, FRAME] = int(frame)
        out[k, ID], out[k, OFFSET] = int(r["id"]), int(r["offset"])
        out[k, H], out[k, W] = int(r["h"]), int(r["w"])
        out[k, KIND] = KIND_CODES.get(r["kind"], -1)
        out[k, REC_LEN] = int(lengths[k])
        out[k, REC_POS] = int(ends[k]) - int(lengths[k])
    return out


def write(group: zarr.Group, rows: np.ndarray, pos: int) -> int:
    """Write index rows from row ``pos`` (data only, no commit); returns the end row."""
    if NAME not in group:
        arrays.create(group, NAME, (0, N_COLUMNS), "int64", chunks=(CHUNK_ROWS, N_COLUMNS), fill_value=-1)
    if len(rows):
        arr = group[NAME]
        arrays.reserve(arr, pos + len(rows))
        arr[pos : pos + len(rows)] = rows
    return pos + len(rows)


def commit(start: int, stop: int, videos: list[str], bank_commit: dict) -> dict:
    """The ``index`` attr committing rows [start, stop) for the bank commit ``bank_commit`` (records_start,
    records_bytes, n_objects, next_id), to be written in the same attrs write."""
    return {
        NAME: {
            "start": int(start),
            "stop": int(stop),
            "videos": list(videos),
            **_key(bank_commit),
        }
    }


def _key(a: dict) -> dict:
    return {
        "records": [int(a.get("records_start", 0)), int(a.get("records_bytes", 0))],
        "n_objects": int(a.get("n_objects", 0)),
        "next_id": int(a.get("next_id", 0)),
    }


def valid(group: zarr.Group, attrs: dict) -> dict | None:
    """The committed index info when it describes the bank's current commit ``attrs``, else None."""
    info = attrs.get(NAME)
    if not isinstance(info, dict) or NAME not in group:
        return None
    return info if matches(info, attrs) else None


def matches(info: dict, attrs: dict) -> bool:
    """Whether the index info ``info`` describes the bank commit ``attrs``."""
    if {k: info.get(k) for k in ("records", "n_objects", "next_id")} != _key(attrs):
        return False
    return int(info.get("stop", -1)) - int(info.get("start", 0)) == int(attrs.get("n_objects", 0))


def find(arr: zarr.Array, info: dict, object_id: int, first: int) -> np.ndarray | None:
    """The index row of ``object_id`` (None when absent), ``first`` being the id of the first committed row: first
    the row an unbroken run of ids puts it at (one chunk read), else a binary search over the id column."""
    start, stop = int(info["start"]), int(info["stop"])
    if stop <= start:
        return None
    guess = start + int(object_id) - first
    if start <= guess < stop:
        row = arr[guess]
        if int(row[ID]) == object_id:
            return row
    lo, hi = start, stop  # ids increase down the rows
    while lo < hi:
        mid = (lo + hi) // 2
        if int(arr[mid, ID]) < object_id:
            lo = mid + 1
        else:
            hi = mid
    if lo < stop:
        row = arr[lo]
        if int(row[ID]) == object_id:
            return row
    return None
