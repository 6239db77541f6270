"""Predict whole videos with a DVOS (or frame) model, streaming frames in and probabilities into the store.

Frame t >= tau is predicted from frames t-tau .. t-1 only (the DVOS model never sees frame t). The first tau frames
have no full history: with ``image_checkpoint`` they are predicted by the image (frame) model from frame t itself;
without it the window is clamped at 0 (frame 0 repeated), as in the reference code. A frame checkpoint predicts
every frame from itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import numpy as np

from dvos_core.infer import distributed
from dvos_core.infer.allocator import reuse_freed_memory
from dvos_core.infer.arrays import check_frames
from dvos_core.infer.engine import BrokenModelError, Predictor, checkpoint_in, load_model
from dvos_core.infer.window import FeatureCache, FrameCache, plan_batches
from dvos_core.prediction_options import THRESHOLD, check_batch_size, check_threshold
from dvos_core.progress import CancelToken, ProgressFn, check, report
from dvos_core.store.fsops import in_project
from dvos_core.store.lock import writes_store
from dvos_core.store.predictions import checkpoint_sha, recorded_checkpoint
from dvos_core.threads import explicit_threads, local_processes, using_threads
from dvos_core.user_warnings import warn_user

_SHARED: ContextVar[dict | None] = ContextVar("dvos_shared_predictors", default=None)


@contextmanager
def sharing_models():
    """Within this block, :func:`predict_video`, :func:`replaced_sets` and :func:`predict_array` load each checkpoint
    file (with the same device and tiling settings) once and use that model for every video, instead of reading and
    preparing it again for each call; a checkpoint file saved over inside the block is not read again (its first
    bytes made every set, and are what the sets record). A model passed in memory (a ``(model, info)`` pair) is
    prepared for each call, as outside the block. `dvos predict`, the Predict step and run-all predict their
    videos inside one."""
    token = _SHARED.set({} if _SHARED.get() is None else _SHARED.get())
    try:
        yield
    finally:
        _SHARED.reset(token)


def _predictors(
    checkpoint, image_checkpoint, device, tile_size, overlap, optimize=True, precision="auto", scales="auto"
):
    """(main, image) predictors of ``checkpoint`` and ``image_checkpoint`` (None unless the main model is a DVOS
    model); inside :func:`sharing_models` the same pair is returned for the same arguments."""
    shared = _SHARED.get()
    files = all(isinstance(c, (str, Path, type(None))) for c in (checkpoint, image_checkpoint))
    if shared is None or not files:  # a model in memory is never shared: it may be trained on, and its id reused
        return _load_predictors(checkpoint, image_checkpoint, device, tile_size, overlap, optimize, precision, scales)
    paths = tuple(None if c is None else str(c) for c in (checkpoint, image_checkpoint))
    key = (*paths, str(device), tile_size, overlap, optimize, precision, scales)
    if key not in shared:
        shared[key] = _load_predictors(
            checkpoint, image_checkpoint, device, tile_size, overlap, optimize, precision, scales
        )
    return shared[key]


def _load_predictors(checkpoint, image_checkpoint, device, tile_size, overlap, optimize, precision, scales):
    model, info, dev = load_model(checkpoint, device)
    opts = {"overlap": overlap, "optimize": optimize, "precision": precision, "scales": scales}
    main = Predictor(model, info, dev, tile_size=tile_size, **opts)
    image = None
    if image_checkpoint is not None and main.kind == "dvos":
        imodel, iinfo, _ = load_model(image_checkpoint, dev)
        # tiled as the main model's frames are (its overlap too: an automatic tile size shrinks the default overlap
        # for a small model, which the image model's explicit tile size would not)
        image = Predictor(imodel, iinfo, dev, tile_size=main.tile_size, **{**opts, "overlap": main.overlap})
        if image.kind != "frame":
            raise ValueError(
                f"image_checkpoint {_name(image_checkpoint)} holds a {image.kind!r} model; the first "
                f"frames need a frame (image) model, e.g. one trained with `dvos train --phase image`"
            )
    return main, image


def _name(checkpoint) -> str:
    """How a prediction set or a pseudo-labelling record names its checkpoint: the file's absolute path (a path as
    typed was relative to the folder the command ran in, and named nothing from another), or "<in-memory model>"."""
    import os

    if isinstance(checkpoint, (tuple, list)) or hasattr(checkpoint, "forward"):
        return "<in-memory model>"
    return os.path.abspath(checkpoint)


def run_schedule(
    main: Predictor,
    image: Predictor | None,
    reader,
    targets: Sequence[int],
    batch_size: int,
    sink,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    label: str = "",
    cache: FrameCache | None = None,
    shape: tuple[int, int] | None = None,
) -> int:
    """Predict ``targets`` step by step, calling ``sink(targets, probabilities)`` as soon as each step is done.

    ``reader(start, stop)`` supplies frames; only the frames the current step needs are held (see FrameCache), and
    each frame tile is encoded once for all its windows (see FeatureCache). A step is one batch, or for tiled frames
    (``shape`` = (H, W)) a chunk of consecutive frames done tile by tile.
    """
    if main.kind == "context":
        raise ValueError("a context model predicts frame by frame: use predict_video or predict_array")
    tau = main.tau
    step = main.chunk_size(batch_size, shape)
    if tau == 0 and shape is not None:  # an image model: frame by frame where a CPU takes them one at a time anyway
        step = frames_per_step(main, shape, step)
    batches = plan_batches(targets, tau, step, image_first=image is not None)
    cache = cache if cache is not None else FrameCache(reader)
    features = {"video": FeatureCache(), "image": FeatureCache()}
    total, done = sum(len(b.targets) for b in batches), 0
    report(progress, 0, total, f"{label}predicting {total} frames")
    with reuse_freed_memory(main.optimize and main.device.type == "cpu"):
        for batch in batches:
            check(cancel)
            predictor = image if (batch.mode == "image" and tau > 0) else main
            where = f"{label}{frames_text(batch.targets)}"

            def tiled(j, m, where=where, at=done):  # a pass over a large frame takes half a minute on a CPU
                report(progress, at, total, f"{where}, tile {j}/{m}")

            probs = predictor.predict_batch(batch, cache, features[batch.mode], batch_size, cancel, tiled)
            sink(batch.targets, probs)
            done += len(batch.targets)
            report(progress, done, total, f"{label}frame {batch.targets[-1]}")
    return done


def frames_text(targets) -> str:
    """The frames of a step, for a progress message: 'frame 7' or 'frames 4-7'."""
    return f"frame {targets[0]}" if len(targets) == 1 else f"frames {targets[0]}-{targets[-1]}"


def frames_per_step(predictor: Predictor, shape, batch_size: int) -> int:
    """Frames an image model segments per step: ``batch_size``, or 1 where the network takes them one at a time
    anyway (tiles of large frames on a CPU, see :meth:`Predictor.at_once`): then progress, a cancel and the writes
    come frame by frame, not every ``batch_size`` frames (32 s apart for 720p frames on one CPU core)."""
    from dvos_core.infer.scales import zoomed_shape

    h, w = zoomed_shape(*shape, max(predictor.scales.zooms(*shape)))
    tile = predictor.tiles(h, w)[2][0]
    return batch_size if predictor.at_once(tile.h * tile.w, batch_size) > 1 else 1


def _frames_said(frames) -> str:
    """Frame numbers for a message: '3, 4' or '3-9, 12' (runs of consecutive frames as ranges)."""
    from dvos_core.runs import contiguous_runs

    return ", ".join(f"{a}" if b - a == 1 else f"{a}-{b - 1}" for a, b in contiguous_runs(frames))


def target_frames(n: int, frames, name: str, ordered: bool = False) -> list[int]:
    """The frames to predict of a video of ``n`` frames: ``frames`` (None: all), sorted once each, or with
    ``ordered`` as given, repeats included (:func:`predict_array` returns a row per frame asked)."""
    if frames is None:
        return list(range(n))
    from dvos_core.store.sequence import _index

    asked = [_index(t) for t in frames]  # (True and 2.7 were frames 1 and 2)
    bad = sorted({t for t in asked if not 0 <= t < n})
    if bad:
        raise IndexError(
            f"video {name!r} has {n} frames (0-{n - 1}); cannot predict frames {bad[:5]}: ask for frame numbers "
            f"below {n}"
        )
    return asked if ordered else sorted(set(asked))


def _check_settings(batch_size, threshold, threads) -> None:
    """Refuse settings that cannot run, before a model is loaded: :func:`predict_video`'s and
    :func:`predict_array`'s (a batch size of 0 ran as 1 there, unsaid)."""
    check_threshold(threshold)
    check_batch_size(batch_size)
    explicit_threads(threads)


