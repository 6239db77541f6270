"""The Zarr project store: schema, versions, videos, objects, backgrounds, synthetic sets, models, reports."""

from dvos_core.store.lock import StoreBusyError, writes_store
from dvos_core.store.objects import ObjectBank
from dvos_core.store.project import Project
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
    SchemaVersionError,
    StoreError,
    StoreWriteError,
    check_id,
    provenance_code,
    safe_id,
)
from dvos_core.store.sequence import Background, FrameSequence, Video
from dvos_core.store.synthetic import SyntheticSet

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
    "FrameSequence",
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
