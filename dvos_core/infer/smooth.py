"""Temporal smoothing of predictions: each frame's probability averaged with its neighbours', aligned by the camera.

A model that looks at one frame at a time errs a little differently on every frame (a gust blurs a head, noise
hides an edge, a leaf passes); the neighbouring frames, warped onto the frame by the estimated camera motion
(:class:`dvos_core.motion.align.SequenceAligner`) and then, by default, along the local motion that is left (heads
swaying on their own: dense optical flow, OpenCV's DIS, between the aligned frames, kept where it is consistent
forwards and backwards; :mod:`dvos_core.motion.sway`), vote with it. A pixel a
neighbour does not cover (it moved out of view) gets fewer votes. By default the window is the 4 frames before
(``before=4, after=0``), so a frame can be smoothed as soon as it is predicted; ``after`` adds later frames. It works
on any model's stored predictions and writes a new prediction set beside them (``<model>_smoothed``): the original
is never changed and both can be compared with ``dvos evaluate``. Measured in ``docs/benchmarks.md``: much steadier
masks; higher Dice where objects move with the camera (the accuracy benchmark), a little lower where heads sway
on their own (the demo), so score both sets before relying on it. ``only_outliers`` smooths only the frames that
are worse than their neighbours (a gust, a cloud, a gain jump between good frames;
:mod:`dvos_core.infer.outlier_gate`) and keeps the others as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from dvos_core.infer.arrays import check_frames
from dvos_core.infer.frame_window import FrameWindow
from dvos_core.infer.outlier_gate import frame_look, outlier_weight
from dvos_core.motion import valid_region, warp_to
from dvos_core.motion.align import SequenceAligner
from dvos_core.motion.sway import MIN_FLOW_SIDE, flow_input, follow, sway_flow
from dvos_core.prediction_options import SMOOTH_AFTER, SMOOTH_BEFORE, check_threshold
from dvos_core.progress import CancelToken, ProgressFn, check, report
from dvos_core.shell import quote
from dvos_core.threads import runs_with_threads
from dvos_core.user_warnings import warn_user

SUFFIX = "_smoothed"
MODE_KEYS = ("before", "after", "follow_sway", "only_outliers", "threshold")  # named when a set is made again


def smoothed_name(model: str) -> str:
    """The default name of the smoothed predictions of the prediction set ``model``."""
    return f"{model}{SUFFIX}"


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
    before: int = SMOOTH_BEFORE,
    after: int = SMOOTH_AFTER,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    label: str = "",
    follow_sway: bool = True,
    only_outliers: bool = False,
) -> int:
    """Smooth ``targets`` in order: ``sink(t, p)`` with frame t's probability averaged with those of frames
    t-before .. t+after (each warped onto frame t by the camera motion and, with ``follow_sway``, the local motion
    left; ``probability(k)`` None = frame k not predicted, left out). With ``only_outliers`` a frame is moved
    towards that average only as far as it is worse than its neighbours
    (:func:`dvos_core.infer.outlier_gate.outlier_weight`; 0 = kept as it is). Holds only the frames of one window.
    Returns the number of frames smoothed (targets without a probability are skipped)."""
    before, after = _check_window(before, after)
    targets = sorted({int(t) for t in targets})
    window, aligner, probs, looks = FrameWindow(read_frames), SequenceAligner(), {}, {}
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
        own = np.asarray(own, np.float32)
        total, votes = own.copy(), np.ones(shape, np.float32)
        weight = 1.0
        if near:
            mats = aligner.align([*(frames[k] for k in near), frames[t]], times=[*near, t])
        if near and only_outliers:
            looks = {k: looks[k] if k in looks else frame_look(frames[k]) for k in [*near, t]}
            weight = outlier_weight(looks[t], [looks[k] for k in near], mats, shape)
        if near and weight > 0:
            # frame t's side of every neighbour's flow, made once (frames too small for a flow get none)
            current = flow_input(frames[t]) if follow_sway and min(shape) >= MIN_FLOW_SIDE else None
            for k, mat in zip(near, mats):
                inside = valid_region(mat, shape, shape).astype(np.float32)
                moved = warp_to(np.asarray(probs[k], np.float32), mat, shape, nearest=False)
                if follow_sway:  # then along the heads' own sway
                    aligned = warp_to(frames[k], mat, shape, nearest=False)
                    moved = follow(moved, sway_flow(frames[t], aligned, inside, current))
                total += inside * moved
                votes += inside
        aligner.forget(set(span))
        smoothed = total / votes
        sink(t, smoothed if weight == 1.0 else own + weight * (smoothed - own))
        done += 1
        report(progress, i, len(targets), f"{label}frame {t}")
    return done


def smooth_array(
    probabilities: np.ndarray,
    frames: np.ndarray,
    before: int = SMOOTH_BEFORE,
    after: int = SMOOTH_AFTER,
    follow_sway: bool = True,
    only_outliers: bool = False,
) -> np.ndarray:
    """Smoothed (T, H, W) probabilities of an in-memory video: ``probabilities`` numbers in [0, 1] (not a 0/255
    image), ``frames`` (T, H, W, 3) uint8 RGB; the options are :func:`smooth_stream`'s."""
    from dvos_core.store.predictions import check_probabilities  # (the store's rule; zarr, no torch)

    frames = check_frames(frames)
    probabilities = check_probabilities(probabilities)
    if probabilities.shape != frames.shape[:3]:
        raise ValueError(f"probabilities {probabilities.shape} do not match frames {frames.shape[:3]}")
    out = np.empty_like(probabilities)

    def sink(t, p):
        out[t] = p

    n = len(frames)
    smooth_stream(
        range(n),
        n,
        lambda a, b: frames[a:b],
        probabilities.__getitem__,
        sink,
        before,
        after,
        follow_sway=follow_sway,
        only_outliers=only_outliers,
    )
    return out