def _check_kind_settings(main, passes, reference_masks, image_checkpoint, checkpoint) -> None:
    """Refuse a context model's settings that cannot run (passes=3 ran as 1 in :func:`predict_array`), and say which
    options given do not apply to the loaded model: :func:`predict_video`'s and :func:`predict_array`'s."""
    if main.kind == "context":
        _check_context_settings(passes, reference_masks)  # before start() can clear a stored set
    _warn_unused_options(main.kind, passes, reference_masks, image_checkpoint, checkpoint)


@writes_store
def predict_video(
    project,
    video_id: str,
    checkpoint,
    image_checkpoint=None,
    device="auto",
    batch_size: int = 4,
    tile_size: int | None = None,
    overlap: int | None = None,
    frames: Sequence[int] | None = None,
    resume: bool = True,
    threshold: float = THRESHOLD,
    as_labels: bool = False,
    use_labels: bool = True,
    name: str | None = None,
    passes: int = 1,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    threads: int | None = None,
    optimize: bool = True,
    reference_masks: str = "chained",
    precision: str = "auto",
    scales: str = "auto",
    replace: bool = False,
) -> int:
    """Predict frames of a stored video into its prediction set ``name`` (default: the checkpoint's model name,
    see :func:`prediction_name`); each model's predictions are kept apart.

    ``checkpoint`` (and ``image_checkpoint``): a path, the name of a model of ``project`` (its ``best.pt``), a
    ``(model, info)`` pair or what :func:`load_model` returns. Returns the number of frames predicted (by this process).
    Each frame is committed (``done``) right after its batch, so a cancel or crash keeps finished frames and
    ``resume=True`` continues where it stopped - with the same checkpoint and settings only. A set that holds frames
    made by another checkpoint file (a model retrained under the same name) or with other settings (threshold,
    tiling, number format, scales, passes, reference masks) is predicted again from scratch only with
    ``replace=True``; else :class:`PredictionSetReplaced` is raised before anything is written (see
    :func:`replaced_sets`, which asks the same of several videos before any is predicted). Under ``torchrun``
    the frames are split across ranks. With ``as_labels`` the predicted masks are then also copied into ``masks`` (see
    :func:`predictions_to_labels`). A context model takes the stored labels (painted, corrected, pseudo) of its
    reference frames where it has not predicted them itself, when ``use_labels`` - except in test videos, whose
    labels are the ground truth; with ``passes=2`` (default 1) it then predicts every frame again with
    references on both sides (see :func:`dvos_core.infer.context.refine_context`) once the tau frames after it have
    their first pass: with ``frames`` the last ones wait at their first pass (a warning says which), and a call on
    the frames after them refines them too, so a video predicted part by part, in order, gets one run's masks.
    ``reference_masks``: where a context model's own reference masks come from (``"chained"``, default: its
    predictions of the reference frames; ``"independent"``: its predictions of those frames alone; see
    :data:`dvos_core.prediction_options.REFERENCE_MASKS`).
    ``threads``: CPU threads (see :mod:`dvos_core.threads`; under torchrun the cores are shared by the local ranks).
    ``optimize=False`` runs the plain path (one full forward per window, stock kernels): the benchmarks' baseline.
    ``precision``: "auto" (default: bfloat16 on CUDA GPUs that have it, else float32), "fp32" or "bf16" (also on a
    CPU with native bfloat16: faster, probabilities within a few hundredths; see
    :class:`~dvos_core.infer.engine.Predictor`). ``scales``: the scales each frame is segmented at, averaged
    ("auto", "own", "trained", "both"; see :mod:`dvos_core.infer.scales`).
    """
    from dvos_core.store import Project

    project = Project.of(project)
    video = project.video(video_id).require_complete()
    checkpoint = checkpoint_in(project, checkpoint)
    image_checkpoint = checkpoint_in(project, image_checkpoint)
    n = video.n_frames
    if n == 0:
        raise ValueError(f"video {video_id!r} has no frames; add frames before predicting")
    _check_settings(batch_size, threshold, threads)
    if as_labels:  # test videos take manual ground truth only: refuse before predicting
        video.check_label_write("predicted", "predictions as labels")
    with using_threads(threads, workers=local_processes()):
        rank, size = distributed.world()
        main, image = _predictors(
            checkpoint,
            image_checkpoint,
            distributed.rank_device(device),
            tile_size,
            overlap,
            optimize,
            precision,
            scales,
        )
        _check_kind_settings(main, passes, reference_masks, image_checkpoint, checkpoint)
        targets = target_frames(n, frames, video_id)
        preds = video.predictions[prediction_name(checkpoint, name)]
        held = preds.attrs if preds.exists() else {}
        if held.get("kind") == "smoothed":  # its frames are another set's smoothed: a model would overwrite them
            raise ValueError(
                f"{video_id}: prediction set {preds.model!r} holds the predictions of {held.get('source')!r} smoothed "
                f"over time (`dvos smooth`), not a model's; predict under another name (--name), or finish the "
                f"smoothing (`dvos smooth PROJECT {held.get('source')} --name {preds.model}`: it resumes)"
            )
        info, fingerprint, key = _run_record(
            project, preds, checkpoint, image_checkpoint, main, image, threshold, passes, reference_masks, scales
        )
        replacing = _replacing(project, preds, info, fingerprint, key)  # every rank: all refuse, none waits
        if replacing is not None and not replace:
            raise PredictionSetReplaced(video_id, preds.model, *replacing)
        if rank == 0:
            if replacing is not None:  # say what went: the set's frames came from another checkpoint or settings
                warn_user(
                    f"{video_id}: the {replacing[0]} frames of prediction set {preds.model!r} (made by "
                    f"{replacing[1]}) are replaced by this run's, as asked (replace)",
                )
            same = preds.start(info, key)
            if not same and len(preds.frames()) == 0 and progress is not None:
                steps = len(targets) * (passes if main.kind == "context" else 1)  # a context model's passes count
                report(progress, 0, steps, f"{video_id}: predicting with {preds.model!r}")
        distributed.barrier(size)
        known = reference_labels(video) if use_labels else None
        if main.kind == "context" and size > 1:
            raise ValueError(
                "a context model predicts a video frame after frame, so torchrun cannot split one video across "
                "processes; run one `dvos predict --videos ID` per GPU instead"
            )
        if main.kind == "context":
            with _no_empty_set_left(preds, held, rank):
                done = _predict_context(
                    preds, main, targets, threshold, passes, resume, known, progress, cancel, reference_masks
                )
            if as_labels:
                predictions_to_labels(video, target_frames(n, frames, video_id), progress, cancel, model=preds.model)
            return done
        if resume:  # start() cleared the frames of any other checkpoint: only this one's are kept
            done_flags = preds.arrays()[2][:n]
            wanted, targets = len(targets), [t for t in targets if not done_flags[t]]
            if not targets:  # nothing left: the video's frames are done (a total of 0 left a progress bar unfinished)
                report(progress, wanted, wanted, f"{video_id}: all {wanted} frames predicted already")
        if not targets:
            done = 0
        elif size > 1:
            with _no_empty_set_left(preds, held, rank):
                done = _predict_sharded(
                    preds, main, image, targets, batch_size, threshold, rank, size, progress, cancel
                )
        else:

            def sink(ts, probs):
                preds.set_many(ts, probs, threshold)

            label, shape = f"{video_id}: ", video.shape[1:3]
            with _no_empty_set_left(preds, held, rank):
                done = run_schedule(
                    main, image, video.read_frames, targets, batch_size, sink, progress, cancel, label, shape=shape
                )
        if as_labels and rank == 0:
            predictions_to_labels(video, target_frames(n, frames, video_id), progress, cancel, model=preds.model)
        return done


