"""Extraction: frame sampling, background clips from bare-field videos (or inpainted annotated frames), real and fake
heads from annotated frames."""

from dvos_core.extract.annotated_backgrounds import backgrounds_from_annotated
from dvos_core.extract.backgrounds import clip_starts, extract_backgrounds
from dvos_core.extract.components import frame_objects, instance_labels
from dvos_core.extract.fakes import make_fake_heads
from dvos_core.extract.frames import sample_frames
from dvos_core.extract.heads import extract_heads
from dvos_core.extract.inpaint import inpaint_heads

__all__ = [
    "backgrounds_from_annotated",
    "clip_starts",
    "extract_backgrounds",
    "extract_heads",
    "frame_objects",
    "inpaint_heads",
    "instance_labels",
    "make_fake_heads",
    "sample_frames",
]
