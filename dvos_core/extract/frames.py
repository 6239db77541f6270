"""Choosing which frames of a video to use."""

from __future__ import annotations

import numpy as np


def sample_frames(
    n_frames: int, n: int | None = None, interval: int | None = None, seed: int | None = None
) -> np.ndarray:
    """Sorted frame indices out of ``n_frames``.

    ``interval=k``: every k-th frame (0, k, 2k, ...). ``n``: n frames, evenly spread (the first and the last frame
    included when n > 1) when ``seed`` is None, else drawn at random without replacement (reproducible for a given
    seed). Neither: all frames. Not both.
    """
    n_frames = int(n_frames)
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    if n is not None and interval is not None:
        raise ValueError("give either n (how many frames) or interval (every k-th frame), not both")
    if interval is not None:
        if int(interval) < 1:
            raise ValueError(f"interval must be >= 1, got {interval}")
        return np.arange(0, n_frames, int(interval), dtype=np.int64)
    if n is None:
        return np.arange(n_frames, dtype=np.int64)
    n = int(n)
    if not 0 <= n <= n_frames:
        raise ValueError(f"cannot sample {n} frames from a video of {n_frames} frames")
    if seed is None:
        if n == 0:
            return np.zeros(0, np.int64)
        return np.unique(np.round(np.linspace(0, n_frames - 1, n)).astype(np.int64))
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_frames, size=n, replace=False)).astype(np.int64)
