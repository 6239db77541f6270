"""How many CPU threads torch may use: one rule for every compute command, function and dock.

Precedence: an explicit ``threads`` argument (``--threads`` on the CLI), then the ``DVOS_THREADS`` environment
variable, then the default: the cores this process may run on (``os.sched_getaffinity``, which honours ``taskset``
and container CPU sets) divided by the number of worker processes, at least 1. So intra-op threads x worker
processes never exceed the available cores. On a machine shared with other jobs, ask for fewer (e.g. 1): with the
cores busy, extra threads wait on each other and run slower, not faster.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

ENV = "DVOS_THREADS"


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no sched_getaffinity
        return max(1, os.cpu_count() or 1)


def _check(value, source: str) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{source} must be a whole number of threads >= 1, got {value!r}") from None
    if n < 1:
        raise ValueError(f"{source} must be >= 1, got {n}; omit it to use {available_cores()} (the free cores)")
    return n


def resolve_threads(threads: int | None = None, workers: int = 1) -> int:
    """Intra-op threads per process: ``threads``, else ``$DVOS_THREADS``, else available cores // ``workers``."""
    if threads is not None:
        return _check(threads, "threads")
    env = os.environ.get(ENV, "").strip()
    if env:
        return _check(env, f"the {ENV} environment variable")
    return max(1, available_cores() // max(1, int(workers)))


def set_threads(threads: int | None = None, workers: int = 1) -> int:
    """Apply :func:`resolve_threads` to torch (``torch.set_num_threads``) and return the number used."""
    import torch

    n = resolve_threads(threads, workers)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


@contextmanager
def using_threads(threads: int | None = None, workers: int = 1) -> Iterator[int]:
    """Run a block with :func:`set_threads` applied, then restore torch's previous thread count."""
    import torch

    before = torch.get_num_threads()
    try:
        yield set_threads(threads, workers)
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
