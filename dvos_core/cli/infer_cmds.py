"""`dvos predict`, `dvos smooth`, `dvos pseudo-label`, `dvos evaluate`: run models over stored videos, smooth their
predictions over time and score the results."""

from __future__ import annotations

import sys

from dvos_core.cli._common import TerminalProgress, add_project, add_threads, add_wait, cancel_on_sigint
from dvos_core.prediction_options import (
    AUTO_MAX_ZOOM,
    PRECISIONS,
    PSEUDO_PASSES,
    REFERENCE_MASKS,
    SCALES,
    SMOOTH_AFTER,
    SMOOTH_BEFORE,
    THRESHOLD,
    scale_hint,
)
from dvos_core.shell import quote


def register(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="predict masks for whole videos with a trained model",
        epilog="example: dvos predict field.dvos context --split test",
        description="Predict every frame of the chosen videos with a trained model. A context model segments "
        "frame t itself with its earlier frames (fewer at the start) as references; the paper's DVOS model predicts "
        "frame t from frames t-tau..t-1 only, the first tau frames by --image-model if given, else from frame 0 "
        "repeated; an image model segments each frame alone. Large frames are tiled. Results go to the "
        "store's prediction arrays (ground-truth masks are never touched); an interrupted "
        "run resumes where it stopped. A set made by another checkpoint (or the model trained again) or with other "
        "settings is replaced only with --replace (else nothing is predicted). Under torchrun the frames are split "
        "across GPUs.",
    )
    add_project(p)
    p.add_argument("checkpoint", help="a model name in the project (models/NAME/best.pt) or a checkpoint path")
    _add_video_selection(p, default_split=None)
    p.add_argument(
        "--image-model",
        metavar="CKPT",
        help="frame model (name or path) for the first tau frames of the paper's dvos model (other models predict "
        "every frame themselves and do not use it)",
    )
    _add_runtime(p)
    p.add_argument(
        "--threshold",
        type=float,
        default=THRESHOLD,
        help=f"probability threshold for the stored masks (default {THRESHOLD:g})",
    )
    p.add_argument(
        "--frames",
        nargs="+",
        type=int,
        metavar="T",
        help="only these frame numbers, of every video chosen (default: every frame); a frame number past the end "
        "of a video is an error. A context model still reads each frame's earlier frames as references",
    )
    p.add_argument("--no-resume", action="store_true", help="predict again frames that are already predicted")
    p.add_argument(
        "--replace",
        action="store_true",
        help="replace a prediction set made by another checkpoint (or the model trained again since) or with other "
        "settings (threshold, tiling, precision, scales, passes, reference masks); without it such a set is kept "
        "and nothing is predicted",
    )
    p.add_argument(
        "--name",
        help="store the predictions as this prediction set (default: the model's name); each video keeps one set "
        "per name, side by side, for `dvos evaluate --models`",
    )
    p.add_argument(
        "--passes",
        type=int,
        choices=(1, 2),
        default=1,
        help="context model only: 1 = one causal pass (default); 2 = a second pass with references on both sides "
        "(about twice the time; steadier, not more accurate in our benchmark)",
    )
    p.add_argument(
        "--reference-masks",
        choices=REFERENCE_MASKS,
        default=REFERENCE_MASKS[0],
        help="context model only: the mask a predicted frame lends the frames after it - 'chained' (default): the "
        "model's prediction of that frame, made with its own references (carries a head through an occlusion); "
        "'independent': its prediction of that frame on its own, so a mistake is not carried forward (about a "
        "quarter more time)",
    )
    p.add_argument(
        "--as-labels",
        action="store_true",
        help="also copy the predicted masks into the label masks with provenance 'predicted' (frames "
        "with pseudo, synthetic or painted masks are kept); training uses them only when asked",
    )
    add_wait(p)
    p.set_defaults(func=_predict)

    p = sub.add_parser(
        "smooth",
        help="smooth a model's stored predictions over time (steadier masks)",
        epilog="example: dvos smooth field.dvos context --before 4 --only-outliers",
        description="Average each predicted frame's probability with those of its neighbouring frames, aligned by "
        "the camera motion and then along the local motion left (heads swaying on their own), and store the result "
        "as a new prediction set (default MODEL_smoothed) beside the original, which is kept. Compare both with "
        "`dvos evaluate` before relying on it. An interrupted run resumes.",
    )
    add_project(p)
    p.add_argument("model", help="the prediction set to smooth (the model name used by `dvos predict`)")
    _add_video_selection(p, default_split=None)
    p.add_argument(
        "--before", type=int, default=SMOOTH_BEFORE, help=f"earlier frames in the window (default {SMOOTH_BEFORE})"
    )
    p.add_argument(
        "--after", type=int, default=SMOOTH_AFTER, help=f"later frames in the window (default {SMOOTH_AFTER})"
    )
    p.add_argument("--name", help="store the result as this prediction set (default MODEL_smoothed)")
    p.add_argument("--threshold", type=float, help="probability threshold for the masks (default: the source's)")
    p.add_argument("--no-resume", action="store_true", help="smooth again frames that are already smoothed")
    p.add_argument(
        "--camera-only",
        action="store_true",
        help="align the neighbours by the camera motion only, not along the local sway (faster; for footage whose "
        "objects move with the camera)",
    )
    p.add_argument(
        "--only-outliers",
        action="store_true",
        help="smooth only the frames that agree with their aligned neighbours much less than the neighbours agree "
        "with each other (a gust, a cloud, a gain jump), as far as they do; the others are kept as they are",
    )
    add_wait(p)
    add_threads(p)
    p.set_defaults(func=_smooth)

    p = sub.add_parser(
        "pseudo-label",
        help="label real videos frame by frame with an image model (or relabel them with a context model)",
        epilog="example: dvos pseudo-label field.dvos image --split train --quality-threshold 0.5",
        description="Run an image (frame) model on every frame and store the masks with provenance "
        "'pseudo' and a quality score in [0,1] = (1 - uncertainty) * (1 - flicker). "
        "Manual and corrected masks are never replaced. A context-aware video model (e.g. the first, synthetic "
        "phase's checkpoint) labels the frames in order, each from its earlier frames and their masks (painted "
        "ones where there are): with --overwrite it relabels what the image model labelled, for the second phase.",
    )
    add_project(p)
    p.add_argument("checkpoint", help="image (frame) or context model name in the project, or a checkpoint path")
    _add_video_selection(p, default_split="train")
    _add_runtime(p)
    p.add_argument(
        "--passes",
        type=int,
        default=PSEUDO_PASSES,
        help=f"an image model's forward passes for the uncertainty (default {PSEUDO_PASSES}; a context model runs one)",
    )
    p.add_argument(
        "--quality-threshold",
        type=float,
        default=None,
        metavar="Q",
        help="flag frames with quality below Q; training skips them when its config sets "
        "pseudo_quality_min: Q (or use --drop-below)",
    )
    p.add_argument("--drop-below", action="store_true", help="clear the masks of frames below the threshold")
    p.add_argument("--overwrite", action="store_true", help="re-label frames that already have a pseudo mask")
    p.add_argument(
        "--blend-with",
        nargs="+",
        default=[],
        metavar="IMAGE_MODEL",
        help="image models whose probabilities are averaged with the labelling model's (one vote each); e.g. "
        "relabel with a context model's first phase blended with the image model",
    )
    add_wait(p)
    p.set_defaults(func=_pseudo)

    p = sub.add_parser(
        "evaluate",
        help="score predictions against ground truth (Dice, IoU, boundary F, counts)",
        epilog="examples:\n  dvos evaluate field.dvos --split test --model context\n"
        "  dvos evaluate field.dvos --models all --name compare1",
        description="Compare stored predictions with ground-truth masks (manual, corrected and "
        "pseudo by default) per frame, per video and overall (weighted by frames); "
        "writes CSV tables, overall.json, plots and worst-frame overlays to "
        "PROJECT/reports/NAME. When several models predicted the videos (or with --models) it compares them "
        "side by side instead (comparison.csv, comparison.json, frames.csv; no plots or overlays): pass --model "
        "NAME for the full report of one of them.",
    )
    add_project(p)
    _add_video_selection(p, default_split="test")
    p.add_argument("--name", help="report name (default eval-<timestamp>, compare-<timestamp> for --models)")
    p.add_argument(
        "--models",
        nargs="+",
        metavar="MODEL",
        help="compare these models' predictions side by side in one table (Dice, IoU, boundary F, count error, "
        "temporal instability, with previous-true-mask and all-foreground baselines); 'all' = every model that "
        "predicted the videos. Default: the one most recently predicted, or all when several did",
    )
    p.add_argument(
        "--model",
        metavar="MODEL",
        help="score this model's predictions only, with the full report (per-video table, plots, worst-frame "
        "overlays), even when other models predicted the videos too",
    )
    p.add_argument(
        "--gt",
        nargs="+",
        default=["manual", "corrected", "pseudo"],
        metavar="PROVENANCE",
        help="mask provenances that count as ground truth",
    )
    p.add_argument("--tolerance", type=float, default=2.0, help="boundary F tolerance in pixels (default 2)")
    p.add_argument("--min-area", type=int, default=16, help="smallest head counted, in pixels (default 16)")
    p.add_argument("--worst", type=int, help="number of worst-frame overlays to save (default 8)")
    p.add_argument("--no-plots", action="store_true", help="write the tables only")
    p.add_argument(
        "--no-save",
        action="store_true",
        help="print the scores only, writing no report into the project (scores a project you may only read; "
        "--worst and --no-plots then have nothing to do)",
    )
    add_wait(p)
    add_threads(p)
    p.set_defaults(func=_evaluate)


