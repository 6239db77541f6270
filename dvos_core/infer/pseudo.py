"""Pseudo-labelling: a model labels real videos, with a quality score per frame.

The image (frame) model labels each frame on its own. A context-aware video model (a first phase's checkpoint, to
relabel the videos its second phase trains on) labels the frames in order, each from its tau earlier frames.
Other image models can be blended in (``blend_with``): the label is then the mean of the models' probabilities."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dvos_core.infer.allocator import reuse_freed_memory
from dvos_core.infer.engine import FLIPS, BrokenModelError, Predictor, checkpoint_in, load_model
from dvos_core.infer.predict import _name, frames_per_step, frames_text, in_project
from dvos_core.infer.quality import camera_motion, flicker, quality_score, uncertainty
from dvos_core.infer.window import FeatureCache, FrameCache, plan_batches
from dvos_core.motion.transforms import invert
from dvos_core.prediction_options import PSEUDO_PASSES, THRESHOLD, check_batch_size
from dvos_core.progress import CancelToken, ProgressFn, Steps, check, report
from dvos_core.store.lock import writes_store
from dvos_core.store.project import stopped_relabelling
from dvos_core.store.schema import id_list
from dvos_core.threads import using_threads
from dvos_core.user_warnings import warn_user

COLUMNS = ["video", "frame", "quality", "flicker", "uncertainty", "written", "status", "below_threshold"]


def _passes(
    predictor: Predictor,
    frames: dict,
    todo: list,
    features: FeatureCache,
    n_passes: int,
    cancel: CancelToken | None = None,
    after_pass=None,
    on_tile=None,
) -> np.ndarray:
    """(K, B, H, W) probabilities of frames ``todo``: pass 0 deterministic, then stochastic forwards (reusing the
    frames' encoder features), or flip test-time augmentation when the model has no stochastic path (no
    ``stochastic`` argument, or one that changes nothing: detected on the first batch and remembered on the
    predictor). ``cancel`` is checked tile by tile; ``after_pass()`` is called after each pass, ``on_tile(done,
    total)`` after each tile of a pass over frames cut into several."""
    windows = [[t] for t in todo]

    def run(stochastic=False, flip=None):
        out = predictor.predict_windows(
            frames, windows, features, stochastic=stochastic, flip=flip, cancel=cancel, on_tile=on_tile
        )
        if after_pass is not None:
            after_pass()
        return out

    out = [run()]
    for k in range(1, n_passes):
        if predictor.stochastic_capable:
            p = run(stochastic=True)
            if k == 1 and np.allclose(p, out[0], atol=1e-6):
                predictor.stochastic_capable = False
            else:
                out.append(p)
                continue
        out.append(run(flip=FLIPS[k % len(FLIPS)]))
    return np.stack(out)


class _Finaliser:
    """Delays each frame by one so its flicker can use both neighbours, then writes it.

    Items are ``(t, mask, uncertainty, status, frame)``; with the frames, each neighbour's mask is aligned onto
    frame t by the camera motion between the two frames before the flicker is measured (without: unaligned).
    """

    def __init__(self, video, quality_threshold, drop_below, rows):
        from dvos_core.store.schema import PROVENANCE_RANK, PSEUDO

        self.video, self.thr, self.drop, self.rows = video, quality_threshold, drop_below, rows
        self.pending = None  # (t, mask, uncertainty, status, frame)
        self.prev = None  # (t, mask)
        self.link = None  # (t, 2x3 camera motion frame t-1 -> t, or None when it could not be measured)
        self.rank, self.pseudo = PROVENANCE_RANK, PSEUDO
        self.on_written = None  # called with t after frame t is finalised (written, kept or left as it was)

    def push(self, item) -> None:
        if self.pending is not None:
            nxt = item if item[0] == self.pending[0] + 1 else None
            self._write(nxt)
        self.pending = item

    def flush(self) -> None:
        if self.pending is not None:
            self._write(None)
            self.pending = None

    def _motion(self, nxt):
        """Camera motion from the pending frame to ``nxt`` (None without frames or when unreliable)."""
        frame, other = self.pending[4] if len(self.pending) > 4 else None, nxt[4] if len(nxt) > 4 else None
        if frame is None or other is None:
            return None
        return camera_motion(frame, other, self.pending[1], nxt[1])

    def _write(self, nxt) -> None:
        t, mask, unc, status = self.pending[:4]
        prev = self.prev[1] if self.prev is not None and self.prev[0] == t - 1 else None
        prev_m = self.link[1] if prev is not None and self.link is not None and self.link[0] == t else None
        fwd = None if nxt is None else self._motion(nxt)
        next_m = None if fwd is None else invert(fwd)
        flick = flicker(mask, prev, None if nxt is None else nxt[1], prev_m, next_m)
        self.prev, self.link = (t, mask), (t + 1, fwd)
        written = False
        if status == "predict":
            q = quality_score(unc, flick)
            below = self.thr is not None and q < self.thr
            if below and self.drop:
                old = int(self.video.group["provenance"][t])
                if self.rank[old] <= self.rank[self.pseudo]:
                    self.video.clear_mask(t)
                self.video.set_quality(t, q)
                status = "dropped"
            else:
                written = self.video.set_mask(t, mask, "pseudo", quality=q)
                status = "written" if written else "protected"
        else:
            q = float(self.video.quality[t]) if status == "kept" else float("nan")
            below = self.thr is not None and not np.isnan(q) and q < self.thr
            if below and self.drop and int(self.video.group["provenance"][t]) == self.pseudo:
                # a pseudo-label kept from before (no --overwrite) under the threshold: cleared as asked (it kept
                # every one of them, silently); a mask a person painted or corrected is never a 'kept' pseudo-label
                self.video.clear_mask(t)
                self.video.set_quality(t, q)
                status = "dropped"
        self.rows.append(
            {
                "video": self.video.name,
                "frame": int(t),
                "quality": q,
                "flicker": flick,
                "uncertainty": unc,
                "written": bool(written),
                "status": status,
                "below_threshold": bool(below),
            }
        )
        if self.on_written is not None:
            self.on_written(t)


@writes_store
def pseudo_label(
    project,
    video_ids,
    checkpoint,
    device="auto",
    n_passes: int = PSEUDO_PASSES,
    quality_threshold: float | None = None,
    frames: Sequence[int] | None = None,
    overwrite: bool = False,
    drop_below: bool = False,
    batch_size: int = 4,
    tile_size: int | None = None,
    overlap: int | None = None,
    threshold: float = THRESHOLD,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    threads: int | None = None,
    precision: str = "auto",
    blend_with: Sequence | None = None,
    scales: str = "auto",
):
    """Label every frame (or ``frames``) of the videos with the image model - or a context model, see below;
    returns a per-frame DataFrame. ``checkpoint`` (and each of ``blend_with``): a path, the name of a model of
    ``project`` (its ``best.pt``) or a ``(model, info)`` pair.

    Masks are written with provenance "pseudo" and their quality (see :mod:`dvos_core.infer.quality`). Human masks
    (manual, corrected) and synthetic masks are never replaced (status "protected"); existing pseudo masks are kept
    (status "kept") unless ``overwrite``. Frames with quality below ``quality_threshold`` are flagged
    (``below_threshold``): they keep their mask and the trainer skips them via ``pseudo_quality_min``; with
    ``drop_below`` (which needs ``quality_threshold``) their mask is cleared instead (status "dropped", quality still
    recorded), pseudo-labels kept from before under the threshold too (by their recorded quality). ``threads``: CPU
    threads (see :mod:`dvos_core.threads`); ``precision``: see
    :func:`~dvos_core.infer.predict.predict_video`.

    With a context model's checkpoint the frames are labelled in order, each from its tau earlier frames, whose
    masks are this run's labels, or the stored label of a frame it does not relabel (a painted frame always lends
    its own); one pass (``n_passes`` does not apply), the uncertainty measured between its mask and the mask it
    gets from the frame alone. Use ``overwrite=True`` to replace the image model's pseudo-labels.

    ``blend_with``: image-model checkpoints whose probabilities (each the mean of its ``n_passes`` passes) are
    averaged with the labelling model's, one model one vote; the uncertainty then measures how far the models
    disagree. With a context model the blended label is also the mask the frame lends to the next frames.
    ``scales``: the scales each frame is segmented at (see :func:`~dvos_core.infer.predict.predict_video`).
    """
    import pandas as pd

    from dvos_core.store import Project

    project = Project.of(project)

    check_batch_size(batch_size)
    video_ids = id_list(video_ids)
    if not video_ids:
        raise ValueError("pseudo_label needs at least one video id")
    if n_passes < 1:
        raise ValueError(f"n_passes must be >= 1, got {n_passes}")
    if quality_threshold is not None and not 0.0 <= quality_threshold <= 1.0:
        raise ValueError(f"quality_threshold must be in [0, 1], got {quality_threshold}")
    if drop_below and quality_threshold is None:  # would clear nothing, silently
        raise ValueError(
            "drop_below (--drop-below) clears the masks of frames below the quality threshold, and none was given: "
            "pass quality_threshold (--quality-threshold Q, e.g. 0.5)"
        )
    videos = [project.video(v).require_complete() for v in video_ids]
    checkpoint = checkpoint_in(project, checkpoint)
    if isinstance(blend_with, (str, Path)) or hasattr(blend_with, "forward"):  # one model, not its letters
        blend_with = [blend_with]
    blend_with = [checkpoint_in(project, c) for c in blend_with or ()]
    from dvos_core.store.schema import PSEUDO

    for v in videos:  # test videos take manual ground truth only: refuse before any work
        v.check_label_write(PSEUDO, "pseudo-labelling")
    if (overwrite or drop_below) and project.path is not None:  # masks a training run may be reading would change
        from dvos_core.store.training import refuse_while_training

        what = "replace" if overwrite else "clear"
        names, several = ", ".join(repr(v.name) for v in videos), len(videos) > 1  # (one look at the models folder)
        whose = "videos" if several else "video"
        refuse_while_training(
            project.path, f"the masks of {whose} {names}", f"{what} {'their' if several else 'its'} pseudo-labels"
        )
    rows: list = []
    with using_threads(threads):
        predictor = _labelling_predictor(checkpoint, device, tile_size, overlap, precision, scales)
        others = [_blend_predictor(c, device, tile_size, overlap, precision, scales) for c in blend_with or ()]
        plans = [(v, _video_targets(v, frames)) for v in videos]
        total, done = sum(len(t) for _, t in plans), 0
        with reuse_freed_memory(predictor.device.type == "cpu"):
            for video, targets in plans:
                fin = _Finaliser(video, quality_threshold, drop_below, rows)
                _warn_if_stopped_relabel(video, overwrite)
                record = (checkpoint, predictor, n_passes, quality_threshold, drop_below, blend_with, overwrite)
                # a run that labels no frame (each holds a label it may not replace) leaves the record of the run
                # that made them, a finished one (a new date would tell a resumed training its pseudo-labels were
                # made again); a stopped one is finished by it
                codes, last = video.provenance, video.attrs.get("pseudo_label") or {}
                stopped = last.get("complete") is False
                # a stopped relabelling made as this one: the frames it relabelled are kept (kept_before)
                run = _run_record(video, *record)  # what this run records of itself, made once
                kept_before = _relabelled_through(last, run) if frames is None else 0
                if kept_before:
                    report(
                        progress, done, total, f"{video.name}: finishing a stopped relabelling from frame {kept_before}"
                    )
                labels = stopped or any(_status(codes, t, overwrite, kept_before) == "predict" for t in targets)
                # how far a relabelling of every frame got (recorded as it goes), so a stopped one can be finished
                mark = _RelabelMark(video, run, kept_before) if labels and overwrite and frames is None else None
                if labels:
                    _record_run(video, run, complete=False, **(mark.extra() if mark else {}))  # until it ends
                if labels and overwrite:
                    _reset_missing_quality(video)
                fin.on_written = None if mark is None else mark.written
                try:
                    if predictor.kind == "context":
                        share = Steps(progress, done, len(targets), total)  # this video's slice of the run
                        blend = _Blend(others, n_passes) if others else None
                        args = (predictor, video, targets, threshold, overwrite, fin.push, share, cancel, blend)
                        _label_in_order(*args, kept_before=kept_before)
                        done += len(targets)
                    else:
                        labeller = _BatchLabeller(
                            [predictor, *others], video, n_passes, threshold, overwrite, kept_before
                        )
                        step = frames_per_step(predictor, video.shape[1:3], batch_size)
                        for batch in plan_batches(targets, 0, step, image_first=True):
                            check(cancel)
                            where = f"{video.name}: {frames_text(batch.targets)}"
                            at = done  # the passes of a batch say how far it got: the bar stays at its start

                            def after(k, n, where=where, at=at):
                                if k < n:  # the batch's last pass is reported with its frames
                                    report(progress, at, total, f"{where} pass {k}/{n}")

                            def tiles(k, n, j, m, where=where, at=at):  # a large frame's pass is half a minute
                                report(progress, at, total, f"{where} pass {k}/{n}, tile {j}/{m}")

                            for item in labeller.label(batch.targets, cancel, after, tiles):
                                fin.push(item)
                            done += len(batch.targets)
                            report(progress, done, total, f"{video.name}: frame {batch.targets[-1]}")
                    # the last frame, held back for its flicker, has no next neighbour. A cancel or error leaves the
                    # held frame unwritten: scored without its next neighbour its quality would differ from an
                    # uninterrupted run's, and a resumed run (keeping the frames written) would keep that score; it
                    # labels it instead
                    fin.flush()
                except BaseException as e:
                    unlabelled = labels and np.array_equal(np.asarray(video.provenance), np.asarray(codes))
                    if isinstance(e, BrokenModelError) and unlabelled:  # NaN weights: no stopped run to finish
                        video.update_attrs(pseudo_label=last)
                    elif mark is not None:
                        mark.save(quietly=True)  # how far it got, for the run that finishes it
                    raise
                if labels:
                    _record_run(video, run, complete=True)
    return pd.DataFrame(rows, columns=COLUMNS)


def _predictor(checkpoint, device, tile_size, overlap, precision, scales) -> Predictor:
    model, info, dev = load_model(checkpoint, device)
    return Predictor(model, info, dev, tile_size=tile_size, overlap=overlap, precision=precision, scales=scales)


def _labelling_predictor(checkpoint, device, tile_size, overlap, precision="auto", scales="auto") -> Predictor:
    predictor = _predictor(checkpoint, device, tile_size, overlap, precision, scales)
    if predictor.kind not in ("frame", "context"):
        raise ValueError(
            f"pseudo-labelling needs an image (frame) model or a context-aware video model; {_name(checkpoint)} is "
            f"a {predictor.kind!r} model (it never sees the frame it would label). Train an image model with "
            "`dvos train --phase image`"
        )
    return predictor


def _blend_predictor(checkpoint, device, tile_size, overlap, precision, scales) -> Predictor:
    predictor = _predictor(checkpoint, device, tile_size, overlap, precision, scales)
    if predictor.kind != "frame":
        raise ValueError(
            f"only image (frame) models can be blended into the labels; {_name(checkpoint)} is a "
            f"{predictor.kind!r} model. "
            + (
                "Pass it as the labelling model instead"
                if predictor.kind == "context"
                else "It cannot label either: only an image (frame) or a context-aware video model labels"
            )
        )
    return predictor


class _Blend:
    """Blends image models into a context model's labels: each frame's probability from each model (the mean of
    its passes), averaged with the context model's."""

    def __init__(self, predictors: list, n_passes: int):
        self.predictors, self.n_passes = predictors, n_passes

    def __call__(self, t: int, frame: np.ndarray, prob: np.ndarray) -> np.ndarray:
        """(M, H, W): ``prob`` and each image model's probability of ``frame`` (frame t)."""
        own = [_passes(p, {t: frame}, [t], FeatureCache(), self.n_passes)[:, 0].mean(0) for p in self.predictors]
        return np.stack([prob, *own])


