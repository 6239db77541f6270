"""Global (camera) motion between consecutive frames: one similarity transform per pair, robust to texture.

Per pair of frames (t-1, t), on grey copies at most ``max_side`` px wide:

1. a phase correlation of Hann-windowed, smoothed copies gives a whole-frame shift, used only as the starting guess
   (so a large pan over dense, repetitive texture does not lock the tracker onto the wrong repeat);
2. corners (good features to track) spread over a grid of cells are tracked with pyramidal Lucas-Kanade from that
   guess, and kept when tracking back lands within 1 px of the start (forward-backward check); when the two frames'
   exposure differs clearly (flicker) or few tracks survive, they are tracked again with frame t brought to frame
   t-1's brightness and contrast, and the fit with more inliers wins;
3. RANSAC fits a similarity (``cv2.estimateAffinePartial2D``), so objects that move on their own (swaying heads,
   leaves) are outliers as long as the field dominates;
4. with too few reliable tracks (low texture) it falls back to ECC on the grey frames, then to the phase-correlation
   shift alone when that peak is clear and the frames it lines up agree (``min_agreement``), and otherwise reports
   the identity with method "none";
5. when the corners gave no fit, steps 1-4 run again on copies half as large, then a quarter (while the copies are
   at least ``COARSE_MIN_SIDE`` px): a gust's motion streak or sensor noise that defeats the tracker's fixed
   windows on a large frame is a few pixels on a small copy (on real-sized degraded footage most failed pairs are
   found there; docs/benchmarks.md "Coarse retry"). A corner fit found there that lines the frames up
   (``min_agreement``) replaces the ECC, phase or "none" result of the larger copy unless that one lines them up
   as well.

Pixels in ``exclude`` masks (e.g. painted or predicted heads, dilated) are never used, so the estimate follows the
field rather than the objects being judged. Frames without enough texture, and frames one pixel high or wide (no
two-dimensional motion to find), give the identity with method "none" without any of the steps.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from dvos_core.motion.transforms import (
    IDENTITY,
    decompose,
    frame_centre,
    grey_uint8,
    ncc,
    rescale,
    to3x3,
    valid_region,
    warp_to,
)
from dvos_core.progress import CancelToken, ProgressFn, check, report

METHODS = ("features", "ecc", "phase", "none")
_LK_WIN, _LK_LEVELS = (15, 15), 3  # Lucas-Kanade window and pyramid levels
_LK_STOP = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)
_FEW_TRACKS = 3  # a fit from fewer than this many times min_inliers tracks is tried again with exposure matched
_SAME_EXPOSURE = (0.03, 2.0)  # contrast ratio and mean grey-level change below which frames count as equally lit
_RELIT = (0.15, 10.0)  # contrast ratio and mean change beyond which both ways are always tried
COARSE_MIN_SIDE = 96  # the coarse retry's copies are at least this large (longer side, px)
AGREEMENT_SIDE = 192  # fallback results are judged on copies at most this large (per-pixel noise averaged away)


@dataclass
class MotionParams:
    """Settings of the estimator (defaults suit 256-2048 px field videos)."""

    max_side: int = 640  # frames are analysed at most this large (px)
    grid: int = 4  # corners are looked for in grid x grid cells
    n_features: int = 400
    min_inliers: int = 12
    min_inlier_ratio: float = 0.3
    ransac_px: float = 1.5  # RANSAC reprojection threshold, in analysed px
    exclude_margin_px: int = 4  # exclusion masks are dilated by this much (analysed px)
    min_phase_response: float = 0.08  # a phase-correlation peak weaker than this is not trusted
    # the phase-correlation shift alone, or a fit on a smaller copy (coarse_retry), is taken only when it lines the
    # frames up at least this well (normalised cross-correlation of smoothed copies at most AGREEMENT_SIDE px, over
    # their overlap; ECC's own bar): on degraded footage a clear phase peak was often a leaf's or the noise's, not
    # the field's (docs/benchmarks.md, "Phase fallback"), and frames with nothing in common can give a few
    # chance corner tracks on a small copy
    min_agreement: float = 0.6
    min_ecc: float = 0.6  # ECC correlation needed to accept its transform
    min_gradient: float = 1.5  # grey levels per px for a pixel to count as textured
    min_textured_share: float = 0.05  # share of usable pixels that must be textured to estimate anything
    # masks that leave less of a frame than this (after their margin) and leave nothing found: the whole frames are
    # used (dense heads, a rough model's pseudo-labels); with more left, nothing found stays nothing (a flat field
    # with a head or two has no camera motion to find: the whole frames would follow the heads)
    min_allowed_share: float = 0.3
    max_rotation_deg: float = 15.0  # larger turns between two frames are treated as failures
    coarse_retry: bool = True  # without a corner fit, try again on copies half and a quarter as large


@dataclass
class PairMotion:
    """Motion from frame t-1 to frame t (see :mod:`dvos_core.motion.transforms` for the convention)."""

    matrix: np.ndarray  # 2x3, frame t-1 -> frame t, full-resolution px
    dx: float
    dy: float
    rotation_deg: float
    scale: float
    method: str  # "features", "ecc", "phase" or "none" (identity: nothing reliable found)
    inliers: int = 0

    @property
    def shift_px(self) -> float:
        return float(np.hypot(self.dx, self.dy))

    @property
    def ok(self) -> bool:
        return self.method != "none"


class PreparedFrame:
    """A frame reduced for the motion estimate (:func:`estimate_prepared`): grey image, allowed-pixel mask (from
    ``exclude``, non-zero = ignore) and the resize factor. What is derived from it (smoothed copy, texture test,
    exposure, corners) is computed once, so one prepared frame can serve every pair it is part of
    (:class:`dvos_core.motion.align.SequenceAligner` keeps them for the frames of a window)."""

    _corner_cache = None  # (params, corners): the corners of the last params asked for
    _coarse = None  # the copy half as large (:meth:`coarser`), once made

    def __init__(self, frame, exclude, params: MotionParams):
        g = grey_uint8(frame)
        self.full_shape = g.shape
        h, w = g.shape
        self.factor = min(1.0, params.max_side / max(h, w))
        if self.factor < 1.0:
            size = (max(8, round(w * self.factor)), max(8, round(h * self.factor)))
            g = cv2.resize(g, size, interpolation=cv2.INTER_AREA)
        self.grey = g
        self.allowed = None
        if exclude is not None:
            ex = np.asarray(exclude)
            if ex.shape[:2] != (h, w):
                raise ValueError(f"exclusion mask has shape {ex.shape}, the frame {(h, w)}")
            ex = (ex != 0).astype(np.uint8)
            if self.factor < 1.0:
                ex = cv2.resize(ex, g.shape[::-1], interpolation=cv2.INTER_NEAREST)
            k = 2 * params.exclude_margin_px + 1
            ex = cv2.dilate(ex, np.ones((k, k), np.uint8))
            self.allowed = ex == 0
        self._smooth = self._textured = self._exposure = None
        self._unmasked = None

    @property
    def allowed_share(self) -> float:
        """The share of the frame its exclusion mask leaves (1 without one)."""
        return 1.0 if self.allowed is None else float(self.allowed.mean())

    def unmasked(self) -> PreparedFrame:
        """The same frame with no pixel excluded (its own derived copies, made on demand)."""
        if self.allowed is None:
            return self
        if self._unmasked is None:
            u = copy.copy(self)
            u.allowed = u._smooth = u._textured = u._exposure = u._corner_cache = u._coarse = None
            u._unmasked = u
            self._unmasked = u
        return self._unmasked

    @property
    def exposure(self) -> tuple[float, float]:
        """(mean, standard deviation) of the whole grey frame."""
        if self._exposure is None:
            self._exposure = (float(self.grey.mean()), float(self.grey.std()))
        return self._exposure

    def smooth(self) -> np.ndarray:
        """Float image for phase correlation / ECC: excluded pixels set to the mean, lightly blurred."""
        if self._smooth is None:
            g = self.grey.astype(np.float32)
            if self.allowed is not None:
                g[~self.allowed] = float(g[self.allowed].mean()) if self.allowed.any() else 0.0
            self._smooth = cv2.GaussianBlur(g, (0, 0), 1.0)
        return self._smooth

    def textured(self, params: MotionParams) -> bool:
        """Whether enough usable pixels carry texture (a flat frame with an object or two has no camera motion
        to find: any estimate would follow the objects). A frame one pixel high or wide never does: a single row
        or column holds no two-dimensional motion (nor room for the phase correlation's window)."""
        if self._textured is None and min(self.full_shape) < 2:
            self._textured = False
        if self._textured is None:
            g = self.grey.astype(np.float32)
            mag = np.abs(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)) + np.abs(cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3))
            edges = mag > 4 * params.min_gradient
            if self.allowed is not None:
                edges = edges[self.allowed]
            self._textured = edges.size > 64 and float(edges.mean()) >= params.min_textured_share
        return self._textured

    def coarser(self) -> PreparedFrame | None:
        """The same frame prepared half as large (made once), or None when that copy's longer side would be under
        ``COARSE_MIN_SIDE`` px."""
        if max(self.grey.shape) // 2 < COARSE_MIN_SIDE:
            return None
        if self._coarse is None:
            c = PreparedFrame.__new__(PreparedFrame)
            h, w = c.full_shape = self.full_shape
            c.factor = self.factor / 2
            size = (max(8, round(w * c.factor)), max(8, round(h * c.factor)))
            c.grey = cv2.resize(self.grey, size, interpolation=cv2.INTER_AREA)
            c.allowed = None
            if self.allowed is not None:
                c.allowed = cv2.resize(self.allowed.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
            c._smooth = c._textured = c._exposure = c._unmasked = None
            self._coarse = c
        return self._coarse

    def corners(self, params: MotionParams) -> np.ndarray:
        """:func:`_corners` of this frame, computed once per settings (never changed by their users)."""
        held = self._corner_cache
        if held is None or held[0] != params:
            held = self._corner_cache = (params, _corners(self, params))
        return held[1]


def _corners(prep: PreparedFrame, params: MotionParams) -> np.ndarray:
    """Up to n_features corners spread over grid x grid cells, (N, 1, 2) float32."""
    g = prep.grey
    h, w = g.shape
    mask = prep.allowed.astype(np.uint8) * 255 if prep.allowed is not None else None
    per_cell = max(4, params.n_features // (params.grid * params.grid))
    min_dist = max(3.0, max(h, w) / 80.0)
    pts = []
    ys = np.linspace(0, h, params.grid + 1).astype(int)
    xs = np.linspace(0, w, params.grid + 1).astype(int)
    for i in range(params.grid):
        for j in range(params.grid):
            y0, y1, x0, x1 = ys[i], ys[i + 1], xs[j], xs[j + 1]
            if y1 - y0 < 8 or x1 - x0 < 8:
                continue
            cell_mask = None if mask is None else np.ascontiguousarray(mask[y0:y1, x0:x1])
            if cell_mask is not None and not cell_mask.any():
                continue
            c = cv2.goodFeaturesToTrack(
                np.ascontiguousarray(g[y0:y1, x0:x1]), per_cell, 0.01, min_dist, mask=cell_mask, blockSize=5
            )
            if c is not None:
                pts.append(c.reshape(-1, 2) + np.array([x0, y0], np.float32))
    if not pts:
        return np.zeros((0, 1, 2), np.float32)
    return np.concatenate(pts).astype(np.float32).reshape(-1, 1, 2)


@lru_cache(maxsize=2)
def _hanning(shape: tuple) -> np.ndarray:
    """The Hann window of an (H, W) image (made once per size, at most 640 px; phase correlation only reads it)."""
    return cv2.createHanningWindow(shape[::-1], cv2.CV_32F)


def _phase_shift(a: PreparedFrame, b: PreparedFrame, params: MotionParams):
    """(dx, dy) of b relative to a from phase correlation, or None when the peak is weak."""
    sa, sb = a.smooth(), b.smooth()
    win = _hanning(tuple(sa.shape))
    (dx, dy), response = cv2.phaseCorrelate(sa.copy(), sb.copy(), win)  # it may window its inputs in place
    if not np.isfinite(response) or response < params.min_phase_response:
        return None
    return float(dx), float(dy)


def _exposure_matched(a: PreparedFrame, b: PreparedFrame) -> np.ndarray | None:
    """Frame b's grey copy with the brightness and contrast of frame a (whole frames), or None when they already
    agree. For frames whose exposure differs (flicker, a passing cloud): the corner tracker assumes a point keeps its
    grey level from frame to frame. Whole-frame statistics also move with the view, so this is a second try only."""
    (ma, sa), (mb, sb) = a.exposure, b.exposure
    if sa < 1.0 or sb < 1.0 or (abs(sa / sb - 1) < _SAME_EXPOSURE[0] and abs(ma - mb) < _SAME_EXPOSURE[1]):
        return None
    return np.clip((b.grey.astype(np.float32) - mb) * (sa / sb) + ma, 0, 255).astype(np.uint8)


def _relit(a: PreparedFrame, b: PreparedFrame) -> bool:
    """Whether the two frames' exposure differs clearly (more than the view's own change usually makes)."""
    (ma, sa), (mb, sb) = a.exposure, b.exposure
    return abs(ma - mb) > _RELIT[1] or (min(sa, sb) > 1 and abs(sa / sb - 1) > _RELIT[0])


def _track(a: PreparedFrame, b: PreparedFrame, guess, params: MotionParams, grey_b=None):
    """Matched points (p0, p1) that pass the forward-backward check and lie on allowed pixels of both frames;
    ``grey_b``: frame b's grey copy to track on (default ``b.grey``)."""
    p0 = a.corners(params)
    if len(p0) < params.min_inliers:
        return None
    lk = {"winSize": _LK_WIN, "maxLevel": _LK_LEVELS, "criteria": _LK_STOP, "flags": cv2.OPTFLOW_USE_INITIAL_FLOW}
    shift = np.array(guess if guess is not None else (0.0, 0.0), np.float32)
    init = p0 + shift
    gb = b.grey if grey_b is None else grey_b
    p1, st, _ = cv2.calcOpticalFlowPyrLK(a.grey, gb, p0, init.copy(), **lk)
    if p1 is None:
        return None
    back, st2, _ = cv2.calcOpticalFlowPyrLK(gb, a.grey, p1, p1 - shift, **lk)
    if back is None:
        return None
    fb = np.linalg.norm((back - p0).reshape(-1, 2), axis=1)
    q = p1.reshape(-1, 2)
    h, w = b.grey.shape
    inside = (q[:, 0] >= 0) & (q[:, 0] <= w - 1) & (q[:, 1] >= 0) & (q[:, 1] <= h - 1)
    good = (st.ravel() == 1) & (st2.ravel() == 1) & (fb < 1.0) & inside
    if b.allowed is not None:
        qi = np.clip(np.round(q).astype(int), 0, [w - 1, h - 1])
        good &= b.allowed[qi[:, 1], qi[:, 0]]
    return p0.reshape(-1, 2)[good], q[good]


def _fit(a: PreparedFrame, b: PreparedFrame, guess, params: MotionParams, grey_b=None):
    tracked = _track(a, b, guess, params, grey_b)
    if tracked is None or len(tracked[0]) < params.min_inliers:
        return None
    p0, p1 = tracked
    m, inl = cv2.estimateAffinePartial2D(
        p0, p1, method=cv2.RANSAC, ransacReprojThreshold=params.ransac_px, maxIters=2000, confidence=0.995
    )
    if m is None or inl is None:
        return None
    n_in = int(inl.sum())
    if n_in < params.min_inliers or n_in < params.min_inlier_ratio * len(p0):
        return None
    return m, n_in


def _from_features(a: PreparedFrame, b: PreparedFrame, guess, params: MotionParams, grey_b=None):
    """Track, fit; when the fit turns or zooms noticeably, warp frame a by it and fit the small rest again (the
    tracker's windows only translate, so a turn biases the first fit slightly)."""
    found = _fit(a, b, guess, params, grey_b)
    if found is None:
        return None
    m, n_in = found
    d = decompose(m, (0.0, 0.0))
    if abs(d["rotation_deg"]) < 0.25 and abs(d["scale"] - 1) < 0.003:
        return m, n_in
    warped = PreparedFrame.__new__(PreparedFrame)
    warped.full_shape, warped.factor, warped._smooth, warped._textured = a.full_shape, a.factor, None, None
    warped._exposure = None
    size = a.grey.shape[::-1]
    warped.grey = cv2.warpAffine(a.grey, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    warped.allowed = None
    if a.allowed is not None:
        warped.allowed = cv2.warpAffine(a.allowed.astype(np.uint8), m, size, flags=cv2.INTER_NEAREST) > 0
    edge = np.zeros(a.grey.shape, np.uint8)
    edge[8:-8, 8:-8] = 1  # reflected borders are not the scene
    inside = cv2.warpAffine(edge, m, size, flags=cv2.INTER_NEAREST) > 0
    warped.allowed = inside if warped.allowed is None else warped.allowed & inside
    rest = _fit(warped, b, None, params, grey_b)
    if rest is None:
        return m, n_in
    return (to3x3(rest[0]) @ to3x3(m))[:2], rest[1]


def _agreement(a: PreparedFrame, b: PreparedFrame, matrix) -> float:
    """How well ``matrix`` (2x3, full-size px) lines the two frames up: the normalised cross-correlation of frame
    a's smoothed copy moved by it with frame b's, over their overlap (-1 when they hardly overlap), on the copies at
    most :data:`AGREEMENT_SIDE` px (the prepared frames when they are that small)."""
    while max(a.grey.shape) > AGREEMENT_SIDE and a.coarser() is not None and b.coarser() is not None:
        a, b = a.coarser(), b.coarser()
    m = rescale(matrix, 1.0 / a.factor)
    sa, sb = a.smooth(), b.smooth()
    cover = valid_region(m, sa.shape, sb.shape)
    if cover.mean() < 0.1:
        return -1.0
    return ncc(warp_to(sa, m, sb.shape)[cover], sb[cover])


def _from_ecc(a: PreparedFrame, b: PreparedFrame, guess, params: MotionParams):
    """Euclidean ECC (rotation + shift) on the smoothed frames."""
    warp = np.eye(2, 3, dtype=np.float32)
    if guess is not None:
        warp[:, 2] = np.asarray(guess, np.float32)
    mask = None if b.allowed is None else b.allowed.astype(np.uint8)
    try:
        cc, warp = cv2.findTransformECC(
            a.smooth(),
            b.smooth(),
            warp,
            cv2.MOTION_EUCLIDEAN,
            (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-4),
            mask,
            3,
        )
    except cv2.error:
        return None
    if not np.isfinite(cc) or cc < params.min_ecc:
        return None
    # ECC's warp W: b(W x) ~ a(x), so x_b = W x_a maps frame a's coordinates onto frame b: our convention
    return warp.astype(np.float64)


def estimate_pair(prev, cur, exclude_prev=None, exclude_cur=None, params: MotionParams | None = None) -> PairMotion:
    """Global similarity motion from ``prev`` (frame t-1) to ``cur`` (frame t); uint8 RGB or grey frames.

    ``exclude_prev`` / ``exclude_cur``: optional (H, W) masks of pixels to ignore (non-zero = ignore), e.g. the
    heads. Always returns a PairMotion; ``method == "none"`` (identity) when nothing reliable was found.
    """
    params = params or MotionParams()
    return estimate_prepared(PreparedFrame(prev, exclude_prev, params), PreparedFrame(cur, exclude_cur, params), params)


def estimate_prepared(a: PreparedFrame, b: PreparedFrame, params: MotionParams) -> PairMotion:
    """:func:`estimate_pair` of two frames already prepared with ``params`` (each can serve many pairs). When
    nothing is found with pixels excluded and the masks leave less than ``min_allowed_share`` of a frame, the whole
    frames are tried: masks over most of a frame (dense heads, a rough model's pseudo-labels) leave too little to
    measure, and the corners' consensus copes with the heads' own motion."""
    found = _any_scale(a, b, params)
    if found.method == "none" and min(a.allowed_share, b.allowed_share) < params.min_allowed_share:
        found = _any_scale(a.unmasked(), b.unmasked(), params)
    return found


def _any_scale(a: PreparedFrame, b: PreparedFrame, params: MotionParams) -> PairMotion:
    """:func:`_estimate` at the prepared size, then, while the corners give no fit, on copies half as large each
    time (:meth:`PreparedFrame.coarser`): the first corner fit found there that lines the frames up
    (:func:`_agreement` at least ``min_agreement``, and better than the prepared size's ECC or phase result) wins.
    (Measured on degraded footage: such a fit is mostly closer than the prepared size's ECC; tracking again at the
    prepared size from it seldom works and is no closer; a coarse ECC or phase result is no better than "none", so
    those are not taken.)"""
    found = _estimate(a, b, params)
    if found.method == "features" or not params.coarse_retry:
        return found
    ca, cb = a.coarser(), b.coarser()
    while ca is not None and cb is not None:
        coarse = _estimate(ca, cb, params)
        if coarse.method == "features":
            fit = _agreement(a, b, coarse.matrix)
            if fit >= params.min_agreement:
                if found.ok and _agreement(a, b, found.matrix) >= fit:
                    break  # the finer result lines the frames up as well
                return coarse
        ca, cb = ca.coarser(), cb.coarser()
    return found


def _estimate(a: PreparedFrame, b: PreparedFrame, params: MotionParams) -> PairMotion:
    if a.full_shape != b.full_shape:
        raise ValueError(f"consecutive frames differ in size: {a.full_shape} then {b.full_shape}")
    m, method, n_in = None, "none", 0
    if a.textured(params) and b.textured(params):
        guess = _phase_shift(a, b, params)
        found = _from_features(a, b, guess, params)
        if found is None and guess is not None:
            found = _from_features(a, b, None, params)  # the guess itself may have been misled
        matched = _exposure_matched(a, b)  # the exposure may have changed: track on b brought to a's
        if matched is not None and (found is None or found[1] < _FEW_TRACKS * params.min_inliers or _relit(a, b)):
            again = _from_features(a, b, guess, params, matched)
            if again is not None and (found is None or again[1] > found[1]):
                found = again
        if found is not None:
            (m, n_in), method = found, "features"
        else:
            m = _from_ecc(a, b, guess, params)
            if m is not None:
                method = "ecc"
            elif guess is not None:
                shift = np.array([[1.0, 0.0, guess[0]], [0.0, 1.0, guess[1]]])
                if _agreement(a, b, rescale(shift, a.factor)) >= params.min_agreement:
                    m, method = shift, "phase"
    if m is not None and abs(decompose(m, (0.0, 0.0))["rotation_deg"]) > params.max_rotation_deg:
        m, method, n_in = None, "none", 0
    if m is None:
        full = IDENTITY.copy()
    else:
        full = rescale(m, a.factor)
    d = decompose(full, frame_centre(a.full_shape))
    return PairMotion(matrix=to3x3(full)[:2], method=method, inliers=n_in, **d)


@dataclass
class GlobalMotion:
    """Per-pair global motion of a frame sequence. Pair i goes from frame ``pairs[i]`` to ``pairs[i] + 1``."""

    frame_shape: tuple
    pairs: np.ndarray  # (N,) index of the first frame of each pair
    matrices: np.ndarray  # (N, 2, 3)
    dx: np.ndarray
    dy: np.ndarray
    rotation_deg: np.ndarray
    scale: np.ndarray
    method: list = field(default_factory=list)
    residual: np.ndarray | None = None  # (N, 3): p50, p90, p99 of the residual flow magnitude (px), if measured

    @property
    def shift_px(self) -> np.ndarray:
        """Displacement of the frame centre per pair (px)."""
        return np.hypot(self.dx, self.dy)

    def __len__(self) -> int:
        return len(self.pairs)

    def cumulative(self) -> np.ndarray:
        """(N+1, 2, 3) matrices mapping the first frame onto each later frame (contiguous pairs only)."""
        if len(self.pairs) and np.any(np.diff(self.pairs) != 1):
            raise ValueError("cumulative() needs contiguous pairs (measure without max_pairs)")
        out = np.empty((len(self.pairs) + 1, 2, 3))
        acc = np.eye(3)
        out[0] = acc[:2]
        for i, m in enumerate(self.matrices):
            acc = to3x3(m) @ acc
            out[i + 1] = acc[:2]
        return out


def _from_pairs(shape, pairs: list, motions: list, residual: list | None) -> GlobalMotion:
    n = len(motions)
    return GlobalMotion(
        frame_shape=tuple(shape),
        pairs=np.asarray(pairs, np.int64),
        matrices=np.array([m.matrix for m in motions]).reshape(n, 2, 3),
        dx=np.array([m.dx for m in motions], np.float64),
        dy=np.array([m.dy for m in motions], np.float64),
        rotation_deg=np.array([m.rotation_deg for m in motions], np.float64),
        scale=np.array([m.scale for m in motions], np.float64),
        method=[m.method for m in motions],
        residual=None if residual is None else np.array(residual, np.float64).reshape(n, 3),
    )


def estimate_global_motion(
    frames,
    masks=None,
    *,
    params: MotionParams | None = None,
    residual: bool = False,
    max_pairs: int | None = None,
    run_length: int = 60,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> GlobalMotion:
    """Global motion of every consecutive pair of ``frames``.

    ``frames``: a (T, H, W, 3) uint8 array, a Zarr array, a stored video or background clip, a path of a video
    file / TIFF / image folder, or any iterable of frames. Frames are read one at a time (memory stays bounded).
    ``masks``: optional (T, H, W) pixels to ignore (non-zero), e.g. heads; for a stored video, ``masks="labels"``
    ignores its labelled masks. ``residual``: also measure the local motion left after compensation
    (:func:`dvos_core.motion.local_motion.residual_motion`). ``max_pairs``: measure at most this many pairs, taken
    as evenly spaced runs of ``run_length`` consecutive pairs (for long videos).
    """
    from dvos_core.motion.local_motion import residual_motion
    from dvos_core.motion.sources import frame_runs

    params = params or MotionParams()
    pairs, motions, resid = [], [], [] if residual else None
    shape = prev = prev_frame = None
    for done, total, t, frame, mask, first in frame_runs(frames, masks, max_pairs, run_length):
        check(cancel)
        cur = PreparedFrame(frame, mask, params)
        if shape is None:
            shape = np.asarray(frame).shape[:2]
        if not first:
            pm = estimate_prepared(prev, cur, params)
            pairs.append(t - 1)
            motions.append(pm)
            if resid is not None:
                resid.append(residual_motion(prev_frame, frame, pm.matrix))
            report(progress, done, total, f"motion: frame {t}")
        prev, prev_frame = cur, frame
    if shape is None:
        raise ValueError("no frames to measure motion on")
    return _from_pairs(shape, pairs, motions, resid)
