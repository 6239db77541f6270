"""Small tests that catch plausible bugs in what training samples and how (provenance weights and filters, splits,
reference clamping, sampler, augmentation, loss terms and weights) that the other data and training tests let
through."""

import numpy as np
import pytest
import torch

from dvos_core.data import ClipIndex
from dvos_core.data.toy import make_toy_project

torch.set_num_threads(1)


@pytest.fixture
def toy(tmp_path):
    # synthetic set "toy" (2 clips x 4 frames) and video0 (train) with manual masks on frames 0, 2, 4, 6
    return make_toy_project(tmp_path / "t.dvos", n_clips=2, n_frames=4, size=32, n_videos=1, video_frames=8)


def test_a_provenance_weighted_zero_is_neither_trained_nor_validated_on(toy):
    v = toy.video("video0")
    v.set_mask(1, np.zeros((32, 32), np.uint8), "pseudo")
    v.set_mask(3, np.zeros((32, 32), np.uint8), "pseudo")
    kw = {"tau": 2, "delta": 1, "phase": "real", "provenance_weights": {"pseudo": 0}, "val_fraction": 0.5}
    tr = ClipIndex.from_project(toy, **kw)
    va = ClipIndex.from_project(toy, split="val", **kw)
    assert sorted(s.t for s in tr.samples + va.samples) == [0, 2, 4, 6]  # the manual frames only
    assert tr.summary()["provenance"] == {"manual": len(tr)}


def test_the_pseudo_quality_floor_leaves_human_labels_alone(toy):
    v = toy.video("video0")
    v.set_mask(0, v.read_masks(0, 1)[0], "manual", quality=0.1)  # a painted frame with a low score
    v.set_mask(1, np.zeros((32, 32), np.uint8), "pseudo", quality=0.1)
    v.set_mask(3, np.zeros((32, 32), np.uint8), "pseudo", quality=0.9)
    idx = ClipIndex.from_project(toy, 2, 1, "real", pseudo_quality_min=0.5, val_fraction=0)
    assert sorted(s.t for s in idx.samples) == [0, 2, 3, 4, 6]


def test_training_clips_of_a_source_split_in_time_never_reach_into_its_validation_frames(tmp_path):
    from dvos_core.data import AugmentConfig, ClipDataset

    p = make_toy_project(tmp_path / "one.dvos", n_clips=1, n_frames=10, size=32, n_videos=0)
    tr = ClipIndex.from_project(p, 2, 1, "synthetic", val_fraction=0.2)  # frames 8, 9 validate
    assert max(s.t for s in tr.samples) == 7
    assert {s.stop for s in tr.samples} == {8}
    # a context clip with references on both sides: frame 7's later references are clamped to 7, marked outside
    aug = AugmentConfig(context={"bidirectional_p": 1.0})
    ds = ClipDataset(p.path, tr, 32, train=True, augment=aug, kind="context")
    s7 = next(s for s in tr.samples if s.t == 7)
    outside = 0
    for seed in range(6):
        times, inside = ds._times(s7, torch.Generator().manual_seed(seed))
        assert max(times) <= 7
        outside += sum(not ok for ok in inside)
    assert outside > 0  # later references were drawn, and flagged as outside the training segment


def test_a_reference_clamped_from_the_first_validation_frame_is_outside_the_training_segment(tmp_path):
    from dvos_core.data import AugmentConfig, ClipDataset

    p = make_toy_project(tmp_path / "one.dvos", n_clips=1, n_frames=10, size=32, n_videos=0)
    tr = ClipIndex.from_project(p, 1, 1, "synthetic", val_fraction=0.2)  # tau 1: one reference, t - 1 or t + 1
    ds = ClipDataset(
        p.path, tr, 32, train=True, augment=AugmentConfig(context={"bidirectional_p": 1.0}), kind="context"
    )
    s7 = next(s for s in tr.samples if s.t == 7)
    after = 0
    for seed in range(12):
        times, inside = ds._times(s7, torch.Generator().manual_seed(seed))
        if times[0] == 7:  # frame 8 (validation) clamped to 7: not a real reference
            after += 1
            assert inside[0] is False
        else:
            assert times[0] == 6 and inside[0] is True
    assert after > 0


