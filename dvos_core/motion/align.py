"""Aligning earlier frames to frame t, robustly: several candidate transforms, the one that fits best wins.

A single estimate from frame t-k to frame t fails now and then - frames far apart share little, a blurred or noisy
frame has few reliable corners - and a failed estimate (the identity) puts every reference head in the wrong place.
So for each reference there are candidates:
* the direct estimate from the reference to frame t;
* the chain of the consecutive estimates between them (t-k -> t-k+1 -> ... -> t), each itself the best of its
  candidates (consecutive frames overlap most, so they are estimated most reliably);
* the identity (a still camera);
and the one under which the warped reference agrees best with frame t (normalised cross-correlation of the grey
frames over the part both see, at most ``NCC_SIDE`` px) wins. Used by the context model in training and prediction.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import cv2
import numpy as np

from dvos_core.motion.global_motion import MotionParams, PreparedFrame, estimate_prepared
from dvos_core.motion.transforms import IDENTITY, compose, ncc, rescale, valid_region, warp_to

NCC_SIDE = 192  # the agreement is measured on frames at most this large
MIN_OVERLAP = 0.1  # a candidate that leaves less than this share of frame t covered does not count


def _small_grey(frame: np.ndarray) -> tuple[np.ndarray, float]:
    g = frame if frame.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    factor = max(1.0, max(g.shape) / NCC_SIDE)
    if factor > 1:
        g = cv2.resize(g, (round(g.shape[1] / factor), round(g.shape[0] / factor)), interpolation=cv2.INTER_AREA)
    return g.astype(np.float32), factor


def agreement(ref: np.ndarray, query: np.ndarray, matrix, small: tuple | None = None) -> float:
    """Normalised cross-correlation of ``ref`` warped by ``matrix`` with ``query`` over their overlap, in [-1, 1]
    (-1 when the overlap is below MIN_OVERLAP). ``small``: the two frames' :func:`_small_grey`, when already made."""
    (r, f), (q, _) = small if small is not None else (_small_grey(ref), _small_grey(query))
    m = rescale(matrix, f) if f > 1 else np.asarray(matrix, np.float64)[:2]
    cover = valid_region(m, r.shape, q.shape)
    if cover.mean() < MIN_OVERLAP:
        return -1.0
    return ncc(warp_to(r, m, q.shape)[cover], q[cover])


class _Analysis:
    """What the alignment measures on one frame, made once however many pairs the frame is part of: the frame
    prepared for the motion estimate (its corners and the rest, see
    :class:`~dvos_core.motion.global_motion.PreparedFrame`) and its small grey copy for the agreement."""

    def __init__(self, frame: np.ndarray, params: MotionParams):
        self.frame, self.prepared, self.small = frame, PreparedFrame(frame, None, params), _small_grey(frame)


def best_transform(
    ref, query, candidates: Sequence, params: MotionParams | None = None, analysis: tuple | None = None
) -> np.ndarray:
    """The best of ``candidates`` (2x3 matrices ref -> query), the direct estimate and the identity.
    ``analysis``: the two frames' :class:`_Analysis` (made with ``params``), when already made."""
    params = params or MotionParams()
    a, b = analysis if analysis is not None else (_Analysis(ref, params), _Analysis(query, params))
    direct = estimate_prepared(a.prepared, b.prepared, params)
    options = [IDENTITY[:2].copy(), *[np.asarray(c, np.float64)[:2] for c in candidates]]
    if direct.ok:
        options.append(direct.matrix)
    scores = [agreement(ref, query, m, (a.small, b.small)) for m in options]
    return options[int(np.argmax(scores))]


class SequenceAligner:
    """Transforms from reference frames onto the current one, keeping the pair estimates of a video so each new
    frame adds about one pair. ``align(frames, keys, times)``: the references, then the current frame last; returns
    one 2x3 matrix per reference (reference -> current).

    A transform is named by its path: the keys of the reference, of the frames its chain runs through and of the
    current frame. After ``hold(n)`` the transforms of paths of at most n frames are also kept past :meth:`forget`
    for a later pass over the same frames under the same keys (each is handed out once more, then dropped)."""

    def __init__(self, params: MotionParams | None = None):
        self.params = params or MotionParams()
        self._pairs: dict = {}  # (id of frame j, id of frame j+1) -> matrix j -> j+1
        # id of a frame -> its _Analysis, for the frames of the last call: a frame of the next call that is the very
        # same array (a sliding window's) is not analysed again
        self._frames: dict = {}
        self._held: dict = {}  # path -> matrix, kept for a later pass (see hold)
        self._hold = 0

    def hold(self, length: int) -> None:
        """Keep the transforms made from now on over paths of at most ``length`` frames for a later pass (0: none)."""
        self._hold = int(length)

    def reset(self) -> None:
        """Drop everything kept, held transforms included (other frames may come under the same keys)."""
        self._pairs, self._frames, self._held = {}, {}, {}

    def _analysis(self, key, frame) -> _Analysis:
        held = self._frames.get(key)
        if held is None or held.frame is not frame:
            held = self._frames[key] = _Analysis(frame, self.params)
        return held

    def _made(self, path: tuple, make) -> np.ndarray:
        """The transform of ``path``: held from an earlier pass (handed out once), else ``make()`` (held when short
        enough)."""
        m = self._held.pop(path, None)
        if m is None:
            m = make()
            if len(path) <= self._hold:
                self._held[path] = m
        return m

    def pair(self, key, a, b) -> np.ndarray:
        if key not in self._pairs:
            self._pairs[key] = self._made(key, lambda: best_transform(a, b, (), self.params, self._both(key, a, b)))
        return self._pairs[key]

    def _both(self, key, a, b) -> tuple:
        return self._analysis(key[0], a), self._analysis(key[1], b)

    def forget(self, keep) -> None:
        """Drop cached pairs whose first frame is not in ``keep`` (and the analysis of frames not in it); the held
        transforms stay."""
        self._pairs = {k: v for k, v in self._pairs.items() if k[0] in keep}
        self._frames = {k: v for k, v in self._frames.items() if k in keep}

    def align(self, frames: Sequence[np.ndarray], keys: Sequence | None = None, times: Sequence | None = None):
        """One 2x3 matrix per earlier entry of ``frames`` (reference -> the last entry, the current frame).

        ``times``: the frames' times (default: the list order); references after the current frame are chained
        from the far end towards it, those before it from their far end - so chains always run through frames
        between a reference and the current one. ``keys`` (default: ``times``) identify frames across calls."""
        n = len(frames) - 1
        times = list(range(n + 1)) if times is None else list(times)
        keys = times if keys is None else list(keys)
        now = times[-1]
        before = sorted((i for i in range(n) if times[i] < now), key=lambda i: times[i])
        after = sorted((i for i in range(n) if times[i] >= now), key=lambda i: -times[i])
        out: list = [None] * n
        for side in (before, after):
            seq = [*side, n]
            steps = [self.pair((keys[a], keys[b]), frames[a], frames[b]) for a, b in itertools.pairwise(seq)]
            for j, i in enumerate(side):
                if j == len(side) - 1:  # the reference next to the current frame: its own best estimate
                    out[i] = steps[-1]
                    continue

                def direct(i=i, j=j, steps=steps):
                    both = self._both((keys[i], keys[n]), frames[i], frames[-1])
                    return best_transform(frames[i], frames[-1], [compose(*steps[j:])], self.params, both)

                out[i] = self._made(tuple(keys[k] for k in seq[j:]), direct)
        self._frames = {k: self._frames[k] for k in keys if k in self._frames}  # one window's frames at most
        return out
