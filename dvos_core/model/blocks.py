"""Convolutional building blocks shared by the encoder, decoder and heads (Swish activations, GroupNorm).

All convolutions here are bias-free (a norm or a residual sum follows each); with the stem and the head output convs
keeping their bias this reproduces the published parameter counts exactly."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def norm(channels: int, groups: int, eps: float = 1e-6) -> nn.GroupNorm:
    """GroupNorm with ``groups`` groups (reduced to a divisor of ``channels`` when needed)."""
    g = max(1, min(groups, channels))
    while channels % g:
        g -= 1
    return nn.GroupNorm(g, channels, eps=eps)


class NormAct(nn.Module):
    """GroupNorm followed by Swish (SiLU)."""

    def __init__(self, channels: int, groups: int, eps: float = 1e-6):
        super().__init__()
        self.norm = norm(channels, groups, eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # in place when no autograd graph is recorded (inference): one less full-size tensor per block
        return F.silu(self.norm(x), inplace=not torch.is_grad_enabled())


class ResBlock(nn.Module):
    """GN -> Swish -> 3x3 conv (no bias) -> GN -> Swish -> 3x3 conv, plus an identity or 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int, groups: int = 4):
        super().__init__()
        self.act1 = NormAct(c_in, groups)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.act2 = NormAct(c_out, groups)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.shortcut = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self.act1(x))
        h = self.conv2(self.act2(h))
        return h + self.shortcut(x)


class Down(nn.Module):
    """GN -> Swish -> 3x3 conv with stride 2 (halves H and W, keeps the width)."""

    def __init__(self, channels: int, groups: int = 4):
        super().__init__()
        self.act = NormAct(channels, groups)
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.act(x))


class Up(nn.Module):
    """GN -> Swish -> nearest x2 -> 3x3 conv (doubles H and W, keeps the width)."""

    def __init__(self, channels: int, groups: int = 4):
        super().__init__()
        self.act = NormAct(channels, groups)
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(self.act(x), scale_factor=2.0, mode="nearest"))
