"""Following the heads' own sway: dense optical flow from frame t to a neighbour already aligned by the camera.

The camera alignment (:mod:`dvos_core.motion.align`) leaves what moves on its own - heads swaying in the wind. A
neighbour's map (a probability, its mask) is moved onto frame t along the dense flow (OpenCV's DIS) between frame t
and the aligned neighbour (``dvos smooth``, :mod:`dvos_core.infer.smooth`). Two things keep the flow from doing harm:

* the neighbour's pixels that the camera alignment could not fill (outside the part of it that lands in frame t)
  are replaced by frame t's own before the flow is computed, so the flow does not reach for the empty border
  (without this, on fast footage, true masks 4 frames apart overlapped 0.45 after following the flow, 0.90 before);
* the flow is kept only where it is consistent forwards and backwards (a degraded frame t - blurred, noisy,
  flickering, a leaf across it - gives flow that does not invert; there the camera alignment alone is kept).

Measured in docs/benchmarks.md (Accuracy, "smoothing follows the sway only where the flow holds").
"""

from __future__ import annotations

import cv2
import numpy as np

CONSISTENT_PX = 1.0  # forward-backward disagreement (px) up to which the flow is trusted
GATE_BLUR = 2.0  # sigma (px) that softens the trusted region's edges
# OpenCV's DIS flow fails on frames under 16 px on a side (an error, or a crash of the whole process at 8-15 px
# high); below this the sway is not followed (no flow: the camera alignment alone), as no head sways visibly there
MIN_FLOW_SIDE = 32
# frames longer than this (px) get their flow computed on a copy shrunk to it and scaled back up: at full resolution
# DIS took half of `dvos smooth`'s time (8 flows per frame). On 1080x1920 pairs of swaying discs (tests/test_sway.py's,
# three seeds) a flow took 0.22 s at full size and 0.062 s at 960 (0.035 s at 640, 0.031 s at 480), and the moved
# mask's IoU with frame t's was 0.684 / 0.681 (0.679 / 0.612); frames up to it are computed as they are
MAX_FLOW_SIDE = 960


def flow_image(frame: np.ndarray) -> np.ndarray:
    """The grey, lightly blurred, exposure-normalised uint8 image the flow is computed on (RGB or grey input)."""
    g = frame if frame.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    g = cv2.GaussianBlur(g.astype(np.float32), (0, 0), 1.0)
    return np.clip(g * (110.0 / (g.mean() + 1e-6)), 0, 255).astype(np.uint8)


def flow_input(frame: np.ndarray) -> np.ndarray:
    """The image a frame's sway flow is computed on: its :func:`flow_image`, shrunk to :data:`MAX_FLOW_SIDE` px when
    longer (what :func:`sway_flow` makes of either frame; pass frame t's as ``current_input`` to make it once)."""
    a = flow_image(frame)
    h, w = frame.shape[:2]
    f = min(1.0, MAX_FLOW_SIDE / max(h, w))
    if f < 1.0:
        small = (max(MIN_FLOW_SIDE, round(w * f)), max(MIN_FLOW_SIDE, round(h * f)))
        a = cv2.resize(a, small, interpolation=cv2.INTER_AREA)
    return a


def _grid(shape) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    return xs, ys


def follow(values: np.ndarray, flow: np.ndarray, border: str = "replicate") -> np.ndarray:
    """``values`` (H, W) or (H, W, C) float32 of the aligned neighbour, moved onto frame t along ``flow`` (from
    :func:`sway_flow`); ``border``: "replicate" (pixels) or "constant" (0: masks, coverage)."""
    xs, ys = _grid(flow.shape[:2])
    mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    return cv2.remap(
        np.asarray(values, np.float32), xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=mode
    )


def sway_flow(
    current: np.ndarray, neighbour: np.ndarray, cover: np.ndarray | None = None, current_input: np.ndarray | None = None
) -> np.ndarray:
    """Flow (H, W, 2) float32 from frame t to its camera-aligned neighbour, zero where it is not consistent.

    ``current``, ``neighbour``: uint8 frames (RGB or grey) of the same shape, the neighbour already warped onto
    frame t; ``cover``: (H, W), > 0.5 where the warped neighbour holds real pixels (elsewhere frame t's own pixels
    stand in for it, before both are made :func:`flow_image` s; None = everywhere). Frames under
    :data:`MIN_FLOW_SIDE` px on a side get no flow (zero); frames longer than :data:`MAX_FLOW_SIDE` px get it
    computed on a copy shrunk to that size, scaled back up. ``current_input``: :func:`flow_input` of ``current``,
    when already made (frame t's serves all its neighbours)."""
    if current.shape != neighbour.shape:
        raise ValueError(f"sway flow needs frames of one shape, got {current.shape} and {neighbour.shape}")
    if cover is not None:
        inside = np.asarray(cover) > 0.5
        neighbour = np.where(inside if neighbour.ndim == 2 else inside[..., None], neighbour, current)
    h, w = current.shape[:2]
    if min(h, w) < MIN_FLOW_SIDE:
        return np.zeros((h, w, 2), np.float32)
    # on frames longer than MAX_FLOW_SIDE computed on shrunk copies (in their own pixels), then scaled back
    a = flow_input(current) if current_input is None else current_input
    b = flow_input(neighbour)
    fy, fx = a.shape[0] / h, a.shape[1] / w
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    forward = dis.calc(a, b, None)
    backward = dis.calc(b, a, None)
    gap = forward + follow(backward, forward)
    # np.linalg.norm(gap, axis=-1)'s very operations, without its slow reduction over an axis of two
    disagreement = np.sqrt(gap[..., 0] * gap[..., 0] + gap[..., 1] * gap[..., 1])
    # the same tolerance and softening in frame pixels, whatever the size the flow was computed at
    trust = cv2.GaussianBlur((disagreement < CONSISTENT_PX * fx).astype(np.float32), (0, 0), GATE_BLUR * fx)
    flow = forward * trust[..., None]
    if (fy, fx) == (1.0, 1.0):
        return flow
    flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
    flow[..., 0] /= fx
    flow[..., 1] /= fy
    return flow
