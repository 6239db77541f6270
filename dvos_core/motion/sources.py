"""Frame sources for motion measurement: arrays, stored sequences, video files or plain iterables, read lazily."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np


class _Source:
    """Random access (``get``, ``n``) when the source supports it, else a one-pass iterator (``n`` None)."""

    def __init__(self, frames):
        self.closer = None
        self.iterator = None
        if isinstance(frames, (str, Path)):
            from dvos_core.io.readers import open_video

            reader = open_video(Path(frames))
            self.closer = reader.close
            self.n, self.get = len(reader), reader.__getitem__
        elif hasattr(frames, "read_frames") and hasattr(frames, "n_frames"):  # a stored video / background clip
            self.n, self.get = int(frames.n_frames), frames.frame
        elif hasattr(frames, "shape") and hasattr(frames, "__getitem__"):
            if len(frames.shape) not in (3, 4):
                raise ValueError(f"frames must be (T, H, W, 3) or (T, H, W), got shape {tuple(frames.shape)}")
            self.n = int(frames.shape[0])
            self.get = lambda t: np.asarray(frames[t])
        else:
            self.n, self.get = None, None
            self.iterator = iter(frames)

    def close(self) -> None:
        if self.closer is not None:
            self.closer()


def _mask_getter(frames, masks, n):
    if masks is None:
        return None
    if isinstance(masks, str):
        if masks != "labels" or not hasattr(frames, "labelled_frames"):
            raise ValueError('masks="labels" needs a stored video (its labelled masks are ignored)')
        labelled = set(frames.labelled_frames().tolist())
        return lambda t: frames.read_masks(t, t + 1)[0] if t in labelled else None
    if hasattr(masks, "shape") and hasattr(masks, "__getitem__"):
        if n is not None and int(masks.shape[0]) != n:
            raise ValueError(f"masks has {masks.shape[0]} frames, the video {n}")
        return lambda t: np.asarray(masks[t])
    seq = list(masks)
    if n is not None and len(seq) != n:
        raise ValueError(f"masks has {len(seq)} frames, the video {n}")
    return lambda t: seq[t]


def pair_runs(n: int, max_pairs: int | None, run_length: int) -> list[tuple[int, int]]:
    """[start, stop) frame runs covering at most ``max_pairs`` consecutive pairs, evenly spread over n frames."""
    if n < 2:
        return [(0, n)] if n else []
    if max_pairs is None or max_pairs >= n - 1:
        return [(0, n)]
    if max_pairs < 1 or run_length < 1:
        raise ValueError(
            f"the frame pairs measured per video (--motion-pairs, max_pairs) and the run length must be >= 1, got "
            f"{max_pairs} and {run_length}"
        )
    run = min(run_length, max_pairs)
    k = max(1, -(-max_pairs // run))
    starts = np.linspace(0, n - 1 - run, k).round().astype(int)
    runs: list[tuple[int, int]] = []
    for s in starts:
        stop = min(n, int(s) + run + 1)
        if runs and int(s) < runs[-1][1]:  # overlapping runs merge
            runs[-1] = (runs[-1][0], max(runs[-1][1], stop))
        else:
            runs.append((int(s), stop))
    return runs


def frame_runs(frames, masks=None, max_pairs: int | None = None, run_length: int = 60) -> Iterator:
    """Yield ``(pairs_done, pairs_total, t, frame, mask, first_of_run)`` over the frames to measure."""
    src = _Source(frames)
    try:
        if src.n is None:
            if max_pairs is not None:
                raise ValueError("max_pairs needs frames with a known length (an array, stored video or file)")
            get_mask = None if masks is None else iter(masks)
            for t, f in enumerate(src.iterator):
                yield t, 0, t, f, None if get_mask is None else next(get_mask), t == 0
            return
        get_mask = _mask_getter(frames, masks, src.n)
        runs = pair_runs(src.n, max_pairs, run_length)
        total = sum(b - a - 1 for a, b in runs)
        done = 0
        for a, b in runs:
            for t in range(a, b):
                if t > a:
                    done += 1
                yield done, total, t, src.get(t), None if get_mask is None else get_mask(t), t == a
    finally:
        src.close()
