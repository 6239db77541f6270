"""What this computer offers (GPU or CPU, cores), probed once in a child process so that napari never has to import
torch or open a GPU context itself. Steps ask with :func:`when_known` and get the answer as soon as it is in."""

from __future__ import annotations

from collections.abc import Callable

from dvos_core.machine import cpu_count, default_threads

DEVICES = ("auto", "cpu", "cuda", "mps")
_info: dict | None = None
_waiting: list[tuple[Callable[[dict], None], object]] = []
_job = None


def fallback_info(error: str = "") -> dict:
    """What is known without torch: the CPUs (used until the probe answers, or if it fails)."""
    cpus = cpu_count()
    return {
        "device": "cpu",
        "description": f"CPU ({cpus} cores)",
        "cpus": cpus,
        "threads": default_threads(cpus),
        "gpu": False,
        "error": error,
    }


def known() -> dict | None:
    """The probed machine description, or None while the probe runs."""
    return _info


def when_known(callback: Callable[[dict], None], owner=None) -> None:
    """Call ``callback(info)`` now if the machine is known, else once the probe has answered (main thread); not at all
    once the Qt object ``owner`` (the widget the callback updates) has been deleted."""
    if _info is not None:
        callback(_info)
        return
    _waiting.append((callback, owner))
    _start()


def _start() -> None:
    global _job
    if _job is not None:
        return
    from dvos_napari._workers import Job

    _job = Job(
        "dvos_core.machine:machine_info",
        label="checking this computer",
        progress_arg=None,
        cancel_arg=None,
        notify=False,
        on_result=_answer,
    )
    _job.finished.connect(_on_finished)
    _job.start()


def _on_finished(status: str) -> None:
    if status != "ok":  # no torch, or the probe failed: plan for the CPU
        _answer(fallback_info(_job.message.text if _job.message else status))


def _answer(info: dict) -> None:
    global _info
    if _info is not None:
        return
    _info = info
    from dvos_napari._workers import alive

    waiting, _waiting[:] = list(_waiting), []
    for callback, owner in waiting:
        if alive(owner):
            callback(info)


def device_line(choice: str, info: dict | None) -> tuple[bool, str]:
    """(usable, 'will run on: ...' or 'unavailable: ...') for a device choice on the machine ``info``."""
    if info is None:
        return True, "checking this computer..."
    choice = (choice or "auto").lower()
    if choice == "auto":
        return True, f"will run on: {info['description']}"
    if choice == "cpu":
        return True, f"will run on: CPU ({info['cpus']} cores)"
    kind = choice.split(":")[0]
    if info["device"] == kind:
        return True, f"will run on: {info['description']}"
    name = {"cuda": "NVIDIA GPU (CUDA)", "mps": "Apple GPU (MPS)"}.get(kind, choice)
    return False, f"unavailable: this computer has no {name}; choose 'auto' or 'cpu'"
