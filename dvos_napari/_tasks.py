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
) -> int:
    """Run ``dvos_core.infer.predict_video`` on each video in turn, with one progress range over all of them
    (``name``: the prediction set, default the model's name; ``passes`` and ``reference_masks``: a context model's
    settings, default the core's; ``precision``, ``scales``: see ``predict_video``); with ``smooth_before`` > 0,
    then smooth each video's predictions over that many earlier frames into ``<name>_smoothed``
    (``dvos_core.infer.smooth_predictions``; ``smooth_only_outliers``: only the frames worse than their
    neighbours)."""
    from dvos_core.infer import predict_video, prediction_name, smooth_predictions
    from dvos_core.progress import Steps

    total = 1000 * len(video_ids)
    n = 0
    extra = {} if passes is None else {"passes": int(passes)}
    if reference_masks is not None:
        extra["reference_masks"] = reference_masks
    for i, vid in enumerate(video_ids):
        span = 800 if smooth_before else 1000
        sub = Steps(progress, start=1000 * i, span=span, total=total, prefix=f"{vid}: ")
        n += predict_video(
            project,
            vid,
            checkpoint,
            image_checkpoint=image_checkpoint,
            device=device,
            batch_size=batch_size,
            name=name,
            progress=sub,
            cancel=cancel,
            precision=precision,
            scales=scales,
            **extra,
        )
        if smooth_before:
            sub = Steps(progress, start=1000 * i + 800, span=200, total=total, prefix=f"{vid}: ")
            source = prediction_name(checkpoint, name)
            smooth_predictions(
                project,
                vid,
                source,
                before=int(smooth_before),
                only_outliers=bool(smooth_only_outliers),
                progress=sub,
                cancel=cancel,
            )
    return n


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
