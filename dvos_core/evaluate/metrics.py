"""Per-frame segmentation metrics on binary masks: Dice, IoU, boundary F-measure, object counts.

Conventions (see docs/evaluation.md):

* Dice and IoU use +1 smoothing on numerator and denominator, as the paper's code does:
  ``Dice = (2|P∩G| + 1) / (|P| + |G| + 1)`` and ``IoU = (|P∩G| + 1) / (|P∪G| + 1)``. An empty prediction on an
  empty frame therefore scores 1, and the smoothing is negligible on frames with thousands of foreground pixels.
  ``smooth=0`` gives the plain definitions (empty vs empty is then defined as 1).
* Any non-zero value is foreground. A float array holding values strictly between 0 and 1 (a probability map) or
  NaN is refused: threshold it first (``prob >= 0.5``, as ``dvos predict`` stores its masks).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def binary_mask(mask, name: str) -> np.ndarray:
    """``mask`` as a boolean (H, W) array (any non-zero value is foreground); a clear error for a mask that is not
    2-D, or a float array holding NaN, infinities or values strictly between 0 and 1 (a probability map), named
    ``name`` in the message. Every metric on masks checks them with it."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (H, W) mask, got shape {m.shape}")
    if m.dtype.kind in "fc":  # a probability map would silently count every faint pixel as foreground
        finite = np.isfinite(m)
        if not finite.all():
            raise ValueError(f"{name} holds NaN or infinite values; a mask is 0 (background) or 1 (foreground)")
        if np.any((m > 0) & (m < 1)):
            raise ValueError(
                f"{name} holds values between 0 and 1 (a probability map?); a mask is 0 (background) or non-zero "
                f"(foreground): threshold it first, e.g. `{name} >= 0.5` (the masks `dvos predict` stores)"
            )
    return m != 0


def _pair(pred, gt):
    p, g = binary_mask(pred, "pred"), binary_mask(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred {p.shape} and gt {g.shape} have different shapes; predict at the frame size")
    return p, g


def overlap_counts(pred, gt) -> tuple[int, int, int]:
    """(|P∩G|, |P|, |G|) in pixels."""
    p, g = _pair(pred, gt)
    return int(np.count_nonzero(p & g)), int(np.count_nonzero(p)), int(np.count_nonzero(g))


def dice_from_counts(inter: int, n_pred: int, n_gt: int, smooth: float = 1.0) -> float:
    den = n_pred + n_gt + smooth
    return float((2 * inter + smooth) / den) if den > 0 else 1.0


def iou_from_counts(inter: int, n_pred: int, n_gt: int, smooth: float = 1.0) -> float:
    den = n_pred + n_gt - inter + smooth
    return float((inter + smooth) / den) if den > 0 else 1.0


def dice(pred, gt, smooth: float = 1.0) -> float:
    """Dice coefficient of two binary masks with +``smooth`` smoothing (empty vs empty = 1)."""
    return dice_from_counts(*overlap_counts(pred, gt), smooth=smooth)


def iou(pred, gt, smooth: float = 1.0) -> float:
    """Intersection over union (Jaccard) with +``smooth`` smoothing (empty vs empty = 1)."""
    return iou_from_counts(*overlap_counts(pred, gt), smooth=smooth)


def boundary(mask) -> np.ndarray:
    """Inner boundary pixels of a binary mask: foreground pixels with a 4-connected background neighbour.

    Pixels on the image border are not boundary unless the mask ends there next to background.
    """
    from scipy import ndimage

    m = binary_mask(mask, "mask")
    eroded = ndimage.binary_erosion(m, structure=ndimage.generate_binary_structure(2, 1), border_value=1)
    return m & ~eroded


def check_tolerance(tolerance) -> None:
    """Refuse a boundary tolerance that is not a number >= 0 (pixels), naming the option."""
    try:
        ok = float(tolerance) >= 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"the boundary tolerance must be >= 0 pixels (--tolerance, tolerance=), got {tolerance!r}")


