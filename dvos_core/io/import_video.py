"""Import a video file / TIFF / image folder into a project, streaming in batches (bounded memory)."""

from __future__ import annotations

import math
from contextlib import closing
from pathlib import Path

from dvos_core.io.output_paths import check_fps
from dvos_core.io.prefetch import prefetch
from dvos_core.io.preprocess import Preprocess
from dvos_core.io.readers import open_video
from dvos_core.progress import CancelToken, ProgressFn, check, report
from dvos_core.shell import quote, user_path
from dvos_core.store.lock import writes_store
from dvos_core.user_warnings import warn_user


def frame_indices(n: int, start: int = 0, stop: int | None = None, step: int = 1, where: str = "") -> range:
    """The source frame indices start, start+step, ... < stop, validated against a length ``n``."""
    stop = n if stop is None else int(stop)
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    if start < 0:
        raise ValueError(f"{where}: start (--start) must be 0 or more (the first frame is 0), got {start}")
    if not start < n or stop <= start:
        raise ValueError(
            f"{where}: frame range start={start} stop={stop} selects no frames; the source has {n} frames (0..{n - 1})"
        )
    return range(int(start), min(stop, n), int(step))


BATCH_BYTES = 16 << 20  # the default batch of frames written and committed together holds about this much
BATCH_FRAMES = (8, 64)  # ... and this many frames at least / at most
BATCH_MAX_BYTES = 256 << 20  # ... but never more than this (fewer than 8 frames of very large frames, down to 1)
FRAME_MAX_BYTES = (1 << 31) - 1  # one stored frame is one chunk, and the store's codec takes at most this much


def source_name(path) -> str:
    """The name a video's id is made from (:func:`~dvos_core.store.schema.safe_id`): a file's name without its
    extension, a folder's name."""
    path = user_path(path)
    return path.stem if path.is_file() else (path.name or path.resolve().name)  # "." or "..": the folder's own name


