"""Residual local motion: what still moves after the camera motion is compensated (wind sway, leaves, parallax)."""

from __future__ import annotations

import cv2
import numpy as np

from dvos_core.motion.transforms import grey_uint8, to3x3, valid_region

PERCENTILES = (50, 90, 99)


def residual_flow(prev, cur, matrix, max_side: int = 320) -> tuple[np.ndarray, np.ndarray, float]:
    """Farneback flow from ``prev`` warped onto ``cur`` by ``matrix`` (frame t-1 -> t), on grey copies at most
    ``max_side`` px wide. Returns (flow (h, w, 2) in full-resolution px, valid (h, w) bool, resize factor)."""
    a, b = grey_uint8(prev), grey_uint8(cur)
    h, w = b.shape
    f = min(1.0, max_side / max(h, w))
    m = to3x3(matrix)
    if f < 1.0:
        size = (max(8, round(w * f)), max(8, round(h * f)))
        a = cv2.resize(a, size, interpolation=cv2.INTER_AREA)
        b = cv2.resize(b, size, interpolation=cv2.INTER_AREA)
        s = np.array([[f, 0.0, 0.5 * f - 0.5], [0.0, f, 0.5 * f - 0.5], [0.0, 0.0, 1.0]])
        m = s @ m @ np.linalg.inv(s)  # the inverse of rescale(): full-resolution -> analysed coordinates
    aligned = cv2.warpAffine(a, m[:2], b.shape[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    valid = valid_region(m, a.shape, b.shape, margin=8)  # Farneback windows reach past the edge
    flow = cv2.calcOpticalFlowFarneback(aligned, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    return flow / f, valid, f


def residual_motion(prev, cur, matrix, max_side: int = 320) -> tuple[float, float, float]:
    """(p50, p90, p99) of the residual flow magnitude in px/frame over the pixels both frames show."""
    flow, valid, _ = residual_flow(prev, cur, matrix, max_side)
    mag = np.hypot(flow[..., 0], flow[..., 1])[valid]
    if mag.size == 0:
        return (float("nan"),) * 3
    return tuple(float(v) for v in np.percentile(mag, PERCENTILES))
