"""Background clips: runs of consecutive frames cut from bare-field videos (no wheat heads in view)."""

from __future__ import annotations

import os
from pathlib import Path

from dvos_core.extract._checks import check_int, training_video, video_token
from dvos_core.progress import CancelToken, ProgressFn, Steps, check, report
from dvos_core.shell import user_path
from dvos_core.store.lock import writes_store
from dvos_core.threads import runs_with_threads
from dvos_core.user_warnings import warn_user


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


def _free_ids(project, prefix: str, n: int, taken=()) -> list[str]:
    """``n`` ids ``<prefix>_000``, ... not used by a finished clip nor in ``taken`` (the leftover of a killed cut
    may be reused: creating the clip replaces it)."""
    used, ids, k = set(project.background_ids()) | set(taken), [], 0
    while len(ids) < n:
        name = f"{prefix}_{k:03d}"
        if name not in used:
            ids.append(name)
        k += 1
    return ids


class CutClips(list):
    """The new :class:`~dvos_core.store.Background` clips of :func:`extract_backgrounds`; ``kept`` holds the ids of
    the finished clips cut before from the same source, start, length and preprocessing, which were not cut
    again; ``preprocessing`` the :class:`~dvos_core.io.Preprocess` the clips were cut with, ``from_videos`` True
    when it was taken from the project's videos (none given for a file); ``source_size`` the (height, width) of the
    source's frames before it."""

    def __init__(self, clips=(), kept=(), preprocessing=None, from_videos: bool = False, source_size=None):
        super().__init__(clips)
        self.kept = list(kept)
        self.preprocessing = preprocessing
        self.from_videos = from_videos
        self.source_size = source_size


def _cut_before(project, source: str, token, n_frames: int, clip_length: int, pre: dict) -> dict:
    """{start frame: clip id} of the finished clips cut before from ``source`` (its ``source`` attr) with
    ``clip_length`` frames and preprocessing ``pre``; for a video of the project, only clips of that same video
    (its ``created`` token), for a file only clips of a file with ``n_frames`` frames."""
    import json

    from dvos_core.extract._checks import same_video
    from dvos_core.store.schema import INPAINTED, StoreError

    pre = json.loads(json.dumps(pre))  # as stored (tuples become lists)
    out: dict = {}
    for b in project.background_ids():
        try:
            clip = project.background(b)
            a = dict(clip.attrs)
            n = len(clip)
        except (StoreError, KeyError, TypeError, ValueError):  # an unreadable clip says nothing of its settings
            continue
        if a.get("origin") == INPAINTED or a.get("source") != source or a.get("preprocessing") != pre:
            continue
        if n != clip_length or not same_video(a.get("video_created"), token):
            continue
        if a.get("source_frames") not in (None, n_frames) or not isinstance(a.get("start"), int):
            continue
        out.setdefault(int(a["start"]), b)
    return out


def preprocess_options(pre) -> str:
    """The ``dvos`` options that ask for :class:`~dvos_core.io.Preprocess` ``pre`` ("--no-preprocess" for none)."""
    from dvos_core.io.preprocess import Preprocess

    if pre == Preprocess.paper():
        return "--paper-preprocess"
    opts = [f"--height {pre.height}"] if pre.height is not None else []
    opts += [f"--crop {pre.crop[0]} {pre.crop[1]}"] if pre.crop else []
    return " ".join(opts) or "--no-preprocess"


def _videos_preprocessing(project) -> dict:
    """{preprocessing: [video ids]} of the project's non-test videos (heads are cut from their frames) that record
    how they were resized / cropped when they were added (``preprocessing`` attr)."""
    from dvos_core.io.preprocess import Preprocess

    out: dict = {}
    for video in project.videos():
        pre = video.attrs.get("preprocessing")
        if video.split != "test" and isinstance(pre, dict):
            out.setdefault(Preprocess.from_dict(pre), []).append(video.name)
    return out


def _file_preprocess(project, preprocess, where: str):
    """(preprocessing, taken from the videos) of clips cut from the file ``where``: ``preprocess``, or when None the
    one all the project's non-test videos were added with (heads cut from resized frames must be pasted on
    backgrounds resized alike); a warning naming the options when the clips would be preprocessed otherwise than
    those videos."""
    from dvos_core.io.preprocess import Preprocess

    used = _videos_preprocessing(project)
    if len(used) == 1:
        (theirs,) = used
        if preprocess is None:
            return theirs, theirs != Preprocess()
        if preprocess != theirs:
            warn_user(
                f"{where}: clips {_how(preprocess)}, but the project's videos ({', '.join(used[theirs])}) were "
                f"{_how(theirs)} when they were added, so the heads cut from them are pasted at another scale than "
                f"this field; give {preprocess_options(theirs)} to preprocess the clips as the videos, unless this "
                f"file was filmed at another resolution"
            )
        return preprocess, False
    if preprocess is None and len(used) > 1:
        kinds = "; ".join(
            f"{preprocess_options(p) if p != Preprocess() else 'none'}: {', '.join(ids)}" for p, ids in used.items()
        )
        warn_user(
            f"{where}: the project's videos were added with different preprocessing ({kinds}), so the clips keep "
            f"this file's frames as they are; give the options of the videos whose heads you paste on them, so "
            f"those heads keep their size"
        )
    return preprocess or Preprocess(), False


