"""The cosine learning-rate schedule's curve, in one place (no torch: the command line's help quotes it)."""

from __future__ import annotations

import math


def epoch_rate(lr: float, eta_min: float, epoch: int, epochs: int) -> float:
    """The learning rate epoch ``epoch`` (0-based) of ``epochs`` trains at: the cosine schedule steps once per epoch,
    from ``lr`` (the first epoch's) towards ``eta_min``, which it reaches only after the last epoch (torch's
    CosineAnnealingLR with ``T_max=epochs``)."""
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * epoch / epochs)) / 2
