"""Which frames are worse than their neighbours: a per-frame weight for smoothing only the frames that need it.

A gust, a cloud or a gain jump can spoil one frame between good ones. Such a frame agrees with its neighbours
(aligned onto it by the camera motion) much less than the neighbours agree with one another; a frame of footage
whose heads simply sway a lot does not stand out that way, because its neighbours differ from each other as much.
The agreement is the normalised cross-correlation of band-passed grey images (fine detail, which blur, noise and
occluders spoil and exposure does not change) over the pixels both cover. The current frame's score is the median
of its agreements with its neighbours, each neighbour's the median of its agreements with the other neighbours (the
current frame left out, so that it does not pull them down with it); its *outlier weight* is 0 while its score is at
least ``high`` times the median of the neighbours' scores, 1 at ``low`` times or less, linear in between. Needs at
least two neighbours (0 otherwise: nothing to compare the neighbours with).

Frames larger than ``SIDE`` are shrunk for that comparison, which averages per-pixel sensor noise away (a 720p frame
hit by noise of 8-30 grey levels kept weight 0), and at ``SIDE`` and below the band's own blur does the same (a 128 px
frame hit by noise of 30 grey levels kept weight 0). Every frame's *fine detail* is therefore measured too: the
mean absolute diagonal difference of 2x2 pixel blocks (what noise raises, blur lowers) over the shrunk band's
spread (so that an exposure change cancels). A frame whose fine detail is ``NOISE_LOW`` times the median of its
neighbours' or less keeps the weight above, ``NOISE_HIGH`` times or more gets weight 1, linear in between; the larger
of the two weights counts. Measured (``benchmarks/outlier_gate_bench.py``): good frames of real and enlarged
footage at most 1.6 times their neighbours', frames with noise of 8 grey levels 3.4-29 times.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from dvos_core.motion import valid_region, warp_to
from dvos_core.motion.transforms import ncc, rescale

SIDE = 256  # the agreement is measured on frames at most this large
BAND = (1.0, 3.0)  # difference of Gaussians (sigmas in px at that size): the detail that blur and noise spoil
LOW, HIGH = 0.6, 0.9  # score ratios at which the weight is 1 and 0 (measured in docs/benchmarks.md)
NOISE_LOW, NOISE_HIGH = 2.0, 4.0  # fine-detail ratios at which the noise weight is 0 and 1 (frames over SIDE px)


def _scale(shape) -> float:
    return max(1.0, max(shape[:2]) / SIDE)


def _grey(frame: np.ndarray) -> np.ndarray:
    g = frame if frame.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    return g.astype(np.float32)


def _band(grey: np.ndarray) -> np.ndarray:
    f = _scale(grey.shape)
    if f > 1:
        grey = cv2.resize(grey, (round(grey.shape[1] / f), round(grey.shape[0] / f)), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(grey, (0, 0), BAND[0]) - cv2.GaussianBlur(grey, (0, 0), BAND[1])


def band_image(frame: np.ndarray) -> np.ndarray:
    """The band-passed grey image (float32, at most SIDE px) a frame's agreement is measured on."""
    return _band(_grey(frame))


def fine_detail(grey: np.ndarray) -> float:
    """Mean absolute diagonal difference of the 2x2 pixel blocks of a grey image (float32, full resolution): the
    finest detail, which per-pixel noise raises and blur lowers."""
    g = grey[: grey.shape[0] // 2 * 2, : grey.shape[1] // 2 * 2]
    return float(np.abs(g[0::2, 0::2] - g[0::2, 1::2] - g[1::2, 0::2] + g[1::2, 1::2]).mean() / 2)


@dataclass(frozen=True)
class FrameLook:
    """What the outlier weight compares of one frame: its :func:`band_image` and its full-resolution
    :func:`fine_detail` over the band's spread (``detail``, every frame: at 256 px and below the band's blur averages
    per-pixel noise away too). ``fine`` is that detail for a frame larger than ``SIDE`` px only (None for smaller
    frames), as the trainer's matched degradation share reads it (``dvos_core.data.degradation_match``)."""

    band: np.ndarray
    detail: float | None
    large: bool = True

    @property
    def fine(self) -> float | None:
        return self.detail if self.large else None


def frame_look(frame: np.ndarray) -> FrameLook:
    """The :class:`FrameLook` of an (H, W, 3) or (H, W) frame."""
    grey = _grey(frame)
    band = _band(grey)
    return FrameLook(band, fine_detail(grey) / (float(band.std()) + 1.0), _scale(grey.shape) > 1)


def _noise_weight(current: FrameLook, neighbours: Sequence[FrameLook]) -> float:
    """Weight in [0, 1] for fine detail that jumped above the neighbours' (0 where it cannot be measured)."""
    details = [n.detail for n in neighbours]
    if current.detail is None or any(d is None for d in details):
        return 0.0
    ratio = current.detail / max(float(np.median(details)), 1e-3)
    return float(np.clip((ratio - NOISE_LOW) / (NOISE_HIGH - NOISE_LOW), 0.0, 1.0))


def _ncc(a: np.ndarray, b: np.ndarray, both: np.ndarray) -> float:
    return ncc(a[both], b[both]) if both.sum() >= 16 else float("nan")


def outlier_weight(
    current: FrameLook,
    neighbours: Sequence[FrameLook],
    matrices: Sequence,
    shape,
    low: float = LOW,
    high: float = HIGH,
) -> float:
    """Outlier weight in [0, 1] of the current frame. ``current``, ``neighbours``: their :func:`frame_look`;
    ``matrices``: each neighbour -> the current frame, in the full frames' coordinates (``shape``: the full frame)."""
    if not 0.0 <= low < high:
        raise ValueError(f"the outlier weight needs 0 <= low < high, got low={low}, high={high}")
    if len(neighbours) < 2:
        return 0.0
    return max(
        _agreement_weight(current.band, [n.band for n in neighbours], matrices, shape, low, high),
        _noise_weight(current, neighbours),
    )


def _agreement_weight(current, neighbours, matrices, shape, low: float, high: float) -> float:
    """The weight from the band images' agreement (the module's first measure)."""
    f = _scale(shape)
    small = current.shape
    images, covers = [], []
    for image, m in zip(neighbours, matrices):
        m = rescale(m, f) if f > 1 else np.asarray(m, np.float64)[:2]
        images.append(warp_to(image, m, small, nearest=False))
        covers.append(valid_region(m, image.shape, small))
    images.append(current)
    covers.append(np.ones(small, bool))
    k = len(images)
    pair = np.full((k, k), np.nan)
    for i in range(k):
        for j in range(i + 1, k):
            pair[i, j] = pair[j, i] = _ncc(images[i], images[j], covers[i] & covers[j])
    with warnings.catch_warnings():  # a frame whose every pair lacks overlap has no score
        warnings.simplefilter("ignore", RuntimeWarning)
        own = np.nanmedian(pair[-1, :-1])
        among = pair[:-1, :-1]  # the neighbours judged among themselves, so a bad current frame does not lower them
        others = np.nanmedian(np.where(np.eye(k - 1, dtype=bool), np.nan, among), axis=1)
    others = others[np.isfinite(others)]
    if not np.isfinite(own) or not len(others):
        return 0.0
    ratio = own / max(float(np.median(others)), 1e-3)
    return float(np.clip((high - ratio) / (high - low), 0.0, 1.0))
