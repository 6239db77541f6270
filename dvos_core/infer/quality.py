"""Per-frame quality of pseudo-labels: model uncertainty and temporal flicker, combined into one score in [0, 1].

* ``uncertainty``: over the pixels that any pass calls foreground, the mean of ``4 * Var_k[p_k]`` where ``p_k`` are
  the probabilities of K passes (stochastic forwards, or flip test-time augmentation). A probability's variance is
  at most 1/4, so the value is in [0, 1]: 0 = all passes agree, 1 = passes split hard between 0 and 1.
* ``flicker``: ``1 - Dice`` between the frame's mask and its neighbouring frames' masks (mean over the neighbours
  t-1 and t+1 that are available); in [0, 1]. Each neighbour is first aligned onto frame t by the camera motion
  between the two frames (a similarity transform measured on the field around the masks, see
  :mod:`dvos_core.motion`), and Dice counts only the pixels both frames show. Heads move little relative to the
  field between consecutive frames, so a mask that still jumps after alignment is suspect. NaN when no neighbour
  was labelled in the same run.
* ``quality = (1 - uncertainty) * (1 - flicker)``; a missing flicker counts as 0. Higher is better.
"""

from __future__ import annotations

import math

import numpy as np

from dvos_core.evaluate.metrics import dice


def uncertainty(passes: np.ndarray, threshold: float = 0.5) -> float:
    """Normalised variance of K probability maps (K, H, W) over the pixels any pass calls foreground."""
    p = np.asarray(passes, dtype=np.float32)
    if p.ndim != 3:
        raise ValueError(f"uncertainty needs (K, H, W) probabilities, got {p.shape}")
    if p.shape[0] < 2:
        return 0.0
    region = (p >= threshold).any(axis=0)
    if not region.any():
        return 0.0
    var = p[:, region].var(axis=0)
    return float(np.clip(4.0 * var.mean(), 0.0, 1.0))


def mask_flicker(a, b, matrix=None) -> float:
    """1 - Dice between mask ``a`` and mask ``b`` (+1 smoothing, so two empty masks give 0 flicker).

    With ``matrix`` (2x3, b's frame -> a's frame), ``b`` is first warped onto ``a``'s frame and only the pixels of
    ``a``'s frame that ``b``'s frame also shows are compared.
    """
    if matrix is None:
        return 1.0 - dice(a, b)
    from dvos_core.motion.transforms import valid_region, warp_to

    a = np.asarray(a) != 0
    valid = valid_region(matrix, a.shape)
    warped = warp_to(np.asarray(b, np.uint8), matrix, a.shape) != 0
    return 1.0 - dice(a & valid, warped & valid)


def flicker(mask, prev=None, nxt=None, prev_matrix=None, next_matrix=None) -> float:
    """Mean flicker of ``mask`` against the given neighbours; NaN without neighbours.

    ``prev_matrix`` maps frame t-1 onto frame t and ``next_matrix`` frame t+1 onto frame t (2x3, see
    :mod:`dvos_core.motion.transforms`); without them the masks are compared unaligned.
    """
    vals = [mask_flicker(mask, m, mat) for m, mat in ((prev, prev_matrix), (nxt, next_matrix)) if m is not None]
    return float(np.mean(vals)) if vals else float("nan")


def camera_motion(frame_a, frame_b, mask_a=None, mask_b=None) -> np.ndarray | None:
    """2x3 camera motion from frame a to frame b measured on the field (pixels of ``mask_a`` / ``mask_b``, dilated,
    are ignored), or None when it cannot be measured reliably (flat frames, masks covering nearly everything)."""
    from dvos_core.motion.global_motion import estimate_pair

    pm = estimate_pair(frame_a, frame_b, mask_a, mask_b)
    return pm.matrix if pm.ok else None


def quality_score(uncert: float, flick: float | None) -> float:
    """``(1 - uncertainty) * (1 - flicker)`` in [0, 1]; NaN/None flicker counts as 0."""
    f = 0.0 if flick is None or (isinstance(flick, float) and math.isnan(flick)) else float(flick)
    u = 0.0 if uncert is None or math.isnan(uncert) else float(uncert)
    return float(np.clip((1.0 - u) * (1.0 - f), 0.0, 1.0))
