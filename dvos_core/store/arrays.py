"""Small Zarr v3 helpers: codecs, array creation, growing an array along its first axis."""

from __future__ import annotations

import numpy as np
import zarr
from zarr.codecs import BloscCodec


def image_codecs():
    """Fast lossless compression for uint8 frames and masks."""
    return [BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle")]


def create(group: zarr.Group, name: str, shape, dtype, chunks=None, fill_value=0) -> zarr.Array:
    """Create (or replace) an array; per-frame chunks by default for (T, ...) arrays."""
    shape = tuple(int(s) for s in shape)
    if chunks is None:
        chunks = (1,) + shape[1:] if len(shape) > 1 else (max(1, min(4096, shape[0] or 1)),)
    return group.create_array(
        name,
        shape=shape,
        dtype=dtype,
        chunks=tuple(int(c) for c in chunks),
        compressors=image_codecs(),
        fill_value=fill_value,
        overwrite=True,
    )


def ensure_length(arr: zarr.Array, n: int) -> None:
    """Grow ``arr`` along axis 0 to at least ``n`` (never shrinks: uncommitted tails are simply overwritten later)."""
    if arr.shape[0] < n:
        arr.resize((n,) + tuple(arr.shape[1:]))


def as_uint8_mask(mask, shape, name: str = "mask", allow_labels: bool = False) -> np.ndarray:
    """Validate a mask and return it as binary uint8 {0,1}.

    Accepts bool, {0,1} or {0,255} integer masks; other values are rejected unless ``allow_labels`` (instance label
    maps), in which case every non-zero label is foreground.
    """
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.shape != tuple(shape):
        raise ValueError(f"{name} has shape {m.shape}, expected {tuple(shape)} (height, width) to match the frames")
    if m.dtype == bool:
        return m.astype(np.uint8)
    if not (np.issubdtype(m.dtype, np.integer) or np.issubdtype(m.dtype, np.floating)):
        raise ValueError(f"{name} has dtype {m.dtype}; expected bool or integer values 0/1")
    if np.issubdtype(m.dtype, np.floating) and not np.all(np.isfinite(m)):
        raise ValueError(f"{name} contains NaN or infinite values")
    values = np.unique(m)
    if values.size <= 2 and set(values.tolist()) <= {0, 1}:
        return m.astype(np.uint8)
    if values.size <= 2 and set(values.tolist()) <= {0, 255}:
        return (m > 0).astype(np.uint8)
    if allow_labels and np.issubdtype(m.dtype, np.integer) and values.min() >= 0:
        return (m > 0).astype(np.uint8)
    shown = values[:8].tolist()
    raise ValueError(
        f"{name} has values {shown}{'...' if values.size > 8 else ''}; expected a binary mask (0/1 or "
        f"0/255). For an instance label map pass allow_labels=True (--labels on the command line)"
    )
