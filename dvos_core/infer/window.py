"""Sliding-window scheduling: which frames feed which prediction, batching, and bounded frame and feature caches.

The feature cache works with any model that offers two halves (the protocol :class:`dvos_core.infer.Predictor`
looks for):

* ``encode_frames(x)``: normalised frames (N, 3, H, W) -> a list of N per-frame features (any object, typically a
  tuple of tensors). It must be deterministic and see each frame alone, so a frame's features do not depend on the
  window it is used in.
* ``decode_windows(windows, stochastic=False, heads=("mask", ...))``: B windows, each a sequence of per-frame
  features (oldest first, ``tau`` of them, or one for a frame model) -> a dict of (B, C, H, W) outputs, at least
  ``"mask"`` logits; ``heads`` names the outputs wanted.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from dvos_core.runs import contiguous_runs


def window_sources(t: int, tau: int) -> list[int]:
    """Frames that feed the prediction of frame ``t``.

    ``tau == 0`` (a frame model): ``[t]``. Otherwise the DVOS window ``t-tau .. t-1`` (oldest first), clamped at 0:
    for ``t < tau`` the missing history is frame 0 repeated (frame 0 itself is predicted from ``tau`` copies of
    frame 0, the reference behaviour). Use an image model for the first ``tau`` frames to avoid the clamping.
    """
    if tau <= 0:
        return [int(t)]
    return [max(0, int(t) - tau + k) for k in range(tau)]


@dataclass(frozen=True)
class Batch:
    mode: str  # "video" (DVOS window) or "image" (frame model on frame t)
    targets: tuple

    def sources(self, tau: int) -> list[list[int]]:
        return [window_sources(t, 0 if self.mode == "image" else tau) for t in self.targets]


def plan_batches(targets: Iterable[int], tau: int, batch_size: int, image_first: bool) -> list[Batch]:
    """Group sorted targets into batches of at most ``batch_size`` that share one mode.

    With ``tau > 0`` and ``image_first``, targets ``t < tau`` go to the image model ("image" mode). A frame model
    (``tau == 0``) puts every target in "image" mode.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    batches: list[Batch] = []
    current: list[int] = []
    mode = None
    for t in sorted({int(t) for t in targets}):
        m = "image" if tau == 0 or (image_first and t < tau) else "video"
        if current and (m != mode or len(current) >= batch_size):
            batches.append(Batch(mode, tuple(current)))
            current = []
        current.append(t)
        mode = m
    if current:
        batches.append(Batch(mode, tuple(current)))
    return batches


class FrameCache:
    """Holds only the frames the current batch needs, reading missing ones in contiguous runs.

    ``reader(start, stop)`` returns frames [start, stop) as an (n, H, W, 3) array. For consecutive DVOS batches the
    cache holds at most ``tau + batch_size - 1`` frames, whatever the video length. ``max_resident`` (the most frames
    held at once) and ``frames_read`` (frames read in all) record what happened.
    """

    def __init__(self, reader: Callable[[int, int], np.ndarray]):
        self.reader = reader
        self.frames: dict[int, np.ndarray] = {}
        self.max_resident = 0
        self.frames_read = 0

    def fetch(self, needed: Iterable[int]) -> dict[int, np.ndarray]:
        needed = {int(i) for i in needed}
        for i in list(self.frames):
            if i not in needed:
                del self.frames[i]
        missing = [i for i in needed if i not in self.frames]
        for start, stop in contiguous_runs(missing):
            block = self.reader(start, stop)
            for k in range(stop - start):
                self.frames[start + k] = np.asarray(block[k])
            self.frames_read += stop - start
        self.max_resident = max(self.max_resident, len(self.frames))
        return self.frames

    def batch_input(self, batch: Batch, tau: int) -> np.ndarray:
        """The model input of a batch: (B, tau, H, W, 3) for video mode, (B, H, W, 3) for image mode."""
        srcs = batch.sources(tau)
        frames = self.fetch(i for s in srcs for i in s)
        if batch.mode == "image":
            return np.stack([frames[s[0]] for s in srcs])
        return np.stack([np.stack([frames[i] for i in s]) for s in srcs])