def _status(codes: np.ndarray, t: int, overwrite: bool, kept_before: int = 0) -> str:
    """Of frame t with provenance ``codes[t]``: "protected" (a higher-ranked mask than pseudo), "kept" (a pseudo
    mask, no overwrite - or one a stopped relabelling made as this run relabels, before frame ``kept_before``) or
    "predict"."""
    from dvos_core.store.schema import PROVENANCE_RANK, PSEUDO

    code = int(codes[t])
    if PROVENANCE_RANK[code] > PROVENANCE_RANK[PSEUDO]:
        return "protected"
    return "kept" if code == PSEUDO and (not overwrite or t < kept_before) else "predict"


def _label_in_order(
    predictor: Predictor, video, targets, threshold, overwrite, push, progress, cancel, blend=None, kept_before=0
):
    """A context model's labels of ``targets``, pushed in frame order as finaliser items (the frames it does not
    relabel with their stored mask). A reference's mask is this run's label of that frame, else its stored label
    (painted, corrected or pseudo); the uncertainty compares the mask with the one from the frame alone - or, with
    a ``blend`` (:class:`_Blend`), the label is the models' mean probability and the uncertainty their spread."""
    from dvos_core.infer.context import ContextPredictor, run_context
    from dvos_core.infer.predict import reference_labels

    ctx = ContextPredictor(
        predictor.net, predictor.device, predictor.tile_size, predictor.overlap, predictor.amp, scales=predictor.scales
    )
    codes = video.provenance
    status = {t: _status(codes, t, overwrite, kept_before) for t in targets}
    queue = iter(targets)

    def frame(t):
        return video.read_frames(t, t + 1)[0]

    def stored_until(t) -> None:  # the targets before t that keep their mask, in order
        for k in queue:
            if k == t:
                return
            push((k, video.read_masks(k, k + 1)[0], float("nan"), status[k], frame(k)))

    def sink(t, prob, alone):
        stored_until(t)
        image = frame(t)
        votes = np.stack([prob, alone]) if blend is None else blend(t, image, prob)
        label = prob if blend is None else votes.mean(0)
        push((t, (label >= threshold).astype(np.uint8), uncertainty(votes, threshold), "predict", image))
        return None if blend is None else label  # a blended label is the mask frame t lends to the next frames

    todo = [t for t in targets if status[t] == "predict"]
    label = f"{video.name}: "
    run_context(
        ctx, video.read_frames, todo, sink, reference_labels(video), threshold, progress, cancel, label, True, False
    )  # one pass: nothing held for a second
    stored_until(None)