def _add_video_selection(p, default_split) -> None:
    from dvos_core.cli import SPLIT_WORDS

    p.add_argument("--videos", nargs="+", metavar="ID", help="video ids (default: all videos of --split)")
    p.add_argument(
        "--split",
        default=default_split,
        help=f"use the videos of this split: {SPLIT_WORDS} (default: {default_split or 'all videos'})",
    )


def _add_runtime(p) -> None:
    from dvos_core.cli import DEVICE_HELP
    from dvos_core.cli._common import device_option

    p.add_argument("--device", type=device_option, default="auto", help=DEVICE_HELP)
    p.add_argument(
        "--batch-size",
        type=int,
        default=4,
        help="windows per prediction step (default 4; on a CPU, tiles of 128x128 px and up still go one at a time)",
    )
    p.add_argument(
        "--tile-size",
        type=int,
        default=None,
        help="tile frames larger than this (multiple of 32; default 2x the training size)",
    )
    p.add_argument(
        "--overlap",
        type=int,
        default=None,
        help="tile overlap in pixels (default 64, or what smaller tiles allow: a context model's a quarter tile)",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="number format: auto (default: bf16 on CUDA GPUs that have it, else fp32), fp32, or bf16 (also on a "
        "CPU with native bfloat16, AVX512-BF16 or AMX: faster, probabilities within a few hundredths of fp32)",
    )
    p.add_argument(
        "--scales",
        choices=SCALES,
        default="auto",
        help="the scales each frame is segmented at: own (its resolution), trained (shrunk to the scale the model "
        "was trained at: training size / validation crop, e.g. 128/512 px; much faster on large frames, coarser "
        "edges), both (the two averaged), auto (default: both where the trained scale is at most "
        f"{AUTO_MAX_ZOOM} of the frame's own, else own)",
    )
    add_threads(p)


