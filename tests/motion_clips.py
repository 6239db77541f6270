"""Test clips filmed by a known synthetic camera over a real textured image (scikit-image's bundled pictures),
optionally with painted "heads" (discs) that move with the field, and their exact masks."""

from __future__ import annotations

import cv2
import numpy as np

from dvos_core.motion.transforms import frame_centre, similarity_matrix, to3x3


def texture(name: str = "astronaut", size: int = 1024, dark: bool = False) -> np.ndarray:
    """A bundled scikit-image picture as a size x size RGB world (grey ones tinted green); ``dark`` keeps every
    channel below 110 so that bright heads stand out."""
    from skimage import data

    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.stack([img * 0.7, img, img * 0.5], -1).astype(np.uint8)
    img = cv2.resize(img[..., :3], (size, size), interpolation=cv2.INTER_CUBIC)
    if dark:
        img = (20 + img.astype(np.float32) * (80 / 255)).astype(np.uint8)
    return img


def paint_heads(world: np.ndarray, n: int, radius=(7, 11), seed: int = 0, colour=(230, 200, 60)):
    """Paint ``n`` discs on a copy of ``world``; returns (world, mask (H, W) uint8, centres (n, 2) xy)."""
    rng = np.random.default_rng(seed)
    world = world.copy()
    mask = np.zeros(world.shape[:2], np.uint8)
    h, w = mask.shape
    centres = rng.uniform([40, 40], [w - 40, h - 40], (n, 2))
    for (x, y), r in zip(centres, rng.integers(radius[0], radius[1] + 1, n)):
        cv2.circle(world, (int(x), int(y)), int(r), colour, -1)
        cv2.circle(mask, (int(x), int(y)), int(r), 1, -1)
    return world, mask, centres


def camera_clip(world, steps, size=(160, 160), world_mask=None, start=None):
    """Film ``world`` with a camera whose pair motions are ``steps``: a list of (dx, dy, rotation_deg, scale) per
    frame pair (about the frame centre). Returns (frames (T,H,W,3), masks (T,H,W) or None, true pair matrices
    (T-1, 2, 3))."""
    h, w = size
    hw, ww = world.shape[:2]
    sx, sy = start if start is not None else ((ww - 1) / 2, (hw - 1) / 2)
    cam = np.array([[1.0, 0, (w - 1) / 2 - sx], [0, 1.0, (h - 1) / 2 - sy], [0, 0, 1]])
    c = frame_centre((h, w))
    pairs = [to3x3(similarity_matrix(dx, dy, rot, sc, c)) for dx, dy, rot, sc in steps]
    frames, masks = [], []
    for t in range(len(steps) + 1):
        if t:
            cam = pairs[t - 1] @ cam
        frames.append(cv2.warpAffine(world, cam[:2], (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
        if world_mask is not None:
            masks.append(cv2.warpAffine(world_mask, cam[:2], (w, h), flags=cv2.INTER_NEAREST))
    truth = np.array([p[:2] for p in pairs]).reshape(len(steps), 2, 3)
    return np.stack(frames), (np.stack(masks) if masks else None), truth


def fast_pan(n_pairs: int, seed: int = 0, speed=(15, 25)):
    """Pair steps of a fast camera: 15-25 px/frame in a slowly turning direction, small roll and zoom."""
    rng = np.random.default_rng(seed)
    a0 = rng.uniform(0, 2 * np.pi)
    out = []
    for k in range(n_pairs):
        s, a = rng.uniform(*speed), a0 + 0.15 * k
        out.append((s * np.cos(a), s * np.sin(a), rng.uniform(-0.5, 0.5), 1 + rng.uniform(-0.005, 0.005)))
    return out


def smeared(frames, length: int, sigma: float, seed: int = 0):
    """Each frame smeared by a ``length`` px motion streak at its own angle (a gust) with per-pixel sensor noise."""
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for f in frames:
        k = np.zeros((length, length), np.float32)
        a, c = rng.uniform(0, np.pi), (length - 1) / 2
        for s in np.linspace(-c, c, 4 * length):
            k[round(c + s * np.sin(a)), round(c + s * np.cos(a))] = 1
        g = cv2.filter2D(f.astype(np.float32), -1, k / k.sum(), borderType=cv2.BORDER_REFLECT)
        out.append(np.clip(g + rng.normal(0, sigma, g.shape), 0, 255).astype(np.uint8))
    return np.stack(out)
