"""Runs of consecutive frame numbers (what a store reads or writes in one slice)."""

from __future__ import annotations

from collections.abc import Iterable


def contiguous_runs(indices: Iterable[int]) -> list[tuple[int, int]]:
    """[start, stop) runs of consecutive integers among ``indices`` (any order, repeats allowed)."""
    runs: list[tuple[int, int]] = []
    for i in sorted({int(i) for i in indices}):
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs
