import numpy as np

from dvos_core.runs import contiguous_runs


def test_runs_of_consecutive_frames():
    assert contiguous_runs([]) == []
    assert contiguous_runs(np.array([3, 4, 5, 9, 11, 12])) == [(3, 6), (9, 10), (11, 13)]
    assert contiguous_runs([7, 5, 6, 6, 1]) == [(1, 2), (5, 8)]  # unsorted, repeated
