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
from dvos_core.store.arrays import open_local
from dvos_core.store.fsops import group_attrs
from dvos_core.store.objects import records_commit, write_records


def _set_version(root: zarr.Group, version: int) -> None:
    from dvos_core import __version__

    root.update_attributes({"schema_version": version, "dvos_version": __version__})


def migrate_1_to_2(path, progress: ProgressFn | None = None) -> None:
    """Schema 1 -> 2: the objects table moves from the ``table`` attr (rewritten whole on every add) to the
    append-only JSON-lines array ``objects/records``. Pixels are not touched.

    Order: records are written first, then the ``objects`` attrs are replaced in one write (new commit attrs in,
    ``table`` out), then the root ``schema_version`` becomes 2. A rerun after a kill redoes whatever is missing.
    """
    root = open_local(path, "r+")
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
        g.update_attributes({"n_bytes": int(attrs.get("n_bytes", 0)), **records_commit([], 0, 0)})
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
    moves = (("pred_masks", "masks"), ("pred_probability", "probability"), ("pred_done", "done"))
    ids = _videos_to_move(path, [old for old, _ in moves])  # checked whole before anything is written
    _refuse_written_twice(path, ids, moves)
    root = open_local(path, "r+")
    for i, vid in enumerate(ids):
        report(progress, i, len(ids), f"moving the predictions of {vid}")
        g = open_local(Path(path) / "videos" / vid, "r+")
        folder = Path(path) / "videos" / vid
        info = dict(g.attrs.get("prediction") or {})
        name = model_name_of(info.get("checkpoint"))
        dest = folder / "predictions" / name
        to_move = [(old, new) for old, new in moves if (folder / old).exists() and not (dest / new).exists()]
        if not to_move and not (info and (dest / "done").exists() and not group_attrs(dest)):
            continue
        target = g.require_group("predictions").require_group(name)
        target.update_attributes({**info, "fingerprint": None, "migrated_from_schema": 2})  # the settings first
        for old, new in to_move:
            (folder / old).rename(dest / new)
    _set_version(root, 3)


def _refuse_written_twice(path, ids: list[str], moves) -> None:
    """Stop before anything is written when a prediction array is both at its schema-2 place and already moved: a
    migration was killed part-way and an older dvos then predicted again into the half-moved store. Which of the
    two to keep is the user's choice (moving either over the other would lose it, or mix two runs in one set)."""
    import shlex

    both = []
    for vid in ids:
        folder = Path(path) / "videos" / vid
        info = dict(open_local(folder, "r").attrs.get("prediction") or {})
        dest = folder / "predictions" / model_name_of(info.get("checkpoint"))
        both += [(folder / old, dest / new) for old, new in moves if (folder / old).exists() and (dest / new).exists()]
    if both:
        listed = "; ".join(f"{old} and {new}" for old, new in both)
        raise ValueError(
            f"{path}: prediction arrays are both at their old place and already moved ({listed}): a migration "
            f"was stopped part-way and an older dvos then predicted into the store. Nothing was changed. Keep one of "
            f"each pair (the old place holds the newer predictions): delete the other folder, then run `dvos "
            f"migrate {shlex.quote(str(path))}` again"
        )


def migrate_3_to_4(path, progress: ProgressFn | None = None) -> None:
    """Schema 3 -> 4: the version, and no array of the store kept as ``dvos_every_chunk_written``. Schema 4 stores
    mark the arrays they create so (a missing chunk file there is damage, not an empty frame); a dvos of schema 3
    deleted the chunk file of every all-zero mask or probability it wrote, so it must not write into them, and the
    new version makes it refuse the store. The last builds of schema 3 marked their arrays too, and an earlier
    build writing into one of them (the same project on two machines) left an empty painted mask without its
    file, which would read as damage: every array of a schema-3 store reads missing chunks as zeros, as it did.
    Each array's attributes are one write, the version last: a rerun after a kill finishes."""
    from dvos_core.store.arrays import EVERY_CHUNK

    metas = sorted(Path(path).rglob("zarr.json"))
    for k, meta in enumerate(metas):
        report(progress, k, len(metas) + 1, "schema 3 -> 4")
        if meta.parent == Path(path) or EVERY_CHUNK not in meta.read_text():
            continue
        node = open_local(meta.parent, "r+", group=False)
        if isinstance(node, zarr.Array) and EVERY_CHUNK in node.attrs:
            node.attrs.put({key: v for key, v in node.attrs.items() if key != EVERY_CHUNK})
    report(progress, len(metas), len(metas) + 1, "schema 3 -> 4")
    _set_version(open_local(path, "r+"), 4)


