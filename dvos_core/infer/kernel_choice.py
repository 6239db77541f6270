"""Pick the fastest of several interchangeable kernels for each convolution shape by timing real calls.

Which CPU kernel is fastest for a given convolution depends on the CPU: NNPACK's Winograd kernels beat oneDNN's
direct ones on wide 3x3 convolutions on an AVX2 Zen 3 and on an AVX-512 Zen 5, but for 32 -> 32 channels at 512^2
NNPACK is 1.5x faster on the Zen 3 and oneDNN faster on the Zen 5 (whose direct kernels run near its AVX-512
peak). So instead of rules per CPU, :class:`KernelChooser` measures: the first calls of each shape run the
candidates in turn (every call's output is used, nothing is computed twice), and from then on the fastest one
runs. Every candidate must compute the same function (up to floating-point rounding).

Each candidate is timed ``rounds`` times (its first call is usually slower: one-time set-up, cold caches) and the
one with the smallest time is kept for that shape and thread count; when after one call each the fastest is ahead
of every other by ``margin`` (1.25: more than a first call's usual extra cost, a few percent once page faults are
left out), it is kept at once, so a clear choice costs one call of each slower kernel.

The time is wall-clock time less the process's system CPU time (:func:`compute_clock`): the first calls of a new
kernel fault in the pages of its new buffers, which on some virtual machines costs more than the convolution (seen:
65,000 faults, 0.1 s, in one 0.3 s call), and that cost is gone once freed memory is reused; counting it picked the
slower kernel.

A candidate may come with a *floor*: a time it cannot beat, e.g. a direct convolution's arithmetic at 1.25 times the
rate this core reaches in a 512^2 matrix product (:func:`arithmetic_floor`: such a product runs close to the core's
peak - 87-94 GFLOP/s on one Zen 3 core, where oneDNN's best direct convolution measured 71 - and no direct kernel
passes the peak). Such a candidate waits until the others have had all their timed calls, and is skipped when one
of them ran at least as fast as its floor (the floor's own factor of 1.25 is the safety margin; the others' times
are only ever too slow, from first-call costs): the stock dilated convolution at 512^2 costs 1.2-3 s where its
polyphase form takes 0.55-0.7 s once warm (0.8 s on its first call), and trying it once cost every prediction run
that much at its start.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Hashable

try:
    import resource
except ImportError:  # not on Windows
    resource = None


def compute_clock() -> float:
    """Seconds of wall-clock time less the system CPU time this process has used (page faults, allocation), for
    differences only; plain wall-clock time where the system time is not available."""
    if resource is None:
        return time.perf_counter()
    return time.perf_counter() - resource.getrusage(resource.RUSAGE_SELF).ru_stime


DIRECT_RATE_BOUND = 1.25  # no direct kernel runs at this many times the rate of a 512^2 matrix product (the peak)


@functools.cache
def matmul_rate(threads: int) -> float:
    """Floating-point operations per second of a 512^2 x 512^2 matrix product on this CPU with ``threads`` threads
    (the best of 20 after a warm-up call; measured once per thread count, about 60 ms on one Zen 3 core: the best of
    5 ranged from 66 to 92 GFLOP/s between fresh processes there, of 20 from 89 to 94)."""
    import torch

    a, b = torch.randn(512, 512), torch.randn(512, 512)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(20):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * 512**3 / max(best, 1e-9)


def arithmetic_floor(flops: float) -> float:
    """Seconds a kernel that does ``flops`` operations directly (no Winograd, no FFT) cannot beat on this CPU with
    torch's current thread count."""
    import torch

    return flops / (DIRECT_RATE_BOUND * matmul_rate(torch.get_num_threads()))


class KernelChooser:
    """Per key (kernel family, shapes, thread count), the fastest of the candidates, found by timing their calls."""

    def __init__(self, rounds: int = 2, margin: float = 1.25, clock: Callable[[], float] = compute_clock):
        if rounds < 1 or margin < 1:
            raise ValueError(f"need rounds >= 1 and margin >= 1, got {rounds}, {margin}")
        self.rounds, self.margin, self.clock = int(rounds), float(margin), clock
        self._lock = threading.Lock()
        self._chosen: dict[Hashable, str] = {}
        self._timings: dict[Hashable, dict[str, list[float]]] = {}

    def run(self, key: Hashable, candidates: dict[str, Callable[[], object]], floors: dict[str, float] | None = None):
        """The output of one candidate for this call: the chosen one once ``key`` is decided, else the next one to
        time (the least-timed one in the order given; one with a floor only once those without have been timed
        ``rounds`` times). ``floors``: seconds some candidates cannot beat (see the module docstring)."""
        if len(candidates) == 1:
            return next(iter(candidates.values()))()
        floors = floors or {}
        with self._lock:
            chosen = self._chosen.get(key)
            if chosen is not None and chosen not in candidates:  # offered differently now: decide again
                del self._chosen[key]
                chosen = None
            decided = chosen is not None
            if not decided:
                timings = self._timings.setdefault(key, {name: [] for name in candidates})
                chosen = min(timings, key=lambda name: self._order(timings, name, floors))
        if decided:
            return candidates[chosen]()
        t0 = self.clock()
        out = candidates[chosen]()
        elapsed = self.clock() - t0
        with self._lock:
            timings = self._timings.get(key)
            if timings is not None and key not in self._chosen:
                timings[chosen].append(elapsed)
                best = min(elapsed, *(min(v) for v in timings.values() if v))
                for name in [n for n, v in timings.items() if not v and floors.get(n, 0.0) >= best]:
                    del timings[name]  # cannot win: skipped
                if self._settled(timings):
                    self._chosen[key] = min(timings, key=lambda name: min(timings[name]))
                    del self._timings[key]
        return out

    def _order(self, timings: dict[str, list[float]], name: str, floors: dict[str, float]) -> tuple:
        """Sort key of the candidates still to time: those without a floor until each has ``rounds`` timings, then
        the least-timed one."""
        waiting = name in floors and any(len(v) < self.rounds for n, v in timings.items() if n not in floors)
        return (waiting, len(timings[name]))

    def decision(self, key: Hashable) -> str | None:
        """The kernel chosen for ``key``, or None while it is undecided."""
        with self._lock:
            return self._chosen.get(key)

    def _settled(self, timings: dict[str, list[float]]) -> bool:
        """Every candidate timed ``rounds`` times, or each once and the fastest ahead of all others by ``margin``."""
        counts = {len(v) for v in timings.values()}
        if len(timings) == 1 or min(counts) >= self.rounds:
            return True
        if min(counts) < 1:
            return False
        best = sorted(min(v) for v in timings.values())
        return best[1] >= self.margin * best[0]

    def chosen(self) -> dict:
        """The decided keys and the kernel picked for each (a copy)."""
        with self._lock:
            return dict(self._chosen)

    def clear(self) -> None:
        """Forget every decision (e.g. after the thread count or the machine's load changed a lot)."""
        with self._lock:
            self._chosen.clear()
            self._timings.clear()
