"""A lazy, read-only (T, ...) array that napari slices one frame at a time.

napari only needs ``shape``, ``dtype``, ``ndim`` and ``__getitem__``; each displayed frame is fetched on demand
(with a small LRU cache so scrubbing back and forth does not re-decode), so a 1,000-frame 1024² video opens at once.

A slice of many frames is read whole, so napari's 3D view (which asks for every frame at once) of a long video would
need the whole video in memory (600 frames of 1080x1920 RGB: 3.7 GB): a request of more than :data:`MAX_READ_BYTES` is
refused with a :class:`TooLargeRead` that says to go back to 2D, before anything is read (napari slices the layers
bottom up and stops at the error, so the masks layers above the video are not read either). ``np.asarray(frames)``
(code that asks for the whole array on purpose) is not limited.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

MAX_READ_BYTES = 1 << 30  # the most one request for several frames may assemble (napari's 3D view asks for them all)


class TooLargeRead(ValueError):
    """A request for more frames at once than :data:`MAX_READ_BYTES` allows (napari's 3D view of a long video)."""


def nbytes(data) -> int:
    """Bytes of the whole of ``data`` (a numpy array, a :class:`LazyFrames`, anything with shape and dtype)."""
    return int(np.prod(data.shape, dtype=np.int64)) * np.dtype(data.dtype).itemsize


class LazyFrames:
    """``LazyFrames(get_frame, n_frames, frame_shape, dtype)``: frame t is ``get_frame(t)``.

    Use :meth:`from_zarr` for a store array whose first ``n`` entries are valid, or :meth:`from_reader` for a video
    reader (``len(reader)``, ``reader[t] -> (H,W,3)``). ``name`` (e.g. "video 'plot1'") is what a refused request
    names.
    """

    def __init__(
        self,
        get_frame: Callable[[int], np.ndarray],
        n_frames: int,
        frame_shape,
        dtype,
        cache_size: int = 16,
        name: str = "the video",
    ):
        self._get = get_frame
        self.shape = (int(n_frames),) + tuple(int(s) for s in frame_shape)
        self.dtype = np.dtype(dtype)
        self.name = name
        self._cache: OrderedDict = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @classmethod
    def from_zarr(cls, arr, n_frames: int | None = None, dtype=None, name: str = "the video") -> LazyFrames:
        n = arr.shape[0] if n_frames is None else n_frames
        dt = np.dtype(dtype or arr.dtype)
        get = (lambda t: arr[t]) if dt == arr.dtype else (lambda t: np.asarray(arr[t]).astype(dt))
        return cls(get, n, arr.shape[1:], dt, name=name)

    @classmethod
    def from_reader(cls, reader, name: str = "the video") -> LazyFrames:
        first = np.asarray(reader[0])
        return cls(lambda t: np.asarray(reader[t]), len(reader), first.shape, first.dtype, name=name)

    def __deepcopy__(self, memo) -> LazyFrames:
        """A copy that reads the same (read-only) source with a lock and cache of its own: napari's Duplicate Layer
        deep-copies a layer's data, and a lock cannot be copied (it raised "cannot pickle '_thread.lock' object")."""
        new = object.__new__(type(self))
        memo[id(self)] = new
        new.__dict__.update(self.__dict__)
        with self._lock:
            new._cache = OrderedDict(self._cache)  # (the cached frames are shared: nothing writes into them)
        new._lock = threading.Lock()
        return new

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
        return self._getitem(key, limit=True)

    def _check_size(self, n: int) -> None:
        """:class:`TooLargeRead` when ``n`` frames at once exceed :data:`MAX_READ_BYTES` (napari's 3D view)."""
        need = n * (nbytes(self) // max(1, self.shape[0]))
        if n > 1 and need > MAX_READ_BYTES:
            h, w = self.shape[1:3]
            raise TooLargeRead(
                f"napari asked for {n} frames of {self.name} at once ({n} x {h}x{w}: {need / 2**30:.1f} GiB of memory, "
                f"more than the {MAX_READ_BYTES / 2**30:g} GiB dvos reads in one go), as its 3D view does: nothing was "
                f"read. Switch the viewer back to 2D (the 2D/3D button under the layer list) and, if you set one, the "
                f"frame axis thickness back to 1; to see a video in 3D, add a shorter or smaller copy of it (`dvos "
                f"add-video --start/--stop/--step`, or --height)"
            )

    def _getitem(self, key, limit: bool):
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
        if limit:
            self._check_size(len(ts))
        out = np.empty((len(ts),) + self.shape[1:], self.dtype)
        for i, t in enumerate(ts):  # into the result at once: a list of frames to stack would hold them twice
            out[i] = self.frame(t)
        return out[(slice(None),) + rest] if rest else out

    def astype(self, dtype, copy: bool = True) -> np.ndarray:
        """Every frame as an array of ``dtype``: napari's Convert to Labels asks for it (an AttributeError inside
        napari before). Above :data:`MAX_READ_BYTES` it is refused, as a 3D view is, before a frame is read."""
        n = self.shape[0]
        need = n * (nbytes(self) // max(1, n))
        if need > MAX_READ_BYTES:
            raise TooLargeRead(
                f"converting {self.name} reads all its {n} frames at once ({need / 2**30:.1f} GiB of memory, more than "
                f"the {MAX_READ_BYTES / 2**30:g} GiB dvos reads in one go): nothing was read; convert a shorter or "
                f"smaller copy of it (`dvos add-video --start/--stop/--step`, or --height)"
            )
        return self._getitem(slice(None), limit=False).astype(dtype, copy=False)

    def __array__(self, dtype=None, copy=None):
        a = self._getitem(slice(None), limit=False)  # asked for on purpose: the caller wants the whole array
        return a.astype(dtype) if dtype is not None else a