def test_validation_context_clips_take_no_reference_from_the_training_frames(tmp_path):
    from dvos_core.data import ClipDataset

    p = make_toy_project(tmp_path / "one.dvos", n_clips=1, n_frames=10, size=32, n_videos=0)
    va = ClipIndex.from_project(p, 2, 1, "synthetic", split="val", val_fraction=0.2)  # frames 8, 9
    ds = ClipDataset(p.path, va, 32, train=False, kind="context")
    for s in va.samples:
        times, inside = ds._times(s)
        assert min(times) >= 8
        assert inside == [r >= 8 for r in (s.t - 2, s.t - 1)] + [True]


def test_real_draw_share_counts_weights_not_samples():
    from dvos_core.data.clips import Sample

    samples = [Sample("video", "v", -1, 0, 1, 3.0)] + [Sample("synthetic", "s", 0, t, 5, 1.0) for t in range(3)]
    assert ClipIndex(samples, 2, 1).summary()["real_draw_share"] == pytest.approx(0.5)


def test_whole_sources_held_out_are_the_nearest_count_to_the_fraction():
    from dvos_core.data.clips import Sample, _hold_out

    train = {f"s/{i}": [Sample("synthetic", "s", i, 0, 5, 1.0)] for i in range(17)}
    val = {}
    _hold_out(train, val, 0.1, seed=0)  # 1.7 of 17 -> 2 clips
    assert len(val) == 2 and len(train) == 15


def test_sampler_shards_cover_every_sample_and_skip_resumes_mid_epoch():
    from dvos_core.data import ClipSampler
    from dvos_core.data.clips import Sample

    idx = ClipIndex([Sample("synthetic", "s", 0, t, 5, 1.0) for t in range(5)], 2, 1)
    ranks = [ClipSampler(idx, weighted=False, shuffle=False, rank=r, world_size=2) for r in (0, 1)]
    assert [len(r) for r in ranks] == [3, 3]  # 5 samples over 2 ranks: 3 each (one repeated)
    assert {i for r in ranks for i, _ in r} == set(range(5))
    full = list(ClipSampler(idx, seed=3))
    resumed = ClipSampler(idx, seed=3)
    resumed.skip = 2
    assert list(resumed) == full[2:] and len(resumed) == 3


def test_a_dvos_item_carries_the_query_frames_mask(toy):
    from dvos_core.data import ClipDataset

    idx = ClipIndex.from_project(toy, 2, 1, "real", val_fraction=0)
    ds = ClipDataset(toy.path, idx, 32, train=False, kind="dvos")
    v = toy.video("video0")
    for i, s in enumerate(idx.samples):
        query = (v.read_masks(s.t, s.t + 1)[0] > 0).astype(np.float32)
        assert query.any()
        np.testing.assert_array_equal(ds[i]["mask"][0].numpy(), query)


def test_a_dvos_item_feeds_the_references_never_the_query_frame(toy):
    from dvos_core.data import ClipDataset
    from dvos_core.model.normalize import normalize_float

    idx = ClipIndex.from_project(toy, 2, 1, "real", val_fraction=0)
    ds = ClipDataset(toy.path, idx, 32, train=False, kind="dvos")
    v = toy.video("video0")
    s = next(s for s in idx.samples if s.t == 4)
    item = ds[idx.samples.index(s)]
    stored = torch.from_numpy(v.read_frames(0, 8)).permute(0, 3, 1, 2).float() / 255.0
    assert item["frames"].shape == (2, 3, 32, 32)
    torch.testing.assert_close(item["frames"], normalize_float(stored[2:4]))  # frames 2 and 3
    torch.testing.assert_close(item["target"], normalize_float(stored[4]))


