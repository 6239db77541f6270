"""A video file of a stored video with its masks drawn on it: outlines of the heads and each frame's head count.

For sharing results outside napari (a report, a slide, a colleague without dvos). The masks are a model's predictions
(default the most recent set) or the stored masks (painted, corrected, pseudo). The file is written beside its final
name and renamed into place when whole, so a stopped or failed export never leaves a truncated video under that name.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dvos_core.evaluate.metrics import head_parts
from dvos_core.io.image_files import opencv_name
from dvos_core.io.mask_source import frames_and_masks, masks_of, stored_masks
from dvos_core.io.output_paths import check_fps, check_output_file, partial_path
from dvos_core.progress import check, report
from dvos_core.threads import runs_with_threads

CODECS = {".mp4": "mp4v", ".avi": "MJPG"}  # what OpenCV's bundled FFmpeg writes everywhere
DEFAULT_FPS = 10.0  # when the video's source recorded no frame rate (TIFF stacks, frame folders)
OUTLINE_RGB = (255, 140, 0)  # orange: stands out on green and brown field
MIN_SIDE = 360  # smaller videos are enlarged (pixels repeated) to at least this short side, so text and outlines read
MAX_SIDE = 4096  # ... but never beyond this long side (what MPEG-4 Part 2 takes)


def draw_overlay(frame: np.ndarray, mask: np.ndarray | None, text: str, min_area: int = 16) -> np.ndarray:
    """``frame`` (H, W, 3) RGB uint8 with the outlines of the mask's heads (parts of at least ``min_area`` pixels
    outlined; smaller specks left out, as the evaluation's counts leave them out; ``min_area`` 1: every part, for a
    mask already reduced to its heads) and ``text`` in its top-left corner. A frame without a mask (None) gets only
    the text."""
    import cv2

    out = np.ascontiguousarray(frame[..., :3], dtype=np.uint8).copy()
    h, w = out.shape[:2]
    thick = max(1, round(min(h, w) / 400))  # text strokes
    if mask is not None:
        kept = np.asarray(mask) > 0 if min_area <= 1 else head_parts(mask, min_area)[0] > 0
        contours, _ = cv2.findContours(kept.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, OUTLINE_RGB, max(2, round(min(h, w) / 250)), lineType=cv2.LINE_AA)
    scale = max(0.45, min(h, w) / 700)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad = max(3, th // 3)
    x1, y1 = min(w, tw + 2 * pad), min(h, th + base + 2 * pad)
    out[:y1, :x1] = (out[:y1, :x1] * 0.4).astype(np.uint8)  # a dark band under the text
    cv2.putText(out, text, (pad, pad + th), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return out


@runs_with_threads(torch=False)
def write_overlay_video(
    project,
    video_id: str,
    path,
    which: str | None = None,
    model: str | None = None,
    fps: float | None = None,
    min_area: int = 16,
    progress=None,
    cancel=None,
    threads: int | None = None,
) -> dict:
    """Write video ``video_id`` as ``path`` (.mp4 or .avi) with its masks' outlines and each frame's head count
    (8-connected parts of at least ``min_area`` pixels, as ``dvos evaluate`` counts them).

    ``which='labels'``: the stored masks of any provenance; ``'predictions'``: ``model``'s predictions (default the
    most recent set); by default the predictions when a ``model`` is named, else the stored masks (as the command
    ``dvos export-video`` with and without ``--predictions --model``). Frames without a mask are
    written with "no mask". ``fps``: default the source video's frame rate (when the writers take it: 0.01-1000),
    else 10. ``path`` may not lie inside the project folder or be the file a video was imported from. Videos with a
    side under 360 px are enlarged by a whole factor (each pixel repeated; the long side at most 4096 px) so that
    the text and outlines can be read. Returns {"path", "frames", "with_masks", "fps", "masks", "size"} (size: the
    written frames' height and width). ``threads``: OpenCV threads for decoding, drawing and encoding (see
    :mod:`dvos_core.threads`).
    """
    import cv2

    from dvos_core.store import Project

    codec = CODECS.get(Path(path).suffix.lower())
    if codec is None:
        raise ValueError(f"{path}: name the video file .mp4 or .avi (those are what can be written here)")
    if int(min_area) < 1:
        raise ValueError(f"min_area must be at least 1 pixel, got {min_area}")
    rate = None if fps is None else check_fps(fps)
    which = masks_of(which, model)
    project = Project.of(project, mode="r")
    path = check_output_file(path, project)
    video = project.video(video_id)
    n = video.n_frames
    if n == 0:
        raise ValueError(f"{project.path}: video {video_id!r} has no frames to write")
    read, what = stored_masks(project, video, which, model)
    rate = rate or _stored_fps(video.attrs.get("fps"))
    _, h0, w0, _ = video.shape
    factor = max(1, min(-(-MIN_SIDE // min(h0, w0)), MAX_SIDE // max(h0, w0)))  # 1 from MIN_SIDE px
    h, w = h0 * factor, w0 * factor
    size = (w + w % 2, h + h % 2)  # codecs want even sides: a one-pixel edge is added where a side is odd
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PermissionError(f"{path.parent}: cannot create the output folder ({e.strerror or e})") from e
    partial = partial_path(path)
    writer = cv2.VideoWriter(opencv_name(partial), cv2.VideoWriter_fourcc(*codec), rate, size)
    if not writer.isOpened():
        partial.unlink(missing_ok=True)
        raise PermissionError(
            f"{path}: cannot write a {size[0]}x{size[1]} {path.suffix} video there (folder not writable, disk full, "
            f"or frames too large for the codec: try .avi)"
        )
    with_masks = 0
    try:
        for t, frame, mask in frames_and_masks(video, read):
            check(cancel)
            heads = None  # the mask reduced to its heads: counted and outlined from the same parts
            if mask is None:
                text = f"{video_id}  frame {t}  no mask"
            else:
                with_masks += 1
                labels, info = head_parts(mask, min_area)
                heads = labels > 0
                text = f"{video_id}  frame {t}  heads {len(info)}"
            if factor > 1:
                frame = np.repeat(np.repeat(frame, factor, 0), factor, 1)
                heads = None if heads is None else np.repeat(np.repeat(heads, factor, 0), factor, 1)
            img = draw_overlay(frame, heads, text, min_area=1)
            if size != (w, h):
                img = np.pad(img, ((0, size[1] - h), (0, size[0] - w), (0, 0)))
            writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
            report(progress, t + 1, n, f"{video_id}: writing the overlay video")
        writer.release()
        written = _frame_count(partial)
        if written != n:  # the writer fails silently (a full disk, a codec limit): check what the file holds
            raise PermissionError(f"{path}: the video could not be written whole ({written} of {n} frames; disk full?)")
        os.replace(partial, path)
    except BaseException:
        writer.release()
        partial.unlink(missing_ok=True)
        raise
    out = {"path": str(path), "frames": n, "with_masks": with_masks, "fps": rate, "masks": what}
    return {**out, "size": [size[1], size[0]]}


def _frame_count(path: Path) -> int:
    """Frames a written video file holds (0 when it cannot be read)."""
    import cv2

    if not path.exists() or path.stat().st_size == 0:
        return 0
    cap = cv2.VideoCapture(opencv_name(path))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    finally:
        cap.release()


def _stored_fps(fps) -> float:
    """The video's recorded frame rate where the writers take it (:func:`check_fps`), else :data:`DEFAULT_FPS`."""
    try:
        return check_fps(fps)
    except ValueError:
        return DEFAULT_FPS
