"""Tiling geometry: pad to multiples of 32, overlapping tile grids and smooth blending weights (numpy only)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

MULTIPLE = 32


TileFn = Callable[[int, int], None]  # on_tile(done, total): a tile of a frame cut into several was segmented


def tile_done(on_tile: TileFn | None, done: int, total: int) -> None:
    """Tell ``on_tile`` (if any) that ``done`` of ``total`` tiles are segmented."""
    if on_tile is not None:
        on_tile(done, total)


def per_scale(on_tile: TileFn | None, counts: list[int]) -> list[TileFn | None]:
    """One ``on_tile`` for each scale a frame is segmented at (``counts``: its tiles at each), counting the tiles of
    every scale as one run (``tile 7/8`` across a 6-tile and a 2-tile scale, not ``6/6`` then ``1/2``); Nones for a
    frame that is one tile in all (nothing to say between its start and end)."""
    total = sum(counts)
    if on_tile is None or total <= 1:
        return [None] * len(counts)
    starts = list(itertools.accumulate([0, *counts[:-1]]))
    return [lambda j, _m, b=b: on_tile(b + j, total) for b in starts]


def round_up(n: int, multiple: int = MULTIPLE) -> int:
    return int(-(-int(n) // multiple) * multiple)


def pad_amounts(height: int, width: int, multiple: int = MULTIPLE) -> tuple[int, int]:
    """Bottom and right padding that brings (height, width) up to multiples of ``multiple``."""
    return round_up(height, multiple) - height, round_up(width, multiple) - width


def reflect_pad(frames: np.ndarray, pad_h: int, pad_w: int) -> np.ndarray:
    """Reflect-pad the bottom/right of (..., H, W, C) frames (numpy reflects repeatedly if the pad exceeds the size)."""
    if pad_h == 0 and pad_w == 0:
        return frames
    widths = [(0, 0)] * (frames.ndim - 3) + [(0, pad_h), (0, pad_w), (0, 0)]
    mode = "reflect" if min(frames.shape[-3:-1]) > 1 else "edge"
    return np.pad(frames, widths, mode=mode)


def largest_overlap(tile: int) -> int:
    """The largest overlap tiles of size ``tile`` can have: they start on a :data:`MULTIPLE`-px grid, so
    neighbours lie at least that far apart (a larger overlap asked for tiles that never fit, for ever)."""
    return max(int(tile) - MULTIPLE, 0)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``length`` with at least ``overlap`` px overlap.

    The last tile is aligned to the end; starts are multiples of 32 (when ``length`` and ``tile`` are) so a strided
    network sees every tile on the same pixel grid as the whole image. ``length <= tile`` gives one tile at 0.
    ``overlap`` may be at most :func:`largest_overlap` of ``tile``.
    """
    if length <= tile:
        return [0]
    if not 0 <= overlap <= largest_overlap(tile):
        raise ValueError(
            f"tile overlap {overlap} does not fit tiles of {tile} px: tiles start on a {MULTIPLE}-px grid, so the "
            f"overlap must be between 0 and the tile size minus {MULTIPLE} ({largest_overlap(tile)})"
        )
    last = length - tile
    fewest = int(np.ceil((length - overlap) / (tile - overlap)))
    for n in range(fewest, max(fewest, last // MULTIPLE + 2) + 1):  # denser than one start per grid step: no change
        starts = sorted({int(s) for s in np.round(np.linspace(0, last, n) / MULTIPLE).astype(int) * MULTIPLE})
        starts[-1] = last
        if all(b - a <= tile - overlap for a, b in itertools.pairwise(starts)):
            return starts
    raise ValueError(
        f"no tiling of {length} px by tiles of {tile} px overlapping by {overlap} px on the {MULTIPLE}-px grid"
    )


@dataclass(frozen=True)
class Tile:
    y: int
    x: int
    h: int
    w: int

    @property
    def slices(self):
        return slice(self.y, self.y + self.h), slice(self.x, self.x + self.w)


def tile_grid(height: int, width: int, tile: int, overlap: int) -> list[Tile]:
    """Tiles covering a (padded) height x width image; each tile is min(tile, side) on each axis."""
    th, tw = min(tile, height), min(tile, width)
    return [Tile(y, x, th, tw) for y in tile_starts(height, tile, overlap) for x in tile_starts(width, tile, overlap)]


def frame_tiles(height: int, width: int, tile: int, overlap: int) -> tuple[int, int, list[Tile]]:
    """(pad_h, pad_w, tiles) of a height x width frame: its padding to multiples of :data:`MULTIPLE`, and the tiles
    covering it padded."""
    ph, pw = pad_amounts(height, width)
    return ph, pw, tile_grid(height + ph, width + pw, tile, overlap)


def ramp(length: int, overlap: int) -> np.ndarray:
    """1-D blending weight: raised-cosine ramps of ``overlap`` px at both ends, 1 in between, never exactly 0."""
    w = np.ones(length, np.float32)
    r = min(int(overlap), length // 2)
    if r > 0:
        i = np.arange(r, dtype=np.float32)
        up = 0.5 - 0.5 * np.cos(np.pi * (i + 0.5) / r)
        w[:r] = up
        w[length - r :] = up[::-1]
    return w


def blend_weights(h: int, w: int, overlap: int) -> np.ndarray:
    """Separable 2-D raised-cosine window for a tile of h x w."""
    return np.outer(ramp(h, overlap), ramp(w, overlap)).astype(np.float32)


class Blender:
    """Accumulates weighted tile outputs for a batch of images and returns the blended result."""

    def __init__(self, batch: int, height: int, width: int, overlap: int):
        self.acc = np.zeros((batch, height, width), np.float32)
        self.norm = np.zeros((height, width), np.float32)
        self.overlap = overlap
        self._weights: dict = {}
        self._counted: set = set()

    def add(self, tile: Tile, values: np.ndarray, single: bool = False, rows: slice = slice(None)) -> None:
        """Add (b, h, w) tile values for the images ``rows`` (default all; a tile may arrive in several row slices);
        ``single`` means the tile covers the whole image (no weighting needed)."""
        if single:
            self.acc[rows, : tile.h, : tile.w] = values
            self.norm[: tile.h, : tile.w] = 1.0
            return
        key = (tile.h, tile.w)
        if key not in self._weights:
            self._weights[key] = blend_weights(tile.h, tile.w, self.overlap)
        wgt = self._weights[key]
        ys, xs = tile.slices
        self.acc[rows, ys, xs] += values * wgt
        if tile not in self._counted:
            self._counted.add(tile)
            self.norm[ys, xs] += wgt

    def result(self, height: int, width: int) -> np.ndarray:
        """Blended (B, height, width) values, cropped to the unpadded size."""
        return self.acc[:, :height, :width] / self.norm[None, :height, :width]
