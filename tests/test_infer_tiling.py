"""Tile grids, blending weights and seam-free tiled prediction with a translation-equivariant stand-in model."""

import itertools

import numpy as np
import pytest
import torch

from dvos_core.infer import Predictor
from dvos_core.infer.tiling import blend_weights, pad_amounts, reflect_pad, tile_grid, tile_starts


@pytest.mark.parametrize("length,tile,overlap", [(1024, 512, 64), (1600, 512, 128), (544, 512, 64), (96, 64, 16)])
def test_tile_starts_cover_with_overlap(length, tile, overlap):
    s = tile_starts(length, tile, overlap)
    assert s[0] == 0 and s[-1] + tile == length
    assert all(x % 32 == 0 for x in s)
    assert all(b - a <= tile - overlap for a, b in itertools.pairwise(s))


def test_single_tile_and_bad_overlap():
    assert tile_starts(300, 512, 64) == [0]
    with pytest.raises(ValueError, match="overlap"):
        tile_starts(1000, 256, 256)


@pytest.mark.parametrize("length,tile,overlap", [(160, 64, 40), (96, 32, 8), (1024, 256, 240)])
def test_an_overlap_closer_than_the_32_px_grid_is_refused_not_looped_on_for_ever(length, tile, overlap):
    """Tiles start on a 32-px grid, so neighbours lie at least 32 px apart: an overlap above the tile size minus 32
    made tile_starts add tiles for ever (predict and pseudo-label hung holding the project's writer lock)."""
    with pytest.raises(ValueError, match=rf"overlap must be between 0 and the tile size minus 32 \({tile - 32}\)"):
        tile_starts(length, tile, overlap)
    s = tile_starts(length, tile, tile - 32)  # the largest that fits
    assert s[-1] + tile == length and all(b - a == 32 for a, b in itertools.pairwise(s))


def test_small_tiles_get_an_overlap_that_fits_them():
    """Tile size 32 with the automatic overlap (a quarter: 8) hung on any frame over 32 px, for the paper's and the
    context model alike."""
    from dvos_core.infer.context import context_overlap
    from dvos_core.model import build_model

    assert context_overlap(32, 64) == 0 and context_overlap(64, 64) == 16
    with pytest.raises(ValueError, match=r"tile overlap must be between 0 and the tile size minus 32 \(0"):
        Predictor(build_model("tiny", "frame"), {"kind": "frame"}, device="cpu", tile_size=32, overlap=8)


def test_blend_weights_smooth_and_positive():
    w = blend_weights(64, 96, 16)
    assert w.shape == (64, 96) and w.min() > 0 and w.max() == 1.0
    assert np.allclose(w, w[::-1, ::-1])
    tiles = tile_grid(96, 160, 64, 16)
    norm = np.zeros((96, 160))
    for t in tiles:
        ys, xs = t.slices
        norm[ys, xs] += blend_weights(t.h, t.w, 16)
    assert norm.min() > 0  # every pixel covered


def test_pad_to_multiple_of_32():
    assert pad_amounts(70, 96) == (26, 0)
    x = np.arange(2 * 5 * 7 * 3, dtype=np.uint8).reshape(2, 5, 7, 3)
    y = reflect_pad(x, 3, 30)
    assert y.shape == (2, 8, 37, 3) and np.array_equal(y[:, :5, :7], x)


class ConvFrame(torch.nn.Module):
    """Translation-equivariant frame model (convolutions only, no strides or norms)."""

    kind, tau = "frame", 0

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1),
            torch.nn.Tanh(),
            torch.nn.Conv2d(8, 8, 3, padding=1),
            torch.nn.Tanh(),
            torch.nn.Conv2d(8, 1, 3, padding=1),
        )

    def forward(self, x, stochastic=False):
        return {"mask": self.net(x), "frame": x}


def test_tiled_matches_untiled_in_the_interior():
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (2, 200, 230, 3), dtype=np.uint8)
    model = ConvFrame().eval()
    whole = Predictor(model, {"kind": "frame"}, "cpu", tile_size=256, overlap=32).predict(frames)
    tiled_p = Predictor(model, {"kind": "frame"}, "cpu", tile_size=64, overlap=32)
    assert len(tile_grid(224, 256, 64, 32)) > 20
    tiled = tiled_p.predict(frames)
    assert tiled.shape == (2, 200, 230)
    inner = (slice(None), slice(4, -4), slice(4, -4))
    diff = np.abs(tiled - whole)[inner]
    assert diff.max() < 0.02 and diff.mean() < 1e-3
    # hard cut-and-paste tiles (no overlap, no blending) show seams: blending is what removes them
    hard = Predictor(model, {"kind": "frame"}, "cpu", tile_size=64, overlap=0).predict(frames)
    assert np.abs(hard - whole)[inner].max() > 2 * diff.max()


def test_flip_tta_is_undone():
    model = ConvFrame().eval()
    p = Predictor(model, {"kind": "frame"}, "cpu", tile_size=64, overlap=16)
    x = np.random.default_rng(1).integers(0, 255, (1, 64, 64, 3), dtype=np.uint8)
    a = p.predict(x)
    # the model sees x again, and the output comes back in the orientation of the (mirrored) input
    assert np.allclose(p.predict(x[:, :, ::-1], flip="h"), a[:, :, ::-1], atol=1e-5)
    assert np.allclose(p.predict(x[:, ::-1, ::-1], flip="hv"), a[:, ::-1, ::-1], atol=1e-5)


def test_dvos_models_normalise_per_tile_so_the_tile_size_changes_them():
    """docs/evaluation.md: dvos's models are not translation-equivariant - GroupNorm takes its statistics over the
    input, so a tile is normalised by its own and the tile size changes the masks; without GroupNorm the tiles
    match one whole-frame pass (the blending adds no difference)."""
    from dvos_core.model import build_model

    torch.set_num_threads(1)
    frames = np.random.default_rng(0).integers(0, 255, (1, 160, 192, 3), dtype=np.uint8)
    torch.manual_seed(0)
    model = build_model("tiny", "frame").eval()

    def tiled_and_whole(net):
        return [
            Predictor(net, {"kind": "frame"}, "cpu", tile_size=t, overlap=o).predict(frames)
            for t, o in ((64, 32), (256, 0))
        ]

    tiled, whole = tiled_and_whole(model)
    assert np.abs(tiled - whole).max() > 0.05
    for mod in list(model.modules()):
        for name, child in list(mod.named_children()):
            if isinstance(child, torch.nn.GroupNorm):
                setattr(mod, name, torch.nn.Identity())
    tiled, whole = tiled_and_whole(model)
    assert np.abs(tiled - whole).max() < 1e-3