@contextmanager
def _no_empty_set_left(preds, held: dict, rank: int):
    """A model whose output is NaN (:class:`~dvos_core.infer.engine.BrokenModelError`) leaves no empty prediction set
    that this call started: `dvos info` would offer to finish it with the same broken model."""
    try:
        yield
    except BrokenModelError:
        if rank == 0 and not held and preds.exists() and len(preds.frames()) == 0:
            preds.video.predictions.delete(preds.model)
        raise


class PredictionSetReplaced(ValueError):
    """Predicting would replace a prediction set's frames made by another checkpoint or with other settings, and the
    caller did not pass ``replace=True``: ``video``, ``model`` (the set), ``frames`` (how many it holds) and
    ``made_by`` (what made them: the checkpoint, and the settings that differ)."""

    def __init__(self, video: str, model: str, frames: int, made_by: str):
        super().__init__(
            f"{video}: prediction set {model!r} holds {frames} predicted frames made by {made_by}; this run would "
            f"replace them, so nothing was written: pass --replace (replace=True) to replace them, or another name "
            f"(--name) to keep both sets"
        )
        self.video, self.model, self.frames, self.made_by = video, model, frames, made_by

    def __reduce__(self):  # pickled whole (a job's child process sends it back)
        return type(self), (self.video, self.model, self.frames, self.made_by)


