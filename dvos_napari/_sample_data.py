"""Sample data: a small generated wheat-field clip (rendered by ``dvos_core.demo``; offline and deterministic)."""

from __future__ import annotations


def demo_clip():
    """(frames (T,H,W,3) uint8, masks (T,H,W) uint8) of the demo clip."""
    from dvos_core.demo import FieldSpec, render_field

    return render_field(FieldSpec(n_frames=24, height=160, width=160), seed=7)


def make_sample_data():
    """npe2 sample-data hook: the demo clip and its ground-truth masks (hidden; show them to compare)."""
    frames, masks = demo_clip()
    return [
        (frames, {"name": "wheat demo", "rgb": True}, "image"),
        (masks, {"name": "wheat demo ground truth", "visible": False, "opacity": 0.5}, "labels"),
    ]
