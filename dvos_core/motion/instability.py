"""Temporal instability of predicted masks: how much they change from frame to frame beyond the camera motion."""

from __future__ import annotations

import numpy as np

from dvos_core.evaluate.metrics import binary_mask, iou_from_counts
from dvos_core.motion.transforms import valid_region, warp_to


def _matrices(masks_shape, frames, matrices):
    from dvos_core.motion.global_motion import GlobalMotion, estimate_global_motion

    n = masks_shape[0]
    if matrices is None:
        if frames is None:
            raise ValueError(
                "temporal_instability needs the frames (to measure the camera motion) or the pair matrices; "
                "pass matrices=np.tile(np.eye(2, 3), (T - 1, 1, 1)) to compare unaligned masks on purpose"
            )
        if len(frames) != n:
            raise ValueError(
                f"temporal_instability got {len(frames)} frames for {n} masks: pass the frames the masks belong to, "
                f"one per mask (or the {max(n - 1, 0)} pair matrices, matrices=)"
            )
        matrices = estimate_global_motion(frames)
    if isinstance(matrices, GlobalMotion):
        if len(matrices) and np.any(matrices.pairs != np.arange(len(matrices))):
            raise ValueError("the GlobalMotion must cover every consecutive pair from frame 0 (no max_pairs)")
        matrices = matrices.matrices
    m = np.asarray(matrices, np.float64)
    if m.shape != (max(n - 1, 0), 2, 3):
        raise ValueError(f"need {max(n - 1, 0)} pair matrices of shape (2, 3) for {n} masks, got {m.shape}")
    return m


def instability_per_pair(pred_masks, frames=None, matrices=None) -> np.ndarray:
    """(T-1,) values 1 - IoU(pred[t], pred[t-1] warped onto frame t), over the pixels frame t-1 also shows.

    ``matrices``: (T-1, 2, 3) pair transforms (frame t-1 -> t) or a GlobalMotion of the same frames; else they
    are measured from ``frames``. IoU has +1 smoothing (two empty masks agree), as in
    :mod:`dvos_core.evaluate.metrics`, and the masks are checked as there (any non-zero value is foreground; a
    probability map or NaN is refused: threshold it first).
    """
    masks = pred_masks
    shape = tuple(np.asarray(masks[0]).shape) if len(masks) else (0, 0)
    m = _matrices((len(masks), *shape), frames, matrices)
    out = np.empty(len(m))
    prev = binary_mask(masks[0], "pred_masks[0]") if len(masks) else None
    for t in range(1, len(masks)):
        cur = binary_mask(masks[t], f"pred_masks[{t}]")
        if cur.shape != prev.shape:
            raise ValueError(f"mask {t} has shape {cur.shape}, mask {t - 1} {prev.shape}")
        warped = warp_to(prev.astype(np.uint8), m[t - 1], cur.shape) != 0
        valid = valid_region(m[t - 1], cur.shape)
        a, b = cur & valid, warped & valid
        inter = int(np.count_nonzero(a & b))
        out[t - 1] = 1.0 - iou_from_counts(inter, int(np.count_nonzero(a)), int(np.count_nonzero(b)))
        prev = cur
    return out


def temporal_instability(pred_masks, frames=None, matrices=None) -> float:
    """Mean over consecutive frames of 1 - IoU(pred[t], pred[t-1] aligned onto frame t by the frames' global
    similarity motion); lower is steadier, NaN for fewer than two masks. See :func:`instability_per_pair`.

    To compare models fairly, measure the motion once per video from the frames
    (``estimate_global_motion(frames)``) and pass the same ``matrices`` for every model.
    """
    v = instability_per_pair(pred_masks, frames, matrices)
    return float(v.mean()) if len(v) else float("nan")
