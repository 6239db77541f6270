"""Clip-level distortions of the paper's spatial group: one of elastic, grid distortion or emboss, with the same
parameters for every frame (and, for the warps, every mask) of a clip.

Frames float (F, 3, S, S) in [0, 1], masks float (F, 1, S, S) in {0, 1}; draws come from the generator passed in.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dvos_core.data.pixel_ops import rand_uniform

DISTORT_OPS = ("elastic", "grid", "emboss")


def _smooth(field: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian smoothing of an (N, 1, H, W) field (reflect padding)."""
    r = max(1, int(3 * sigma))
    k = torch.exp(-(torch.arange(-r, r + 1, dtype=field.dtype) ** 2) / (2 * sigma**2))
    k = k / k.sum()
    r = min(r, field.shape[-1] - 1, field.shape[-2] - 1)
    k = k[len(k) // 2 - r : len(k) // 2 + r + 1]
    k = k / k.sum()
    y = F.conv2d(F.pad(field, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(y, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))


def _warp(frames, masks, dx, dy):
    """Sample frames/masks at (x + dx, y + dy) pixels; dx, dy are (H, W) displacement fields."""
    n, _, h, w = frames.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=frames.dtype), torch.arange(w, dtype=frames.dtype), indexing="ij")
    gx = (xs + dx + 0.5) / w * 2 - 1
    gy = (ys + dy + 0.5) / h * 2 - 1
    grid = torch.stack([gx, gy], -1)[None].expand(n, h, w, 2)
    out_f = F.grid_sample(frames, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    out_m = F.grid_sample(masks, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return out_f, (out_m > 0.5).to(frames.dtype)


def elastic(frames, masks, g, alpha: float = 1.0, sigma: float = 20.0):
    """Random displacement field U(-1, 1), Gaussian-smoothed (sigma px), scaled by alpha px (the reference's
    Elastic(alpha 1, sigma 20))."""
    _, _, h, w = frames.shape
    noise = torch.rand(2, 1, h, w, generator=g, dtype=frames.dtype) * 2 - 1
    field = _smooth(noise, sigma) * alpha
    return _warp(frames, masks, field[0, 0], field[1, 0])


def _grid_axis(length: int, steps: int, limit: float, g, dtype) -> torch.Tensor:
    """Piecewise-linear remap of one axis: ``steps`` cells whose widths are scaled by 1 + U(-limit, limit)."""
    scales = torch.tensor([1 + rand_uniform(g, -limit, limit) for _ in range(steps)], dtype=dtype)
    edges = torch.cat([torch.zeros(1, dtype=dtype), torch.cumsum(scales, 0)])
    edges = edges / edges[-1] * (length - 1)
    uniform = torch.linspace(0, length - 1, steps + 1, dtype=dtype)
    pos = torch.arange(length, dtype=dtype)
    cell = torch.clamp(torch.searchsorted(uniform, pos, right=True) - 1, 0, steps - 1)
    t = (pos - uniform[cell]) / (uniform[cell + 1] - uniform[cell])
    return edges[cell] + t * (edges[cell + 1] - edges[cell]) - pos


def grid_distortion(frames, masks, g, steps: int = 5, limit: float = 0.3):
    """The reference's GridDistortion(5, 0.3): each grid cell of each axis stretched or squeezed."""
    _, _, h, w = frames.shape
    dx = _grid_axis(w, steps, limit, g, frames.dtype)[None, :].expand(h, w)
    dy = _grid_axis(h, steps, limit, g, frames.dtype)[:, None].expand(h, w)
    return _warp(frames, masks, dx, dy)


def emboss(frames, g):
    """Emboss (alpha 0.2-0.5, strength 0.2-0.7) blended over every frame; masks are unchanged."""
    alpha, strength = rand_uniform(g, 0.2, 0.5), rand_uniform(g, 0.2, 0.7)
    identity = torch.tensor([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=frames.dtype)
    relief = torch.tensor([[-1 - strength, -strength, 0], [-strength, 1, strength], [0, strength, 1 + strength]])
    k = (1 - alpha) * identity + alpha * relief.to(frames.dtype)
    n, c, h, w = frames.shape
    y = F.pad(frames.reshape(n * c, 1, h, w), (1, 1, 1, 1), mode="reflect")
    return F.conv2d(y, k.view(1, 1, 3, 3)).reshape(n, c, h, w).clamp(0, 1)


def distort(frames, masks, g, p: float):
    """With probability ``p``, one of elastic / grid distortion / emboss for the whole clip."""
    if p <= 0 or rand_uniform(g) >= p:
        return frames, masks
    op = DISTORT_OPS[int(torch.randint(len(DISTORT_OPS), (1,), generator=g))]
    if op == "elastic":
        return elastic(frames, masks, g)
    if op == "grid":
        return grid_distortion(frames, masks, g)
    return emboss(frames, g), masks
