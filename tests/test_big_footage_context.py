"""Context-model training samples of large frames: only the part of the frames a sample's crop reads is warped,
converted and sampled, with the same result as whole frames give."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from dvos_core.data.augment import (
    AugmentConfig,
    _affine_sample,
    draw_spatial,
    eval_spatial,
    sample_window,
    source_window,
    spatial_eval,
    spatial_train,
)
from dvos_core.data.clips import ClipIndex
from dvos_core.data.context_sample import warp_references
from dvos_core.data.dataset import ClipDataset
from dvos_core.data.distort import distort
from dvos_core.motion.transforms import similarity_matrix

H, W = 176, 272


def _moving_clip(n=8, seed=0):
    """Frames of a textured field with bright blobs under a panning, turning camera, and the blobs' masks."""
    rng = np.random.default_rng(seed)
    field = cv2.GaussianBlur(rng.integers(0, 256, (H + 80, W + 80, 3), dtype=np.uint8), (0, 0), 2)
    mask = np.zeros(field.shape[:2], np.uint8)
    for _ in range(30):
        c = (int(rng.integers(0, W + 80)), int(rng.integers(0, H + 80)))
        cv2.ellipse(
            mask, c, (int(rng.integers(4, 9)), int(rng.integers(8, 14))), float(rng.uniform(0, 180)), 0, 360, 1, -1
        )
    field[mask > 0] = (230, 220, 120)
    frames, masks = np.empty((n, H, W, 3), np.uint8), np.empty((n, H, W), np.uint8)
    for t in range(n):
        m = similarity_matrix(-40 + 2.5 * t, -40 + 1.5 * t, 0.6 * t, 1.0, ((W + 79) / 2, (H + 79) / 2))
        frames[t] = cv2.warpAffine(field, m, (W, H), flags=cv2.INTER_LINEAR)
        masks[t] = cv2.warpAffine(mask, m, (W, H), flags=cv2.INTER_NEAREST)
    return frames, masks


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    from dvos_core.store import Project

    p = Project.create(tmp_path_factory.mktemp("big") / "p.dvos")
    s = p.create_synthetic("moving", 2, 8, H, W)
    for i in range(2):
        s.write_clip(i, *_moving_clip(seed=i))
    return p


def _whole_frames_clip(ds, s, g):
    """The clip as it was made before windows: whole frames warped, converted and cropped."""
    times = ds._times(s, g)
    frames, masks, _ = ds.read_clip_masks(s, times=times)
    frames, masks, cover = warp_references(frames, masks, ds._alignment(s, times[0], frames))
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(255.0)
    m = torch.from_numpy(np.stack([masks, cover], 1)).float()
    if ds.train:
        return distort(*spatial_train(x, m, ds.size, ds.augment, g), g, ds.augment.distort_p)
    return spatial_eval(x, m, ds.size, ds.augment.eval_crop)


@pytest.mark.parametrize("train", [True, False])
def test_a_context_clip_is_the_whole_frames_crop_made_from_its_window(project, train):
    aug = AugmentConfig(crop_min=40, crop_max=120, eval_crop=100, rotate_p=0.8, distort_p=0.3)
    idx = ClipIndex.from_project(project, 4, 1, "synthetic", val_fraction=0)
    ds = ClipDataset(project.path, idx, 32, train=train, kind="context", augment=aug)
    worst = 0.0
    for seed in range(12):
        g_old, g_new = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
        s = idx[seed % len(idx)]
        x_old, m_old = _whole_frames_clip(ds, s, g_old)
        x, m, _, _ = ds._context_clip(s, g_new)
        assert torch.equal(g_old.get_state(), g_new.get_state())  # the same random draws, in the same order
        assert x.shape == x_old.shape == (5, 3, 32, 32) and m.shape == (5, 2, 32, 32)
        worst = max(worst, float((x - x_old).abs().max()))
        assert float((m != m_old).float().mean()) < 0.002  # masks and coverage: a rare tie at 0.5 may flip
    assert worst < 1.5 / 255  # float rounding, and now and then a grey level of the warp's fixed-point rounding


def test_a_context_item_warps_only_its_window(project, monkeypatch):
    import dvos_core.data.context_sample as cs

    warped = []
    real = cs.warp_to

    def counting(image, matrix, shape, *a, **k):
        warped.append(int(shape[0]) * int(shape[1]))
        return real(image, matrix, shape, *a, **k)

    monkeypatch.setattr(cs, "warp_to", counting)
    aug = AugmentConfig(crop_min=40, crop_max=48, rotate_p=1.0)
    idx = ClipIndex.from_project(project, 4, 1, "synthetic", val_fraction=0)
    ds = ClipDataset(project.path, idx, 32, train=True, kind="context", augment=aug)
    for seed in range(4):
        item = ds[(seed % len(idx), seed)]
        assert item["refs"].shape == (4, 3, 32, 32)
    assert warped and max(warped) < 0.25 * H * W  # a 48 px crop, turned: about 70 x 70 px of a 176 x 272 frame


@pytest.mark.parametrize("seed", range(8))
def test_a_window_gives_the_crop_of_whole_frames_even_beyond_their_edges(seed):
    rng = np.random.default_rng(seed)
    frames = torch.from_numpy(rng.random((2, 3, 150, 230), dtype=np.float32))
    masks = torch.from_numpy((rng.random((2, 1, 150, 230)) < 0.5).astype(np.float32))
    cfg = AugmentConfig(crop_min=30, crop_max=200, rotate_p=1.0, foreground_crop_p=0.0)
    g = torch.Generator().manual_seed(seed)
    params = draw_spatial(150, 230, masks[-1, 0], cfg, g) if seed % 4 else eval_spatial(150, 230, 120)
    if seed == 1:  # a crop turned about a corner: much of it lies beyond the frame and is reflected back
        params = (5.0, 225.0, 60.0, 60.0, 0.5, True, False)
    size = 24
    y0, y1, x0, x1 = source_window(150, 230, params, size)
    f_old, m_old = _affine_sample(frames, masks, *params, size)
    f_new, m_new = sample_window(
        frames[..., y0:y1, x0:x1], masks[..., y0:y1, x0:x1], (y0, y1, x0, x1), (150, 230), params, size
    )
    assert float((f_new - f_old).abs().max()) < 1e-4  # float rounding of the positions (pixels of noise in [0, 1])
    assert float((m_new != m_old).float().mean()) < 0.01  # (a mask averaged to exactly 0.5 may flip)
    if params[2] <= 60:
        assert (y1 - y0) * (x1 - x0) < 0.5 * 150 * 230


def test_the_benchmark_times_both_ways_and_finds_them_alike():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "footage_bench.py"
    spec = importlib.util.spec_from_file_location("footage_bench_ctx", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    frames, masks = _moving_clip(n=9)
    out = bench.bench_context_sample(frames, masks, samples=2, rounds=1)
    assert len(out["old_s"]) == len(out["new_s"]) == 1
    assert out["max_abs_diff"] < 1.5 / 255 and out["mask_pixels_differing"] < 0.002 * 2 * 5 * 2 * 128 * 128
