"""Similarity transforms between frames: build, decompose, compose, and warp a frame or mask onto another frame.

Convention used throughout :mod:`dvos_core.motion`: the 2x3 matrix of a pair (t-1, t) maps pixel coordinates
(x right, y down, pixel centres at integers) of frame t-1 onto frame t, so ``cv2.warpAffine(prev, M, (W, H))``
aligns frame t-1 onto frame t. ``dx, dy`` are the displacement of the frame centre, ``rotation_deg`` the angle in
these image coordinates (positive turns x towards y, i.e. clockwise on screen) and ``scale`` the zoom factor.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def grey_uint8(frame: np.ndarray) -> np.ndarray:
    """An (H, W, 3) RGB or (H, W) frame as (H, W) uint8 grey (what the motion estimators measure)."""
    f = np.asarray(frame)
    if f.ndim == 3 and f.shape[2] == 3:
        f = cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY)
    elif f.ndim != 2:
        raise ValueError(f"a frame must be (H, W, 3) RGB or (H, W) grey, got shape {f.shape}")
    if f.dtype != np.uint8:
        f = np.clip(f, 0, 255).astype(np.uint8)
    return f


def frame_centre(shape) -> tuple[float, float]:
    """(cx, cy) of an (H, W, ...) frame in pixel coordinates."""
    return (shape[1] - 1) / 2.0, (shape[0] - 1) / 2.0


def to3x3(matrix) -> np.ndarray:
    """A 2x3 (or 3x3) affine matrix as 3x3 float64."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape == (3, 3):
        return m.copy()
    if m.shape != (2, 3):
        raise ValueError(f"an affine matrix must be 2x3 or 3x3, got shape {m.shape}")
    return np.vstack([m, [0.0, 0.0, 1.0]])


def compose(*matrices) -> np.ndarray:
    """The 2x3 matrix applying ``matrices[0]`` first, then ``matrices[1]``, ... (each 2x3 or 3x3)."""
    out = np.eye(3)
    for m in matrices:
        out = to3x3(m) @ out
    return out[:2]


def invert(matrix) -> np.ndarray:
    """Inverse of a 2x3 affine matrix (maps frame t back onto frame t-1)."""
    return np.linalg.inv(to3x3(matrix))[:2]


def similarity_matrix(dx: float, dy: float, rotation_deg: float, scale: float, centre) -> np.ndarray:
    """2x3 matrix that rotates by ``rotation_deg`` and zooms by ``scale`` about ``centre`` (cx, cy) and then moves
    the centre by (dx, dy): the inverse of :func:`decompose`."""
    a = math.radians(rotation_deg)
    c, s = scale * math.cos(a), scale * math.sin(a)
    cx, cy = centre
    return np.array([[c, -s, cx + dx - (c * cx - s * cy)], [s, c, cy + dy - (s * cx + c * cy)]])


def decompose(matrix, centre) -> dict:
    """(dx, dy, rotation_deg, scale) of the closest similarity to ``matrix``; (dx, dy) moves ``centre``."""
    m = to3x3(matrix)
    a, b = (m[0, 0] + m[1, 1]) / 2.0, (m[1, 0] - m[0, 1]) / 2.0
    cx, cy = centre
    x, y = m[0, 0] * cx + m[0, 1] * cy + m[0, 2], m[1, 0] * cx + m[1, 1] * cy + m[1, 2]
    return {
        "dx": float(x - cx),
        "dy": float(y - cy),
        "rotation_deg": float(math.degrees(math.atan2(b, a))),
        "scale": float(math.hypot(a, b)),
    }


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two equally shaped pixel arrays, in [-1, 1]."""
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (np.sqrt((a * a).sum() * (b * b).sum()) + 1e-6))


def rescale(matrix, factor: float) -> np.ndarray:
    """A matrix estimated on frames resized by ``factor`` (cv2.resize pixel-centre convention) expressed in the
    original frames' coordinates."""
    f = float(factor)
    s = np.array([[f, 0.0, 0.5 * f - 0.5], [0.0, f, 0.5 * f - 0.5], [0.0, 0.0, 1.0]])
    return (np.linalg.inv(s) @ to3x3(matrix) @ s)[:2]


def warp_to(image, matrix, shape, nearest: bool | None = None, border: str = "constant", fill=0) -> np.ndarray:
    """Warp ``image`` (a neighbour frame (h, w, 3) or mask (h, w)) onto a frame of ``shape`` (H, W, ...).

    ``matrix`` maps the neighbour's coordinates onto the target frame (see the module docstring). Masks (2-D
    arrays, or ``nearest=True``) use nearest-neighbour sampling so labels stay labels; frames use bilinear.
    ``border``: "constant" (``fill`` outside the neighbour; combine with :func:`valid_region`) or "reflect".
    """
    img = np.asarray(image)
    if nearest is None:
        nearest = img.ndim == 2
    h, w = int(shape[0]), int(shape[1])
    dtype = img.dtype
    src = img.view(np.uint8) if dtype.kind == "b" else img
    out = cv2.warpAffine(
        np.ascontiguousarray(src),
        np.asarray(to3x3(matrix)[:2], np.float64),
        (w, h),
        flags=cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT_101 if border == "reflect" else cv2.BORDER_CONSTANT,
        borderValue=fill,
    )
    return out.view(bool) if dtype.kind == "b" else out


def valid_region(matrix, source_shape, shape=None, margin: int = 1) -> np.ndarray:
    """Bool (H, W) mask of the target pixels that a warp by ``matrix`` fills from inside the source frame
    (``margin`` px eroded so bilinear edges do not count)."""
    shape = source_shape if shape is None else shape
    ones = np.ones(tuple(int(s) for s in source_shape[:2]), np.uint8)
    v = warp_to(ones, matrix, shape, nearest=True)
    if margin > 0:
        v = cv2.erode(v, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8))
    return v.astype(bool)