def _video_targets(video, frames) -> list[int]:
    n = video.n_frames
    return list(range(n)) if frames is None else sorted({int(t) for t in frames if 0 <= int(t) < n})


class _BatchLabeller:
    """Turns a batch of frame indices into finaliser items (t, mask, uncertainty, status), predicting only the
    frames whose mask may be replaced; frames and encoder features are held only while the batch needs them.
    Several image models: the label is their mean probability (each the mean of its passes), the uncertainty
    their spread."""

    def __init__(self, predictors: list, video, n_passes: int, threshold: float, overwrite: bool, kept_before=0):
        self.predictors, self.video, self.n_passes, self.threshold = predictors, video, n_passes, threshold
        self.codes, self.overwrite, self.kept_before = video.provenance, overwrite, kept_before
        self.frames = FrameCache(video.read_frames)
        self.features = [FeatureCache() for _ in predictors]

    def status(self, t: int) -> str:
        return _status(self.codes, t, self.overwrite, self.kept_before)

    def label(self, targets, cancel: CancelToken | None = None, after_pass=None, on_tile=None) -> list[tuple]:
        """``after_pass(k, n)``: called after pass k of the n passes of every model (k from 1); ``on_tile(k, n,
        done, total)``: after each tile of pass k, on frames cut into several tiles."""
        status = {t: self.status(t) for t in targets}
        todo = [t for t in targets if status[t] == "predict"]
        results = {}
        held = self.frames.fetch(targets)  # every frame: the finaliser aligns neighbours by their camera motion
        if todo:
            n, made = self.n_passes * len(self.predictors), []

            def counted():
                made.append(1)
                if after_pass is not None:
                    after_pass(len(made), n)

            def tiled(done, total):  # (a stochastic pass that changed nothing is run again flipped: same number)
                on_tile(min(len(made) + 1, n), n, done, total)

            tile_fn = tiled if on_tile is not None else None
            runs = [
                _passes(p, held, todo, f, self.n_passes, cancel, counted, tile_fn)
                for p, f in zip(self.predictors, self.features)
            ]
            # one model: its passes; several: one vote each (the mean of its passes)
            votes = runs[0] if len(runs) == 1 else np.stack([r.mean(0) for r in runs])
            for i, t in enumerate(todo):
                p = votes[:, i]
                results[t] = ((p.mean(0) >= self.threshold).astype(np.uint8), uncertainty(p, self.threshold))
        return [
            (t, *results[t], "predict", held[t])
            if t in results
            else (t, self.video.read_masks(t, t + 1)[0], float("nan"), status[t], held[t])
            for t in targets
        ]


