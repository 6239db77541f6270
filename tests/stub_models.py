"""Stand-in models shared by tests: tiny deterministic modules with the interface of dvos's models."""

from __future__ import annotations

import torch


class BrightIsHead(torch.nn.Module):
    """Stand-in image model: pixels brighter than mid-grey are heads (deterministic, no stochastic path)."""

    kind, tau = "frame", 0

    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return {"mask": 20 * x[:, :1] + 0 * self.p, "frame": x}
