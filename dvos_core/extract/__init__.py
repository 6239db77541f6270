"""Extraction: frame sampling, background clips from bare-field videos, real and fake heads from annotated frames."""

from dvos_core.extract.backgrounds import clip_starts, extract_backgrounds
from dvos_core.extract.components import frame_objects, instance_labels
from dvos_core.extract.fakes import make_fake_heads
from dvos_core.extract.frames import sample_frames
from dvos_core.extract.heads import extract_heads

__all__ = [
    "clip_starts",
    "extract_backgrounds",
    "extract_heads",
    "frame_objects",
    "instance_labels",
    "make_fake_heads",
    "sample_frames",
]
