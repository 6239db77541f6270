"""The Zarr project store: schema, versions, videos, objects, backgrounds, synthetic sets, models, reports."""

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
    "StoreError",
    "SyntheticSet",
    "Video",
    "provenance_code",
    "safe_id",
]
