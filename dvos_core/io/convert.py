"""Pixel-format normalisation: every frame entering the store is (H, W, 3) uint8 RGB."""

from __future__ import annotations

import numpy as np


def to_rgb8(frame, where: str = "") -> np.ndarray:
    """Return ``frame`` as (H, W, 3) uint8 RGB.

    Accepts grayscale (H, W) or (H, W, 1) (copied to 3 channels), RGBA (alpha dropped), uint16 (scaled by 255/65535),
    other unsigned/signed integers in 0..255, and floats in [0, 1]. Anything else raises ValueError naming ``where``.
    """
    a = np.asarray(frame)
    name = where or "frame"
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[..., :3]
    elif not (a.ndim == 3 and a.shape[2] == 3):
        raise ValueError(f"{name}: image has shape {a.shape}; expected (H, W), (H, W, 3) RGB or (H, W, 4) RGBA")
    if min(a.shape[:2]) < 1:
        raise ValueError(f"{name}: image is empty (shape {a.shape})")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype == np.uint16:
        return ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.integer):
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi > 255:
            raise ValueError(
                f"{name}: integer image ({a.dtype}) has values {lo}..{hi}; expected 0..255 (convert it to 8-bit first)"
            )
        return a.astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)):
            raise ValueError(
                f"{name}: float image contains NaN or infinite values (pixels without a value, e.g. from a failed "
                f"division); replace them (e.g. numpy.nan_to_num) or save the frames as 8- or 16-bit images first"
            )
        lo, hi = float(a.min()), float(a.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"{name}: float image has values {lo:.3g}..{hi:.3g}; dvos reads float frames in the range [0, 1] "
                f"(0 = black, 1 = white). Scale them into that range (e.g. divide by their maximum) or save them as "
                f"8- or 16-bit images first"
            )
        return np.round(a * 255.0).astype(np.uint8)
    raise ValueError(f"{name}: unsupported pixel type {a.dtype}; expected uint8, uint16 or float in [0, 1]")
