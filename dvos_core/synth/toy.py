"""Procedural stand-ins for wheat heads, fake heads and bare-field clips (tests, benchmarks, docs pictures).

Nothing here is used on real data; it lets the synthesis engine run without any annotated video.
"""

from __future__ import annotations

import cv2
import numpy as np

from dvos_core.object_format import OBJECT_ALPHA_MIN


def _texture(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    """Smooth random texture in [0, 1] (h, w) float32: noise blurred at ``scale`` plus fine grain."""
    coarse = cv2.GaussianBlur(rng.random((h, w), dtype=np.float32), (0, 0), scale)
    coarse = (coarse - coarse.min()) / max(1e-6, float(np.ptp(coarse)))
    fine = cv2.GaussianBlur(rng.random((h, w), dtype=np.float32), (0, 0), 0.8)
    return 0.7 * coarse + 0.3 * fine


def toy_head(rng: np.random.Generator, length: int = 60, width: int = 22, colour=(196, 176, 84)) -> np.ndarray:
    """An upright ellipse with spikelet stripes: (h, w, 4) uint8 RGBA, alpha 255 inside."""
    h, w = length + 4, width + 4
    alpha = np.zeros((h, w), np.uint8)
    cv2.ellipse(alpha, (w // 2, h // 2), (width // 2, length // 2), 0, 0, 360, 255, -1)
    y = np.arange(h, dtype=np.float32)[:, None]
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * y / rng.uniform(5, 8) + rng.uniform(0, 6.3))
    shade = 0.75 + 0.25 * stripes * (0.6 + 0.4 * _texture(rng, h, w, 2.0))
    rgb = np.clip(np.asarray(colour, np.float32) * shade[..., None] * rng.uniform(0.85, 1.15), 0, 255)
    return np.dstack([rgb.astype(np.uint8), alpha])


def toy_field(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A bare-field texture (soil and leaves): (h, w, 3) uint8."""
    soil = np.array([92, 78, 52], np.float32)
    leaf = np.array([58, 112, 44], np.float32)
    mix = _texture(rng, h, w, 6.0)[..., None]
    light = 0.8 + 0.4 * _texture(rng, h, w, 1.5)[..., None]
    return np.clip((soil * (1 - mix) + leaf * mix) * light, 0, 255).astype(np.uint8)


def toy_fake(rng: np.random.Generator, head: np.ndarray, field: np.ndarray) -> np.ndarray:
    """A fake head: the head's silhouette filled with field texture cut at a random spot."""
    h, w = head.shape[:2]
    y, x = rng.integers(0, field.shape[0] - h), rng.integers(0, field.shape[1] - w)
    return np.dstack([field[y : y + h, x : x + w], head[..., 3]])


def toy_background(rng: np.random.Generator, n_frames: int, height: int, width: int, pan=(0.7, 0.3)) -> np.ndarray:
    """A slowly panning bare-field clip (n_frames, height, width, 3) uint8."""
    big = toy_field(rng, height + int(abs(pan[1]) * n_frames) + 2, width + int(abs(pan[0]) * n_frames) + 2)
    out = np.empty((n_frames, height, width, 3), np.uint8)
    for t in range(n_frames):
        dx = pan[0] * t if pan[0] >= 0 else big.shape[1] - width - 1 + pan[0] * t
        dy = pan[1] * t if pan[1] >= 0 else big.shape[0] - height - 1 + pan[1] * t
        m = np.array([[1, 0, -dx], [0, 1, -dy]], np.float64)
        out[t] = cv2.warpAffine(big, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return out


def toy_halo(rng: np.random.Generator, crop: np.ndarray, field: np.ndarray, halo_px: int) -> np.ndarray:
    """``crop`` padded by ``halo_px`` with a ring of ``field`` texture around the object, stored as object extraction
    stores a real head's edge (alpha 1..127, see ``dvos_core.object_format``)."""
    from dvos_core.extract.components import halo_weights, rgba_crop

    a = np.pad(crop, ((halo_px, halo_px), (halo_px, halo_px), (0, 0)))
    obj = a[..., 3] >= OBJECT_ALPHA_MIN
    h, w = obj.shape
    y, x = rng.integers(0, field.shape[0] - h + 1), rng.integers(0, field.shape[1] - w + 1)
    frame = field[y : y + h, x : x + w].copy()
    frame[obj] = a[obj, :3]
    return rgba_crop(frame, obj, halo_weights(obj.astype(np.int32), 1, halo_px))


def toy_objects(rng: np.random.Generator, n_heads: int = 12, n_fakes: int = 12, halo_px: int = 0):
    """(heads, fakes) lists of RGBA crops of varied size and colour (green and yellow heads); with ``halo_px`` each
    keeps a ring of field around it, like objects cut from real frames (:func:`toy_halo`)."""
    field = toy_field(rng, 256, 256)
    heads = []
    for i in range(n_heads):
        colour = (196, 176, 84) if i % 2 else (120, 160, 70)
        heads.append(toy_head(rng, int(rng.integers(40, 70)), int(rng.integers(16, 26)), colour))
    fakes = [toy_fake(rng, heads[int(rng.integers(len(heads)))], field) for _ in range(n_fakes)]
    if halo_px > 0:
        heads = [toy_halo(rng, h, field, halo_px) for h in heads]
        fakes = [toy_halo(rng, f, field, halo_px) for f in fakes]
    return heads, fakes


def toy_project(
    path,
    n_heads: int = 12,
    n_fakes: int = 12,
    bg_frames: int = 24,
    bg_size=(600, 600),
    seed: int = 0,
    overwrite: bool = True,
):
    """A project with toy heads/fakes in its object bank and one toy background clip ``field``."""
    from dvos_core.store import Project

    rng = np.random.default_rng(seed)
    p = Project.create(path, overwrite=overwrite)
    heads, fakes = toy_objects(rng, n_heads, n_fakes)
    p.objects.add(
        [(h, {"kind": "head", "source": "toy"}) for h in heads]
        + [(f, {"kind": "fake", "source": "toy"}) for f in fakes]
    )
    bg = p.create_background("field", bg_size[0], bg_size[1], source="toy")
    bg.append_frames(toy_background(rng, bg_frames, bg_size[0], bg_size[1]))
    return p
