"""Sample data: a small procedural wheat-field clip (made offline, deterministic)."""

from __future__ import annotations

import numpy as np


def _procedural_clip(n_frames: int = 16, height: int = 128, width: int = 160, seed: int = 0):
    """Fallback renderer: textured ellipses drifting over a noisy green background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width]
    base = np.stack([60 + 30 * rng.random((height, width)), 110 + 40 * rng.random((height, width)),
                     50 + 20 * rng.random((height, width))], -1)
    heads = [(rng.uniform(10, height - 10), rng.uniform(10, width - 10), rng.uniform(4, 6), rng.uniform(9, 14),
              rng.uniform(0, np.pi)) for _ in range(14)]
    frames = np.zeros((n_frames, height, width, 3), np.uint8)
    masks = np.zeros((n_frames, height, width), np.uint8)
    for t in range(n_frames):
        img = base.copy()
        for cy, cx, a, b, th in heads:
            cy2, cx2 = cy + 1.5 * np.sin(t / 3 + cx), cx + 0.8 * t
            dy, dx = yy - cy2, xx - cx2
            u = dx * np.cos(th) + dy * np.sin(th)
            v = -dx * np.sin(th) + dy * np.cos(th)
            inside = (u / b) ** 2 + (v / a) ** 2 <= 1
            texture = 150 + 60 * (np.sin(u * 1.7) > 0)
            img[inside] = np.stack([texture, texture * 0.95, texture * 0.55], -1)[inside]
            masks[t][inside] = 1
        frames[t] = np.clip(img, 0, 255).astype(np.uint8)
    return frames, masks


def demo_clip():
    """(frames (T,H,W,3) uint8, masks (T,H,W) uint8) of the demo clip."""
    try:
        from dvos_core.demo import FieldSpec, render_field
    except ImportError:
        return _procedural_clip()
    return render_field(FieldSpec(n_frames=24, height=160, width=160), seed=7)


def make_sample_data():
    """npe2 sample-data hook: the demo clip and its ground-truth masks (hidden; show them to compare)."""
    frames, masks = demo_clip()
    return [(frames, {"name": "wheat demo", "rgb": True}, "image"),
            (masks, {"name": "wheat demo ground truth", "visible": False, "opacity": 0.5}, "labels")]
