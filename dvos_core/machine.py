"""The machine at hand: its compute device and CPUs, and training settings that suit it (no torch import here
except in :func:`machine_info`): a GPU gets the paper's model (256 px crops, batch 8, 20 epochs; the paper's own
recipe is ``--recipe paper``), a CPU the settings the demo uses.

``machine_info()`` describes the compute device and the CPU; ``suggested_settings(info)`` returns ``TrainConfig``
field values for it (with a one-line reason); ``default_threads()`` is the CPU thread count a background job should
use so that it does not starve the program that started it (one core is left free).
"""

from __future__ import annotations

from dvos_core.threads import available_cores

# TrainConfig values per device type; the CPU row matches `dvos demo` (small model, 128 px crops, short epochs)
GPU_SETTINGS = {"preset": "paper", "epochs": 20, "batch_size": 8, "size": 256, "lr": 1e-4, "max_steps_per_epoch": None}
CPU_SETTINGS = {"preset": "small", "epochs": 5, "batch_size": 8, "size": 128, "lr": 2e-3, "max_steps_per_epoch": 30}
# a video model's sample holds tau + 1 frames: on a CPU its phases take half the image model's batch (as `dvos demo`)
CPU_VIDEO_BATCH = 4


def cpu_count() -> int:
    """CPUs this process may use (its affinity where the system reports it): the cores the thread rule shares out."""
    return available_cores()


def default_threads(cpus: int | None = None) -> int:
    """Threads for one background job: all CPUs but one (kept for the viewer or the shell), at least one."""
    cpus = cpu_count() if cpus is None else cpus
    return max(1, cpus - 1)


def machine_info() -> dict:
    """{"device": "cuda" | "mps" | "cpu", "description", "cpus", "threads", "gpu": bool} (imports torch)."""
    from dvos_core.model import describe_device, select_device

    dev = select_device("auto")
    cpus = cpu_count()
    return {
        "device": dev.type,
        "description": describe_device(dev) if dev.type != "cpu" else f"CPU ({cpus} cores)",
        "cpus": cpus,
        "threads": default_threads(cpus),
        "gpu": dev.type in ("cuda", "mps"),
    }


def suggested_settings(info: dict, phase: str = "image") -> tuple[dict, str]:
    """(TrainConfig field values, why) for a machine described by :func:`machine_info` and a training ``phase``
    ("image", "synthetic" or "real": on a CPU the video phases take smaller batches)."""
    if info.get("gpu"):
        gpu = info.get("description", "GPU")
        return dict(GPU_SETTINGS), f"a GPU ({gpu}): the paper's model, 256 px crops, batch 8, 20 epochs"
    settings = dict(CPU_SETTINGS)
    why = f"no GPU, {info.get('cpus', '?')} CPU cores: the small model, 128 px crops and short epochs (like the demo)"
    if phase != "image":
        settings["batch_size"] = CPU_VIDEO_BATCH
        why += f"; {CPU_VIDEO_BATCH} video clips per step"
    return settings, why
