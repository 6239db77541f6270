"""Mean/std normalisation between uint8 RGB frames (H, W, 3) and model tensors (3, H, W)."""

from __future__ import annotations

import numpy as np
import torch

MEAN = (0.4583, 0.4626, 0.4353)
STD = (0.2125, 0.1863, 0.2033)


def _stats(device, dtype):
    mean = torch.tensor(MEAN, device=device, dtype=dtype).view(3, 1, 1)
    std = torch.tensor(STD, device=device, dtype=dtype).view(3, 1, 1)
    return mean, std


def to_model_input(frames, device=None, dtype=torch.float32) -> torch.Tensor:
    """uint8 frames (..., H, W, 3) (numpy or tensor) -> normalised float tensor (..., 3, H, W)."""
    t = torch.from_numpy(np.ascontiguousarray(frames)) if isinstance(frames, np.ndarray) else frames
    if not isinstance(t, torch.Tensor) or t.ndim < 3 or t.shape[-1] != 3:
        shape = tuple(getattr(frames, "shape", ()))
        raise ValueError(f"to_model_input expects RGB frames shaped (..., H, W, 3), got {shape}")
    if t.dtype != torch.uint8:
        raise ValueError(f"to_model_input expects uint8 frames, got {t.dtype}; convert with dvos_core.io.to_rgb8")
    # channels first in memory too: a moved-axis view would make every convolution after it run channels-last (the
    # layout training uses is channels first; measured on a CPU: the optimised prediction path 10-23% slower per frame)
    t = t.to(device=device).movedim(-1, -3).contiguous().to(dtype) / 255.0
    mean, std = _stats(t.device, dtype)
    return (t - mean) / std


def normalize_float(t: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] shaped (..., 3, H, W) -> normalised."""
    mean, std = _stats(t.device, t.dtype)
    return (t - mean) / std


def denormalize(t: torch.Tensor) -> torch.Tensor:
    """Normalised (..., 3, H, W) -> float images in [0, 1] scale (not clamped)."""
    mean, std = _stats(t.device, t.dtype)
    return t * std + mean


def from_model_frame(t: torch.Tensor) -> np.ndarray:
    """A reconstructed frame (..., 3, H, W) in normalised space -> uint8 (..., H, W, 3) numpy array."""
    if t.ndim < 3 or t.shape[-3] != 3:
        raise ValueError(f"from_model_frame expects (..., 3, H, W), got {tuple(t.shape)}")
    x = denormalize(t.detach().float()).clamp(0, 1).mul(255).round().to(torch.uint8)
    return x.movedim(-3, -1).cpu().numpy()