def _run_record(project, preds, checkpoint, image_checkpoint, main, image, threshold, passes, reference_masks, scales):
    """What a run records in the set it predicts (``info``), the fingerprint of its checkpoints and threshold, and
    the key a set must hold to be resumed by it (its fingerprint with the settings that change the masks)."""
    first = ("image model" if image is not None else "clamped window (frame 0 repeated)") if main.tau else "-"
    if main.kind == "context":
        first = "fewer references"
    info = {
        "checkpoint": _name(checkpoint),
        "checkpoint_in_project": in_project(checkpoint, project.path),
        "image_checkpoint": None if image is None else _name(image_checkpoint),
        "image_checkpoint_in_project": None if image is None else in_project(image_checkpoint, project.path),
        "kind": main.kind,
        "tau": main.tau,
        "first_frames": first,
        "threshold": float(threshold),
        "tile_size": main.tile_size,
        "overlap": main.overlap,  # the one used (a context model's is cut to a quarter of the tile: Predictor)
        "passes": passes if main.kind == "context" else 1,
        "precision": main.number_format,
        "zooms": list(main.scales.zooms(*preds.video.shape[1:3])),
        "scales": scales,  # the option that chose them (repeated by the command that finishes the set)
    }
    run_key = f"/{info['passes']}"
    if info["zooms"] != [1.0]:  # sets made at another scale are made again (sets made before: own scale)
        run_key += f"/zooms={info['zooms']}"
    if main.kind == "context":  # predictions made with other reference masks are made again
        info["reference_masks"] = reference_masks
        run_key += "" if reference_masks == "chained" else f"/{reference_masks}"  # sets made before: chained
    # only the paper's model uses an image model (first frames): another model's set does not depend on it
    loaded = (main.info.get("file_sha256"), None if image is None else image.info.get("file_sha256"))
    fingerprint = _fingerprint(checkpoint, image_checkpoint if image is not None else None, threshold, loaded)
    key = None if fingerprint is None else _run_key(fingerprint + run_key, info, preds.attrs)
    return info, fingerprint, key


