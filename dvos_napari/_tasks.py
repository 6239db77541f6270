"""Calls the steps run in a child process that combine several core calls (Qt-free: the child imports this)."""

from __future__ import annotations


def predict_videos(
    project,
    video_ids,
    checkpoint,
    image_checkpoint=None,
    device="auto",
    batch_size=4,
    name=None,
    passes=None,
    reference_masks=None,
    smooth_before=0,
    smooth_only_outliers=False,
    progress=None,
    cancel=None,
    precision="auto",
    scales="auto",
    replace=False,
) -> int | dict:
    """Run ``dvos_core.infer.predict_video`` on each video in turn, with one progress range over all of them
    (``name``: the prediction set, default the model's name; ``passes`` and ``reference_masks``: a context model's
    settings, default the core's; ``precision``, ``scales``: see ``predict_video``); with ``smooth_before`` > 0,
    then smooth each video's predictions over that many earlier frames into ``<name>_smoothed``
    (``dvos_core.infer.smooth_predictions``; ``smooth_only_outliers``: only the frames worse than their
    neighbours). Returns the number of frames predicted (with smoothing: {"predicted": n, "smoothed": m}). Without
    ``replace``, first asks
    ``dvos_core.infer.replaced_sets`` whether a video's set holds frames made by another checkpoint or with other
    settings: then nothing is predicted and the result is ``{"replace": {video: {"frames": n, "made_by": text}}}``
    (the step asks whether to replace them, and runs again with ``replace=True`` when told yes)."""
    from dvos_core.infer import predict_video, prediction_name, replaced_sets, sharing_models, smooth_predictions
    from dvos_core.progress import Steps

    total = 1000 * len(video_ids)
    n = smoothed = 0
    extra = {} if passes is None else {"passes": int(passes)}
    if reference_masks is not None:
        extra["reference_masks"] = reference_masks
    settings = {"image_checkpoint": image_checkpoint, "device": device, "name": name, "precision": precision}
    settings.update(scales=scales, **extra)
    with sharing_models():  # the model is loaded once: for the check and every video
        if not replace:
            found = replaced_sets(project, video_ids, checkpoint, **settings)
            if found:
                return {"replace": {v: {"frames": e.frames, "made_by": e.made_by} for v, e in found.items()}}
        for i, vid in enumerate(video_ids):
            span = 800 if smooth_before else 1000
            sub = Steps(progress, start=1000 * i, span=span, total=total, prefix=f"{vid}: ")
            n += predict_video(
                project,
                vid,
                checkpoint,
                batch_size=batch_size,
                progress=sub,
                cancel=cancel,
                replace=replace,
                **settings,
            )
            if smooth_before:
                sub = Steps(progress, start=1000 * i + 800, span=200, total=total, prefix=f"{vid}: ")
                source = prediction_name(checkpoint, name)
                smoothed += smooth_predictions(
                    project,
                    vid,
                    source,
                    before=int(smooth_before),
                    only_outliers=bool(smooth_only_outliers),
                    progress=sub,
                    cancel=cancel,
                )
    return {"predicted": n, "smoothed": smoothed} if smooth_before else n