def _reset_missing_quality(video) -> None:
    """Relabelling every frame scores every pseudo-label again: the rows of a quality chunk that is missing (a deleted
    file) or cannot be decoded (a damaged one) are made again as unknown first, so the new scores can be written
    there (see Video.reset_missing_quality)."""
    made = video.reset_missing_quality()
    if made:
        frames = ", ".join(f"{a}-{b}" for a, b in made)
        warn_user(
            f"{video.where}: the quality scores of frames {frames} were missing or could not be read (a deleted or "
            f"damaged file); they are made again as unknown, and each pseudo-label gets its score again as it is "
            f"relabelled"
        )


def _warn_if_stopped_relabel(video, overwrite: bool) -> None:
    """A run that keeps existing labels after a stopped relabelling would keep that mix: say so."""
    last = video.attrs.get("pseudo_label") or {}
    if not overwrite and stopped_relabelling(last):
        warn_user(
            f"{video.name}: the last pseudo-labelling (by {last.get('checkpoint')}, relabelling every frame) was "
            f"stopped, so its labels are a mix of that model's and the earlier ones; relabel with overwrite "
            f"(--overwrite, the step's 'relabel frames...' box) to label every frame with one model",
        )


def _run_record(
    video, checkpoint, predictor: Predictor, n_passes, quality_threshold, drop_below, blend_with=None, overwrite=False
) -> dict:
    """What a run labelling ``video`` records of itself in the video's ``pseudo_label`` attribute (see
    :func:`_record_run`), without its date and whether it ended."""
    from dvos_core.model.checkpoint import file_fingerprint

    # the bytes the model was loaded from: a best.pt saved over the path since did not make these labels
    sha = predictor.info.get("file_sha256") if isinstance(checkpoint, (str, Path)) else None
    if sha is None and isinstance(checkpoint, (str, Path)) and Path(checkpoint).is_file():
        sha = file_fingerprint(checkpoint)
    return {
        "checkpoint": _name(checkpoint),
        "checkpoint_in_project": in_project(checkpoint, video.path),
        "overwrite": bool(overwrite),  # it replaced existing pseudo-labels
        # what the file held (a model trained again under the same name differs): run-all relabels then
        "checkpoint_sha256": sha,
        "blend_with": [_name(c) for c in blend_with or ()],
        "n_passes": n_passes,
        "uncertainty_from": "models" if blend_with else _uncertainty_source(predictor),
        "precision": predictor.number_format,
        "zooms": list(predictor.scales.zooms(*video.shape[1:3])),
        "quality_threshold": quality_threshold,
        "drop_below": drop_below,
    }


