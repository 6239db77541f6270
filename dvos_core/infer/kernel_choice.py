"""Pick the fastest of several interchangeable kernels for each convolution shape by timing real calls.

Which CPU kernel is fastest for a given convolution depends on the CPU: NNPACK's Winograd kernels beat oneDNN's
direct ones on wide 3x3 convolutions on an AVX2 Zen 3 and on an AVX-512 Zen 5, but for 32 -> 32 channels at 512^2
NNPACK is 1.5x faster on the Zen 3 and oneDNN faster on the Zen 5 (whose direct kernels run near its AVX-512
peak). So instead of rules per CPU, :class:`KernelChooser` measures: the first call of each shape runs the
candidates in turn, and from then on the fastest one runs. Every candidate must compute the same function (up to
floating-point rounding: Winograd reassociates the sums), so the first call returns the output of the kernel it
chose, as every later call does: were the outputs of the timed calls used, the first frames of a run would be
computed by other kernels than the rest, a float16 step apart in a few pixels, and which frames differed would
change from run to run. For the same reason the decisions are kept on disk (:data:`CHOICES_FILE`, per CPU model
and torch version): a timing decides between two close kernels differently from run to run, and a prediction made
again with the same model must give the same probabilities.

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

import contextlib
import functools
import json
import os
import threading
import time
from collections.abc import Callable, Hashable
from pathlib import Path

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


def _default_choices_file() -> Path | None:
    """Where the decisions are kept: ``DVOS_KERNEL_CHOICES`` (empty: nowhere), else ``kernel_choices.json`` in the
    user's cache folder (``XDG_CACHE_HOME``, or ~/.cache) under dvos."""
    given = os.environ.get("DVOS_KERNEL_CHOICES")
    if given is not None:
        return Path(given) if given else None
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dvos" / "kernel_choices.json"


CHOICES_FILE = _default_choices_file()


@functools.cache
def machine() -> str:
    """What the kept decisions hold for: the CPU model, the machine type and the torch version."""
    import platform

    import torch

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{cpu}/{platform.machine()}/torch {torch.__version__}"


def _decisions(held) -> dict[str, str]:
    """This machine's decisions in a choices file's contents ``held``: entries of another shape (a file edited by
    hand, or by another version) are left out, and decided again."""
    mine = held.get(machine()) if isinstance(held, dict) else None
    if not isinstance(mine, dict):
        return {}
    return {k: v for k, v in mine.items() if isinstance(k, str) and isinstance(v, str)}


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
    """Per key (kernel family, shapes, thread count), the fastest of the candidates, found by timing their calls on
    the key's first call. ``choices_file``: a JSON file keeping the decisions across processes (None: none kept)."""

    def __init__(
        self,
        rounds: int = 2,
        margin: float = 1.25,
        clock: Callable[[], float] = compute_clock,
        choices_file: Path | str | None = None,
    ):
        if rounds < 1 or margin < 1:
            raise ValueError(f"need rounds >= 1 and margin >= 1, got {rounds}, {margin}")
        self.rounds, self.margin, self.clock = int(rounds), float(margin), clock
        self.choices_file = None if choices_file is None else Path(choices_file)
        self._lock = threading.Lock()
        self._chosen: dict[Hashable, str] = {}
        self._kept: dict[str, str] | None = None  # the file's decisions for this machine, read on first need

    def run(self, key: Hashable, candidates: dict[str, Callable[[], object]], floors: dict[str, float] | None = None):
        """The output of the chosen candidate for ``key``. Undecided (neither in this process nor in the choices
        file), the candidates are timed on this call, one after another (the least-timed one in the order given; one
        with a floor only once those without have been timed ``rounds`` times) until one is chosen, and the output
        of the chosen one's fastest call is returned: every call of a key gets the same kernel's output.
        ``floors``: seconds some candidates cannot beat (see the module docstring)."""
        if len(candidates) == 1:
            return next(iter(candidates.values()))()
        floors = floors or {}
        with self._lock:
            chosen = self._chosen.get(key) or self._kept_choice(key)
            if chosen not in candidates:  # undecided, or offered differently now: decide again
                self._chosen.pop(key, None)
                chosen = None
            elif key not in self._chosen:
                self._chosen[key] = chosen
        if chosen is not None:
            return candidates[chosen]()
        timings: dict[str, list[float]] = {name: [] for name in candidates}
        fastest, out, chosen = float("inf"), None, None
        while not self._settled(timings):
            name = min(timings, key=lambda n: self._order(timings, n, floors))
            t0 = self.clock()
            got = candidates[name]()
            elapsed = self.clock() - t0
            timings[name].append(elapsed)
            if elapsed < fastest:  # the chosen one is the one with the fastest call: its output is returned
                fastest, out, chosen = elapsed, got, name
            del got
            for n in [n for n, v in timings.items() if not v and floors.get(n, 0.0) >= fastest]:
                del timings[n]  # cannot win: skipped
        with self._lock:
            first = self._chosen.get(key)  # another thread timed this key meanwhile: its decision holds
            if first is None:
                self._chosen[key] = chosen
                self._keep(key, chosen)
        return out if first in (None, chosen) else candidates[first]()

    def _kept_choice(self, key: Hashable) -> str | None:
        """The decision the choices file holds for ``key`` on this machine (under the lock)."""
        if self.choices_file is None:
            return None
        if self._kept is None:
            try:
                self._kept = _decisions(json.loads(self.choices_file.read_text()))
            except (OSError, ValueError):  # none yet, or unreadable: decided again
                self._kept = {}
        return self._kept.get(repr(key))

    def _keep(self, key: Hashable, chosen: str) -> None:
        """Add a decision to the choices file (under the lock; a file that cannot be written keeps nothing)."""
        if self.choices_file is None:
            return
        self._kept_choice(key)
        self._kept[repr(key)] = chosen
        try:
            held = json.loads(self.choices_file.read_text()) if self.choices_file.is_file() else {}
            held = held if isinstance(held, dict) else {}
        except (OSError, ValueError):
            held = {}
        held[machine()] = {**_decisions(held), **self._kept}
        tmp = self.choices_file.with_name(f".{self.choices_file.name}.{os.getpid()}.tmp")
        try:
            self.choices_file.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(held, indent=0, sort_keys=True))
            os.replace(tmp, self.choices_file)  # another process reading it sees the old file or the new one
        except OSError:  # a cache that cannot be written (HOME=/dev/null, a file where its folder goes) is no error
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)

    def _order(self, timings: dict[str, list[float]], name: str, floors: dict[str, float]) -> tuple:
        """Sort key of the candidates still to time: those without a floor until each has ``rounds`` timings, then
        the least-timed one."""
        waiting = name in floors and any(len(v) < self.rounds for n, v in timings.items() if n not in floors)
        return (waiting, len(timings[name]))

    def decision(self, key: Hashable) -> str | None:
        """The kernel chosen for ``key`` (in this process or the choices file), or None while it is undecided."""
        with self._lock:
            return self._chosen.get(key) or self._kept_choice(key)

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
        """Forget every decision of this process (e.g. after the thread count or the machine's load changed a lot);
        those of the choices file hold until it is deleted."""
        with self._lock:
            self._chosen.clear()
            self._kept = None