def _how(pre) -> str:
    """``pre`` in words, as in "clips {...}"."""
    from dvos_core.io.preprocess import Preprocess

    if pre == Preprocess():
        return "not resized (--no-preprocess)"
    return f"resized / cropped with {preprocess_options(pre)}"


def _warn_if_heads(video) -> None:
    """Clips are bare field: a video whose masks show heads would teach the models that heads are background."""
    counts = {k: c for k, c in video.provenance_counts().items() if c and k in ("manual", "corrected", "pseudo")}
    if counts:
        held = ", ".join(f"{c} {k}" for k, c in counts.items())
        warn_user(
            f"video {video.name!r} has heads labelled ({held} masks): its clips are used as bare field, so every head "
            f"in them is taught as background; cut clips from footage without heads, or inpaint the heads out of "
            f"the labelled frames instead (--from-annotated; Python: backgrounds_from_annotated)",
        )


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
    directly). ``preprocess`` (resize / centre crop) applies to the frames of either kind of source; None: none for
    a video of the project, and for a file the preprocessing the project's non-test videos were all added with (the
    heads cut from them then keep their size on the clips; the result's ``from_videos`` says so; ``Preprocess()``
    keeps the file's frames as they are). A ``preprocess`` other than those videos' is cut with a warning naming the
    options that match them; for videos added with different preprocessing and none given, the file's frames are
    kept as they are, with a warning. Clips start at
    ``start`` and every ``stride`` frames (default: back to back), at most ``n_clips``. Ids are ``<prefix>_000``,
    ``<prefix>_001``, ... (prefix: the video id or file stem + '_bg'), skipping ids in use. A test video is refused
    (test frames never feed training). Each clip is committed whole; on cancel or error the unfinished clip is
    removed and the finished ones are kept. A start frame that already gave a finished clip of the same source,
    length and preprocessing (say, before a run was stopped or killed) is not cut again: rerunning the same command
    cuts only the clips still missing, whatever their prefix. Returns the new :class:`~dvos_core.store.Background`
    clips as a list whose ``kept`` attribute names the clips cut before and skipped.
    ``threads``: OpenCV threads for decoding and resizing (see :mod:`dvos_core.threads`).
    """
    from dvos_core.io.preprocess import Preprocess
    from dvos_core.io.readers import open_video
    from dvos_core.store import Project, safe_id

    project = Project.of(project)
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"extract_backgrounds cuts clips from a video: source must be a video id of {project.path} or a video "
            f"file's path, got {type(source).__name__}; add frames held in memory as a video first "
            f"(project.add_video_array('bare_field', frames)) and pass its id"
        )

    reader, token, from_videos = None, None, False
    if isinstance(source, str) and source in project.video_ids():
        pre = preprocess or Preprocess()
        video = training_video(project, source, "background clips cut from it")
        _warn_if_heads(video)
        n, h0, w0 = len(video), video.shape[1], video.shape[2]
        fps, where, name = video.attrs.get("fps"), f"video {source!r}", source
        token = video_token(video)

        def read(t):
            return video.frame(t)
    else:
        path = user_path(source)
        if not path.exists():
            raise FileNotFoundError(
                f"{source}: not a video id of {project.path} ({project.video_ids()}) and no such file"
            )
        pre, from_videos = _file_preprocess(project, preprocess, str(path))
        reader = open_video(path)
        n, h0, w0, fps, where, name = len(reader), reader.height, reader.width, reader.fps, str(path), path.stem
        read = reader.__getitem__
    try:
        starts = clip_starts(n, clip_length, n_clips, start, stride, where)
        try:
            h, w = pre.output_size(h0, w0)
        except ValueError as e:
            if not from_videos:
                raise
            raise ValueError(
                f"{where}: no preprocessing given, so the project's videos' ({preprocess_options(pre)}) was taken, "
                f"and it does not fit: {e}; give the options for this file (or --no-preprocess)"
            ) from None
        recorded = str(Path(source).resolve()) if reader else source
        before = _cut_before(project, recorded, token, n, clip_length, pre.to_dict())
        kept = [before[s] for s in starts if s in before]
        starts = [s for s in starts if s not in before]
        ids = _free_ids(project, bg_prefix or f"{safe_id(name)}_bg", len(starts))
        clips = CutClips(kept=kept, preprocessing=pre, from_videos=from_videos, source_size=(h0, w0))
        total = len(starts) * clip_length
        for i, (bg_id, s) in enumerate(zip(ids, starts)):
            check(cancel)
            bg = project.create_background(
                bg_id,
                h,
                w,
                source=recorded,
                start=int(s),
                fps=fps,
                preprocessing=pre.to_dict(),
                **({"video_created": token} if token is not None else {}),
                **({} if reader is None else {"source_frames": int(n)}),
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