def newer_schema_parts(path, limit: int = 3) -> list[str]:
    """Parts of the store at ``path`` (relative paths of their ``zarr.json``, at most ``limit``) that only a dvos of
    schema 4 or later writes: the ``uid`` of a video, background clip or synthetic set, and a video's quality array
    marked ``dvos_every_row_written``. No dvos of an older schema wrote them, and no migration does, so a store whose
    root says an older schema but holds them had its ``schema_version`` changed (by hand or by another tool):
    migrating it would strip the marks of arrays whose every chunk is written. Reads a few small files per video."""
    import json

    from dvos_core.store.arrays import EVERY_ROW

    def attrs(meta: Path) -> dict:
        try:
            a = json.loads(meta.read_text()).get("attributes")
        except (OSError, ValueError, AttributeError):
            return {}
        return a if isinstance(a, dict) else {}

    found: list[str] = []
    root = Path(path)
    for kind in ("videos", "backgrounds", "synthetic"):
        folder = root / kind
        for member in sorted(folder.iterdir()) if folder.is_dir() else []:
            metas = [(member / "zarr.json", "uid")]
            if kind == "videos":
                metas.append((member / "quality" / "zarr.json", EVERY_ROW))
            for meta, key in metas:
                if key in attrs(meta):
                    found.append(f"{meta.relative_to(root).as_posix()} ({key})")
                    if len(found) >= limit:
                        return found
    return found


def _group_meta_problem(folder: Path) -> str | None:
    """Why ``folder/zarr.json`` is not a readable Zarr group's metadata, or None when it is."""
    import json

    meta = folder / "zarr.json"
    try:
        node = json.loads(meta.read_text()).get("node_type")
    except FileNotFoundError:
        return "is missing (deleted, or not yet copied by a sync tool)"
    except (OSError, ValueError, AttributeError) as e:
        return f"cannot be read ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'damaged'})"
    return None if node == "group" else f"is not a Zarr group's metadata (node_type {node!r})"


def _videos_to_move(path, old_names) -> list[str]:
    """The video folders of a schema-2 store, read from the disk (sorted). A folder holding a prediction set to move
    whose ``zarr.json`` (or that of ``videos/``) is missing or damaged stops the migration before anything is
    written: migrated without it, its predictions would be left behind at the old place, unread for good."""
    import shlex

    from dvos_core.store.schema import DamagedStoreError, check_id

    def is_video(f: Path) -> bool:  # foreign folders (a sync tool's "vidA (conflicted copy)", a trash) are no videos
        try:
            return f.is_dir() and bool(check_id(f.name))
        except ValueError:
            return False

    videos = Path(path) / "videos"
    folders = sorted(f for f in videos.iterdir() if is_video(f)) if videos.is_dir() else []
    holding = [f for f in folders if any((f / old).is_dir() for old in old_names)]
    damaged = [(f, why) for f in ([videos] if holding else []) + holding if (why := _group_meta_problem(f))]
    if damaged:
        what = "; ".join(f"{f / 'zarr.json'} {why}" for f, why in damaged)
        raise DamagedStoreError(
            f"{what}: the predictions stored under it cannot be moved to store schema 3. Restore the file from a "
            f"backup and run `dvos migrate {shlex.quote(str(path))}` again; nothing was changed"
        )
    return [f.name for f in folders if not _group_meta_problem(f)]


# {N: callable(project_path, progress)} converting schema N to N+1.
MIGRATIONS: dict[int, Callable] = {1: migrate_1_to_2, 2: migrate_2_to_3, 3: migrate_3_to_4}