def _videos(project, args) -> list[str]:
    from dvos_core.store.schema import SPLITS

    if args.videos:
        return list(args.videos)
    if args.split is not None and args.split not in SPLITS:
        raise ValueError(f"unknown split {args.split!r} (--split): use one of {', '.join(SPLITS)}")
    ids = [v.name for v in project.videos(args.split)]
    if not ids:
        if not args.split:
            raise ValueError(f"{project.path}: no videos in the project; add one with `dvos add-video`")
        raise ValueError(
            f"{project.path}: no videos with split {args.split!r}; assign one with "
            f"`dvos split {quote(project.path)} {args.split} VIDEO_ID` or pass video ids (--videos)"
        )
    return ids


def _check_runtime(args) -> None:
    """Refuse settings that cannot run, naming the options (before a model is loaded)."""
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    _check_threshold(args)
    if getattr(args, "passes", 1) < 1:
        raise ValueError(f"--passes must be at least 1, got {args.passes}")
    quality = getattr(args, "quality_threshold", None)
    if quality is not None and not 0 <= quality <= 1:
        raise ValueError(f"--quality-threshold must be between 0 and 1, got {quality:g}")
    if getattr(args, "drop_below", False) and quality is None:  # (pseudo_label refuses it too, after the device line)
        raise ValueError(
            "--drop-below clears the masks of frames below the quality threshold, and none was given: pass "
            "--quality-threshold Q (e.g. 0.5)"
        )
    tile, overlap = args.tile_size, args.overlap
    if overlap is not None and overlap < 0:
        raise ValueError(f"--overlap must be >= 0 pixels, got {overlap}")
    if tile is not None and (tile < 32 or tile % 32):
        raise ValueError(f"--tile-size must be a positive multiple of 32 (e.g. 128, 256), got {tile}")
    if tile is not None and overlap is not None and overlap > tile - 32:
        raise ValueError(
            f"--overlap {overlap} does not fit --tile-size {tile}: tiles start on a 32-px grid, so the overlap can "
            f"be at most the tile size minus 32; pass e.g. "
            f"--overlap {min(tile // 4, tile - 32)}"
        )


