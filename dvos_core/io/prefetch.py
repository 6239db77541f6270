"""Decode ahead in a background thread so decoding overlaps with compressing/writing (bounded queue)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def prefetch(items: Iterable[T], depth: int = 8) -> Iterator[T]:
    """Yield ``items`` in order while a worker thread produces up to ``depth`` of them ahead.

    An exception in the producer is re-raised in the consumer; closing the generator early (e.g. on cancel) stops the
    producer. OpenCV and the codecs release the GIL, so this gives real overlap.
    """
    q: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(x) -> bool:
        while not stop.is_set():
            try:
                q.put(x, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for x in items:
                if not put((True, x)):
                    return
            put((True, _DONE))
        except BaseException as e:  # handed to the consumer
            put((False, e))

    thread = threading.Thread(target=work, name="dvos-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            ok, x = q.get()
            if not ok:
                raise x
            if x is _DONE:
                return
            yield x
    finally:
        stop.set()
        thread.join(timeout=5)
