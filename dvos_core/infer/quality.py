"""Per-frame quality of pseudo-labels: model uncertainty and temporal flicker, combined into one score in [0, 1].

* ``uncertainty``: over the pixels that any pass calls foreground, the mean of ``4 * Var_k[p_k]`` where ``p_k`` are
  the probabilities of K passes (stochastic forwards, or flip test-time augmentation). A probability's variance is
  at most 1/4, so the value is in [0, 1]: 0 = all passes agree, 1 = passes split hard between 0 and 1.
* ``flicker``: ``1 - Dice`` between the frame's mask and its neighbouring frames' masks (mean over the neighbours
  t-1 and t+1 that are available); in [0, 1]. Heads move little between consecutive frames, so a mask that jumps is
  suspect. NaN when no neighbour was labelled in the same run.
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


def mask_flicker(a, b) -> float:
    """1 - Dice between two masks (+1 smoothing, so two empty masks give 0 flicker)."""
    return 1.0 - dice(a, b)


def flicker(mask, prev=None, nxt=None) -> float:
    """Mean flicker of ``mask`` against the given neighbours; NaN without neighbours."""
    vals = [mask_flicker(mask, m) for m in (prev, nxt) if m is not None]
    return float(np.mean(vals)) if vals else float("nan")


def quality_score(uncert: float, flick: float | None) -> float:
    """``(1 - uncertainty) * (1 - flicker)`` in [0, 1]; NaN/None flicker counts as 0."""
    f = 0.0 if flick is None or (isinstance(flick, float) and math.isnan(flick)) else float(flick)
    u = 0.0 if uncert is None or math.isnan(uncert) else float(uncert)
    return float(np.clip((1.0 - u) * (1.0 - f), 0.0, 1.0))