def test_each_epoch_draws_new_augmentation_seeds():
    from dvos_core.data import ClipSampler
    from dvos_core.data.clips import Sample

    idx = ClipIndex([Sample("synthetic", "s", 0, t, 5, 1.0) for t in range(4)], 2, 1)
    sampler = ClipSampler(idx, seed=1)
    seeds = []
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        seeds.append({aug for _, aug in sampler})
    assert not seeds[0] & seeds[1]


def test_a_resized_mask_keeps_pixels_that_are_mostly_mask():
    from dvos_core.data.augment import spatial_eval

    # 128 px -> 32 px: each output pixel is the mean of a 4x4 block (2x2 pre-shrink, then halfway bilinear)
    masks = torch.zeros(1, 1, 128, 128)
    masks[0, 0, 0:2, 0:2] = 1  # 4 of 16 pixels of block (0, 0): not mask
    masks[0, 0, 8:11, 8:11] = 1  # 9 of 16 pixels of block (2, 2): mask
    frames = torch.zeros(1, 3, 128, 128)
    _, out = spatial_eval(frames, masks, 32, crop=128)
    expected = torch.zeros(32, 32)
    expected[2, 2] = 1
    torch.testing.assert_close(out[0, 0], expected)


def test_the_training_crop_is_placed_around_the_query_frames_foreground():
    from dvos_core.data import AugmentConfig
    from dvos_core.data.augment import spatial_train

    cfg = AugmentConfig(crop_min=32, crop_max=32, max_aspect=1.0, foreground_crop_p=1.0, rotate_p=0.0)
    frames = torch.zeros(3, 3, 256, 256)
    masks = torch.zeros(3, 1, 256, 256)
    masks[-1, 0, 200:206, 20:26] = 1  # the query's only head, in a corner; the references have no mask
    for seed in range(8):
        _, out = spatial_train(frames, masks, 32, cfg, torch.Generator().manual_seed(seed))
        assert out[-1].sum() > 0 and out[:-1].sum() == 0


def test_validation_crop_of_a_tall_frame_is_its_centre_square():
    from dvos_core.data.augment import spatial_eval

    frames = torch.arange(64 * 32, dtype=torch.float32).view(1, 1, 64, 32).expand(1, 3, 64, 32) / 2048
    masks = torch.zeros(1, 1, 64, 32)
    masks[0, 0, 16:48, :] = 1  # exactly the centre square of side min(64, 32) = 32
    out_f, out_m = spatial_eval(frames.contiguous(), masks, 32, crop=512)
    torch.testing.assert_close(out_f, frames[:, :, 16:48, :])
    assert out_m.all()


def test_patch_diffusion_noises_each_tile_with_its_probability():
    from dvos_core.data import AugmentConfig
    from dvos_core.data.augment import patch_diffusion

    x = torch.zeros(2, 3, 64, 64)
    every = patch_diffusion(x, AugmentConfig(patch_diffusion_p=1.0), torch.Generator().manual_seed(0))
    assert (every != 0).float().mean() > 0.99  # every tile noised
    few = patch_diffusion(x, AugmentConfig(patch_diffusion_p=0.05), torch.Generator().manual_seed(0))
    tiles = (few != 0).view(2, 3, 2, 32, 2, 32).any(dim=(1, 3, 5))
    assert tiles.float().mean() <= 0.5  # 8 tiles, p 0.05: mostly untouched


def test_rotation_happens_with_its_probability():
    from dvos_core.data import AugmentConfig
    from dvos_core.data.augment import draw_spatial

    never = AugmentConfig(rotate_p=0.0)
    always = AugmentConfig(rotate_p=1.0)
    for seed in range(6):
        assert draw_spatial(64, 64, None, never, torch.Generator().manual_seed(seed))[4] == 0.0
        assert draw_spatial(64, 64, None, always, torch.Generator().manual_seed(seed))[4] != 0.0