def _replacing(project, preds, info: dict, fingerprint, key) -> tuple[int, str] | None:
    """(frames, what made them) when a run recording ``info`` and ``key`` would clear frames ``preds`` holds (made
    by another checkpoint or with other settings: :meth:`~dvos_core.store.predictions.ModelPredictions.start`
    resumes a set of the same key only); None when it resumes the set, or the set holds no frame."""
    if not preds.exists():
        return None
    before = preds.attrs
    if key is not None and before.get("fingerprint") == key:
        return None
    had = int(np.count_nonzero(np.asarray(preds.arrays()[2][: preds.video.n_frames])))  # a pass's frames count too
    if not had:
        return None
    made_by = before.get("source") or recorded_checkpoint(project.path, before) or "an unknown checkpoint"
    changed = [
        f"{k} {before[k]} -> {info[k]}" for k in NAMED_SETTINGS if k in info and before.get(k) not in (None, info[k])
    ]
    old_ckpt = checkpoint_sha(before.get("fingerprint"))  # the same file, with other contents:
    this_file = _same_file(made_by, info["checkpoint"])
    retrained = this_file and old_ckpt not in (None, checkpoint_sha(fingerprint))
    if changed:
        made_by = f"{made_by} with other settings: {', '.join(changed)}"
        made_by += "; and the checkpoint file has changed since (trained again)" if retrained else ""
    elif retrained:
        made_by = f"an earlier version of {made_by} (trained again since)"
    elif this_file:
        made_by = f"an earlier version of {made_by}, or with other settings"
    return had, made_by


def replaced_sets(
    project,
    video_ids: Sequence[str],
    checkpoint,
    image_checkpoint=None,
    device="auto",
    tile_size: int | None = None,
    overlap: int | None = None,
    threshold: float = THRESHOLD,
    name: str | None = None,
    passes: int = 1,
    reference_masks: str = "chained",
    precision: str = "auto",
    scales: str = "auto",
    optimize: bool = True,
    threads: int | None = None,
) -> dict[str, PredictionSetReplaced]:
    """The videos of ``video_ids`` whose prediction set :func:`predict_video` with these arguments would refuse to
    replace without ``replace=True`` (frames made by another checkpoint or with other settings), each with its
    :class:`PredictionSetReplaced`; empty when every set is new, empty or resumed. Loads the model(s) once and writes
    nothing: `dvos predict` and the Predict step ask it of all their videos before they predict any."""
    from dvos_core.store import Project

    project = Project.of(project)
    checkpoint = checkpoint_in(project, checkpoint)
    image_checkpoint = checkpoint_in(project, image_checkpoint)
    sets = [project.video(v).predictions[prediction_name(checkpoint, name)] for v in video_ids]
    if not any(p.exists() for p in sets):  # nothing to replace: no model to load
        return {}
    with using_threads(threads, workers=local_processes()):
        main, image = _predictors(
            checkpoint,
            image_checkpoint,
            distributed.rank_device(device),
            tile_size,
            overlap,
            optimize,
            precision,
            scales,
        )
        out = {}
        for vid, preds in zip(video_ids, sets, strict=True):
            if not preds.exists() or preds.attrs.get("kind") == "smoothed":  # (predict_video refuses a smoothed set)
                continue
            record = _run_record(
                project, preds, checkpoint, image_checkpoint, main, image, threshold, passes, reference_masks, scales
            )
            replacing = _replacing(project, preds, *record)
            if replacing is not None:
                out[vid] = PredictionSetReplaced(vid, preds.model, *replacing)
        return out


def refuse_replacing(found: dict[str, PredictionSetReplaced]) -> None:
    """Raise what :func:`replaced_sets` found, in one message naming every video (nothing when it found none)."""
    if len(found) == 1:
        raise next(iter(found.values()))
    if found:
        model = next(iter(found.values())).model
        sets = "; ".join(f"{v}: {e.frames} frames made by {e.made_by}" for v, e in found.items())
        raise ValueError(
            f"{len(found)} videos hold a prediction set {model!r} made by another checkpoint or with other settings "
            f"({sets}); this run would replace them, so nothing was predicted: pass --replace (replace=True) to "
            f"replace them, or another name (--name) to keep both sets"
        )


def _same_file(a, b) -> bool:
    """Whether paths ``a`` and ``b`` name one file (however spelt)."""
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, TypeError, ValueError):
        return False


def prediction_name(checkpoint, name: str | None = None) -> str:
    """The prediction-set name: ``name`` when given, else the checkpoint's: ``models/NAME/best.pt`` -> NAME, a
    model folder's ``best.pt`` or ``last.pt`` elsewhere (a copied model folder) -> the folder's name, another file ->
    its stem, an in-memory model -> ``in_memory``."""
    from dvos_core.store.migrate import model_name_of
    from dvos_core.store.schema import safe_id

    if name:
        return name
    if isinstance(checkpoint, (tuple, list)) or hasattr(checkpoint, "forward"):
        return "in_memory"
    path = Path(str(checkpoint)).absolute()
    if path.name in ("best.pt", "last.pt") and path.parent.name:  # every copied model folder's would be "best"
        return safe_id(path.parent.name)
    return model_name_of(checkpoint)