class FeatureCache:
    """Encoder features per key (e.g. (frame, tile, flip)), each computed once and held while a step needs it.

    ``get(keys, encode)`` first drops every held key that is not in ``keys``, then calls ``encode(missing)`` once
    for the keys it does not hold and returns the features of ``keys`` in order. Used with consecutive DVOS batches
    it holds at most ``tau + batch_size - 1`` frames' features (of one tile), whatever the video length, and while
    encoding the dropped frames' tensors too: on a CPU a new frame's features are copied into those (same shapes)
    and its own freed at once, so the long-lived feature maps keep their places in memory from step to step
    instead of landing in new gaps of the heap that the short-lived maps then no longer fit (each such miss grows
    the process; a few times per 48 frames of the paper model at 512^2, measured). Tensors that are views of a
    larger batch tensor are copied, so dropping a key frees its memory. What ``get`` returns is valid until the next
    call (a dropped key's tensors may then hold another frame). ``encoded`` counts the encodings and
    ``max_resident`` the largest number of keys held.
    """

    def __init__(self):
        self.items: dict = {}
        self.encoded = 0
        self.max_resident = 0
        self.zoomed: dict = {}  # zoom -> the cache of frames resized by it (see :meth:`at_zoom`)

    def at_zoom(self, zoom: float) -> FeatureCache:
        """This cache for frames at their own scale (``zoom`` 1), else a cache of its own for frames resized by
        ``zoom``: a step at two scales keeps each scale's features for the next step."""
        if zoom == 1:
            return self
        if zoom not in self.zoomed:
            self.zoomed[zoom] = FeatureCache()
        return self.zoomed[zoom]

    def get(self, keys: Sequence[Hashable], encode: Callable[[list], list]) -> list:
        keys = list(keys)
        needed = set(keys)
        spare = [self.items.pop(k) for k in [k for k in self.items if k not in needed]]
        missing = [k for k in dict.fromkeys(keys) if k not in self.items]
        if missing:
            feats = list(encode(missing))
            if len(feats) != len(missing):
                raise ValueError(f"encode_frames returned {len(feats)} features for {len(missing)} frames")
            for k, f in zip(missing, feats):
                self.items[k] = _reuse(spare, f)
            self.encoded += len(missing)
        self.max_resident = max(self.max_resident, len(self.items))
        return [self.items[k] for k in keys]


def _reuse(spare: list, features):
    """``features`` copied into the first of the ``spare`` feature sets laid out alike (CPU tensors, same shapes,
    dtypes and strides; taken from ``spare``), or in their own storage (:func:`_own_storage`) when none is."""
    layout = _layout(features)
    if layout is not None and all(d.type == "cpu" for d, *_ in layout):
        for i, old in enumerate(spare):
            if _layout(old) == layout:
                del spare[i]
                with torch.inference_mode():  # the features are inference tensors when the encoder made them so
                    for dst, src in zip(_as_tuple(old), _as_tuple(features)):
                        dst.copy_(src)
                return old
    return _own_storage(features)


def _as_tuple(features) -> tuple:
    """A feature set (one tensor, or a tuple or list of them) as a tuple."""
    return tuple(features) if isinstance(features, (tuple, list)) else (features,)


def _layout(features) -> list | None:
    """What two feature sets must share for one to be copied into the other: each tensor's place, type, shape and
    strides; None when the set holds anything but tensors (it is never copied into)."""
    tensors = _as_tuple(features)
    if not all(isinstance(t, torch.Tensor) for t in tensors):
        return None
    return [(t.device, t.dtype, t.shape, t.stride()) for t in tensors]


def _own_storage(features):
    """Copy tensors that are views into a bigger (batch) tensor, so each frame's features can be freed alone."""
    if isinstance(features, (tuple, list)):
        out = [_own_storage(f) for f in features]
        return tuple(out) if isinstance(features, tuple) else out
    storage = getattr(features, "untyped_storage", None)
    if storage is not None and storage().nbytes() > features.numel() * features.element_size():
        return features.clone()
    return features
