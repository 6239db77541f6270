"""Store schema migrations, run by ``Project.migrate`` / ``dvos migrate PATH`` (see docs/store.md).

Each step converts a store from schema N to N+1 in place and sets ``schema_version`` to N+1 as its very last write,
so a step killed half-way leaves a store that still says N and can simply be migrated again (every step is written to
be safe to repeat).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import zarr

from dvos_core.progress import ProgressFn, report
from dvos_core.store.fsops import group_attrs
from dvos_core.store.objects import records_commit, write_records


def _set_version(root: zarr.Group, version: int) -> None:
    from dvos_core import __version__

    root.attrs.update({"schema_version": version, "dvos_version": __version__})


def migrate_1_to_2(path, progress: ProgressFn | None = None) -> None:
    """Schema 1 -> 2: the objects table moves from the ``table`` attr (rewritten whole on every add) to the
    append-only JSON-lines array ``objects/records``. Pixels are not touched.

    Order: records are written first, then the ``objects`` attrs are replaced in one write (new commit attrs in,
    ``table`` out), then the root ``schema_version`` becomes 2. A rerun after a kill redoes whatever is missing.
    """
    root = zarr.open_group(str(Path(path)), mode="r+")
    g = root["objects"]
    attrs = dict(g.attrs)
    if "table" in attrs:
        rows = list(attrs.pop("table") or [])
        report(progress, 0, len(rows), "converting the objects table")
        end = write_records(g, rows, 0)
        attrs.update(records_commit(rows, 0, end))
        attrs.setdefault("n_bytes", 0)
        g.attrs.put(attrs)  # one atomic write: the new commit in, the old table out
        report(progress, len(rows), len(rows), f"converted {len(rows)} objects")
    elif "records_bytes" not in attrs:  # no table at all (never written): start an empty bank
        write_records(g, [], 0)
        g.attrs.update({"n_bytes": int(attrs.get("n_bytes", 0)), **records_commit([], 0, 0)})
    _set_version(root, 2)


def model_name_of(checkpoint) -> str:
    """The name a prediction set gets from its checkpoint path: ``.../models/NAME/best.pt`` -> NAME, else the file
    stem."""
    from dvos_core.store.schema import safe_id

    p = Path(str(checkpoint or "prediction"))
    return safe_id(p.parent.name if p.parent.parent.name == "models" else p.stem)


def migrate_2_to_3(path, progress: ProgressFn | None = None) -> None:
    """Schema 2 -> 3: each video's single prediction set (``pred_masks``, ``pred_probability``, ``pred_done``)
    moves to ``predictions/<model>/`` (``masks``, ``probability``, ``done``), named after the checkpoint that made
    it, so several models' predictions can sit side by side. Array folders are renamed on disk (no pixel is
    rewritten). The set's settings are written first and ``done`` moves last, so a rerun after a kill finishes the
    move, and a set that was moved by a dvos that wrote its settings last and was killed in between gets them."""
    root = zarr.open_group(str(Path(path)), mode="r+")
    videos = root.get("videos")
    ids = list(videos.group_keys()) if videos is not None else []
    moves = (("pred_masks", "masks"), ("pred_probability", "probability"), ("pred_done", "done"))
    for i, vid in enumerate(ids):
        report(progress, i, len(ids), f"moving the predictions of {vid}")
        g = videos[vid]
        folder = Path(path) / "videos" / vid
        info = dict(g.attrs.get("prediction") or {})
        name = model_name_of(info.get("checkpoint"))
        dest = folder / "predictions" / name
        to_move = [(old, new) for old, new in moves if (folder / old).exists() and not (dest / new).exists()]
        if not to_move and not (info and (dest / "done").exists() and not group_attrs(dest)):
            continue
        target = g.require_group("predictions").require_group(name)
        target.attrs.update({**info, "fingerprint": None, "migrated_from_schema": 2})  # the settings first
        for old, new in to_move:
            (folder / old).rename(dest / new)
    _set_version(root, 3)


# {N: callable(project_path, progress)} converting schema N to N+1.
MIGRATIONS: dict[int, Callable] = {1: migrate_1_to_2, 2: migrate_2_to_3}
