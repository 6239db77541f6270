"""Remove painted heads from a frame: fill the (dilated) head pixels with the surrounding field.

Methods: "telea" / "ns" are OpenCV's diffusion inpainting (cv2.inpaint), which continues the colours of the border
smoothly into the hole. "texture" (default) adds texture on top of that smooth fill: the fine detail (frame minus
its blur) of a head-free patch of the same frame, so large holes look like field rather than smears. Holes with no
head-free patch of their size keep the plain Telea fill.
"""

from __future__ import annotations

import cv2
import numpy as np

from dvos_core.extract.components import instance_labels

METHODS = ("texture", "telea", "ns")


def head_hole(mask, dilate_px: int = 6) -> np.ndarray:
    """Bool (H, W): the head pixels grown by ``dilate_px`` (a disc), so their halo and soft edges go too."""
    m = (np.asarray(mask) != 0).astype(np.uint8)
    if dilate_px > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate_px + 1, 2 * dilate_px + 1))
        m = cv2.dilate(m, k)
    return m.astype(bool)


def _donor(hole_integral, box, shape, rng, tries: int):
    """Top-left (y, x) of a box of the same size with no hole pixel, or None."""
    h, w = box
    H, W = shape
    if h >= H or w >= W:
        return None
    for _ in range(tries):
        y, x = int(rng.integers(0, H - h + 1)), int(rng.integers(0, W - w + 1))
        s = hole_integral
        if s[y + h, x + w] - s[y, x + w] - s[y + h, x] + s[y, x] == 0:
            return y, x
    return None


def inpaint_heads(
    frame,
    mask,
    dilate_px: int = 6,
    method: str = "texture",
    radius: int = 5,
    detail_sigma: float = 3.0,
    seed: int = 0,
    tries: int = 300,
) -> tuple[np.ndarray, dict]:
    """``frame`` (H, W, 3) uint8 with the heads of ``mask`` (non-zero, grown by ``dilate_px``) filled in.

    Returns ``(image, info)``; info counts the heads (``heads``: the mask's 8-connected regions, as
    :func:`~dvos_core.extract.components.instance_labels` counts them), the holes filled (``holes``: the grown heads,
    fewer where grown heads touch) and how many holes got texture from a head-free patch. Pixels outside the grown
    mask are unchanged.
    """
    if method not in METHODS:
        raise ValueError(f"inpaint method must be one of {METHODS}, got {method!r}")
    f = np.asarray(frame)
    if f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3:
        raise ValueError(f"frame must be (H, W, 3) uint8, got {f.shape} {f.dtype}")
    if np.asarray(mask).shape != f.shape[:2]:
        raise ValueError(f"mask has shape {np.asarray(mask).shape}, the frame {f.shape[:2]}")
    hole = head_hole(mask, dilate_px)
    heads = instance_labels(mask)[1]  # before growing them: heads a few pixels apart merge into one hole
    info = {"heads": heads, "holes": 0, "textured": 0, "hole_share": float(hole.mean())}
    if not hole.any():
        return f.copy(), info
    if hole.all():
        raise ValueError(
            f"the heads (grown by --dilate {dilate_px} px) cover the whole frame; nothing is left to fill from"
        )
    flags = cv2.INPAINT_NS if method == "ns" else cv2.INPAINT_TELEA
    out = cv2.inpaint(np.ascontiguousarray(f), hole.astype(np.uint8), radius, flags)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(hole.astype(np.uint8), connectivity=8)
    info["holes"] = int(n - 1)
    if method != "texture":
        return out, info
    rng = np.random.default_rng(seed)
    ff = f.astype(np.float32)
    detail = ff - cv2.GaussianBlur(ff, (0, 0), detail_sigma)
    integral = np.pad(hole.cumsum(0).cumsum(1), ((1, 0), (1, 0))).astype(np.int64)
    res = out.astype(np.float32)
    for k in range(1, n):
        x0, y0, w, h = (int(v) for v in stats[k, :4])
        where = _donor(integral, (h, w), hole.shape, rng, tries)
        if where is None:
            continue
        dy, dx = where
        sel = labels[y0 : y0 + h, x0 : x0 + w] == k
        patch = detail[dy : dy + h, dx : dx + w]
        res[y0 : y0 + h, x0 : x0 + w][sel] += patch[sel]
        info["textured"] += 1
    out = np.clip(res + 0.5, 0, 255).astype(np.uint8)
    out[~hole] = f[~hole]
    return out, info
