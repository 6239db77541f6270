"""The paper's augmentation set: every op keeps shapes and ranges and changes the image as it should, warps move
masks with frames, everything is fixed by the sample's seed; the paper recipe turns the set on."""

import numpy as np
import pytest
import torch

from dvos_core.data import AugmentConfig, ClipDataset, ClipIndex
from dvos_core.data import distort as D
from dvos_core.data import pixel_ops as P
from dvos_core.data.toy import make_toy_project
from dvos_core.train.config import TrainConfig, list_recipes

torch.set_num_threads(1)


def image(seed=0, size=48):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    base = torch.stack([xx, yy, 0.5 * (xx + yy)])
    return (0.6 * base + 0.4 * torch.rand(3, size, size, generator=g)).clamp(0, 1)


@pytest.mark.parametrize("group", [P.style, P.tone, lambda x, g: P.blur_one(x, g)])
def test_pixel_groups_keep_shape_and_range_and_are_seeded(group):
    x = image()
    outs = [group(x, torch.Generator().manual_seed(s)) for s in range(12)]
    for y in outs:
        assert y.shape == x.shape and y.dtype == x.dtype and float(y.min()) >= 0 and float(y.max()) <= 1
    assert torch.equal(group(x, torch.Generator().manual_seed(3)), outs[3])
    assert sum(not torch.allclose(y, x, atol=1e-3) for y in outs) >= 10  # nearly every draw changes the image


def test_pixel_ops_do_what_their_names_say():
    x = image()
    assert len(torch.unique(P.posterize(x))) <= 16
    s = P.sepia(x)
    assert torch.allclose(s[:, 5, 7], (P._SEPIA @ x[:, 5, 7]).clamp(0, 1), atol=1e-6)
    dark = x * 0.3  # equalisation stretches a dark image over the whole range
    assert float(P.equalize(dark).max()) > 0.99 and float(dark.max()) < 0.31
    flat = torch.full((3, 20, 20), 0.4)
    for k in (3, 5, 7):
        assert torch.allclose(P.median(flat, k), flat)
        assert torch.allclose(P._box(flat, k), flat, atol=1e-6)
    spot = torch.zeros(3, 21, 21)
    spot[:, 10, 10] = 1
    horizontal = P.convolve(spot, P.motion_kernel(7, 0.0))  # a horizontal streak: row 10 only
    assert float(horizontal[:, 10].sum()) == pytest.approx(3.0, abs=1e-5) and float(horizontal[:, 9].sum()) == 0
    g = torch.Generator().manual_seed(0)
    shifted = P.fancy_pca(x, g)
    inside = ((shifted > 0) & (shifted < 1)).all(0)  # pixels the clipping left alone
    delta = (shifted - x)[:, inside]
    assert inside.float().mean() > 0.5 and float(delta.abs().max()) > 1e-3
    assert torch.allclose(delta, delta[:, :1].expand_as(delta), atol=1e-5)  # one colour shift for every pixel
    assert torch.allclose(P.gray(x).expand_as(x)[0], P.gray(x)[0])


def test_distortions_move_masks_with_frames_and_emboss_keeps_masks():
    g = torch.Generator().manual_seed(1)
    masks = torch.zeros(3, 1, 64, 64)
    masks[:, :, 20:40, 10:30] = 1
    frames = masks.expand(3, 3, 64, 64).clone()
    for warp in (D.grid_distortion, lambda f, m, gen: D.elastic(f, m, gen, alpha=30.0, sigma=6.0)):
        f2, m2 = warp(frames, masks, torch.Generator().manual_seed(2))
        assert not torch.equal(m2, masks)  # it moved
        assert torch.equal((f2[:, :1] > 0.5).float(), m2)  # ... and the frames moved the same way
        assert torch.equal(m2[0], m2[2])  # one transform for the whole clip
    e, m3 = D.emboss(frames, g), masks
    assert e.shape == frames.shape and not torch.equal(e, frames) and torch.equal(m3, masks)
    assert D.distort(frames, masks, g, 0.0)[0] is frames


def test_the_paper_recipe_and_its_items(tmp_path):
    assert "paper" in list_recipes()
    video = TrainConfig.from_recipe("paper", "synthetic")
    image_cfg = TrainConfig.from_recipe("paper", "image")
    assert (video.preset, video.epochs, video.batch_size, video.size, video.lr, video.eta_min) == (
        "paper",
        15,
        16,
        384,
        1e-4,
        1e-5,
    )
    assert image_cfg.batch_size == 32 and image_cfg.phase == "image"
    aug = video.augment_config()
    assert aug.style_p == aug.tone_p == 0.5 and aug.distort_p == 0.3 and len(aug.blur_kinds) == 5
    with pytest.raises(ValueError, match="unknown training recipe"):
        TrainConfig.from_recipe("nope", "image")
    with pytest.raises(ValueError, match="blur_kinds"):
        AugmentConfig(blur_kinds=["gaussian", "wobble"])
    project = make_toy_project(tmp_path / "t.dvos", n_clips=2, n_frames=6, size=64, n_videos=0)
    idx = ClipIndex.from_project(project, 4, 1, "synthetic", val_fraction=0)
    paper = ClipDataset(project.path, idx, 64, train=True, augment=aug)
    plain = ClipDataset(project.path, idx, 64, train=True)
    a, b = paper[(1, 5)], paper[(1, 5)]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["frames"], plain[(1, 5)]["frames"])
    diffs = [not torch.equal(paper[(1, s)]["frames"], plain[(1, s)]["frames"]) for s in range(6)]
    assert np.mean(diffs) > 0.5
