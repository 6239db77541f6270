"""How degraded the user's footage is, and the share of degraded training queries matched to it.

The context model learns to take from its references what a spoiled frame lacks by training on queries spoiled on
purpose (motion blur, noise, exposure jumps, occluders: :mod:`dvos_core.data.degrade`). On clean, steady footage
much of that is wasted and costs Dice (docs/benchmarks.md, "Degraded queries matched to the footage"): 7 degraded
queries in 10 suit gusty footage, about a third of them clean footage. So unless a training config fixes
``augment.context.degrade_query_p``, the trainer sets it from the footage (:func:`matched_query_share`), measured by
two frame-to-frame changes that gusts, sensor noise and flicker make and a steady camera over a still field does
not:

* ``sharpness_step``: the median change of the log-variance of the band-passed frame
  (:func:`dvos_core.infer.outlier_gate.band_image`) between consecutive frames - blur and noise that come and go;
* ``flicker``: the median change of the log mean brightness between consecutive frames;
* ``fine_step``, for frames over 256 px only (whose band is measured on a shrunk copy, where per-pixel sensor noise
  averages away): the same change as ``sharpness_step`` of the full-resolution fine detail over the band's spread
  (:func:`dvos_core.infer.outlier_gate.frame_look`) - noise that comes and goes.

Measured (2026-12-05, the training videos): the demo's clips 0.013-0.019 and 0.008-0.009; the accuracy benchmark's
clean sets 0.009-0.105 and 0.001-0.034, its degraded and occluded sets 0.18-0.44 and 0.08-0.25 (seeds 0-2). The
share is ``CLEAN_SHARE`` up to
``CLEAN`` and ``DEGRADED_SHARE`` from ``DEGRADED`` on, linear in between, by whichever measure is further.
``fine_step`` (2026-12-06, ``benchmarks/outlier_gate_bench.py``): real clean video 0.014 (bigbuckbunny, 1280x720)
and 0.097 (bikes, 640x272), the benchmark's clean scenes at 384-768 px 0.035-0.081, their degraded versions
0.52-0.96, the clips with noise in one frame of three 2.5-6.2; hence its own, higher bounds. (No
degraded queries at all suited the demo better still but lost 0.008-0.026 on two of the benchmark's four clean
sets, whose fast camera the degraded queries seem to prepare the model for.)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

CLEAN = {"sharpness_step": 0.10, "flicker": 0.05, "fine_step": 0.15}  # at or below all: clean, CLEAN_SHARE
DEGRADED = {"sharpness_step": 0.25, "flicker": 0.15, "fine_step": 0.35}  # at or above any: DEGRADED_SHARE
CLEAN_SHARE = 0.35  # the share of degraded queries for clean footage
DEGRADED_SHARE = 0.7  # the share for degraded footage (and where nothing can be measured)
MAX_FRAMES = 64  # frames measured per video (evenly spread)


@dataclass
class FootageDegradation:
    """Frame-to-frame changes of a set of videos (medians over their consecutive frame pairs) and the pairs used;
    ``fine_step`` over the pairs of frames larger than 256 px (nan when there are none)."""

    sharpness_step: float
    flicker: float
    pairs: int
    fine_step: float = math.nan

    def to_dict(self) -> dict:
        """The measures as a dict (nan, nothing measured, as None: the checkpoint's record stays valid JSON)."""
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in asdict(self).items()}


def _frame_measures(frame: np.ndarray) -> tuple[float, float, float | None]:
    """Log band variance, log mean brightness and log squared fine detail share (None: frame of at most 256 px)."""
    from dvos_core.infer.outlier_gate import frame_look

    grey = frame if frame.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    look = frame_look(grey)
    fine = None if look.fine is None else float(np.log(look.fine**2 + 1e-6))
    return float(np.log(look.band.var() + 1e-6)), float(np.log(grey.mean() + 1.0)), fine


def measure_degradation(videos) -> FootageDegradation:
    """The :class:`FootageDegradation` of ``videos``: an iterable of frame sequences ((n, H, W, 3) or (n, H, W)
    uint8 arrays, or anything indexable by frame with a length); at most ``MAX_FRAMES`` consecutive pairs of each
    (spread over the video) are measured."""
    steps, flicker, fine = [], [], []
    for frames in videos:
        n = len(frames)
        if n < 2:
            continue
        starts = np.unique(np.linspace(0, n - 2, min(MAX_FRAMES, n - 1)).round().astype(int))
        measures = {int(t): _frame_measures(np.asarray(frames[t])) for t in np.union1d(starts, starts + 1)}
        for t in starts:
            (s0, b0, f0), (s1, b1, f1) = measures[int(t)], measures[int(t) + 1]
            steps.append(abs(s1 - s0))
            flicker.append(abs(b1 - b0))
            if f0 is not None and f1 is not None:
                fine.append(abs(f1 - f0))
    if not steps:
        return FootageDegradation(math.nan, math.nan, 0)
    fine_step = float(np.median(fine)) if fine else math.nan
    return FootageDegradation(float(np.median(steps)), float(np.median(flicker)), len(steps), fine_step)


def matched_query_share(measured: FootageDegradation) -> float:
    """The share of degraded training queries for footage ``measured``: ``CLEAN_SHARE`` for clean footage,
    ``DEGRADED_SHARE`` for degraded footage (and when nothing was measured), linear in between by the furthest of the
    measures (``fine_step`` where the frames were large enough to have one)."""
    if measured.pairs == 0:
        return DEGRADED_SHARE
    level = max(
        (getattr(measured, k) - CLEAN[k]) / (DEGRADED[k] - CLEAN[k])
        for k in CLEAN
        if math.isfinite(getattr(measured, k))
    )
    return round(CLEAN_SHARE + (DEGRADED_SHARE - CLEAN_SHARE) * float(np.clip(level, 0.0, 1.0)), 3)


def project_footage(project) -> list:
    """The real videos of ``project`` a user works on: every one not in the test split (their frames are measured,
    never their masks; test videos stay out so that nothing about them steers training)."""
    out = []
    for vid in project.video_ids():
        video = project.video(vid)
        if video.split != "test" and video.n_frames >= 2:
            out.append(video.frame_run())  # read one frame at a time
    return out
