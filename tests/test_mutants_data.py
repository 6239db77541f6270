"""Small tests that catch plausible bugs in the training data (paper distortions, degradations, occluders) that the
other data tests let through."""

import numpy as np
import pytest
import torch

from dvos_core.data import distort as D
from dvos_core.data.degrade import occluder


def _clip():
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(2, 3, 16, 24, generator=g)
    masks = (torch.rand(2, 1, 16, 24, generator=g) > 0.5).float()
    return frames, masks


def test_a_warp_by_nothing_and_a_grid_distortion_of_limit_zero_change_nothing():
    frames, masks = _clip()
    z = torch.zeros(16, 24)
    f, m = D._warp(frames, masks, z, z)
    assert torch.allclose(f, frames, atol=1e-5) and torch.equal(m, masks)
    f, m = D.grid_distortion(frames, masks, torch.Generator().manual_seed(1), limit=0.0)
    assert torch.allclose(f, frames, atol=1e-5) and torch.equal(m, masks)


def test_distort_with_probability_one_always_distorts_and_zero_never():
    frames, masks = _clip()
    for seed in range(5):
        f, _ = D.distort(frames, masks, torch.Generator().manual_seed(seed), 1.0)
        assert not torch.allclose(f, frames)
        f, m = D.distort(frames, masks, torch.Generator().manual_seed(seed), 0.0)
        assert f is frames and m is masks


def test_occluders_reach_the_whole_width_of_a_wide_frame():
    # the blobs' centres are drawn over the frame: on an 8 x 96 frame some reach its right quarter
    x = torch.rand(3, 8, 96, generator=torch.Generator().manual_seed(0))
    right = 0.0
    for seed in range(30):
        alpha, _ = occluder(x, torch.Generator().manual_seed(seed), (0.3, 0.3))
        right = max(right, float(alpha[:, 72:].max()))
    assert right > 0.5


def test_footage_flicker_counts_brightness_jumps_either_way():
    from dvos_core.data.degradation_match import measure_degradation

    # brightness 50, 150, 50, 150, 50: every pair jumps by log(151 / 51), up or down
    frames = np.stack([np.full((16, 16, 3), 50 if k % 2 == 0 else 150, np.uint8) for k in range(5)])
    m = measure_degradation([frames])
    assert m.pairs == 4 and m.flicker == pytest.approx(np.log(151 / 51), rel=1e-6)


def test_the_footage_measured_leaves_out_test_videos(tmp_project):
    from dvos_core.data.degradation_match import project_footage

    frames = np.zeros((3, 8, 8, 3), np.uint8)
    tmp_project.add_video_array("a", frames, split="train")
    tmp_project.add_video_array("b", frames, split="test")
    tmp_project.add_video_array("c", frames[:1], split="train")  # one frame: no pair to measure
    assert len(project_footage(tmp_project)) == 1


def test_training_crops_fit_a_wide_frame():
    from dvos_core.data.augment import AugmentConfig, draw_spatial

    cfg = AugmentConfig(crop_min=200, crop_max=300)
    for seed in range(20):
        cy, _cx, ch, cw, *_ = draw_spatial(100, 400, None, cfg, torch.Generator().manual_seed(seed))
        assert ch <= 100 and cw <= 400 and cy - ch / 2 >= 0 and cy + ch / 2 <= 100