def frames_per_batch(height: int, width: int) -> int:
    """Frames of ``height`` x ``width`` RGB written and committed together by default: about ``BATCH_BYTES`` of
    them, within ``BATCH_FRAMES``, and for very large frames as few as keep the batch under ``BATCH_MAX_BYTES``."""
    lo, hi = BATCH_FRAMES
    size = max(1, int(height) * int(width) * 3)
    lo = max(1, min(lo, BATCH_MAX_BYTES // size))
    return int(min(hi, max(lo, BATCH_BYTES // size)))


@writes_store
def import_video(
    project,
    path,
    video_id: str | None = None,
    preprocess: Preprocess | None = None,
    split: str = "unassigned",
    tags: dict | None = None,
    start: int = 0,
    stop: int | None = None,
    step: int = 1,
    fps: float | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    batch: int | None = None,
):
    """Decode ``path`` and store it as a new video; returns the :class:`~dvos_core.store.Video`.

    ``video_id`` defaults to the file stem made safe. Frames ``start:stop:step`` of the source are kept, each passed
    through ``preprocess``. Attributes stored: source (absolute path), fps, preprocessing, source_frames
    ({'start', 'step', 'stop'}: stored frame t is source frame start + t*step), split, tags.

    The import is all or nothing: on any error or cancel (a full disk included: the error names the file and the
    step) the partially written video is deleted. A process killed mid-import cannot clean up, so the video carries
    ``import_complete=False`` until its last frame is committed; importing the same id again replaces such a
    leftover (if nobody has added masks to it since). The import holds the project's writer lock, so a second
    import of the same id elsewhere cannot delete a running one: it fails naming this process, or waits
    (``wait=True``, ``dvos add-video --wait``).

    ``batch``: frames written and committed together; by default as many as fit in about 16 MB (8 to 64 frames, fewer
    for frames so large that 8 would pass 256 MB: :func:`frames_per_batch`), so small frames cost few metadata writes
    and large ones bounded memory. Frames of more than 2 GiB as RGB (one frame is one chunk) are refused when the
    video is opened, before anything is written.
    """
    from dvos_core.extract._checks import check_int
    from dvos_core.store import Project, safe_id
    from dvos_core.store.project import check_tags
    from dvos_core.store.schema import SPLITS

    project = Project.of(project)

    path = user_path(path)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    # checked before the file is opened (a wrong type failed later with Python's words, a batch below 1 was taken)
    check_int(start, "start (--start)", 0, "the first frame is 0")
    if stop is not None:
        check_int(stop, "stop (--stop)", 1)
    check_int(step, "step (--step)", 1)
    if batch is not None:
        check_int(batch, "batch", 1, "or None for the default")
    check_tags({} if tags is None else tags, str(path), "--tag KEY=VALUE")
    if fps is not None:
        if not (math.isfinite(float(fps)) and float(fps) > 0):
            raise ValueError(f"fps must be a positive number of frames per second, got {fps}")
        fps = check_fps(fps)  # the range the video writers take (an overlay video would ignore another rate)
    pre = preprocess or Preprocess()
    video_id = video_id or safe_id(source_name(path))
    if video_id in project.video_ids():
        _drop_interrupted_import(project, video_id)
    with open_video(path) as reader:
        idx = frame_indices(len(reader), start, stop, step, where=str(path))
        h, w = pre.output_size(reader.height, reader.width)
        if h * w * 3 > FRAME_MAX_BYTES:  # refused before anything is written (one frame is one chunk of the store)
            raise ValueError(
                f"{path}: its frames of {w}x{h} pixels are too large to store ({h * w * 3 / 2**30:.1f} GiB each as "
                f"RGB; at most 2 GiB); add it resized (--height, e.g. --height 2048) or cropped (--crop)"
            )
        warn_if_short_of_space(project.path, path, len(idx), h, w)
        batch = int(batch) if batch is not None else frames_per_batch(h, w)
        src_fps = reader.fps
        out_fps = fps if fps is not None else (src_fps / step if src_fps else None)
        numbered = _file_number_runs(reader, idx, path)
        video = project.create_video(  # all or nothing itself: a failed creation leaves nothing
            video_id,
            h,
            w,
            source=str(path.resolve()),
            fps=out_fps,
            preprocessing=pre.to_dict(),
            source_frames={"start": idx.start, "stop": idx.stop, "step": idx.step},
            source_n_frames=len(reader),
            split=split,
            tags=dict(tags or {}),  # (a dict: checked above)
            import_complete=False,
            **({"source_file_numbers": numbered} if numbered else {}),
        )
        report(progress, 0, len(idx), f"{video_id}: importing {len(idx)} frames")

        def frames():  # decoded and preprocessed in a worker thread, a few frames ahead of the writer
            ahead = prefetch((pre.apply(f) for f in reader.iter_range(idx.start, idx.stop, idx.step)), min(batch, 8))
            with closing(ahead):
                for f in ahead:
                    check(cancel)
                    yield f

        gen = frames()
        try:
            video.append_frames(gen, n_total=len(idx), batch=batch, progress=progress, cancel=cancel)
        except BaseException:
            gen.close()  # stop the decoding thread before the reader closes
            _delete_quietly(project, video_id)
            raise
    if len(video) != len(idx):  # defensive: never leave a short video that looks complete
        _delete_quietly(project, video_id)
        raise ValueError(f"{path}: only {len(video)} of {len(idx)} frames could be stored; nothing was imported")
    try:
        video.mark_complete()  # the commit of the whole import
    except BaseException:
        _delete_quietly(project, video_id)
        raise
    return video


def warn_if_short_of_space(store_path, path, n_frames: int, height: int, width: int) -> None:
    """Warn before an import whose frames may not fit on the project's disk: they are stored losslessly, up to their
    raw size (``height * width * 3`` bytes a frame; smooth footage takes less), and a full disk stops the import
    with nothing kept."""
    import shutil

    need = n_frames * height * width * 3
    try:
        free = shutil.disk_usage(store_path).free
    except OSError:
        return
    if need <= free:
        return

    def size(n: int) -> str:
        return f"{n / 2**30:.1f} GiB" if n >= 2**30 / 10 else f"{n / 2**20:.1f} MiB"

    warn_user(
        f"{path}: {n_frames} frames of {width}x{height} need up to {size(need)} in the project (frames are "
        f"stored losslessly, up to their raw size) and its disk has {size(free)} free: the import may stop on "
        f"a full disk, keeping nothing; free some space, or add part of the video (--start/--stop/--step) or "
        f"smaller frames (--height)"
    )


def _file_number_runs(reader, idx: range, path) -> list[list[int]] | None:
    """For a folder of images whose file numbers differ from the stored frame numbers (files numbered from 1, as
    ``ffmpeg -i in.mp4 %06d.png`` writes them, gaps, or --start/--step): the file number of every stored frame as
    runs ``[first stored frame, its file number, frames, number step]``, stored as the video's
    ``source_file_numbers`` (:func:`dvos_core.io.masks.import_masks` uses it to place masks named like the frame
    files), and a warning that says how the files were numbered. None when they agree (or a name has no number)."""
    from dvos_core.io.readers import FolderReader, file_numbers

    if not isinstance(reader, FolderReader):
        return None
    numbers = file_numbers(reader.files)
    if numbers is None:
        return None
    picked = [numbers[i] for i in idx]
    if len(set(picked)) != len(picked):  # repeated numbers: no numbering, but perhaps two recordings in one folder
        _warn_if_several_sequences([reader.files[i] for i in idx], path)
        return None
    if picked == list(range(len(picked))):
        return None
    runs: list[list[int]] = []
    for t, num in enumerate(picked):
        if runs:
            t0, n0, count, d = runs[-1]
            if count == 1 and num != n0:
                runs[-1] = [t0, n0, 2, num - n0]
                continue
            if num == n0 + count * d:
                runs[-1][2] += 1
                continue
        runs.append([t, num, 1, 1])
    n = len(picked)
    first, last = reader.files[idx[0]].name, reader.files[idx[-1]].name
    gaps = " with gaps" if len(runs) > 1 else ""
    kept = len(runs) <= MAX_NUMBER_RUNS  # (names such as timestamps number nothing: not kept)
    warn_user(
        f"{path}: the image files are numbered {picked[0]}..{picked[-1]}{gaps}, but dvos numbers the stored frames "
        f"0..{n - 1} in name order (stored frame 0 is {first}, frame {n - 1} is {last}). Masks are matched to frames "
        f"by those stored numbers"
        + (
            "; masks named after these files go in with `dvos import-masks ... --numbering source`"
            if kept
            else "; number masks that way"
        ),
    )
    return runs if kept else None


def _warn_if_several_sequences(files, path) -> None:
    """Warn when the names of a folder's numbered files, their numbers left out, make more than one sequence
    (left_1.png, left_2.png, right_1.png, right_2.png): they are imported as one video, one sequence after another."""
    from dvos_core.io.readers import name_without_number

    prefixes: dict[str, int] = {}
    for f in files:
        key = name_without_number(Path(f).stem)
        prefixes[key] = prefixes.get(key, 0) + 1
    if len(prefixes) < 2:
        return
    shown = ", ".join(f"{k or '(no name)'}* ({n} files)" for k, n in list(prefixes.items())[:4])
    more = f" and {len(prefixes) - 4} more" if len(prefixes) > 4 else ""
    warn_user(
        f"{path}: the files seem to be {len(prefixes)} numbered sequences ({shown}{more}); they are imported as one "
        f"video, one after another in name order. If they are separate recordings, put each in its own folder and "
        f"add each folder as its own video"
    )


MAX_NUMBER_RUNS = 512  # file numbers kept as at most this many runs (regular numbering with a few gaps)


def _drop_interrupted_import(project, video_id: str) -> None:
    """Delete the leftover of a killed import of ``video_id`` (no masks yet); any other existing video is an error."""
    video = project.video(video_id)
    delete = f"`dvos delete {quote(project.path)} video {quote(video_id)} --yes`"
    if video.import_complete:
        raise ValueError(
            f"{project.path}: a video {video_id!r} already exists; pick another id (--id) or delete it ({delete})"
        )
    if "provenance" in video.group and video.provenance.any():
        raise ValueError(
            f"{project.path}: video {video_id!r} is an interrupted import ({len(video)} frames) that "
            f"already has masks; import under another id (--id) or delete it ({delete})"
        )
    project.delete_video(video_id)


def _delete_quietly(project, video_id: str) -> None:
    try:
        project.delete_video(video_id)
    except Exception:  # the original error matters more than a failed clean-up
        pass
