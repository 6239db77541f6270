"""Background clips: runs of consecutive frames cut from bare-field videos (no wheat heads in view)."""

from __future__ import annotations

from pathlib import Path

from dvos_core.extract._checks import check_int, training_video
from dvos_core.progress import CancelToken, ProgressFn, Steps, check, report
from dvos_core.store.lock import writes_store
from dvos_core.threads import runs_with_threads


def clip_starts(
    n_frames: int,
    clip_length: int,
    n_clips: int | None = None,
    start: int = 0,
    stride: int | None = None,
    where: str = "",
) -> list[int]:
    """First frames of the clips: start, start+stride, ... while a whole clip fits (at most ``n_clips``)."""
    clip_length = check_int(clip_length, "--clip-length", 1, "frames per clip")
    stride = clip_length if stride is None else check_int(stride, "--stride", 1, "frames between clip starts")
    start = check_int(start, "--start", 0, "frames are numbered from 0")
    if n_clips is not None:
        n_clips = check_int(n_clips, "--clips", 1, "leave it out for as many clips as fit")
    if n_frames - start < clip_length:
        raise ValueError(
            f"{where}: {max(0, n_frames - start)} frames from frame {start} on, fewer than one clip of "
            f"{clip_length}; use a longer video or a shorter --clip-length"
        )
    starts = list(range(int(start), n_frames - clip_length + 1, stride))
    if n_clips is not None:
        starts = starts[:n_clips]
    return starts


def _free_ids(project, prefix: str, n: int) -> list[str]:
    used, ids, k = set(project.background_ids()), [], 0
    while len(ids) < n:
        name = f"{prefix}_{k:03d}"
        if name not in used:
            ids.append(name)
        k += 1
    return ids


@writes_store
@runs_with_threads(torch=False)
def extract_backgrounds(
    project,
    source,
    clip_length: int = 60,
    n_clips: int | None = None,
    start: int = 0,
    stride: int | None = None,
    bg_prefix: str | None = None,
    preprocess=None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    threads: int | None = None,
):
    """Cut clips of ``clip_length`` consecutive frames from ``source`` into the project's background store.

    ``source``: a video id of the project, or a path to a bare-field video file / TIFF / image folder (decoded
    directly). ``preprocess`` (resize / centre crop) applies to the frames of either kind of source. Clips start at
    ``start`` and every ``stride`` frames (default: back to back), at most ``n_clips``. Ids are ``<prefix>_000``,
    ``<prefix>_001``, ... (prefix: the video id or file stem + '_bg'), skipping ids in use. A test video is refused
    (test frames never feed training). Each clip is committed whole; on cancel or error the unfinished clip is
    removed and the finished ones are kept. Returns the new :class:`~dvos_core.store.Background` clips.
    ``threads``: OpenCV threads for decoding and resizing (see :mod:`dvos_core.threads`).
    """
    from dvos_core.io.preprocess import Preprocess
    from dvos_core.io.readers import open_video
    from dvos_core.store import safe_id

    pre = preprocess or Preprocess()
    reader = None
    if isinstance(source, str) and source in project.video_ids():
        video = training_video(project, source, "background clips cut from it")
        n, h0, w0 = len(video), video.shape[1], video.shape[2]
        fps, where, name = video.attrs.get("fps"), f"video {source!r}", source

        def read(t):
            return video.frame(t)
    else:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(
                f"{source}: not a video id of {project.path} ({project.video_ids()}) and no such file"
            )
        reader = open_video(path)
        n, h0, w0, fps, where, name = len(reader), reader.height, reader.width, reader.fps, str(path), path.stem
        read = reader.__getitem__
    try:
        starts = clip_starts(n, clip_length, n_clips, start, stride, where)
        h, w = pre.output_size(h0, w0)
        ids = _free_ids(project, bg_prefix or f"{safe_id(name)}_bg", len(starts))
        clips = []
        total = len(starts) * clip_length
        for i, (bg_id, s) in enumerate(zip(ids, starts)):
            check(cancel)
            bg = project.create_background(
                bg_id,
                h,
                w,
                source=str(Path(source).resolve()) if reader else source,
                start=int(s),
                fps=fps,
                preprocessing=pre.to_dict(),
                import_complete=False,  # until its last frame is in: a killed cut is not a clip
            )
            try:
                frames = (pre.apply(read(t)) for t in range(s, s + clip_length))
                bg.append_frames(
                    frames,
                    n_total=clip_length,
                    batch=8,
                    cancel=cancel,
                    progress=Steps(progress, i * clip_length, clip_length, total, f"{bg_id}: "),
                )
                bg.mark_complete()
            except BaseException:
                project.delete_background(bg_id)  # an unfinished clip must not look like a background
                raise
            clips.append(bg)
        report(progress, total, total, f"{len(clips)} background clips")
        return clips
    finally:
        if reader is not None:
            reader.close()
