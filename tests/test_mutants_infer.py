"""Tiling geometry and blending: small hand-checked cases that a plausible one-token bug would change (written by
hand-made mutation testing: each failed with such a bug and passes on the code)."""

import itertools

import numpy as np
import pytest

from dvos_core.infer.tiling import Blender, Tile, per_scale, ramp, tile_grid, tile_starts


@pytest.mark.parametrize("length,tile,overlap", [(1000, 256, 64), (744, 256, 32), (1920, 512, 128), (300, 96, 40)])
def test_tile_starts_cover_the_whole_length_with_the_overlap_asked_for(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    assert starts[0] == 0 and starts[-1] + tile == length  # the last tile ends at the edge
    assert all(s % 32 == 0 for s in starts[:-1])
    assert all(b - a <= tile - overlap for a, b in itertools.pairwise(starts))  # neighbours share >= overlap px


def test_a_side_exactly_one_tile_long_is_one_tile_whatever_the_overlap():
    assert tile_starts(64, 64, 64) == [0] and tile_starts(64, 64, 100) == [0]


@pytest.mark.parametrize("length,overlap", [(10, 8), (7, 7), (64, 16), (5, 2), (33, 40)])
def test_blend_ramp_is_symmetric_positive_and_at_most_one(length, overlap):
    w = ramp(length, overlap)
    assert w.shape == (length,)
    assert np.allclose(w, w[::-1]) and (w > 0).all() and (w <= 1).all()


def test_tiles_sent_in_several_row_slices_blend_to_the_values():
    """A tile's weight is counted once however many batches of images bring it: constant tiles blend to the same
    constant."""
    tiles = tile_grid(64, 96, 64, 32)
    assert len(tiles) == 2
    b = Blender(4, 64, 96, 32)
    for t in tiles:
        for rows in (slice(0, 1), slice(1, 4)):
            n = rows.stop - rows.start
            b.add(t, np.full((n, t.h, t.w), 0.7, np.float32), rows=rows)
    assert np.allclose(b.result(60, 90), 0.7)


def test_a_single_tile_sent_in_two_row_slices_is_the_values():
    b = Blender(2, 32, 32, 8)
    t = Tile(0, 0, 32, 32)
    b.add(t, np.full((1, 32, 32), 0.25, np.float32), single=True, rows=slice(0, 1))
    b.add(t, np.full((1, 32, 32), 0.75, np.float32), single=True, rows=slice(1, 2))
    out = b.result(30, 31)
    assert out.shape == (2, 30, 31) and np.allclose(out[0], 0.25) and np.allclose(out[1], 0.75)


def test_tile_progress_counts_every_scale_as_one_run():
    said = []
    first, second = per_scale(lambda done, total: said.append((done, total)), [6, 2])
    first(6, 6)
    second(1, 2)
    second(2, 2)
    assert said == [(6, 8), (7, 8), (8, 8)]
    assert per_scale(lambda d, t: None, [1]) == [None]  # one tile in all: nothing to say between start and end