def export_predictions(
    project, video_ids, out_dir, model=None, overlay_video=False, progress=None, cancel=None
) -> dict:
    """``dvos_core.io.export_masks`` of each video's predictions (``model``'s, default each video's most recent set)
    into ``out_dir/<video>/`` (masks and a masks.csv with the heads of every frame), one progress range over all of
    them; with ``overlay_video`` also ``<video>_overlay.mp4`` there (:func:`dvos_core.io.write_overlay_video`: the
    video with the outlines and head count of every frame). Videos without such predictions are skipped. Returns
    {"written": {video: frames}, "skipped": [video], "videos": [overlay video paths]}."""
    from pathlib import Path

    from dvos_core.io import export_masks, write_overlay_video
    from dvos_core.progress import Steps

    written, skipped, videos = {}, [], []
    for i, vid in enumerate(video_ids):
        models = project.video(vid).predictions.models()
        if not models or (model is not None and model not in models):
            skipped.append(vid)
            continue
        out = Path(out_dir) / vid
        parts = 2 if overlay_video else 1  # progress: the masks, then the video
        sub = Steps(progress, start=parts * i, span=1, total=parts * len(video_ids), prefix=f"{vid}: ")
        paths = export_masks(project, vid, out, which="predictions", model=model, progress=sub, cancel=cancel)
        written[vid] = len(paths)
        if overlay_video:
            sub = Steps(progress, start=parts * i + 1, span=1, total=parts * len(video_ids), prefix=f"{vid}: ")
            done = write_overlay_video(
                project, vid, out / f"{vid}_overlay.mp4", which="predictions", model=model, progress=sub, cancel=cancel
            )
            videos.append(done["path"])
    return {"written": written, "skipped": skipped, "videos": videos}


def count_heads(project, video_id, model=None, progress=None, cancel=None) -> dict:
    """:func:`dvos_core.evaluate.head_tracks.track_heads` on one video: ``model``'s predictions where it predicted
    the video, else the most recent set; the stored masks when the video has no predictions. Returns {"summary":
    ..., "tracks": (N, 4) [track_id, frame, y, x] of the counted heads} (plain data for the Predict step's Tracks
    layer)."""
    from dvos_core.evaluate.head_tracks import track_heads

    models = project.video(video_id).predictions.models()
    which = "predictions" if models else "labels"
    model = model if model in models else None  # the set reviewed where it predicted this video, else the latest
    tracks = track_heads(project, video_id, which=which, model=model, progress=progress, cancel=cancel)
    return {"summary": tracks.summary(), "tracks": tracks.napari_tracks()}


def match_density(project, base, progress=None, cancel=None) -> dict:
    """``dvos_core.synth.density.match_density`` on the project's painted frames (test videos left out) from the
    config ``base``: {"overrides", "warnings", "table"} (plain data for the Synthesize step)."""
    from dvos_core.synth.density import match_density as _match

    m = _match(project, base=base, progress=progress, cancel=cancel)
    return {"overrides": m.overrides, "warnings": m.warnings, "table": m.table()}


def match_motion(project, base, progress=None, cancel=None) -> dict:
    """``dvos_core.motion.match_motion`` on the project's videos (test videos left out) from the config ``base``:
    {"overrides", "config", "warnings", "warnings_after", "table"} (plain data for the Synthesize step)."""
    from dvos_core.motion import match_motion as _match

    m = _match(project, base=base, progress=progress, cancel=cancel)
    out = m.to_dict()
    out["table"] = m.table()
    return out


def extract_painted_heads(project, video_ids=None, progress=None, cancel=None, threads=None, **options):
    """``dvos_core.extract.extract_heads`` of the Extract step: ``video_ids`` None is every video but the test ones.
    Heads are cut from painted and corrected frames only: when the videos have none (pseudo-labels only, or no
    masks), says so in the step's words instead of extracting nothing. Checked here, in the job, not on napari's
    main thread (it reads every video's mask provenance)."""
    from dvos_core.extract import extract_heads

    ids = video_ids if video_ids is not None else [v.name for v in project.videos() if v.split != "test"]
    counts = [project.video(vid).provenance_counts() for vid in ids]
    if not any(c.get("manual") or c.get("corrected") for c in counts):
        where = f"video '{ids[0]}' has no" if video_ids is not None and len(ids) == 1 else "no training video has any"
        pseudo = " (pseudo-labels are not cut into heads)" if any(c.get("pseudo") for c in counts) else ""
        raise ValueError(
            f"{where} painted or corrected frames{pseudo}: paint and save some frames (Annotate step) or correct "
            f"predicted ones (Review step), then extract the heads again"
        )
    return extract_heads(project, video_ids=video_ids, progress=progress, cancel=cancel, threads=threads, **options)


