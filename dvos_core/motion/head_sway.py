"""Head sway measured on the painted heads themselves: each head followed from its painted frame to the next one.

The residual flow of the whole frame (:mod:`dvos_core.motion.local_motion`) counts everything that moves after the
camera is compensated; on windy field footage that is also leaves crossing, motion blur and exposure flicker, so its
high percentiles say little about how far heads sway. Here only painted heads count:

1. the camera motion from a painted frame to its neighbour is estimated with the heads left out; pairs where it
   cannot be found are skipped (their residual would be camera motion);
2. the neighbour is warped onto the painted frame, and each head (a connected component of the painted mask) is
   found again in it by normalised cross-correlation of its grey patch (``cv2.matchTemplate``, which ignores changes
   of gain and offset, i.e. flicker), within a search window, with a sub-pixel peak;
3. a head whose best match is weak (a leaf in front of it, heavy blur) or on the window's edge is left out.

A pair whose camera estimate turns or zooms more than adjacent frames of field footage do is skipped too: a leaf
drifting across the view can pull the estimate, and its error would be read as sway.

Each kept head gives one step (px per frame): the same quantity as the synthetic sway's per-head steps, so
:func:`dvos_core.motion.matching.overrides_from_motion` can set ``sway_px`` and ``drift_speed`` from their median
(robust to the few heads a passing leaf or a camera estimate's error still throws off).
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from dvos_core.motion.global_motion import MotionParams, estimate_pair
from dvos_core.motion.transforms import grey_uint8, invert, valid_region, warp_to
from dvos_core.progress import CancelToken, ProgressFn, check, report

MANUAL = ("manual", "corrected")  # the provenances of masks a person drew
TRUSTED = ("features", "ecc")  # camera estimates precise enough to leave sub-pixel sway (not a phase-only shift)
MIN_INLIERS = 30  # a corner-track estimate from fewer tracks is often a pixel or more off on blurred, noisy frames
MIN_HEADS = 8  # fewer measured heads than this and the sway is not trusted (matching falls back to the flow)
MIN_SCORE = 0.6  # weakest normalised correlation at which a head counts as found again
MIN_AREA_PX = 12  # smaller components are specks, not heads
MAX_HEADS_PER_PAIR = 300  # a dense frame is sampled (largest-first would bias towards big heads)
# turn and zoom between two adjacent frames beyond which a camera estimate is not believed: field footage turns and
# zooms far less per frame, and an estimate beyond them was misled by something moving in front of the field (a
# leaf drifting across a slow camera gave 3-5 % 'zoom' per frame), whose error would be read as sway
MAX_TURN_STEP_DEG = 2.5
MAX_ZOOM_STEP = 0.025


def _peak(scores: np.ndarray) -> tuple[float, float] | None:
    """Sub-pixel (x, y) of the correlation maximum in ``scores``, or None when the maximum lies on its edge (the head
    moved further than the search reached, or matched something else)."""
    _, _, _, (x, y) = cv2.minMaxLoc(scores)
    h, w = scores.shape
    if not (0 < x < w - 1 and 0 < y < h - 1):
        return None

    def vertex(a, b, c):
        d = a - 2 * b + c
        return 0.0 if d >= 0 else 0.5 * (a - c) / d

    sx = vertex(scores[y, x - 1], scores[y, x], scores[y, x + 1])
    sy = vertex(scores[y - 1, x], scores[y, x], scores[y + 1, x])
    return x + sx, y + sy


def head_steps(
    frame,
    mask,
    neighbour,
    *,
    matrix=None,
    search_px: float | None = None,
    min_score: float = MIN_SCORE,
    params: MotionParams | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Per-head displacement (N, 2) in px (x, y) from ``frame`` (painted with ``mask``, non-zero = head) to
    ``neighbour`` after the camera motion is removed. ``matrix``: the camera motion frame -> neighbour (2x3);
    estimated with the heads left out when None. Returns an empty array when the camera motion cannot be found
    precisely (:data:`TRUSTED` methods at the frames' prepared size, not the coarse retry's smaller copies; at least
    :data:`MIN_INLIERS` tracks; and no more turn or zoom than adjacent frames of field footage show:
    :data:`MAX_TURN_STEP_DEG`, :data:`MAX_ZOOM_STEP`).
    ``search_px``: how far a head is looked for (default: a quarter of the median head size, 3 to 40 px)."""
    a, b = grey_uint8(frame), grey_uint8(neighbour)
    m = np.asarray(mask) > 0
    if a.shape != b.shape or a.shape != m.shape:
        raise ValueError(f"frame {a.shape}, mask {m.shape} and neighbour {b.shape} must have one size")
    if matrix is None:  # at the prepared size only: a fit on a smaller copy is pixels off, read here as sway
        pm = estimate_pair(a, b, exclude_prev=m, params=replace(params or MotionParams(), coarse_retry=False))
        if pm.method not in TRUSTED or (pm.method == "features" and pm.inliers < MIN_INLIERS):
            return np.zeros((0, 2))
        if abs(pm.rotation_deg) > MAX_TURN_STEP_DEG or abs(pm.scale - 1) > MAX_ZOOM_STEP:
            return np.zeros((0, 2))
        matrix = pm.matrix
    back = warp_to(b, invert(matrix), a.shape, border="reflect")  # the neighbour in the painted frame's place
    seen = valid_region(invert(matrix), b.shape, a.shape, margin=2)
    n, _, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    heads = [k for k in range(1, n) if stats[k, cv2.CC_STAT_AREA] >= MIN_AREA_PX]
    if not heads:
        return np.zeros((0, 2))
    if search_px is None:
        size = np.median([max(stats[k, cv2.CC_STAT_WIDTH], stats[k, cv2.CC_STAT_HEIGHT]) for k in heads])
        search_px = float(np.clip(0.25 * size, 3, 40))
    r = int(np.ceil(search_px)) + 1
    if len(heads) > MAX_HEADS_PER_PAIR:
        rng = rng if rng is not None else np.random.default_rng(0)
        heads = sorted(rng.choice(heads, MAX_HEADS_PER_PAIR, replace=False))
    # a light blur first: sensor noise otherwise drags the correlation of small heads below MIN_SCORE
    af = cv2.GaussianBlur(a.astype(np.float32), (0, 0), 1.0)
    bf = cv2.GaussianBlur(back.astype(np.float32), (0, 0), 1.0)
    H, W = a.shape
    out = []
    for k in heads:
        x, y, w, h = stats[k, :4]
        # the head and a thin rim, kept r px inside the frame so the search window around it fits
        x0, y0 = max(r, x - 2), max(r, y - 2)
        x1, y1 = min(W - r, x + w + 2), min(H - r, y + h + 2)
        if x1 - x0 < max(5, (w + 4) // 2) or y1 - y0 < max(5, (h + 4) // 2):
            continue  # too little of the head is far enough from the frame's edge
        if not seen[y0:y1, x0:x1].all():
            continue  # the neighbour does not show this head
        template = af[y0:y1, x0:x1]
        if template.std() < 1.0:
            continue  # a flat patch matches anywhere
        scores = cv2.matchTemplate(bf[y0 - r : y1 + r, x0 - r : x1 + r], template, cv2.TM_CCOEFF_NORMED)
        if scores.max() < min_score:
            continue
        p = _peak(scores)
        if p is not None:
            out.append((p[0] - r, p[1] - r))
    return np.asarray(out, np.float64).reshape(-1, 2)


def painted_frames(video, provenances=MANUAL, max_frames: int | None = None) -> np.ndarray:
    """Indices of a stored video's painted frames (masks of ``provenances``); at most ``max_frames`` of them, evenly
    spread."""
    painted = np.asarray(video.labelled_frames(provenances))
    if max_frames is not None and len(painted) > max_frames:
        painted = painted[np.linspace(0, len(painted) - 1, max_frames).round().astype(int)]
    return painted


def painted_pairs(video, provenances=MANUAL, max_frames: int | None = 40) -> list[tuple[int, int]]:
    """(painted frame, neighbour) pairs of a stored video: each painted frame with the frames just before and after
    it; at most ``max_frames`` painted frames, evenly spread."""
    painted = painted_frames(video, provenances, max_frames)
    return [(int(t), int(u)) for t in painted for u in (t - 1, t + 1) if 0 <= u < video.n_frames]


def measure_head_sway(
    videos,
    *,
    provenances=MANUAL,
    max_frames: int | None = 40,
    scales: dict | None = None,
    params: MotionParams | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> dict | None:
    """Pooled head steps of stored videos (or one), from their painted frames (``provenances``) to the frames next
    to them: ``{"heads": N, "pairs": P, "p50": px, "p90": px}`` (steps in px per frame), or None when fewer than
    :data:`MIN_HEADS` heads could be followed (then the sway cannot be measured this way). ``scales``: {video name:
    factor} each video's steps are multiplied by before pooling (videos of different sizes in one pixel size)."""
    videos = [videos] if hasattr(videos, "labelled_frames") else list(videos)
    jobs = [(v, p) for v in videos for p in painted_pairs(v, provenances, max_frames)]
    steps, used = [], 0
    rng = np.random.default_rng(0)
    painted = None  # (video, t, frame, mask) of the painted frame last read: each is paired with two neighbours
    for i, (v, (t, u)) in enumerate(jobs):
        check(cancel)
        if painted is None or painted[:2] != (v, t):
            painted = (v, t, v.frame(t), v.mask(t))
        frame, mask = painted[2:]
        if mask is not None and mask.any():
            d = head_steps(frame, mask, v.frame(u), params=params, rng=rng)
            if len(d):
                steps.append(np.hypot(d[:, 0], d[:, 1]) * (scales or {}).get(v.name, 1.0))
                used += 1
        report(progress, i + 1, len(jobs), f"head sway: {v.name} frame {t}")
    s = np.concatenate(steps) if steps else np.zeros(0)
    if s.size < MIN_HEADS:
        return None
    return {
        "heads": int(s.size),
        "pairs": used,
        "p50": round(float(np.percentile(s, 50)), 4),
        "p90": round(float(np.percentile(s, 90)), 4),
    }