def test_soft_dice_of_hand_made_probabilities():
    from dvos_core.train.losses import soft_dice_loss

    g = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    # p = 0.5 everywhere: (2 * 1 + 1) / (2 + 2 + 1) = 3 / 5
    assert float(soft_dice_loss(torch.zeros(1, 4), g)) == pytest.approx(0.4)
    # a perfect prediction: (2 * 2 + 1) / (2 + 2 + 1) = 1
    assert float(soft_dice_loss(torch.tensor([[50.0, 50.0, -50.0, -50.0]]), g)) == pytest.approx(0.0, abs=1e-6)


def _loss_inputs():
    g = torch.Generator().manual_seed(0)
    mask = (torch.rand(2, 1, 16, 16, generator=g) > 0.5).float()
    out = {"mask": torch.randn(2, 1, 16, 16, generator=g), "frame": torch.randn(2, 3, 16, 16, generator=g)}
    return out, mask, torch.randn(2, 3, 16, 16, generator=g)


def test_each_loss_term_has_its_own_weight():
    import torch.nn.functional as F

    from dvos_core.train.losses import LossWeights, dvos_loss, soft_dice_loss

    out, mask, target = _loss_inputs()
    bce = float(F.binary_cross_entropy_with_logits(out["mask"], mask))
    dice = float(soft_dice_loss(out["mask"], mask))
    total, _ = dvos_loss(out, mask, target, LossWeights(mask=0.5, frame=0.0, bce=1.0, dice=3.0))
    assert float(total) == pytest.approx(0.5 * (bce + 3.0 * dice), rel=1e-5)
    total, parts = dvos_loss(out, mask, target, LossWeights(mask=0.0, frame=1.0, mse=1.0, ssim=2.0))
    assert float(total) == pytest.approx(parts["mse"] + 2.0 * (1 - parts["ssim"]), rel=1e-5)


def test_the_anchor_holds_the_query_alone_mask_to_the_label_at_half_weight():
    from dvos_core.train.losses import anchor_loss

    out = {"mask": torch.zeros(1, 1, 4, 4), "mask_alone": torch.zeros(1, 1, 4, 4)}
    # no clean query: only 0.5 * BCE(logit 0 vs label 1) = 0.5 ln 2
    value = anchor_loss(out, torch.ones(1, 1, 4, 4), torch.zeros(1))
    assert float(value) == pytest.approx(0.5 * np.log(2.0), rel=1e-5)


def test_the_anchor_term_enters_the_total_with_its_weight():
    from dvos_core.train.losses import LossWeights, dvos_loss

    out, mask, target = _loss_inputs()
    out["mask_alone"] = torch.zeros_like(out["mask"])
    w = LossWeights(mask=1.0, frame=0.0, anchor=0.25)
    total, parts = dvos_loss(out, mask, target, w, torch.ones(2))
    assert parts["anchor"] > 0.1
    assert float(total) == pytest.approx(parts["bce"] + parts["dice"] + 0.25 * parts["anchor"], rel=1e-5)


def test_a_training_configs_loss_weights_go_to_their_own_terms():
    from dvos_core.train import TrainConfig

    w = TrainConfig(bce_weight=2.0, dice_weight=3.0, mse_weight=4.0, ssim_weight=5.0).loss_weights()
    assert (w.bce, w.dice, w.mse, w.ssim) == (2.0, 3.0, 4.0, 5.0)


@pytest.mark.parametrize(("hflip", "vflip", "dim"), [(1.0, 0.0, -1), (0.0, 1.0, -2)])
def test_flips_mirror_frames_and_masks_alike(hflip, vflip, dim):
    from dvos_core.data import AugmentConfig
    from dvos_core.data.augment import spatial_train

    cfg = AugmentConfig(
        crop_min=32, crop_max=32, max_aspect=1.0, foreground_crop_p=0.0, rotate_p=0.0, hflip=hflip, vflip=vflip
    )
    frames = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    masks = (torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    out_f, out_m = spatial_train(frames, masks, 32, cfg, torch.Generator().manual_seed(2))  # the whole frame
    torch.testing.assert_close(out_f, frames.flip(dim))
    torch.testing.assert_close(out_m, masks.flip(dim))
