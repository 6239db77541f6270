"""Shared bits of the benchmark scripts: machine description, peak memory, JSON output."""

from __future__ import annotations

import json
import os
import platform
import resource


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo, as ``lscpu`` shows it), else what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list | None:
    """The 1, 5 and 15 minute load averages, rounded to 0.01 (None where the OS has none)."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def machine() -> dict:
    """What ran the benchmark (kept next to every figure)."""
    info = {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "available_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }
    if hasattr(os, "getloadavg"):
        info["load_average"] = load_average()
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def kernel_share() -> tuple[float, int]:
    """(system CPU seconds, minor page faults) of this process so far: on some virtual machines memory touched for
    the first time costs ~10 us per page, and these show how much of a run's time that was."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_stime, r.ru_minflt


def emit(result: dict, out=None) -> str:
    """Print the result as JSON (the benchmarks' contract) and optionally write it to ``out``."""
    text = json.dumps(result, indent=2)
    print(text)
    if out:
        with open(out, "w") as f:
            f.write(text + "\n")
    return text