def _check_threshold(args) -> None:
    """Refuse a --threshold outside (0, 1), naming the option (None: the command's default)."""
    threshold = getattr(args, "threshold", None)
    if threshold is not None and not 0 < threshold < 1:
        raise ValueError(f"--threshold must be between 0 and 1 (exclusive), got {threshold:g}")


def _device_line(device: str, precision: str = "auto", threads: int | None = None) -> str:
    """Where the job runs, with the CPU threads it will use (``threads``: the command's --threads)."""
    from dvos_core.infer import distributed
    from dvos_core.model import describe_device, select_device
    from dvos_core.threads import local_processes, using_threads

    with using_threads(threads, workers=local_processes()):
        return describe_device(select_device(distributed.rank_device(device)), precision)


def _predict(args) -> int:
    from dvos_core.infer import distributed, predict_video, replaced_sets, resolve_checkpoint_path, sharing_models
    from dvos_core.infer.predict import refuse_replacing, target_frames
    from dvos_core.model import select_device
    from dvos_core.store import Project

    project = Project.open(args.project)
    _check_runtime(args)
    ckpt = resolve_checkpoint_path(project, args.checkpoint)
    image = resolve_checkpoint_path(project, args.image_model) if args.image_model else None
    ids = _videos(project, args)
    if args.as_labels:  # refuse before any video is predicted, not after the ones before a test video
        tests = [v for v in ids if project.video(v).split == "test"]
        if tests:
            raise ValueError(
                f"--as-labels: {tests} {'is a test video' if len(tests) == 1 else 'are test videos'}, whose masks "
                f"are the ground truth they are scored against (manual masks only); leave "
                f"{'it' if len(tests) == 1 else 'them'} out (--videos, or --split train / --split val) or predict "
                f"without --as-labels"
            )
    if args.frames is not None:  # every video's frame numbers checked before any video is predicted
        for vid in ids:
            try:
                target_frames(project.video(vid).n_frames, args.frames, vid)
            except IndexError as e:  # a user's error, said in one line (an IndexError reads as dvos's own bug)
                raise ValueError(
                    f"{e}; --frames applies to every video chosen: leave {vid} out (--videos) or ask for lower frames"
                ) from None
    print(f"device: {_device_line(args.device, args.precision, args.threads)}; checkpoint: {ckpt}", file=sys.stderr)
    device_type = select_device(distributed.rank_device(args.device)).type
    hint = scale_hint([project.video(v).shape[1:3] for v in ids], device_type, args.scales, "--scales trained")
    if hint:
        print(hint, file=sys.stderr)
    settings = {
        "image_checkpoint": None if image is None else str(image),
        "device": args.device,
        "tile_size": args.tile_size,
        "overlap": args.overlap,
        "threshold": args.threshold,
        "name": args.name,
        "passes": args.passes,
        "reference_masks": args.reference_masks,
        "threads": args.threads,
        "precision": args.precision,
        "scales": args.scales,
    }
    cancel, total = cancel_on_sigint(), 0
    with sharing_models():  # the model is loaded once: for the check and every video
        if not args.replace:  # refuse before any video is predicted, not after the ones before
            from dvos_core.store.lock import writer_lock

            # under the writer lock: another process writing the sets now is named (or waited for, --wait), and
            # its half-written sets are not read as finished ones to replace
            with writer_lock(project.path).hold(operation="checking which predictions would be replaced"):
                refuse_replacing(replaced_sets(project, ids, str(ckpt), **settings))
        for vid in ids:
            total += predict_video(
                project,
                vid,
                str(ckpt),
                batch_size=args.batch_size,
                frames=args.frames,
                resume=not args.no_resume,
                as_labels=args.as_labels,
                progress=TerminalProgress(),
                cancel=cancel,
                replace=args.replace,
                **settings,
            )
    rank, size = distributed.world()  # under torchrun each process predicted its share: rank 0 says the total
    total = sum(distributed.gather_lists([total], size))
    if rank == 0:
        print(f"predicted {total} frames in {len(ids)} video(s)" + (f" ({size} processes)" if size > 1 else ""))
    return 0


def _smooth(args) -> int:
    from dvos_core.infer import smooth_predictions, smoothed_name
    from dvos_core.store import Project

    project = Project.open(args.project)
    _check_threshold(args)
    ids = [v for v in _videos(project, args) if args.videos or args.model in project.video(v).predictions.models()]
    if not ids:
        raise ValueError(f"no video has predictions of {args.model!r}; run `dvos predict` first or pass --videos")
    cancel, total = cancel_on_sigint(), 0
    for vid in ids:
        total += smooth_predictions(
            project,
            vid,
            args.model,
            before=args.before,
            after=args.after,
            name=args.name,
            threshold=args.threshold,
            resume=not args.no_resume,
            progress=TerminalProgress(),
            cancel=cancel,
            follow_sway=not args.camera_only,
            only_outliers=args.only_outliers,
            threads=args.threads,
        )
    name = args.name or smoothed_name(args.model)
    print(f"smoothed {total} frames in {len(ids)} video(s) into {name!r}")
    return 0