def _record_run(video, run: dict, complete=True, **extra):
    """Record in the video's ``pseudo_label`` attribute the run labelling it (``run``: its :func:`_run_record`, the
    same from its start to its end: a labelling model's uncertainty source does not change during a run): written
    (``complete`` False) before its first label, and again (True) when it ends, so a stopped run is never taken for
    a finished one. ``extra``: more to record (a relabelling's ``relabelled_through``)."""
    video.update_attrs(
        pseudo_label={
            **run,
            "complete": complete,  # False: stopped (or running), some frames not reached
            "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            **extra,
        }
    )


# what must match for a stopped relabelling to be finished by another run rather than done again
SAME_LABELLING = (
    "checkpoint_sha256",
    "blend_with",
    "n_passes",
    "uncertainty_from",
    "precision",
    "zooms",
    "quality_threshold",
    "drop_below",
)


def _relabelled_through(last: dict, now: dict) -> int:
    """The frames a stopped relabelling of every frame (``last``, the video's ``pseudo_label`` record) relabelled,
    ``0..k-1``: k when it was made as the run recorded by ``now`` relabels (the same checkpoint file, passes, scales,
    blending and quality settings), so that run keeps them; else 0 (every frame is relabelled)."""
    k = last.get("relabelled_through")
    if not (stopped_relabelling(last) and now.get("overwrite") and isinstance(k, int) and k > 0):
        return 0
    if now.get("checkpoint_sha256") is None or any(last.get(key) != now.get(key) for key in SAME_LABELLING):
        return 0
    return k


