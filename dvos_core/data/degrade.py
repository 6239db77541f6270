"""Frame degradations that one frame cannot see through: motion blur, sensor noise, exposure change, occluders.

The context-aware video model trains on queries degraded this way (and, less often, references), with the clean
query's mask as the target, so it has to take from its aligned earlier frames what the query lacks. Every draw
comes from the ``torch.Generator`` passed in (a sample's degradation depends only on its seed). Frames are float
(3, H, W) in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from dvos_core.config_io import check_shares, coerce_fields
from dvos_core.data.pixel_ops import convolve, motion_kernel, rand_uniform


@dataclass
class DegradeConfig:
    """Probabilities and strengths of each degradation (each applied independently when a frame is degraded)."""

    blur_p: float = 0.5
    blur_px: tuple = (3, 15)  # motion-blur streak length in px
    noise_p: float = 0.4
    noise_sigma: tuple = (0.02, 0.12)  # Gaussian noise std (0..1 scale)
    exposure_p: float = 0.4
    exposure_gain: tuple = (0.45, 1.7)
    occlude_p: float = 0.4
    occlude_share: tuple = (0.05, 0.3)  # share of the frame covered by occluders
    # a degraded frame hit by blur, exposure and noise all at once (a gust in poor light: a long exposure at a high
    # gain), so badly that only its neighbours show its heads
    compound_p: float = 0.0

    def __post_init__(self):
        coerce_fields(self)  # types and finite numbers (dvos_core.config_io)
        check_shares(self, "augment.context.degrade")

    def to_dict(self) -> dict:
        return asdict(self)


def motion_blur(x, g, length: tuple = (3, 15)):
    """A straight streak of a random length and direction (wind, hand shake)."""
    k = int(round(rand_uniform(g, length[0], length[1])))
    k = max(3, k + (k + 1) % 2)  # odd
    return convolve(x, motion_kernel(k, rand_uniform(g, 0, math.pi)))


def noise(x, g, sigma: tuple = (0.02, 0.12)):
    s = rand_uniform(g, *sigma)
    return (x + s * torch.randn(x.shape, generator=g, dtype=x.dtype)).clamp(0, 1)


def exposure(x, g, gain: tuple = (0.45, 1.7)):
    """A global gain with a mild gamma and colour cast (auto-exposure and white-balance jumps)."""
    a = rand_uniform(g, *gain)
    gamma = rand_uniform(g, 0.8, 1.25)
    cast = 1 + 0.08 * (torch.rand(3, 1, 1, generator=g, dtype=x.dtype) * 2 - 1)
    return (x.clamp(1e-6, 1).pow(gamma) * a * cast).clamp(0, 1)


def _blob(h, w, g, dtype):
    """A soft elongated ellipse (a leaf or a stem) at a random place and angle: (H, W) alpha in [0, 1]."""
    ys, xs = torch.meshgrid(torch.arange(h, dtype=dtype), torch.arange(w, dtype=dtype), indexing="ij")
    cy, cx = rand_uniform(g, 0, h), rand_uniform(g, 0, w)
    length = rand_uniform(g, 0.15, 0.6) * max(h, w)
    width = rand_uniform(g, 0.03, 0.15) * min(h, w)
    ang = rand_uniform(g, 0, math.pi)
    u = (xs - cx) * math.cos(ang) + (ys - cy) * math.sin(ang)
    v = -(xs - cx) * math.sin(ang) + (ys - cy) * math.cos(ang)
    r = (u / (length / 2)) ** 2 + (v / (width / 2)) ** 2
    return torch.sigmoid((1 - r) * 6)


def occluder(x, g, share: tuple = (0.05, 0.3)) -> tuple[torch.Tensor, torch.Tensor]:
    """Leaf-like occluders until about ``share`` of the frame is covered: their alpha (H, W) in [0, 1] and their
    texture (3, H, W), a shifted, darkened copy of the frame itself (so they look like field clutter, not like a
    colour the model could learn to skip)."""
    _, h, w = x.shape
    target = rand_uniform(g, *share)
    alpha = torch.zeros(h, w, dtype=x.dtype)
    for _ in range(12):
        alpha = torch.maximum(alpha, _blob(h, w, g, x.dtype) * rand_uniform(g, 0.7, 1.0))
        if float((alpha > 0.5).float().mean()) >= target:
            break
    dy, dx = int(rand_uniform(g, -h / 2, h / 2)), int(rand_uniform(g, -w / 2, w / 2))
    texture = torch.roll(x, (dy, dx), (1, 2)) * rand_uniform(g, 0.5, 0.9)
    return alpha, F.avg_pool2d(texture[None], 3, 1, 1)[0]


def composite(x, layer: tuple) -> torch.Tensor:
    """``x`` seen through an occluder layer (alpha, texture)."""
    alpha, texture = layer
    return x * (1 - alpha) + texture * alpha


def shift_layer(layer: tuple, dy: int, dx: int) -> tuple:
    """An occluder layer moved by (dy, dx) px; what moves in from outside the frame is clear (alpha 0)."""
    alpha, texture = layer
    h, w = alpha.shape
    if abs(dy) >= h or abs(dx) >= w:
        return torch.zeros_like(alpha), texture
    pad = (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0))
    a = F.pad(alpha, pad)[max(-dy, 0) : max(-dy, 0) + h, max(-dx, 0) : max(-dx, 0) + w]
    t = F.pad(texture, pad, mode="replicate")[:, max(-dy, 0) : max(-dy, 0) + h, max(-dx, 0) : max(-dx, 0) + w]
    return a, t


def degrade(x, g, cfg: DegradeConfig, with_occluder: bool = False):
    """Apply each degradation of ``cfg`` with its probability (occluders first, then blur, exposure, noise).
    ``with_occluder``: return ``(frame, layer)``, ``layer`` the occluders' (alpha, texture) or None (none drawn),
    so the same occluders can be laid over neighbouring frames (:func:`shift_layer`, :func:`composite`)."""
    layer = None
    if rand_uniform(g) < cfg.occlude_p:
        layer = occluder(x, g, cfg.occlude_share)
        x = composite(x, layer)
    hard = cfg.compound_p > 0 and rand_uniform(g) < cfg.compound_p  # no draw when off: the same frames as before
    if rand_uniform(g) < cfg.blur_p or hard:
        x = motion_blur(x, g, cfg.blur_px)
    if rand_uniform(g) < cfg.exposure_p or hard:
        x = exposure(x, g, cfg.exposure_gain)
    if rand_uniform(g) < cfg.noise_p or hard:
        x = noise(x, g, cfg.noise_sigma)
    return (x, layer) if with_occluder else x