def boundary_precision_recall(pred, gt, tolerance: float = 2.0) -> tuple[float, float]:
    """Boundary precision (predicted boundary pixels within ``tolerance`` px of the true boundary) and recall.

    Distances are Euclidean, from a distance transform. Both boundaries empty: (1, 1) when the masks agree (both
    empty, or both full), (0, 0) when one is empty and the other full; one empty: 0 for the side that has pixels to
    match and 1 for the empty side (nothing to miss). ``tolerance`` must be >= 0.
    """
    from scipy import ndimage

    check_tolerance(tolerance)
    p, g = _pair(pred, gt)
    bp, bg = boundary(p), boundary(g)
    n_p, n_g = int(bp.sum()), int(bg.sum())
    if n_p == 0 and n_g == 0:
        return (1.0, 1.0) if bool(p.any()) == bool(g.any()) else (0.0, 0.0)
    if n_p == 0:
        return 1.0, 0.0
    if n_g == 0:
        return 0.0, 1.0
    dist_to_g = ndimage.distance_transform_edt(~bg)
    dist_to_p = ndimage.distance_transform_edt(~bp)
    precision = float((dist_to_g[bp] <= tolerance).mean())
    recall = float((dist_to_p[bg] <= tolerance).mean())
    return precision, recall


def boundary_f(pred, gt, tolerance: float = 2.0) -> float:
    """Boundary F-measure: harmonic mean of boundary precision and recall at ``tolerance`` pixels."""
    precision, recall = boundary_precision_recall(pred, gt, tolerance)
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


def count_objects(mask, min_area: int = 1, connectivity: int = 8) -> int:
    """Number of connected foreground components with at least ``min_area`` pixels (4- or 8-connectivity)."""
    from scipy import ndimage

    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")
    m = binary_mask(mask, "mask")
    structure = ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)
    labels, n = ndimage.label(m, structure=structure)
    if n == 0 or min_area <= 1:
        return int(n)
    areas = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    return int(np.count_nonzero(areas >= min_area))


def head_parts(mask, min_area: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The heads of a mask as :func:`count_objects` counts them (8-connected parts of at least ``min_area``
    pixels): a label map (H, W) int32 numbering them 1..n (0 = background and smaller specks) and their (n, 3)
    [area, centroid y, centroid x]."""
    import cv2

    m = binary_mask(mask, "mask")  # the same foreground as count_objects (any non-zero value)
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(m.astype(np.uint8), 8)
    keep = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= min_area) + 1
    lut = np.zeros(n, np.int32)
    lut[keep] = np.arange(1, len(keep) + 1)
    info = np.column_stack([stats[keep, cv2.CC_STAT_AREA], centroids[keep, 1], centroids[keep, 0]])
    return lut[labels], info


def weighted_overall(per_video_values: Sequence[float], frame_counts: Sequence[float]) -> float:
    """Average of per-video scores weighted by their frame counts (= mean over all scored frames).

    This is the paper's "All" column: weights may be counts or shares (they are normalised).
    """
    v = np.asarray(per_video_values, dtype=np.float64)
    w = np.asarray(frame_counts, dtype=np.float64)
    if v.shape != w.shape or v.ndim != 1:
        raise ValueError(f"need one frame count per video value, got {v.shape} values and {w.shape} counts")
    if np.any(w < 0) or not np.isfinite(w).all():
        raise ValueError("frame counts must be finite and non-negative")
    if w.sum() <= 0:
        raise ValueError("frame counts sum to zero: nothing was scored")
    return float((v * w).sum() / w.sum())


def frame_scores(pred, gt, tolerance: float = 2.0, min_area: int = 1) -> dict:
    """All per-frame metrics at once: dice, iou, boundary_f, count_pred, count_gt and the raw pixel counts."""
    inter, n_p, n_g = overlap_counts(pred, gt)
    return {
        "dice": dice_from_counts(inter, n_p, n_g),
        "iou": iou_from_counts(inter, n_p, n_g),
        "boundary_f": boundary_f(pred, gt, tolerance),
        "count_pred": count_objects(pred, min_area),
        "count_gt": count_objects(gt, min_area),
        "intersection": inter,
        "pred_pixels": n_p,
        "gt_pixels": n_g,
    }