def extract_backgrounds_counted(project, source, progress=None, cancel=None, threads=None, **options):
    """``dvos_core.extract.extract_backgrounds`` of the Extract step; the clips it returns also tell, as ``before``,
    how many clips ``source`` had given before (not inpainted ones): counted here, in the job, not on napari's main
    thread (it reads every background clip)."""
    from dvos_core.extract import extract_backgrounds
    from dvos_core.store.schema import INPAINTED

    before = 0
    for b in project.background_ids():
        attrs = project.background(b).attrs
        before += attrs.get("source") == source and attrs.get("origin") != INPAINTED
    clips = extract_backgrounds(project, source, progress=progress, cancel=cancel, threads=threads, **options)
    clips.before = before
    return clips


def check_backgrounds(project, size=None, what: str = "'clip height' and 'clip width'") -> None:
    """The Synthesize step's check of the background clips before it renders, in its words (the core names commands
    of its own): there is one, and (with ``size``, the (height, width) to render, unless 'upscale small
    backgrounds' is ticked) one as large as ``size`` (``what``: the step's fields that set it). Run in the job: it
    opens every clip."""
    ids = project.background_ids()
    if not ids:
        raise ValueError(
            "the project has no background clips yet: click 'Extract backgrounds' in the Extract step first "
            "(from a video of bare field, or from your annotated frames with their heads inpainted)"
        )
    if size is None:
        return
    h, w = size
    sizes = [project.background(b).shape[1:3] for b in ids]
    if any(bh >= h and bw >= w for bh, bw in sizes):
        return
    largest = max(sizes, key=lambda s: min(s))
    raise ValueError(
        f"no background clip is {h}x{w} px or larger (the largest is {largest[0]}x{largest[1]} px): lower "
        f"{what} to fit it, or tick 'upscale small backgrounds' (Advanced settings, Clip; it blurs the field)"
    )


def synth_preview(project, fit=None, what="", progress=None, cancel=None, **options):
    """``dvos_core.synth.preview`` of the Synthesize step after :func:`check_backgrounds` (``fit``: its size)."""
    from dvos_core.synth import preview

    check_backgrounds(project, fit, what)
    return preview(project, progress=progress, cancel=cancel, **options)


def generate_checked(project, name, n_clips, fit=None, what="", progress=None, cancel=None, threads=None, **options):
    """``dvos_core.synth.generate`` of the Synthesize step after :func:`check_backgrounds` (``fit``: its size)."""
    from dvos_core.synth import generate

    check_backgrounds(project, fit, what)
    return generate(project, name, n_clips, progress=progress, cancel=cancel, threads=threads, **options)


def _report_savable(project) -> bool:
    """Whether a report can be saved into ``project``: False when its folder cannot be written (a read-only disk or
    no permission: it is scored anyway, with a warning, as `dvos evaluate --no-save` does); another writer or a
    damaged store is raised as the core says it."""
    import errno

    from dvos_core.store.schema import StoreWriteError
    from dvos_core.user_warnings import warn_user

    try:
        project.check_writable("evaluate")
    except StoreWriteError as e:
        if e.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        warn_user(f"{project.path} cannot be written, so the scores are shown but no report is saved in it")
        return False
    return True


def evaluate_shown(project, progress=None, cancel=None, threads=None, **options):
    """``dvos_core.evaluate.evaluate`` for the Review step: its report saved in the project, or, where the project
    cannot be written, only shown (``report.path`` None)."""
    from dvos_core.evaluate import evaluate

    save = _report_savable(project)
    return evaluate(project, save=save, progress=progress, cancel=cancel, threads=threads, **options)


def compare_shown(project, models, progress=None, cancel=None, threads=None, **options):
    """``dvos_core.evaluate.compare_models`` for the Review step, saved as :func:`evaluate_shown` saves."""
    from dvos_core.evaluate import compare_models

    save = _report_savable(project)
    return compare_models(project, models, save=save, progress=progress, cancel=cancel, threads=threads, **options)
