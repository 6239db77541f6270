"""Skip diffusion: forward-diffusion noise on skip features with Beta-distributed timesteps.

A linear beta schedule (1e-4 .. 0.02 over T=1000 steps) gives alpha_bar_t; each sample draws t = floor(T*u) with
u ~ Beta(a, b) and becomes sqrt(alpha_bar_t) * x + sqrt(1 - alpha_bar_t) * eps. Unlike the reference code the layer is
only active in training mode, or when a forward pass explicitly asks for stochastic (uncertainty) sampling.
"""

from __future__ import annotations

import torch
from torch import nn


def linear_alpha_bar(steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """Cumulative product of (1 - beta_t) for a linear beta schedule, float64 then cast to float32."""
    betas = torch.linspace(beta_start, beta_end, steps, dtype=torch.float64)
    return torch.cumprod(1.0 - betas, 0).float()


class SkipDiffusion(nn.Module):
    """Noise a feature map with a per-sample timestep t ~ floor(T * Beta(a, b)). No learnable parameters."""

    def __init__(self, a: float, b: float, steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02):
        super().__init__()
        if a <= 0 or b <= 0:
            raise ValueError(f"skip diffusion needs Beta(a, b) with a, b > 0, got ({a}, {b})")
        self.a, self.b, self.steps = float(a), float(b), int(steps)
        # non-persistent: the schedule is derived from the config, so checkpoints carry only weights.
        self.register_buffer("alpha_bar", linear_alpha_bar(steps, beta_start, beta_end), persistent=False)

    def sample_t(self, n: int, device) -> torch.Tensor:
        a = torch.full((n,), self.a, device=device)
        b = torch.full((n,), self.b, device=device)
        u = torch.distributions.Beta(a, b).sample()
        return (u * self.steps).long().clamp_(0, self.steps - 1)

    def forward(self, x: torch.Tensor, active: bool) -> torch.Tensor:
        if not active:
            return x
        t = self.sample_t(x.shape[0], x.device)
        ab = self.alpha_bar.to(x.device)[t].view(-1, 1, 1, 1).to(x.dtype)
        return ab.sqrt() * x + (1.0 - ab).sqrt() * torch.randn_like(x)

    def extra_repr(self) -> str:
        return f"Beta({self.a:g}, {self.b:g}), T={self.steps}"
