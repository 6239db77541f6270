"""The embedded default: procedural wheat-field sample clips and the end-to-end `dvos demo` pipeline."""

from dvos_core.demo.field import FieldSpec, demo_videos, render_field

__all__ = ["FieldSpec", "demo_videos", "render_field"]
