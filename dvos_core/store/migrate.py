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


# {N: callable(project_path, progress)} converting schema N to N+1.
MIGRATIONS: dict[int, Callable] = {1: migrate_1_to_2}
