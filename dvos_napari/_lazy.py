"""A lazy, read-only (T, ...) array that napari slices one frame at a time.

napari only needs ``shape``, ``dtype``, ``ndim`` and ``__getitem__``; each displayed frame is fetched on demand
(with a small LRU cache so scrubbing back and forth does not re-decode), so a 1,000-frame 1024² video opens at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np


class LazyFrames:
    """``LazyFrames(get_frame, n_frames, frame_shape, dtype)``: frame t is ``get_frame(t)``.

    Use :meth:`from_zarr` for a store array whose first ``n`` entries are valid, or :meth:`from_reader` for a video
    reader (``len(reader)``, ``reader[t] -> (H,W,3)``).
    """

    def __init__(self, get_frame: Callable[[int], np.ndarray], n_frames: int, frame_shape, dtype, cache_size: int = 16):
        self._get = get_frame
        self.shape = (int(n_frames),) + tuple(int(s) for s in frame_shape)
        self.dtype = np.dtype(dtype)
        self._cache: OrderedDict = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @classmethod
    def from_zarr(cls, arr, n_frames: int | None = None, dtype=None) -> LazyFrames:
        n = arr.shape[0] if n_frames is None else n_frames
        dt = np.dtype(dtype or arr.dtype)
        get = (lambda t: arr[t]) if dt == arr.dtype else (lambda t: np.asarray(arr[t]).astype(dt))
        return cls(get, n, arr.shape[1:], dt)

    @classmethod
    def from_reader(cls, reader) -> LazyFrames:
        first = np.asarray(reader[0])
        return cls(lambda t: np.asarray(reader[t]), len(reader), first.shape, first.dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"LazyFrames(shape={self.shape}, dtype={self.dtype})"

    def frame(self, t: int) -> np.ndarray:
        n = self.shape[0]
        t = int(t)
        if t < 0:
            t += n
        if not 0 <= t < n:
            raise IndexError(f"frame {t} out of range for {n} frames")
        with self._lock:
            if t in self._cache:
                self._cache.move_to_end(t)
                return self._cache[t]
            f = np.asarray(self._get(t))
            self._cache[t] = f
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return f

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        if any(k is Ellipsis for k in key):
            i = next(i for i, k in enumerate(key) if k is Ellipsis)
            fill = (slice(None),) * (self.ndim - len(key) + 1)
            key = key[:i] + fill + key[i + 1 :]
        k0, rest = (key[0] if key else slice(None)), key[1:]
        if isinstance(k0, (int, np.integer)):
            f = self.frame(k0)
            return f[rest] if rest else f
        if isinstance(k0, slice):
            ts = range(*k0.indices(self.shape[0]))
        else:
            ts = np.asarray(k0).ravel().tolist()
        if len(ts) == 0:
            out = np.zeros((0,) + self.shape[1:], self.dtype)
        else:
            out = np.stack([self.frame(t) for t in ts])
        return out[(slice(None),) + rest] if rest else out

    def __array__(self, dtype=None, copy=None):
        a = self[:]
        return a.astype(dtype) if dtype is not None else a