def _warn_unused_options(kind: str, passes, reference_masks, image_checkpoint, checkpoint) -> None:
    """Say which options given do not apply to a ``kind`` model (they were ignored in silence)."""
    unused = []
    if kind != "context" and passes != 1:
        unused.append(f"passes={passes} (--passes)")
    if kind != "context" and reference_masks not in (None, "chained"):
        unused.append(f"reference_masks={reference_masks!r} (--reference-masks)")
    if kind != "dvos" and image_checkpoint is not None:
        unused.append("image_checkpoint (--image-model: the paper's model's first frames)")
    if unused:
        warn_user(
            f"{_name(checkpoint)} is a {kind!r} model: {', '.join(unused)} do not apply to it and are not used",
        )


# settings that change a set's masks besides its checkpoint, threshold, passes, scales and reference masks: a run with
# other values starts the set over instead of resuming it (its masks would mix two tilings or number formats)
OUTPUT_SETTINGS = ("tile_size", "overlap", "precision")
# the settings a replaced set's warning names when they differ (the others are part of the fingerprint itself)
NAMED_SETTINGS = ("threshold", *OUTPUT_SETTINGS, "passes", "zooms", "reference_masks")


def _run_key(key: str, info: dict, held: dict) -> str:
    """The fingerprint a run records (``key``: checkpoint, threshold and run settings) with the tiling and number
    format it predicts with. A set recorded before these were keyed (its fingerprint ``key`` alone) resumes when it
    holds the same values, or none (``precision`` was recorded from 2026-12-03)."""
    settings = "".join(f"/{k}={info[k]}" for k in OUTPUT_SETTINGS)
    if held.get("fingerprint") == key and all(held.get(k) in (None, info[k]) for k in OUTPUT_SETTINGS):
        return key
    return key + settings


def _fingerprint(checkpoint, image_checkpoint, threshold, loaded=(None, None)) -> str | None:
    """What the predictions depend on: the checkpoint files' (or in-memory models' weights') contents and the
    threshold. ``loaded``: the SHA-256 of the bytes each file's model was loaded from (its ``info["file_sha256"]``),
    taken for the file's: a best.pt saved over the path since the run loaded it did not make its predictions."""
    from dvos_core.model.checkpoint import file_fingerprint, model_fingerprint

    parts = []
    for c, sha in zip((checkpoint, image_checkpoint), loaded, strict=True):
        if c is None:
            parts.append("-")
        elif isinstance(c, (tuple, list)):
            parts.append(model_fingerprint(c[0], c[1] if len(c) > 1 else None))
        elif hasattr(c, "forward"):
            parts.append(model_fingerprint(c))
        else:
            parts.append(sha or file_fingerprint(c))
    return f"{'/'.join(parts)}@{float(threshold)}"


def reference_labels(video):
    """``t -> mask or None``: the stored label of frame t a context model may use as a reference mask (manual,
    corrected or pseudo), or None for a test video - its labels are what the predictions are scored against."""
    from dvos_core.store.schema import CORRECTED, MANUAL, PSEUDO

    if video.split == "test":
        return None
    codes = video.provenance

    def known(t: int):
        return video.read_masks(t, t + 1)[0] if int(codes[t]) in (MANUAL, CORRECTED, PSEUDO) else None

    return known


def _check_context_settings(passes, reference_masks) -> None:
    """Refuse a context model's settings that cannot run (checked before anything is written)."""
    from dvos_core.prediction_options import check_reference_masks

    if passes not in (1, 2):
        raise ValueError(f"passes must be 1 or 2, got {passes}")
    check_reference_masks(reference_masks)


def _alone_before(ctx, video, todo, flags, cancel) -> dict[int, np.ndarray]:
    """``k -> probability of frame k alone`` for the frames this set holds (``flags`` >= 1) among the tau frames
    before each of ``todo`` that are not in it: what they lend as reference masks with
    ``reference_masks="independent"`` in one run (frame k decoded from its own features, as
    :meth:`~dvos_core.infer.context.ContextPredictor.predict_with_alone` gives it alongside k's prediction)."""
    asked = set(todo)
    before = sorted({k for t in todo for k in range(max(0, t - ctx.tau), t) if k not in asked and flags[k] >= 1})
    out = {}
    for k in before:
        check(cancel)
        out[k] = ctx.predict(video.read_frames(k, k + 1)[0], [], [])
    return out


