"""How many CPU threads torch and OpenCV may use: one rule for every compute command, function and dock.

Precedence: an explicit ``threads`` argument (``--threads`` on the CLI), then the ``DVOS_THREADS`` environment
variable, then the default: the cores this process may run on (``os.sched_getaffinity``, which honours ``taskset``
and container CPU sets) divided by the number of processes doing the work (synthesis workers, torchrun ranks on
this machine, data-loader workers), at least 1, and never more than torch is already set to use (so
``OMP_NUM_THREADS`` or a caller's ``torch.set_num_threads`` is kept when lower). So threads x processes never
exceed the available cores. On a machine shared with other jobs, ask for fewer (e.g. 1): with the cores busy, extra
threads wait on each other and run slower, not faster. Inside :func:`using_threads` with an explicit number,
nested calls that pass no number (e.g. ``predict_video`` called by the demo) keep that number.
"""

from __future__ import annotations

import functools
import inspect
import operator
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

ENV = "DVOS_THREADS"
_explicit = threading.local()  # stack of explicit thread counts of the enclosing using_threads blocks


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no sched_getaffinity
        return max(1, os.cpu_count() or 1)


def local_processes() -> int:
    """Processes torchrun started on this machine (1 outside torchrun): they share its cores."""
    try:
        return max(1, int(os.environ.get("LOCAL_WORLD_SIZE") or os.environ.get("WORLD_SIZE") or 1))
    except ValueError:
        return 1


def loader_workers(requested: int | None, device_type: str, processes: int = 1) -> int:
    """Data-loader worker processes for training on ``device_type``: ``requested``, else none on a CPU (a worker takes
    a core from the training's own threads: one worker made a 2-core demo step 1.4x slower) and on a GPU up to 4,
    keeping one core for each of the ``processes`` training processes on this machine."""
    if requested is not None:
        return int(requested)
    if device_type != "cuda":
        return 0
    return max(0, min(4, available_cores() // max(1, int(processes)) - 1))


def loader_worker_init(worker_id: int) -> None:
    """``worker_init_fn`` of the training data loaders: each worker process computes with one thread. torch sets
    its own count to 1 in a worker; OpenCV would keep the parent's (every core, in each of up to 4 workers beside
    the training process: the motion estimates of the context model's samples run there)."""
    set_threads(1)


def _check(value, source: str, text: bool = False) -> int:
    """``value`` as a number of threads: a whole number (``text``: one written out, as an environment variable's
    is) >= 1; 1.5 or "2" passed as a number ran as 1 and 2, unsaid."""
    try:
        if isinstance(value, bool) or isinstance(value, str) != text:
            raise TypeError
        n = int(value) if text else operator.index(value)
    except (TypeError, ValueError):
        raise ValueError(f"{source} must be a whole number of threads >= 1, got {value!r}") from None
    if n < 1:
        raise ValueError(f"{source} must be >= 1, got {n}; omit it to use {available_cores()} (the free cores)")
    return n


def explicit_threads(threads: int | None = None) -> int | None:
    """The thread count someone asked for: ``threads``, else the enclosing :func:`using_threads` block's explicit
    number, else ``$DVOS_THREADS``; None when nobody asked."""
    if threads is not None:
        return _check(threads, "threads")
    stack = getattr(_explicit, "stack", None)
    if stack:
        return stack[-1]
    env = os.environ.get(ENV, "").strip()
    if env:
        return _check(env, f"the {ENV} environment variable", text=True)
    return None


def resolve_threads(threads: int | None = None, workers: int = 1) -> int:
    """Threads per process: :func:`explicit_threads`, else available cores // ``workers`` (at least 1)."""
    n = explicit_threads(threads)
    return n if n is not None else max(1, available_cores() // max(1, int(workers)))


def set_threads(threads: int | None = None, workers: int = 1, torch: bool = True) -> int:
    """Apply :func:`resolve_threads` to torch (``torch.set_num_threads``, unless ``torch=False``, e.g. in processes
    that never import it) and to OpenCV (``cv2.setNumThreads``); returns the number used. Without an explicit
    number the default never raises torch's current count (so ``OMP_NUM_THREADS`` or a caller's
    ``torch.set_num_threads`` is kept when lower)."""
    n = resolve_threads(threads, workers)
    if torch:
        import torch as _torch

        if explicit_threads(threads) is None:
            n = min(n, _torch.get_num_threads())
        if _torch.get_num_threads() != n:
            _torch.set_num_threads(n)
    cv2 = _cv2()
    if cv2 is not None:
        cv2.setNumThreads(n)
    return n


@contextmanager
def using_threads(threads: int | None = None, workers: int = 1, torch: bool = True) -> Iterator[int]:
    """Run a block with :func:`set_threads` applied, then restore the previous thread counts."""
    cv2 = _cv2()
    before_cv2 = cv2.getNumThreads() if cv2 is not None else None
    before = None
    if torch:
        import torch as _torch

        before = _torch.get_num_threads()
    n = set_threads(threads, workers, torch)
    stack = _explicit.__dict__.setdefault("stack", [])
    if threads is not None:
        stack.append(n)
    try:
        yield n
    finally:
        if threads is not None:
            stack.pop()
        if before is not None and _torch.get_num_threads() != before:
            _torch.set_num_threads(before)
        if before_cv2 is not None:
            cv2.setNumThreads(before_cv2)


def runs_with_threads(torch: bool = True) -> Callable:
    """Decorator for a core function with a ``threads=None`` parameter: its body runs inside
    ``using_threads(threads, torch=torch)`` (``torch=False`` for functions that only use OpenCV/numpy)."""

    def decorate(func):
        sig = inspect.signature(func)
        if "threads" not in sig.parameters:
            raise TypeError(f"{func.__qualname__} needs a 'threads' parameter to use runs_with_threads")

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            threads = sig.bind(*args, **kwargs).arguments.get("threads")
            with using_threads(threads, torch=torch):
                return func(*args, **kwargs)

        return wrapper

    return decorate


def _cv2():
    try:
        import cv2
    except ImportError:  # a core dependency, but keep the torch part usable without it
        return None
    return cv2