def _pseudo(args) -> int:
    from dvos_core.infer import pseudo_label, resolve_checkpoint_path
    from dvos_core.store import Project

    project = Project.open(args.project)
    _check_runtime(args)
    ckpt = resolve_checkpoint_path(project, args.checkpoint)
    blend = [str(resolve_checkpoint_path(project, c)) for c in args.blend_with]
    ids = _videos(project, args)
    print(f"device: {_device_line(args.device, args.precision, args.threads)}; checkpoint: {ckpt}", file=sys.stderr)
    if blend:
        print(f"blended with: {', '.join(blend)}", file=sys.stderr)
    df = pseudo_label(
        project,
        ids,
        str(ckpt),
        device=args.device,
        n_passes=args.passes,
        quality_threshold=args.quality_threshold,
        overwrite=args.overwrite,
        drop_below=args.drop_below,
        batch_size=args.batch_size,
        tile_size=args.tile_size,
        overlap=args.overlap,
        progress=TerminalProgress(),
        cancel=cancel_on_sigint(),
        threads=args.threads,
        precision=args.precision,
        blend_with=blend,
        scales=args.scales,
    )
    for vid, g in df.groupby("video", sort=False):
        counts = g["status"].value_counts().to_dict()
        scored = g["quality"].dropna()  # frames kept as they were (painted, protected) have no quality
        quality = f"mean quality {scored.mean():.3f}" if len(scored) else "no frame labelled"
        print(
            f"{vid:<24} {quality}  "
            + ", ".join(f"{k} {n}" for k, n in counts.items())
            + (f", below threshold {int(g['below_threshold'].sum())}" if args.quality_threshold is not None else "")
        )
    return 0


def _evaluate(args) -> int:
    from dvos_core.evaluate import compare_models, evaluate
    from dvos_core.evaluate.summary import _video_ids
    from dvos_core.store import Project

    if args.no_save and args.name:
        raise ValueError(f"--no-save writes no report: leave out --name {args.name} (or --no-save to save it)")
    project = Project.open(args.project, mode="r" if args.no_save else "r+")
    if args.model and args.models:
        raise ValueError("pass either --model (one model's full report) or --models (a comparison), not both")
    models = args.models
    if models and "all" in models and len(models) > 1:
        raise ValueError(
            f"--models {' '.join(models)}: 'all' means every model with predictions on these videos; give it alone "
            f"(--models all) or name the models without it"
        )
    if not models and not args.model:  # several models predicted these videos: compare them all
        ids = _video_ids(project, args.videos, args.split)
        found = {m for v in ids for m in project.video(v).predictions.models()}
        models = ["all"] if len(found) > 1 else None
    if models:
        asked = [o for o, given in (("--worst", args.worst is not None), ("--no-plots", args.no_plots)) if given]
        if asked:
            print(
                f"note: {' and '.join(asked)} apply to one model's report; a comparison of models writes tables only "
                f"(--model NAME for that model's report with its plots and worst-frame overlays)",
                file=sys.stderr,
            )
        cmp = compare_models(
            project,
            None if models == ["all"] else models,
            video_ids=args.videos,
            split=args.split,
            name=args.name,
            gt_provenances=args.gt,
            tolerance=args.tolerance,
            min_area=args.min_area,
            save=not args.no_save,
            progress=TerminalProgress(),
            cancel=cancel_on_sigint(),
            threads=args.threads,
        )
        print(cmp.format_table())
        print(f"report: {cmp.path}" if not args.no_save else "no report saved (--no-save)")
        return 0
    rep = evaluate(
        project,
        video_ids=args.videos,
        split=args.split,
        name=args.name,
        **({} if args.worst is None else {"worst_k": args.worst}),
        gt_provenances=args.gt,
        tolerance=args.tolerance,
        min_area=args.min_area,
        model=args.model,
        plots=not args.no_plots,
        save=not args.no_save,
        progress=TerminalProgress(),
        cancel=cancel_on_sigint(),
        threads=args.threads,
    )
    print(rep.format_table())
    print(f"report: {rep.path}" if not args.no_save else "no report saved (--no-save)")
    return 0
