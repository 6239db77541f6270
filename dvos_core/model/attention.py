"""The spatiotemporal attention block that fuses tau frames' features (frame-major channels) into one map.

Input X has ``tau*C`` channels ordered frame-major ([f0 | f1 | ... ], oldest first).

1. X' = Swish(GN(tau groups)(X)).
2. Spatial gate: 3x3 conv grouped per frame -> 1x1 conv -> GN -> Swish -> 3x3 conv dilation 2 -> 1x1 conv grouped
   per frame -> GN -> sigmoid.
3. Temporal gate (squeeze-excitation): global average pool -> ``Linear(tau*C, tau*C/2)`` -> LayerNorm -> Swish ->
   ``Linear(tau*C/2, tau*C)`` -> LayerNorm -> sigmoid.
4. ``Y = gate_T * gate_S * X'``, then a parameter-free reduction ``tau*C -> C``:
   * ``"tau_mean"`` (default): reshape to (B, tau, C, h, w) and average over the frames - a genuine temporal mean.
   * ``"adjacent"``: average groups of tau adjacent channels (what the reference's AvgPool3d on a 4-D tensor does);
     kept only for numerical compatibility with weights trained that way.
5. Optional skip diffusion and Dropout2d.

Biases sit where the reference code has them: the dilated 3x3 conv has one, every other conv and both temporal
Linears are bias-free (each is followed by a norm); this gives the published parameter count and, with
``reduction="adjacent"``, the reference's function. ``bias="temporal"`` is the layout of dvos checkpoints written
before format 2 (the bias on the second temporal Linear instead): same count, another function, kept so those
checkpoints still load and compute what they were trained to.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dvos_core.model.blocks import norm
from dvos_core.model.diffusion import SkipDiffusion

REDUCTIONS = ("tau_mean", "adjacent")
BIAS_LAYOUTS = ("spatial", "temporal")  # "spatial": as the reference; "temporal": dvos checkpoints of format 1


def stack_frames(x) -> torch.Tensor:
    """A (B, frames*C, h, w) frame-major tensor from ``x``: such a tensor (returned as it is), or B windows, each a
    sequence of per-frame (C, h, w) features, oldest first (stacked into a new tensor)."""
    if isinstance(x, torch.Tensor):
        return x
    t = torch.cat([frame for window in x for frame in window])
    return t.view(len(x), t.shape[0] // len(x), *t.shape[1:])


class SpatioTemporalAttention(nn.Module):
    def __init__(
        self,
        channels: int,
        tau: int,
        groups: int = 4,
        reduction: str = "tau_mean",
        diffusion: SkipDiffusion | None = None,
        dropout: float = 0.0,
        bias: str = "spatial",
    ):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"temporal reduction must be one of {REDUCTIONS}, got {reduction!r}")
        if bias not in BIAS_LAYOUTS:
            raise ValueError(f"attention bias layout must be one of {BIAS_LAYOUTS}, got {bias!r}")
        tc = tau * channels
        self.tau, self.channels, self.reduction = tau, channels, reduction
        self.in_norm = nn.GroupNorm(tau, tc, eps=1e-6)
        self.spatial = nn.Sequential(
            nn.Conv2d(tc, tc, 3, padding=1, groups=tau, bias=False),
            nn.Conv2d(tc, tc, 1, bias=False),
            norm(tc, groups),
            nn.SiLU(),
            nn.Conv2d(tc, tc, 3, padding=2, dilation=2, bias=bias == "spatial"),
            nn.Conv2d(tc, tc, 1, groups=tau, bias=False),
            norm(tc, groups),
            nn.Sigmoid(),
        )
        self.temporal = nn.Sequential(
            nn.Linear(tc, tc // 2, bias=False),
            nn.LayerNorm(tc // 2),
            nn.SiLU(),
            nn.Linear(tc // 2, tc, bias=bias == "temporal"),
            nn.LayerNorm(tc),
            nn.Sigmoid(),
        )
        self.diffusion = diffusion
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x, stochastic: bool = False) -> torch.Tensor:
        """``x``: (B, tau*C, h, w) frame-major, or B windows of tau per-frame (C, h, w) features (see
        :func:`stack_frames`)."""
        x = F.silu(self.in_norm(stack_frames(x)))
        gate_s = self.spatial(x)
        gate_t = self.temporal(x.mean(dim=(2, 3)))[:, :, None, None]
        y = self.reduce(x * gate_s * gate_t)
        if self.diffusion is not None:
            y = self.diffusion(y, active=self.training or stochastic)
        return self.dropout(y)

    def reduce(self, y: torch.Tensor) -> torch.Tensor:
        """The parameter-free ``tau*C -> C`` reduction of the gated features (step 4)."""
        b, _, h, w = y.shape
        if self.reduction == "tau_mean":
            return y.reshape(b, self.tau, self.channels, h, w).mean(dim=1)
        return y.reshape(b, self.channels, self.tau, h, w).mean(dim=2)
