"""The share of degraded training queries matched to the footage (dvos_core.data.degradation_match)."""

import cv2
import numpy as np
import pytest
from motion_clips import camera_clip, fast_pan, paint_heads, texture

from dvos_core.data.degradation_match import (
    CLEAN_SHARE,
    DEGRADED_SHARE,
    FootageDegradation,
    matched_query_share,
    measure_degradation,
)


@pytest.fixture(scope="module")
def steady():
    world, _, _ = paint_heads(texture(size=512, dark=True), 40, seed=1)
    frames, _, _ = camera_clip(world, fast_pan(9, seed=3, speed=(2, 4)), size=(128, 128))
    return frames


def gusty(frames, seed=0):
    """Every other frame streaked by a gust, dimmed or brightened, and noisy: footage a frame alone cannot trust."""
    rng = np.random.default_rng(seed)
    out = frames.astype(np.float32).copy()
    kernel = np.zeros((9, 9), np.float32)
    kernel[4] = 1 / 9
    for t in range(1, len(out), 2):
        out[t] = cv2.filter2D(out[t], -1, kernel) * rng.uniform(0.5, 0.7) + rng.normal(0, 12, out[t].shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def test_steady_clean_footage_gets_the_clean_share(steady):
    measured = measure_degradation([steady])
    assert measured.pairs == len(steady) - 1
    assert measured.sharpness_step < 0.1 and measured.flicker < 0.05
    assert matched_query_share(measured) == CLEAN_SHARE


def test_gusty_footage_gets_the_full_share(steady):
    measured = measure_degradation([gusty(steady)])
    assert measured.sharpness_step > 0.25 or measured.flicker > 0.15
    assert matched_query_share(measured) == DEGRADED_SHARE


def test_in_between_footage_gets_a_share_in_between():
    half = (CLEAN_SHARE + DEGRADED_SHARE) / 2
    assert matched_query_share(FootageDegradation(0.175, 0.0, 10)) == pytest.approx(half)
    assert matched_query_share(FootageDegradation(0.0, 0.10, 10)) == pytest.approx(half)
    assert matched_query_share(FootageDegradation(0.175, 0.15, 10)) == DEGRADED_SHARE  # the further measure counts


def test_nothing_to_measure_keeps_the_share_for_degraded_footage(steady):
    measured = measure_degradation([steady[:1], []])
    assert measured.pairs == 0 and matched_query_share(measured) == DEGRADED_SHARE


def test_long_videos_are_sampled(steady):
    long = np.concatenate([steady] * 10)  # 100 frames: 99 pairs, at most 64 measured
    assert measure_degradation([long]).pairs == 64


@pytest.fixture(scope="module")
def steady_large():
    """A steady 512 px pan: frames over the 256 px the band is measured at."""
    world, _, _ = paint_heads(texture(size=1400, dark=True), 200, seed=2)
    frames, _, _ = camera_clip(world, fast_pan(9, seed=5, speed=(6, 10)), size=(512, 512))
    return frames


def test_noise_that_comes_and_goes_on_large_frames_gets_the_full_share(steady_large):
    """Shrunk to 256 px for the band, the noise of every other frame averaged away: such footage measured clean."""
    rng = np.random.default_rng(0)
    noisy = steady_large.astype(np.float32)
    noisy[1::2] += rng.normal(0, 10, noisy[1::2].shape)
    noisy = np.clip(noisy, 0, 255).astype(np.uint8)
    measured = measure_degradation([noisy])
    assert measured.sharpness_step < 0.1 and measured.flicker < 0.05  # what the band and brightness see: clean
    assert measured.fine_step > 0.35 and matched_query_share(measured) == DEGRADED_SHARE
    clean = measure_degradation([steady_large])
    assert clean.fine_step < 0.15 and matched_query_share(clean) == CLEAN_SHARE
    assert np.isnan(measure_degradation([steady_large[:, :256, :256]]).fine_step)  # small frames: not measured
    assert measure_degradation([steady_large[:, :256, :256]]).to_dict()["fine_step"] is None
    assert matched_query_share(FootageDegradation(0.0, 0.0, 10, 0.25)) == pytest.approx(
        (CLEAN_SHARE + DEGRADED_SHARE) / 2
    )
