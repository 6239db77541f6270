"""Temporal smoothing of predictions: each frame's probability averaged with its neighbours', aligned by the camera.

A model that looks at one frame at a time errs a little differently on every frame (a gust blurs a head, noise
hides an edge, a leaf passes); the neighbouring frames, warped onto the frame by the estimated camera motion
(:class:`dvos_core.motion.align.SequenceAligner`), vote with it. A pixel a neighbour does not cover (it moved out
of view) gets fewer votes. By default the window is the 4 frames before (``before=4, after=0``), so a frame can be
smoothed as soon as it is predicted; ``after`` adds later frames. It works on any model's stored predictions and
writes a new prediction set beside them (``<model>_smoothed``): the original is never changed and both can be
compared with ``dvos evaluate``. Measured in ``docs/benchmarks.md``: much steadier masks and the same or higher Dice
where objects move with the camera (the accuracy benchmark), lower Dice where they sway on their own (the demo).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from dvos_core.motion import valid_region, warp_to
from dvos_core.motion.align import SequenceAligner
from dvos_core.progress import CancelToken, ProgressFn, check, report

SUFFIX = "_smoothed"


def _check_window(before: int, after: int) -> tuple[int, int]:
    before, after = int(before), int(after)
    if before < 0 or after < 0 or before + after == 0:
        raise ValueError(f"smoothing needs before >= 0 and after >= 0, not both 0; got before={before}, after={after}")
    return before, after


def smooth_stream(
    targets: Sequence[int],
    n_frames: int,
    read_frames: Callable[[int, int], np.ndarray],
    probability: Callable[[int], np.ndarray | None],
    sink: Callable[[int, np.ndarray], None],
    before: int = 4,
    after: int = 0,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    label: str = "",
) -> int:
    """Smooth ``targets`` in order: ``sink(t, p)`` with frame t's probability averaged with those of frames
    t-before .. t+after (each warped onto frame t; ``probability(k)`` None = frame k not predicted, left out).
    Holds only the frames of one window. Returns the number of frames smoothed (targets without a probability
    are skipped)."""
    from dvos_core.infer.context import _Window

    before, after = _check_window(before, after)
    targets = sorted({int(t) for t in targets})
    window, aligner, probs = _Window(read_frames), SequenceAligner(), {}
    done = 0
    report(progress, 0, len(targets), f"{label}smoothing {len(targets)} frames")
    for i, t in enumerate(targets, 1):
        check(cancel)
        span = range(max(0, t - before), min(n_frames, t + after + 1))
        probs = {k: p for k, p in probs.items() if k in span}
        for k in span:
            if k not in probs:
                probs[k] = probability(k)
        own = probs[t]
        if own is None:
            report(progress, i, len(targets), f"{label}frame {t} not predicted")
            continue
        near = [k for k in span if k != t and probs[k] is not None]
        frames = window.get([*near, t])
        shape = frames[t].shape[:2]
        total, votes = np.asarray(own, np.float32).copy(), np.ones(shape, np.float32)
        if near:
            mats = aligner.align([*(frames[k] for k in near), frames[t]], times=[*near, t])
            for k, mat in zip(near, mats):
                inside = valid_region(mat, shape, shape).astype(np.float32)
                total += inside * warp_to(np.asarray(probs[k], np.float32), mat, shape, nearest=False)
                votes += inside
        aligner.forget(set(span))
        sink(t, total / votes)
        done += 1
        report(progress, i, len(targets), f"{label}frame {t}")
    return done


def smooth_array(probabilities: np.ndarray, frames: np.ndarray, before: int = 4, after: int = 0) -> np.ndarray:
    """Smoothed (T, H, W) probabilities of an in-memory video (``frames`` (T, H, W, 3) uint8)."""
    probabilities = np.asarray(probabilities, np.float32)
    if probabilities.shape != frames.shape[:3]:
        raise ValueError(f"probabilities {probabilities.shape} do not match frames {frames.shape[:3]}")
    out = np.empty_like(probabilities)

    def sink(t, p):
        out[t] = p

    smooth_stream(
        range(len(frames)), len(frames), lambda a, b: frames[a:b], probabilities.__getitem__, sink, before, after
    )
    return out


def smooth_predictions(
    project,
    video_id: str,
    model: str,
    before: int = 4,
    after: int = 0,
    name: str | None = None,
    threshold: float | None = None,
    resume: bool = True,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> int:
    """Smooth the stored predictions ``model`` of one video into the prediction set ``name`` (default
    ``<model>_smoothed``); returns the number of frames written. ``threshold``: for the stored masks (default: the
    source's). Each frame is committed as it is written; an interrupted run resumes, unless the source predictions
    changed since (then it starts again)."""
    before, after = _check_window(before, after)
    video = project.video(video_id)
    source = video.predictions[model]
    predicted = source.frames()
    if not len(predicted):
        raise ValueError(
            f"video {video_id!r} has no predictions of {model!r} to smooth; run `dvos predict` first "
            f"(prediction sets: {video.predictions.models() or 'none'})"
        )
    name = name or f"{model}{SUFFIX}"
    if name == model:
        raise ValueError(f"the smoothed predictions need another name than their source {model!r}")
    src = source.attrs
    threshold = float(src.get("threshold", 0.5) if threshold is None else threshold)
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    info = {
        "kind": "smoothed",
        "source": model,
        "checkpoint": src.get("checkpoint"),
        "before": before,
        "after": after,
        "threshold": threshold,
    }
    # the source's own fingerprint and start date: predicting the source again invalidates what was smoothed
    fingerprint = f"{src.get('fingerprint')}|{src.get('date')}|smooth {before},{after}@{threshold}"
    dest = video.predictions[name]
    same = dest.start(info, fingerprint)
    targets = [int(t) for t in predicted]
    if resume and same:
        finished = dest.arrays()[2][: video.n_frames]
        targets = [t for t in targets if not finished[t]]
    _, prob, flags = source.arrays()
    flags = np.asarray(flags[: video.n_frames])

    def probability(k):
        return prob[k].astype(np.float32) if flags[k] else None

    return smooth_stream(
        targets,
        video.n_frames,
        video.read_frames,
        probability,
        lambda t, p: dest.set(t, p, threshold),
        before,
        after,
        progress,
        cancel,
        f"{video_id}: ",
    )