def _predict_context(
    preds, main, targets, threshold, passes, resume, known, progress, cancel, reference_masks="chained"
) -> int:
    """A context model's passes over a stored video: the causal pass, then (``passes=2``) the refinement with
    references on both sides. ``done`` records the pass a frame finished (1 or 2), so a resumed run redoes only
    what is missing; the refinement reads the stored masks of the neighbours. A frame is refined once the tau
    frames after it have their first pass (they lend its first-pass mask, and its refinement takes theirs): frames
    that wait (the last of a ``frames`` subset) are refined by the next call that gives those frames theirs."""
    from dvos_core.infer.context import ContextPredictor, refine_context, run_context
    from dvos_core.progress import Steps

    video = preds.video
    n, label = video.n_frames, f"{video.name}: "
    ctx = ContextPredictor(
        main.net,
        main.device,
        main.tile_size,
        main.overlap,
        main.amp,
        reference_masks=reference_masks,
        scales=main.scales,
    )
    masks, done = preds.arrays()[0], preds.arrays()[2]
    flags = done[:n] if resume else np.zeros(n, np.uint8)
    todo = [t for t in targets if flags[t] < 1]
    # progress in frames (each pass one share of len(targets) units), not in whole passes: the bar moves per frame
    unit = max(1, len(targets))
    # frames this set holds already (a run stopped before, or an earlier call on other frames of the video: the
    # set is this checkpoint's with these settings, else start() emptied it) lend their stored masks to the next
    # ones, as they would have in one go (chained: the stored mask is the prediction >= threshold); the masks of
    # frames alone that independent lends are not stored: those of the frames before the ones to predict are
    # predicted again (one decoder pass each, no reference), as one run would have lent them
    earlier = set(np.flatnonzero(flags >= 1).tolist()) if reference_masks == "chained" else set()
    alone = _alone_before(ctx, video, todo, flags, cancel) if reference_masks == "independent" else {}

    def lend(k):
        if k in alone:
            return alone[k]
        return masks[k] if k in earlier else (known(k) if known else None)

    run_context(
        ctx,
        video.read_frames,
        todo,
        lambda t, p: preds.set(t, p, threshold, done_value=1),
        lend,
        threshold,
        Steps(progress, 0, unit, unit * passes),
        cancel,
        label,
        refine_next=passes == 2,
    )
    if passes == 1:
        return len(todo)
    flags = done[:n]
    # a frame is refined once the first pass has predicted the tau frames after it (fewer at the end of the video):
    # its second pass takes first-pass masks of the frames after it, and their first pass lends its first-pass mask.
    # So frames=... then the frames after it give one run's masks: the last frames of the first call keep their
    # first pass (done=1), and the next call refines them, before its own frames
    reach = max(ctx.tau, 1)

    def ready(t):
        return bool(np.all(flags[t + 1 : t + reach + 1] >= 1))

    asked = set(targets)
    waiting = {int(t) for t in np.flatnonzero(flags == 1)} - asked  # left by an earlier call
    todo = [t for t in sorted(asked | waiting) if (flags[t] < 2 or (t in asked and not resume)) and ready(t)]
    left = [t for t in targets if not ready(t)]
    if left:
        warn_user(
            f"{video.name}: frames {_frames_said(left)} keep their first-pass masks for now: their second pass needs "
            f"the first pass of the frames after them; predict the frames after them (or the whole video) with "
            f"passes=2 (--passes 2), which refines these too"
        )

    def first_pass(k):
        return masks[k] if flags[k] else (known(k) if known else None)

    refine_context(
        ctx,
        video.read_frames,
        n,
        todo,
        first_pass,
        lambda t, p: preds.set(t, p, threshold, done_value=2),
        threshold,
        Steps(progress, unit, unit, unit * passes),
        cancel,
        label,
    )
    return len(todo)


def predictions_to_labels(
    video,
    frames: Sequence[int] | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    model: str | None = None,
) -> int:
    """Copy predicted masks of ``model`` (default: the most recent set) into the label ``masks`` with provenance
    "predicted", frame by frame.

    Only frames that are predicted (of ``frames``, default all) and whose mask has no higher rank (none or predicted)
    are written: pseudo, synthetic and human masks are kept. Training reads "predicted" masks only when asked
    (``provenances``). Returns the number of masks written. A named ``model`` without predictions of this video is
    a :class:`~dvos_core.store.NotInStoreError` naming the sets it has.
    """
    preds = video.predictions[model] if model else video.predictions.latest()
    if model and not preds.exists():  # a misspelt name wrote nothing and said nothing
        from dvos_core.store import NotInStoreError

        raise NotInStoreError(
            f"{video.path or 'PROJECT'}: video {video.name!r} has no predictions of {model!r}; it has predictions of "
            f"{video.predictions.models()} (make them with predict_video, or `dvos predict`)"
        )
    arrs = preds.arrays()
    if arrs is None:
        return 0
    todo = preds.frames()
    if frames is not None:
        todo = np.intersect1d(todo, np.asarray(list(frames), dtype=np.int64))
    written = 0
    for i, t in enumerate(todo):
        check(cancel)
        written += bool(video.set_mask(int(t), arrs[0][int(t)], "predicted"))
        report(progress, i + 1, len(todo), f"{video.name}: predicted mask {int(t)} -> labels")
    if len(todo):  # the last word says what was copied, and what was not (a mask that outranks a prediction)
        kept = f"; {len(todo) - written} kept their own mask (painted, corrected, pseudo or synthetic)"
        said = f"{video.name}: {written} of {len(todo)} predicted masks copied into labels"
        report(progress, len(todo), len(todo), said + (kept if written < len(todo) else ""))
    return written


