"""Pick the compute device (CUDA, then Apple MPS, then CPU), its number format, and describe it in one line."""

from __future__ import annotations

import functools
import sys

import torch

CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of native bfloat16 arithmetic
# the fix for a device this machine lacks, for the command line and for Python (the panel words it its own way)
_CPU_OR_AUTO = "use --device cpu or auto (Python: device='cpu' or 'auto')"


def select_device(name: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (or None) -> cuda if available, else mps, else cpu; otherwise the named device (a name or a
    :class:`torch.device`), checked to exist: one this machine lacks is a ValueError that says what to use. Every
    entry that takes a device (``--device``, ``load_checkpoint``, ``load_model``, ``predict_video``, ``Predictor``,
    training) resolves it here."""
    name = (str(name) if isinstance(name, torch.device) else name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:  # torch's message lists every device type it knows
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N (a GPU's number) or mps") from None
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device {name!r} is not one dvos runs on; use auto, cpu, cuda, cuda:N or mps")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available in this torch build; {_CPU_OR_AUTO}")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        n = torch.cuda.device_count()
        raise ValueError(
            f"device {name!r} requested but this machine has {n} CUDA GPU{'s' if n != 1 else ''} "
            f"(cuda:0 to cuda:{n - 1}); use --device cuda:0, cuda or auto (Python: device='cuda:0', 'cuda' or 'auto')"
        )
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {name!r} requested but Apple MPS is not available; {_CPU_OR_AUTO}")
    return dev


def supports_bf16(device: torch.device) -> bool:
    """Whether bfloat16 autocast is the default on ``device``: CUDA GPUs that have it (never a CPU by default)."""
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


@functools.cache
def cpu_native_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX512-BF16 or AMX; read from /proc/cpuinfo on Linux). Elsewhere
    False: torch would emulate bfloat16 there, slower than float32."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return any(flag in flags for flag in CPU_BF16_FLAGS)


def use_bf16(device, precision: str = "auto") -> bool:
    """Whether to compute (predict or train) in bfloat16 on ``device`` for ``precision`` ("auto", "fp32" or "bf16", see
    :data:`dvos_core.prediction_options.PRECISIONS`); "bf16" where the device cannot compute it fast is a ValueError
    that says what to use instead."""
    from dvos_core.prediction_options import check_precision

    check_precision(precision)
    device = torch.device(device)
    if precision == "fp32":
        return False
    if precision == "auto":
        return supports_bf16(device)
    if device.type == "cuda" and supports_bf16(device):
        return True
    if device.type == "cpu" and cpu_native_bf16():
        return True
    where = "this CPU has neither AVX512-BF16 nor AMX" if device.type == "cpu" else f"{device} does not support it"
    raise ValueError(f"precision 'bf16' needs native bfloat16 arithmetic and {where}; use precision 'auto' or 'fp32'")


def describe_device(device, precision: str = "auto") -> str:
    """E.g. ``"CUDA: NVIDIA H100 80GB HBM3 (bf16)"``, ``"CPU (2 threads)"`` or, predicting with ``precision="bf16"``
    on a CPU that has it, ``"CPU (2 threads, bf16)"``."""
    device = torch.device(device)
    bf16 = use_bf16(device, precision)
    if device.type == "cuda":
        idx = device.index if device.index is not None else torch.cuda.current_device()
        return f"CUDA: {torch.cuda.get_device_name(idx)}" + (" (bf16)" if bf16 else " (fp32)")
    if device.type == "mps":
        return "Apple MPS (fp32)"
    n = torch.get_num_threads()
    return f"CPU ({n} thread{'s' if n != 1 else ''}" + (", bf16)" if bf16 else ")")
