"""The scales a model segments a frame at, and averaging its probabilities over them.

Training crops 256-768 source pixels and resizes them to the training size (128 px on a CPU, 256 on a GPU), and
validation (which picks the checkpoint) centre-crops ``eval_crop`` (512) pixels to that size; so on frames larger
than the training size the model learns heads shrunk 2-6 times against what it sees when it segments a frame at
its own resolution. The paper's code predicts at its validation scale (a 512 px crop resized to 256); dvos keeps
each frame's own resolution (fine edges, whole frames tiled) and, where the two scales are far apart, averages it
with the trained scale (the frame shrunk by ``training size / min(eval_crop, frame side)``, its probabilities
enlarged back). Measured in docs/benchmarks.md ("Two scales").
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from dvos_core.prediction_options import AUTO_MAX_ZOOM, check_scales

SAME_SCALE = 0.98  # a trained scale this close to 1 is the frame's own


@dataclass(frozen=True)
class Scales:
    """``choice`` (:data:`dvos_core.prediction_options.SCALES`) for a model trained at ``size`` px from crops of
    ``eval_crop`` px (``size`` None: unknown, every frame at its own scale)."""

    choice: str = "auto"
    size: int | None = None
    eval_crop: int = 512  # AugmentConfig.eval_crop's default

    def __post_init__(self):
        check_scales(self.choice)

    @classmethod
    def from_info(cls, info: dict | None, choice: str = "auto") -> Scales:
        """From a checkpoint's ``info``: its training config's ``size`` and ``augment.eval_crop`` (else its model's
        ``input_size`` and the default crop)."""
        info = info or {}
        train = info.get("train_config") or {}
        size = train.get("size") or info.get("input_size")
        if isinstance(size, (tuple, list)):
            size = max(size)
        from dvos_core.data.augment import AugmentConfig  # a checkpoint records only the settings that differ

        crop = (train.get("augment") or {}).get("eval_crop") or AugmentConfig().eval_crop
        return cls(choice, int(size) if size else None, int(crop))

    def trained_zoom(self, height: int, width: int) -> float:
        """The factor (<= 1) that brings a height x width frame to the scale the model was validated at."""
        if not self.size:
            return 1.0
        return min(1.0, self.size / min(self.eval_crop, height, width))

    def zooms(self, height: int, width: int) -> tuple[float, ...]:
        """The factors a height x width frame is segmented at (1.0 = its own resolution), averaged in this order."""
        z = self.trained_zoom(height, width)
        if z >= SAME_SCALE or self.choice == "own":
            return (1.0,)
        if self.choice == "trained":
            return (z,)
        if self.choice == "both" or z <= AUTO_MAX_ZOOM:
            return (1.0, z)
        return (1.0,)


def zoomed_shape(height: int, width: int, zoom: float) -> tuple[int, int]:
    """(height, width) of a frame resized by ``zoom`` (at least 1 px each)."""
    return max(1, round(height * zoom)), max(1, round(width * zoom))


def shrink(images: np.ndarray, zoom: float, frames: bool = True) -> np.ndarray:
    """Images resized by ``zoom`` with area averaging: ``frames`` (..., H, W, 3), else maps (..., H, W)."""
    a = np.asarray(images)
    h, w = a.shape[-3:-1] if frames else a.shape[-2:]
    nh, nw = zoomed_shape(h, w, zoom)
    lead = a.shape[:-3] if frames else a.shape[:-2]
    flat = a.reshape((-1, h, w, 3) if frames else (-1, h, w))
    if not len(flat):
        return np.zeros((*lead, nh, nw, 3) if frames else (*lead, nh, nw), a.dtype)
    out = np.stack([cv2.resize(np.ascontiguousarray(x), (nw, nh), interpolation=cv2.INTER_AREA) for x in flat])
    return out.reshape((*lead, nh, nw, 3) if frames else (*lead, nh, nw))


def enlarge(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    """(..., h, w) float maps resized (bilinear) to (..., height, width)."""
    a = np.asarray(maps, np.float32)
    if a.shape[-2:] == (height, width):
        return a
    flat = a.reshape(-1, *a.shape[-2:])
    out = np.stack([cv2.resize(x, (width, height), interpolation=cv2.INTER_LINEAR) for x in flat])
    return out.reshape(*a.shape[:-2], height, width)


def averaged(zooms: tuple[float, ...], height: int, width: int, run) -> np.ndarray:
    """The mean over ``zooms`` of ``run(zoom)`` (maps (..., h, w) at that zoom), each brought to height x width."""
    total = None
    for z in zooms:
        p = enlarge(run(z), height, width)
        total = p if total is None else total + p
    return total / len(zooms) if len(zooms) > 1 else total


def reporters_by_scale(on_tile, zooms, height: int, width: int, tiles_of) -> dict:
    """{zoom: the ``on_tile`` of that scale} for a height x width frame segmented at ``zooms``, the tiles of every
    scale counted as one run (:func:`~dvos_core.infer.tiling.per_scale`); ``tiles_of(h, w)``: the number of tiles
    of an h x w frame."""
    from dvos_core.infer.tiling import per_scale

    counts = [tiles_of(*((height, width) if z == 1 else zoomed_shape(height, width, z))) for z in zooms]
    return dict(zip(zooms, per_scale(on_tile, counts)))
