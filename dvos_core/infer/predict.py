"""Predict whole videos with a DVOS (or frame) model, streaming frames in and probabilities into the store.

Frame t >= tau is predicted from frames t-tau .. t-1 only (the DVOS model never sees frame t). The first tau frames
have no full history: with ``image_checkpoint`` they are predicted by the image (frame) model from frame t itself;
without it the window is clamped at 0 (frame 0 repeated), as in the reference code. A frame checkpoint predicts
every frame from itself.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence

import numpy as np

from dvos_core.infer import distributed
from dvos_core.infer.allocator import reuse_freed_memory
from dvos_core.infer.engine import Predictor, load_model
from dvos_core.infer.window import FeatureCache, FrameCache, plan_batches
from dvos_core.progress import CancelToken, ProgressFn, check, report
from dvos_core.threads import local_processes, using_threads


def _predictors(checkpoint, image_checkpoint, device, tile_size, overlap, optimize=True):
    model, info, dev = load_model(checkpoint, device)
    main = Predictor(model, info, dev, tile_size=tile_size, overlap=overlap, optimize=optimize)
    image = None
    if image_checkpoint is not None and main.kind == "dvos":
        imodel, iinfo, _ = load_model(image_checkpoint, dev)
        image = Predictor(imodel, iinfo, dev, tile_size=tile_size or main.tile_size, overlap=overlap, optimize=optimize)
        if image.kind != "frame":
            raise ValueError(
                f"image_checkpoint {_name(image_checkpoint)} holds a {image.kind!r} model; the first "
                f"frames need a frame (image) model, e.g. one trained with `dvos train --kind frame`"
            )
    return main, image


def _name(checkpoint) -> str:
    return (
        str(checkpoint)
        if not isinstance(checkpoint, (tuple, list)) and not hasattr(checkpoint, "forward")
        else "<in-memory model>"
    )


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
    tau = main.tau
    step = main.chunk_size(batch_size, shape)
    batches = plan_batches(targets, tau, step, image_first=image is not None)
    cache = cache if cache is not None else FrameCache(reader)
    features = {"video": FeatureCache(), "image": FeatureCache()}
    total, done = sum(len(b.targets) for b in batches), 0
    report(progress, 0, total, f"{label}predicting {total} frames")
    with reuse_freed_memory(main.optimize and main.device.type == "cpu"):
        for batch in batches:
            check(cancel)
            predictor = image if (batch.mode == "image" and tau > 0) else main
            probs = predictor.predict_batch(batch, cache, features[batch.mode], batch_size, cancel)
            sink(batch.targets, probs)
            done += len(batch.targets)
            report(progress, done, total, f"{label}frame {batch.targets[-1]}")
    return done


def _targets(n: int, frames, name: str) -> list[int]:
    if frames is None:
        return list(range(n))
    out = sorted({int(t) for t in frames})
    bad = [t for t in out if not 0 <= t < n]
    if bad:
        raise IndexError(f"video {name!r} has {n} frames; cannot predict frames {bad[:5]}")
    return out


def predict_video(
    project,
    video_id: str,
    checkpoint,
    image_checkpoint=None,
    device="auto",
    batch_size: int = 4,
    tile_size: int | None = None,
    overlap: int = 64,
    frames: Sequence[int] | None = None,
    resume: bool = True,
    threshold: float = 0.5,
    as_labels: bool = False,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    threads: int | None = None,
    optimize: bool = True,
) -> int:
    """Predict frames of a stored video and stream probabilities into ``pred_probability``/``pred_masks``.

    ``checkpoint``: a path or a ``(model, info)`` pair. Returns the number of frames predicted (by this process).
    Each frame is committed (``pred_done``) right after its batch, so a cancel or crash keeps finished frames and
    ``resume=True`` continues where it stopped. Under ``torchrun`` the frames are split across ranks. With
    ``as_labels`` the predicted masks are then also copied into ``masks`` (see :func:`predictions_to_labels`).
    ``threads``: CPU threads (see :mod:`dvos_core.threads`; under torchrun the cores are shared by the local ranks).
    ``optimize=False`` runs the plain path (one full forward per window, stock kernels): the benchmarks' baseline.
    """
    video = project.video(video_id)
    n = video.n_frames
    if n == 0:
        raise ValueError(f"video {video_id!r} has no frames; add frames before predicting")
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    with using_threads(threads, workers=local_processes()):
        rank, size = distributed.world()
        dev = distributed.rank_device(device)
        main, image = _predictors(checkpoint, image_checkpoint, dev, tile_size, overlap, optimize)
        targets = _targets(n, frames, video_id)
        if rank == 0:
            _record_run(video, checkpoint, image_checkpoint, main, image, threshold)
        distributed.barrier(size)
        if resume:
            done_flags = video.prediction_arrays()[2][:n]
            targets = [t for t in targets if not done_flags[t]]
        if size > 1:
            done = _predict_sharded(video, main, image, targets, batch_size, threshold, rank, size, progress, cancel)
        else:

            def sink(ts, probs):
                video.set_predictions(ts, probs, threshold)

            label, shape = f"{video_id}: ", video.shape[1:3]
            done = run_schedule(
                main, image, video.read_frames, targets, batch_size, sink, progress, cancel, label, shape=shape
            )
        if as_labels and rank == 0:
            predictions_to_labels(video, _targets(n, frames, video_id), progress, cancel)
    return done


def _record_run(video, checkpoint, image_checkpoint, main: Predictor, image: Predictor | None, threshold) -> None:
    """Create the prediction arrays and record how this prediction is made (in the video's attributes)."""
    video.prediction_arrays(create=True)
    first = ("image model" if image is not None else "clamped window (frame 0 repeated)") if main.tau else "-"
    video.update_attrs(
        prediction={
            "checkpoint": _name(checkpoint),
            "image_checkpoint": None if image is None else _name(image_checkpoint),
            "kind": main.kind,
            "tau": main.tau,
            "first_frames": first,
            "threshold": float(threshold),
            "tile_size": main.tile_size,
            "overlap": main.overlap,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
    )


def predictions_to_labels(
    video, frames: Sequence[int] | None = None, progress: ProgressFn | None = None, cancel: CancelToken | None = None
) -> int:
    """Copy predicted masks into the label ``masks`` with provenance "predicted", frame by frame.

    Only frames that are predicted (of ``frames``, default all) and whose mask has no higher rank (none or predicted)
    are written: pseudo, synthetic and human masks are kept. Training reads "predicted" masks only when asked
    (``provenances``). Returns the number of masks written.
    """
    arrs = video.prediction_arrays()
    if arrs is None:
        return 0
    todo = video.predicted_frames()
    if frames is not None:
        todo = np.intersect1d(todo, np.asarray(list(frames), dtype=np.int64))
    written = 0
    for i, t in enumerate(todo):
        check(cancel)
        written += bool(video.set_mask(int(t), arrs[0][int(t)], "predicted"))
        report(progress, i + 1, len(todo), f"{video.name}: predicted mask {int(t)} -> labels")
    return written


def _predict_sharded(video, main, image, targets, batch_size, threshold, rank, size, progress, cancel) -> int:
    """torchrun path: ranks write probability/mask data for their share; rank 0 commits ``pred_done`` for all.

    ``pred_done`` is chunked over many frames, so only one process may write it; frames whose data was written but
    not committed (a crash) are simply predicted again by the next resume.
    """
    pm, pp, done = video.prediction_arrays()
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
    overlap: int = 64,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    threads: int | None = None,
    optimize: bool = True,
) -> np.ndarray:
    """In-memory prediction of a few frames (napari dock, tests): same scheduling and tiling as predict_video.

    ``model``/``image_model``: a checkpoint path, ``(model, info)`` or a model. ``frames``: (T, H, W, 3) uint8.
    Returns (len(targets), H, W) float32 probabilities (all frames when ``targets`` is None).
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    with using_threads(threads):
        main, image = _predictors(model, image_model, device, tile_size, overlap, optimize)
        tlist = _targets(len(frames), targets, "<array>")
        out = np.zeros((len(tlist), *frames.shape[1:3]), np.float32)
        pos = {t: i for i, t in enumerate(tlist)}

        def sink(ts, probs):
            for t, p in zip(ts, probs):
                out[pos[t]] = p

        run_schedule(
            main, image, lambda a, b: frames[a:b], tlist, batch_size, sink, progress, cancel, shape=frames.shape[1:3]
        )
    return out