def _predict_sharded(preds, main, image, targets, batch_size, threshold, rank, size, progress, cancel) -> int:
    """torchrun path: ranks write probability/mask data for their share; rank 0 commits ``done`` for all.

    ``done`` is chunked over many frames, so only one process may write it; frames whose data was written but
    not committed (a crash) are simply predicted again by the next resume.
    """
    video = preds.video
    pm, pp, done = preds.arrays()
    mine: list[int] = []

    def sink(ts, probs):
        for t, p in zip(ts, probs):
            pp[t] = p.astype(np.float16)
            pm[t] = (p >= threshold).astype(np.uint8)
            mine.append(int(t))

    try:
        run_schedule(
            main,
            image,
            video.read_frames,
            distributed.shard(targets, rank, size),
            batch_size,
            sink,
            progress,
            cancel,
            label=f"[rank {rank}] {video.name}: ",
            shape=video.shape[1:3],
        )
    finally:
        written = distributed.gather_lists(mine, size)
        if rank == 0 and written:
            flags = done[:]
            flags[np.asarray(written)] = 1
            done[:] = flags
        distributed.barrier(size)
    return len(mine)


def predict_array(
    model,
    frames: np.ndarray,
    image_model=None,
    targets: Sequence[int] | None = None,
    device="auto",
    batch_size: int = 4,
    tile_size: int | None = None,
    overlap: int | None = None,
    passes: int = 1,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    threads: int | None = None,
    optimize: bool = True,
    references: str = "previous",
    reference_masks: str = "chained",
    precision: str = "auto",
    scales: str = "auto",
    threshold: float = THRESHOLD,
) -> np.ndarray:
    """In-memory prediction of a few frames (napari dock, tests): same scheduling and tiling as predict_video
    (``passes``: a context model's passes, see :func:`predict_video`; ``references="query"``: the context model's
    ablation, every reference replaced by a copy of the query frame, see
    :class:`~dvos_core.infer.context.ContextPredictor`; ``reference_masks``, ``precision``, ``scales``: see
    :func:`predict_video`; ``threshold``: where a context model's own reference masks are cut, as
    :func:`predict_video`'s - give it the threshold the video is predicted with to get its probabilities).

    ``model``/``image_model``: a checkpoint path, ``(model, info)`` (or what :func:`load_model` returns) or a model.
    ``frames``: (T, H, W, 3) uint8. Returns (len(targets), H, W) float32 probabilities, row i for frame
    ``targets[i]`` (a frame asked twice has two rows; all frames when ``targets`` is None). Each frame is predicted
    once, in the video's order (a context model's references are the frames before it), whatever the order asked.
    """
    frames = check_frames(frames)
    _check_settings(batch_size, threshold, threads)
    with using_threads(threads), _left_as_given(model, image_model):
        main, image = _predictors(model, image_model, device, tile_size, overlap, optimize, precision, scales)
        _check_kind_settings(main, passes, reference_masks, image_model, model)
        asked = target_frames(len(frames), targets, "<array>", ordered=True)
        tlist = sorted(set(asked))
        out = np.zeros((len(tlist), *frames.shape[1:3]), np.float32)
        pos = {t: i for i, t in enumerate(tlist)}

        def sink(ts, probs):
            for t, p in zip(ts, probs):
                out[pos[t]] = p

        if main.kind == "context":
            _context_array(main, frames, tlist, sink, passes, progress, cancel, references, reference_masks, threshold)
        else:
            run_schedule(
                main,
                image,
                lambda a, b: frames[a:b],
                tlist,
                batch_size,
                sink,
                progress,
                cancel,
                shape=frames.shape[1:3],
            )
    return out if asked == tlist else out[[pos[t] for t in asked]]


@contextmanager
def _left_as_given(*given):
    """The models the caller passed as objects (a module, or one in a ``(model, info)`` pair) are put back in their
    training mode and on their device afterwards: prediction puts them in eval mode on its device, and a model being
    trained must not come back from a look at its predictions in eval mode (dropout off, norm statistics frozen)."""
    import torch

    modules = [g[0] if isinstance(g, (tuple, list)) and g else g for g in given]
    kept = []
    for m in modules:
        if isinstance(m, torch.nn.Module):
            first = next(m.parameters(), None)
            kept.append((m, m.training, None if first is None else first.device))
    try:
        yield
    finally:
        for m, training, device in kept:
            m.train(training)
            if device is not None:
                m.to(device)


def _context_array(
    main,
    frames,
    targets,
    sink,
    passes,
    progress,
    cancel,
    references="previous",
    reference_masks="chained",
    threshold=THRESHOLD,
) -> None:
    """A context model's passes over frames held in memory: the second pass reads the latest map of each
    neighbour (refined before frame t, first pass after it), as :func:`_predict_context` reads the store; reference
    masks are the maps >= ``threshold``; ``sink(frames, maps)`` after each frame."""
    from dvos_core.infer.context import ContextPredictor, refine_context, run_context

    ctx = ContextPredictor(
        main.net, main.device, main.tile_size, main.overlap, main.amp, references, reference_masks, main.scales
    )
    first: dict = {}

    def keep(t, p):
        first[t] = p
        sink([t], [p])

    def refined(t, p):
        first[t] = p  # the frames after t lend its refined mask, as a stored video's (read from the store) do
        sink([t], [p])

    def read(a, b):
        return frames[a:b]

    run_context(ctx, read, targets, keep, None, threshold, progress, cancel, refine_next=passes == 2)
    if passes == 2:
        refine_context(ctx, read, len(frames), targets, first.get, refined, threshold, progress, cancel)
