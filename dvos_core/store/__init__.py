"""The Zarr project store: schema, versions, videos, objects, backgrounds, synthetic sets, models, reports.

The classes that need Zarr (Project, Video, ...) are imported on first use, so modules that only need the lock, the
errors or the id rules (e.g. the readers behind the napari plugin) do not pay for importing Zarr.
"""

import importlib

from dvos_core.store.lock import StoreBusyError, writes_store
from dvos_core.store.schema import (
    CORRECTED,
    LABEL_PROVENANCES,
    MANUAL,
    NONE,
    PREDICTED,
    PROVENANCE,
    PROVENANCE_NAMES,
    PSEUDO,
    SCHEMA_VERSION,
    SYNTHETIC,
    DamagedStoreError,
    InterruptedImportError,
    NotInStoreError,
    SchemaVersionError,
    StoreError,
    StoreWriteError,
    check_id,
    provenance_code,
    safe_id,
)

_LAZY = {
    "ObjectBank": "dvos_core.store.objects",
    "Project": "dvos_core.store.project",
    "Background": "dvos_core.store.sequence",
    "FrameSequence": "dvos_core.store.sequence",
    "Video": "dvos_core.store.sequence",
    "SyntheticSet": "dvos_core.store.synthetic",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(__all__)


__all__ = [
    "CORRECTED",
    "LABEL_PROVENANCES",
    "MANUAL",
    "NONE",
    "PREDICTED",
    "PROVENANCE",
    "PROVENANCE_NAMES",
    "PSEUDO",
    "SCHEMA_VERSION",
    "SYNTHETIC",
    "Background",
    "DamagedStoreError",
    "FrameSequence",
    "InterruptedImportError",
    "NotInStoreError",
    "ObjectBank",
    "Project",
    "SchemaVersionError",
    "StoreBusyError",
    "StoreError",
    "StoreWriteError",
    "SyntheticSet",
    "Video",
    "check_id",
    "provenance_code",
    "safe_id",
    "writes_store",
]