@runs_with_threads(torch=False)
def smooth_predictions(
    project,
    video_id: str,
    model: str,
    before: int = SMOOTH_BEFORE,
    after: int = SMOOTH_AFTER,
    name: str | None = None,
    threshold: float | None = None,
    resume: bool = True,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    follow_sway: bool = True,
    only_outliers: bool = False,
    threads: int | None = None,
) -> int:
    """Smooth the stored predictions ``model`` of one video into the prediction set ``name`` (default
    ``<model>_smoothed``); returns the number of frames written. ``follow_sway=False`` aligns by the camera motion
    only; ``only_outliers`` smooths only the frames worse than their neighbours (see :func:`smooth_stream`).
    ``threshold``: for the stored masks (default: the source's). Each frame is committed as it is written; an
    interrupted run resumes, unless the source predictions changed since (then it starts again). ``threads``:
    OpenCV threads for the motion estimates and the flow (see :mod:`dvos_core.threads`)."""
    from dvos_core.store import Project

    before, after = _check_window(before, after)
    project = Project.of(project)
    video = project.video(video_id).require_complete()
    source = video.predictions[model]
    predicted = source.frames() if source.exists() else np.zeros(0, np.int64)
    if not len(predicted):
        if source.exists():  # a run stopped before its first frame was finished
            raise ValueError(
                f"video {video_id!r}: prediction set {model!r} holds no predicted frame yet (its run stopped before "
                f"the first); finish it first (`dvos info {quote(project.path)}` names the command that resumes it)"
            )
        raise ValueError(
            f"video {video_id!r} has no predictions of {model!r} to smooth; run `dvos predict` first "
            f"(prediction sets: {video.predictions.models() or 'none'})"
        )
    name = name or smoothed_name(model)
    if name == model:
        raise ValueError(f"the smoothed predictions need another name than their source {model!r}")
    if name in video.predictions.models():
        target = video.predictions[name]
        held = target.attrs  # {} and no frame: a run killed as it began, before it said whose the set is: taken
        if (held or len(target.frames())) and (held.get("kind") != "smoothed" or held.get("source") != model):
            made = f"smoothed from {held.get('source')!r}" if held.get("kind") == "smoothed" else "predicted"
            raise ValueError(
                f"video {video_id!r} already has the prediction set {name!r} ({made} by "
                f"{held.get('checkpoint')}); smoothing {model!r} into it would replace it: choose another name "
                f"(default {smoothed_name(model)!r})"
            )
    src = source.attrs
    threshold = float(src.get("threshold", 0.5) if threshold is None else threshold)
    check_threshold(threshold)
    info = {
        "kind": "smoothed",
        "source": model,
        "checkpoint": src.get("checkpoint"),
        "before": before,
        "after": after,
        "follow_sway": bool(follow_sway),
        "only_outliers": bool(only_outliers),
        "threshold": threshold,
    }
    # the source's own fingerprint and run (ModelPredictions.stamp): predicting the source again invalidates what
    # was smoothed
    mode = f"{before},{after},{bool(follow_sway)}" + (",outliers" if only_outliers else "")
    fingerprint = f"{source.stamp()}|smooth {mode}@{threshold}"
    from dvos_core.store.notes import outdated_warning
    from dvos_core.store.project import outdated_record

    d = outdated_record(source)
    if d:
        effect = f"{name!r} smooths masks that are out of date"
        aim = "first to smooth what it is now"
        warn_user(outdated_warning(video.path, model, d, [video_id], effect, aim))
    dest = video.predictions[name]
    held, had = dest.attrs, len(dest.frames()) if dest.exists() else 0
    same = dest.start(info, fingerprint)
    if not same and had:
        changed = [f"{k} {held[k]} -> {info[k]}" for k in MODE_KEYS if held.get(k) not in (None, info[k])]
        why = f"other settings: {', '.join(changed)}" if changed else f"{model!r} predicted again since"
        warn_user(f"{video_id}: the {had} smoothed frames of {name!r} are made again ({why})")
    targets = [int(t) for t in predicted]
    if resume and same:
        finished = dest.arrays()[2][: video.n_frames]
        targets = [t for t in targets if not finished[t]]
    src_masks, prob = source.arrays()[:2]
    flags = source.finished(slice(0, video.n_frames))  # a two-pass set's first-pass-only frames are not its own
    same_threshold = threshold == src.get("threshold", 0.5)

    def probability(k):
        return prob[k].astype(np.float32) if flags[k] else None

    def store(t, p):
        """A frame left as it was (an outlier weight of 0, no neighbour) keeps the source's mask: thresholding its
        stored float16 probability again could turn a pixel just under the threshold into head."""
        kept = same_threshold and np.array_equal(p, prob[t].astype(np.float32))
        dest.set_many([t], np.asarray(p)[None], threshold, masks=src_masks[t][None] if kept else None)

    return smooth_stream(
        targets,
        video.n_frames,
        video.read_frames,
        probability,
        store,
        before,
        after,
        progress,
        cancel,
        f"{video_id}: ",
        follow_sway,
        only_outliers,
    )
