"""Compositing: object sprites (premultiplied float RGBA crops) warped straight from crop to output pixels.

Each object is warped once per frame with one affine matrix (object pose composed with the camera), on its own
small bounding box, then laid over the float canvas with the premultiplied "over" operator. The canvas carries a
fourth channel composited the same way: the share of each pixel's colour that does not come from real heads (bare
field and fakes). The mask is "real heads make at least half of the colour" (that share <= 0.5), so it follows
exactly what is rendered, soft edges and occlusion included; with hard edges the share is exactly 0 or 1. On
request a label map also records the topmost object whose warped alpha is >= 0.5 (per-head counts, inspection).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from dvos_core.object_format import HALO_ALPHA_MAX, OBJECT_ALPHA_MIN

# Zero border around each crop so that warps sample transparent pixels outside the object (never a cut edge).
_BASE_PAD = 2


@dataclass
class Sprite:
    """One pasted object prepared for warping: premultiplied RGBA float32 (h, w, 4) with alpha in [0, 1]; an object
    cut with a halo also carries the halo as its own premultiplied RGBA (``ring``), see :func:`make_sprite`."""

    rgba: np.ndarray
    centre: tuple  # crop centre (x, y) in padded crop pixels: the object's pivot
    radius: float  # half diagonal of the original (unpadded) crop
    real: bool
    fields: np.ndarray | None = None  # elastic displacement fields (K, h, w, 2) float32, or None
    grid: np.ndarray | None = None  # crop pixel coordinates (h, w, 2) xy float32 (with fields only)
    ring: np.ndarray | None = None  # the crop's halo: premultiplied RGBA (h, w, 4) float32, field laid under it


def as_rgba(obj, where: str) -> np.ndarray:
    """Accept an RGBA crop or an (rgba, record) pair from ``ObjectBank.load``; validate it."""
    rgba = obj[0] if isinstance(obj, tuple) else obj
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8 or min(rgba.shape[:2]) < 1:
        raise ValueError(
            f"{where}: objects must be (h, w, 4) uint8 RGBA crops (as returned by "
            f"project.objects.load('head')), got shape {rgba.shape} dtype {rgba.dtype}"
        )
    if not (rgba[..., 3] >= OBJECT_ALPHA_MIN).any():
        raise ValueError(
            f"{where}: an object crop has no pixel with alpha >= {OBJECT_ALPHA_MIN} (nothing to paste: objects "
            f"are the pixels with alpha >= {OBJECT_ALPHA_MIN}); re-run the object extraction"
        )
    return rgba


def make_sprite(
    rgba: np.ndarray,
    real: bool,
    gain: np.ndarray,
    feather: float,
    rng: np.random.Generator,
    elastic_px: float,
    wavelength: float,
    n_elastic: int = 2,
) -> Sprite:
    """Pad, colour-adjust (``gain``: per-channel factors), feather and premultiply one crop; draw its elastic fields.

    With ``feather > 0`` the alpha is Gaussian-softened (sigma = feather px); the 0.5 level of a blurred edge stays
    where the binary edge was, so the mask outline does not move. The soft rim outside the object takes the colour
    of the object pixels nearby (normalised blur), never the crop's transparent RGB (zero): no dark halo. With
    ``feather == 0`` alpha stays binary. A crop's halo ring (alpha 1..127, see ``extract.components.rgba_crop``)
    becomes ``ring``, the premultiplied colour and opacity of the field around the object, which :func:`composite`
    lays under the object and over field only: never over a head pasted before, and never counted as head.
    """
    pad = _BASE_PAD + int(math.ceil(elastic_px + 3 * feather))
    crop = cv2.copyMakeBorder(rgba, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0, 0))
    a = crop[..., 3]
    inside = (a >= OBJECT_ALPHA_MIN).astype(np.float32)
    halo = np.where(a < OBJECT_ALPHA_MIN, a.astype(np.float32) / HALO_ALPHA_MAX, 0.0).astype(np.float32)
    rgb = crop[..., :3].astype(np.float32) * np.asarray(gain, np.float32)
    np.clip(rgb, 0, 255, out=rgb)
    out = np.empty(crop.shape[:2] + (4,), np.float32)
    if feather > 0:
        alpha = cv2.GaussianBlur(inside, (0, 0), sigmaX=feather, borderType=cv2.BORDER_CONSTANT)
        # outside: blur(rgb * inside) = alpha * (mean nearby object colour), i.e. the premultiplied bleed colour
        rim = cv2.GaussianBlur(rgb * inside[..., None], (0, 0), sigmaX=feather, borderType=cv2.BORDER_CONSTANT)
        out[..., :3] = np.where(inside[..., None] > 0, rgb * alpha[..., None], rim)
    else:
        alpha = inside
        out[..., :3] = rgb * alpha[..., None]
    out[..., 3] = alpha
    ring = None
    if halo.any():
        ring = np.empty_like(out)
        ring[..., :3] = rgb * halo[..., None]
        ring[..., 3] = halo
    h, w = alpha.shape
    h0, w0 = rgba.shape[:2]
    fields = grid = None
    if elastic_px > 0:
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        fields = np.empty((n_elastic, h, w, 2), np.float32)
        for k in range(n_elastic):
            theta, direction, phase = rng.uniform(0, 2 * np.pi, 3)
            # phase measured from the crop centre: the field does not depend on the padding
            u, v = x - (w - 1) / 2, y - (h - 1) / 2
            wave = np.sin(2 * np.pi * (np.cos(theta) * u + np.sin(theta) * v) / wavelength + phase)
            fields[k, ..., 0] = np.cos(direction) * wave
            fields[k, ..., 1] = np.sin(direction) * wave
        grid = np.stack([x, y], -1)
    return Sprite(out, ((w - 1) / 2, (h - 1) / 2), math.hypot(h0, w0) / 2, bool(real), fields, grid, ring)


def warp_sprite(sprite: Sprite, matrix: np.ndarray, box, elastic: np.ndarray | None, hard: bool):
    """Warp a sprite (crop -> output ``matrix``, 2x3) onto the output box (x0, y0, x1, y1): the (bh, bw, 4) float32
    patch and, for an object with a halo, its warped ``ring`` (bh, bw, 4) (else None).

    Elastic motion adds ``sum_k elastic[k] * fields[k]`` to the crop coordinates sampled at each output pixel; the
    coordinate map is itself warped with the affine (exact for the linear part), so colours are interpolated once.
    """
    x0, y0, x1, y1 = box
    m = matrix.copy()
    m[0, 2] -= x0
    m[1, 2] -= y0
    size = (x1 - x0, y1 - y0)
    interp = cv2.INTER_NEAREST if hard else cv2.INTER_LINEAR
    planes = (sprite.rgba,) if sprite.ring is None else (sprite.rgba, sprite.ring)
    if sprite.fields is None or elastic is None or not np.any(elastic):
        out = [cv2.warpAffine(p, m, size, flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0) for p in planes]
    else:
        coords = sprite.grid
        for k, c in enumerate(elastic):
            coords = cv2.scaleAdd(sprite.fields[k], float(c), coords)
        cmap = cv2.warpAffine(coords, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out = [cv2.remap(p, cmap, None, interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0) for p in planes]
    return out[0], (out[1] if len(out) > 1 else None)


def composite(
    canvas: np.ndarray,
    patch: np.ndarray,
    box,
    real: bool,
    labels: np.ndarray | None = None,
    label: int = 0,
    ring: np.ndarray | None = None,
) -> None:
    """Lay a warped premultiplied patch over ``canvas`` (H,W,4 float32: premultiplied colour, then the share of the
    colour that does NOT come from real heads, 1 on the bare field). With ``labels`` (H,W integer map of the topmost
    object, 0 = background), claim the pixels where the object itself has alpha >= 0.5 for ``label``.

    ``ring`` (bh,bw,4; the object's warped halo, see :func:`make_sprite`) goes first, under the object and only
    where the canvas is field: it replaces bare field (and fakes), never a head pasted before, and it is field
    itself, so it claims no label and adds no head. ``patch`` (bh,bw,4) is consumed: for a real head its alpha
    channel is zeroed (it adds no non-head share).
    """
    x0, y0, x1, y1 = box
    roi = canvas[y0:y1, x0:x1]
    # cv2 on contiguous operands is ~10x faster than numpy on the strided channel views (same float32 results)
    if ring is not None:
        # where the canvas is field: 1 on bare field (and fakes), 0 where a head gives 10 % of the colour or more,
        # so the halo never turns a head pixel into field, not even on a head's soft edge
        field = np.clip(10.0 * cv2.extractChannel(roi, 3) - 9.0, 0.0, 1.0)
        cv2.multiply(ring, cv2.merge((field, field, field, field)), dst=ring)  # the halo where it shows
        keep = 1.0 - cv2.extractChannel(ring, 3)
        cv2.multiply(roi, cv2.merge((keep, keep, keep, keep)), dst=roi)
        cv2.add(roi, ring, dst=roi)  # the share channel only grows, and only where the canvas is field
    alpha = cv2.extractChannel(patch, 3)
    inv = 1.0 - alpha
    cv2.multiply(roi, cv2.merge((inv, inv, inv, inv)), dst=roi)
    if real:
        patch[..., 3] = 0.0
    cv2.add(roi, patch, dst=roi)
    if labels is not None:
        np.putmask(labels[y0:y1, x0:x1], alpha >= 0.5, label)


def boxes(matrices: np.ndarray, sizes: np.ndarray, height: int, width: int):
    """Output bounding boxes of warped crops.

    matrices: (T, N, 2, 3) crop -> output; sizes: (N, 2) crop (w, h). Returns int boxes (T, N, 4) as x0, y0, x1, y1
    clipped to the frame, and a (T, N) bool "touches the frame" array.
    """
    w, h = sizes[:, 0].astype(np.float64), sizes[:, 1].astype(np.float64)
    zeros = np.zeros_like(w)
    corners = np.stack(
        [
            np.stack([zeros, zeros], -1),
            np.stack([w - 1, zeros], -1),
            np.stack([zeros, h - 1], -1),
            np.stack([w - 1, h - 1], -1),
        ],
        axis=1,
    )  # (N, 4, 2)
    pts = np.einsum("tnij,nkj->tnki", matrices[..., :2], corners) + matrices[:, :, None, :, 2]
    lo = np.floor(pts.min(axis=2)).astype(np.int64) - 1
    hi = np.ceil(pts.max(axis=2)).astype(np.int64) + 2
    x0 = np.clip(lo[..., 0], 0, width)
    y0 = np.clip(lo[..., 1], 0, height)
    x1 = np.clip(hi[..., 0], 0, width)
    y1 = np.clip(hi[..., 1], 0, height)
    visible = (x1 > x0) & (y1 > y0)
    return np.stack([x0, y0, x1, y1], -1), visible
