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


def test_patch_diffusion_noise_has_the_schedules_standard_deviation():
    from dvos_core.data.augment import AugmentConfig, patch_diffusion

    # t = 1 always (t_max 2): a_1 = (1 - 1e-4) (1 - beta_1), beta_1 = 1e-4 + (1e-2 - 1e-4) / 999; noise sqrt(1 - a_1)
    beta1 = 1e-4 + (1e-2 - 1e-4) / 999
    a1 = (1 - 1e-4) * (1 - beta1)
    cfg = AugmentConfig(patch_diffusion_p=1.0, patch_t_max=2)
    out = patch_diffusion(torch.zeros(2, 3, 64, 64), cfg, torch.Generator().manual_seed(0))
    assert float(out.std()) == pytest.approx(np.sqrt(1 - a1), rel=0.03)
    ones = patch_diffusion(torch.ones(1, 3, 64, 64), cfg, torch.Generator().manual_seed(0))
    assert float(ones.mean()) == pytest.approx(np.sqrt(a1), abs=1e-3)


def test_holding_out_whole_sources_always_leaves_one_to_train_on():
    from types import SimpleNamespace

    from dvos_core.data.clips import _hold_out

    train = {k: [SimpleNamespace(kind="video", t=0)] for k in ("a", "b")}
    val = {}
    _hold_out(train, val, 0.8, 0)  # 0.8 of 2 sources rounds to 2: one must stay
    assert len(train) == 1 and len(val) == 1


def test_a_compound_hit_blurs_dims_and_noises_at_once(monkeypatch):
    """``compound_p``: a degraded frame hit by blur, exposure and noise together (a gust in poor light), whatever
    their own shares; off (0, the default) it draws nothing, so every frame is degraded as before the option."""
    import torch

    import dvos_core.data.degrade as d

    applied = []
    for name in ("motion_blur", "exposure", "noise"):
        monkeypatch.setattr(d, name, lambda x, g, *a, name=name: applied.append(name) or x)
    x = torch.rand(3, 16, 16)
    alone = {"blur_p": 0.0, "noise_p": 0.0, "exposure_p": 0.0, "occlude_p": 0.0}
    d.degrade(x, torch.Generator().manual_seed(3), d.DegradeConfig(**alone))
    assert applied == []
    d.degrade(x, torch.Generator().manual_seed(3), d.DegradeConfig(**alone, compound_p=1.0))
    assert applied == ["motion_blur", "exposure", "noise"]
    g = torch.Generator().manual_seed(7)
    d.degrade(x, g, d.DegradeConfig(**alone))  # off: its four draws (occluder, blur, exposure, noise) only
    draws = torch.Generator().manual_seed(7)
    for _ in range(4):
        torch.rand(1, generator=draws)
    assert torch.equal(g.get_state(), draws.get_state())
