"""Stores as an older dvos left them, made from a store of this dvos: what only a dvos of schema 4 or later writes
is removed (see ``dvos_core.store.migrate.newer_schema_parts``) and the root says the older schema."""

from __future__ import annotations

import json
from pathlib import Path

import zarr


def as_older_schema(path, version: int) -> None:
    """Make the store at ``path`` read as one of schema ``version`` (< 4): no ``uid`` in its videos, background
    clips and synthetic sets, no ``dvos_every_row_written`` mark on its quality arrays, ``schema_version`` set."""
    from dvos_core.store.arrays import EVERY_ROW

    root = Path(path)
    for meta in sorted(root.glob("*/*/zarr.json")) + sorted(root.glob("videos/*/quality/zarr.json")):
        doc = json.loads(meta.read_text())
        attrs = doc.get("attributes") or {}
        if "uid" in attrs or EVERY_ROW in attrs:
            doc["attributes"] = {k: v for k, v in attrs.items() if k not in ("uid", EVERY_ROW)}
            meta.write_text(json.dumps(doc, indent=2))
    zarr.open_group(str(root), mode="r+").attrs["schema_version"] = version
