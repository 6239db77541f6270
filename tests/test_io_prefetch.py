"""The decode-ahead helper keeps order, forwards errors, and stops its thread when closed early."""

import threading
import time

import pytest

from dvos_core.io.prefetch import prefetch


def test_order_and_completion():
    assert list(prefetch(iter(range(50)), depth=3)) == list(range(50))


def test_error_is_reraised_in_consumer():
    def items():
        yield 1
        raise ValueError("frame 1 of x.mp4 cannot be decoded")

    it = prefetch(items())
    assert next(it) == 1
    with pytest.raises(ValueError, match="x.mp4"):
        next(it)


def test_early_close_stops_producer():
    produced = []

    def items():
        for k in range(10_000):
            produced.append(k)
            yield k

    it = prefetch(items(), depth=2)
    assert next(it) == 0
    it.close()
    n = len(produced)
    time.sleep(0.3)
    assert len(produced) == n <= 5
    assert not any(t.name == "dvos-prefetch" for t in threading.enumerate())