class _RelabelMark:
    """Records how far a relabelling of every frame got (``relabelled_through`` in the ``pseudo_label`` record: the
    frames before it are written, in order): at most every ``every_s`` seconds as it goes, and when it stops."""

    def __init__(self, video, run: dict, start: int, every_s: float = 2.0):
        import time

        self.video, self.run, self.every_s, self.clock = video, run, every_s, time.monotonic
        self.through = self.saved = int(start)
        self.last = self.clock()

    def extra(self) -> dict:
        return {"relabelled_through": self.through}

    def written(self, t: int) -> None:
        """Frame t is finalised (frames are finalised in order, from 0)."""
        self.through = int(t) + 1
        if self.clock() - self.last >= self.every_s:
            self.save()

    def save(self, quietly: bool = False) -> None:
        """Record the frames finalised so far (``quietly``: on the way out of a stopped run, whose own error
        matters more than this record's)."""
        if self.through == self.saved:
            return
        try:
            _record_run(self.video, self.run, complete=False, **self.extra())
        except Exception:
            if not quietly:
                raise
            return
        self.saved, self.last = self.through, self.clock()


def _uncertainty_source(predictor: Predictor) -> str:
    """What the recorded uncertainty compares: a context model's mask with its frame-alone mask, or an image
    model's stochastic passes, or its flipped passes."""
    if predictor.kind == "context":
        return "query alone"
    return "stochastic" if predictor.stochastic_capable else "flips"
