"""Keep freed memory in the process during CPU inference (glibc only) instead of handing it back to the kernel.

A forward pass at 512^2 allocates and frees several GB of large feature maps. glibc serves each large block with a
fresh ``mmap`` and unmaps it on free, so every page is faulted in and zeroed by the kernel again: the paper model
spent more than a third of its CPU time in the kernel (2.4 M minor page faults per 512^2 forward). Inside
:func:`reuse_freed_memory` large blocks come from the heap and freed ones stay there for the next forward; on exit
the defaults are restored and the free memory is returned with ``malloc_trim``. Elsewhere (macOS, Windows, musl) it
does nothing. A thread other than the main one allocates from its own glibc arena, whose blocks are limited to
64 MB: there, larger maps are still mapped and unmapped each time (the smaller ones are kept).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
DEFAULT_TRIM_THRESHOLD, DEFAULT_MMAP_MAX = 128 * 1024, 65536
KEEP_BYTES = 1 << 30  # keep up to 1 GiB of free heap at the top before trimming

_lock = threading.Lock()
_depth = 0


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - glibc has both; musl has neither
    except (OSError, AttributeError):
        return None
    return libc


@contextmanager
def reuse_freed_memory(enabled: bool = True) -> Iterator[bool]:
    """Within the block, glibc keeps freed large blocks for reuse (yields whether that is in effect)."""
    global _depth
    libc = _libc() if enabled else None
    if libc is None:
        yield False
        return
    with _lock:
        _depth += 1
        if _depth == 1:
            libc.mallopt(M_MMAP_MAX, 0)
            libc.mallopt(M_TRIM_THRESHOLD, KEEP_BYTES)
    try:
        yield True
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
                libc.mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD)
                libc.malloc_trim(0)
