"""Pick the compute device (CUDA, then Apple MPS, then CPU) and describe it in one line."""

from __future__ import annotations

import torch


def select_device(name: str = "auto") -> torch.device:
    """``"auto"`` -> cuda if available, else mps, else cpu; otherwise the named device (checked to exist)."""
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {name!r} requested but CUDA is not available in this torch build; use --device cpu or auto"
        )
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {name!r} requested but Apple MPS is not available; use --device cpu or auto")
    return dev


def supports_bf16(device: torch.device) -> bool:
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def describe_device(device) -> str:
    """E.g. ``"CUDA: NVIDIA H100 80GB HBM3 (bf16)"`` or ``"CPU (2 threads)"``."""
    device = torch.device(device)
    if device.type == "cuda":
        idx = device.index if device.index is not None else torch.cuda.current_device()
        name = torch.cuda.get_device_name(idx)
        return f"CUDA: {name}" + (" (bf16)" if supports_bf16(device) else " (fp32)")
    if device.type == "mps":
        return "Apple MPS (fp32)"
    return f"CPU ({torch.get_num_threads()} threads)"
