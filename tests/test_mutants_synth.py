"""Small tests that catch plausible bugs in the synthesis (motion signals and their bounds, camera path, wind sway,
wrapping, background windows, labels of soft heads, halo rings) that the other synth tests let through."""

import math

import numpy as np
import pytest

from dvos_core.object_format import OBJECT_ALPHA_MIN
from dvos_core.synth import SynthConfig, max_step_px, motion, render, simulate_clip
from dvos_core.synth.clip import background_indices
from dvos_core.synth.toy import toy_background, toy_objects


def test_smooth_signal_never_exceeds_its_amplitude():
    # weights sum to one: |x| <= A whatever the draw (200 signals x 3 components, short periods: peaks line up often)
    x = motion.smooth_signal(np.random.default_rng(0), 400, 2.0, (3.0, 6.0), size=(200,))
    assert x.shape == (400, 200)
    assert np.abs(x).max() <= 2.0 + 1e-9
    assert np.abs(x).max() > 1.5  # it does reach near the amplitude


def test_signal_step_bound_is_set_by_the_shortest_period_and_holds():
    # |dx/dt| <= 2 pi A / P_min: A = 1, P_min = 4 -> pi / 2
    assert motion.signal_step_bound(1.0, (4.0, 200.0)) == pytest.approx(math.pi / 2)
    x = motion.smooth_signal(np.random.default_rng(1), 300, 1.0, (4.0, 200.0), size=(100,))
    steps = np.abs(np.diff(x, axis=0))
    assert steps.max() <= math.pi / 2 + 1e-9
    assert steps.max() > 2 * math.pi / 200  # a bound from the longest period would not hold


def test_camera_path_offsets_are_relative_to_the_first_frame():
    cfg = SynthConfig(n_frames=12, height=64, width=64, camera_speed=2.0, camera_shake_px=3.0)
    cam = motion.camera_path(np.random.default_rng(5), cfg)
    np.testing.assert_allclose(cam.centre[0], [0.0, 0.0], atol=1e-12)
    assert np.abs(cam.centre[1:]).max() > 0.1  # it moves
    # so the first frame looks at centre0: the world point centre0 lands on the image centre at zoom/roll of frame 0
    m = cam.matrices((100.0, 50.0), 64, 64)[0]
    np.testing.assert_allclose(m @ [100.0, 50.0, 1.0], [31.5, 31.5, 1.0], atol=1e-9)


def test_full_wind_coherence_sways_every_head_alike_and_none_apart():
    n = 5
    start = np.arange(2 * n, dtype=np.float64).reshape(n, 2) * 10
    zeros, ones = np.zeros(n), np.ones(n)
    common = {"n_frames": 20, "height": 64, "width": 64, "drift_speed": 0.0, "sway_px": 3.0}
    mo = motion.head_motion(np.random.default_rng(2), SynthConfig(wind_coherence=1.0, **common), start, zeros, ones)
    sway = mo.position - start[None]
    assert np.abs(sway).max() > 0.5
    np.testing.assert_allclose(sway, np.broadcast_to(sway[:, :1], sway.shape), atol=1e-12)  # one gust for all
    mo = motion.head_motion(np.random.default_rng(2), SynthConfig(wind_coherence=0.0, **common), start, zeros, ones)
    sway = mo.position - start[None]
    assert np.abs(sway - sway[:, :1]).max() > 0.5  # each head its own sway


def test_wrap_keeps_positions_in_a_box_that_does_not_start_at_zero():
    pos = np.array([[5.0, 25.0], [-3.0, 12.0], [20.0, 31.0]])
    out = motion.wrap(pos, (10.0, 10.0), (20.0, 30.0))
    # x box [10, 20) (width 10), y box [10, 30) (height 20)
    np.testing.assert_allclose(out, [[15.0, 25.0], [17.0, 12.0], [10.0, 11.0]])


def test_max_step_px_of_pure_drift_grows_with_the_zoom():
    # no pan, shake, roll or sway, the zoom practically constant (periods of a million frames): a head drifting up
    # to d px per axis moves up to sqrt(2) d in the world, seen magnified by up to 1 + zoom
    cfg = SynthConfig(
        height=64,
        width=64,
        camera_speed=0.0,
        camera_shake_px=0.0,
        camera_rotation_deg=0.0,
        camera_zoom=0.2,
        camera_period=(1e6, 1e6),
        sway_px=0.0,
        drift_speed=1.0,
    )
    assert max_step_px(cfg) == pytest.approx(1.2 * math.sqrt(2), abs=1e-3)


def test_background_window_can_start_at_any_frame_that_fits():
    # 11 background frames, 10-frame clips: windows start at frame 0 or 1, both drawn
    starts = {int(background_indices(11, 10, np.random.default_rng(s))[0]) for s in range(40)}
    assert starts == {0, 1}
    starts = {int(background_indices(12, 10, np.random.default_rng(s))[0]) for s in range(60)}
    assert starts == {0, 1, 2}


def test_labels_of_soft_heads_claim_only_pixels_where_a_head_is_at_least_half_opaque():
    # no fakes: where a real head's alpha is >= 0.5 the non-head share is <= 0.5, so every labelled pixel is a mask
    # pixel; a lower claim would label the faint rims outside the mask
    heads, _ = toy_objects(np.random.default_rng(0), 3, 0)
    bg = toy_background(np.random.default_rng(0), 2, 96, 96)
    cfg = SynthConfig(n_frames=2, height=96, width=96, n_heads=(6, 6), n_fakes=(0, 0), edge_feather_px=2.0)
    _, masks, info = simulate_clip(heads, [], bg, cfg, seed=1, return_info=True)
    labelled = info["labels"] > 0
    assert labelled.sum() > 100
    assert not (labelled & (masks == 0)).any()


def test_a_pixel_at_the_object_alpha_is_object_not_halo():
    rgba = np.zeros((6, 6, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[..., 3] = 60  # halo all around
    rgba[1:5, 1:5, 3] = OBJECT_ALPHA_MIN  # the object: alpha exactly at the threshold
    s = render.make_sprite(rgba, True, np.ones(3), 0.0, np.random.default_rng(0), 0.0, 24.0)
    pad = (s.rgba.shape[0] - 6) // 2
    obj = np.zeros(s.rgba.shape[:2], bool)
    obj[pad + 1 : pad + 5, pad + 1 : pad + 5] = True
    np.testing.assert_array_equal(s.rgba[..., 3] > 0, obj)
    assert s.ring is not None
    assert s.ring[..., 3].max() <= 1.0
    assert not s.ring[..., 3][obj].any()  # the ring lies only where the crop is halo


def _disc_mask(n: int, radius: int, size: int = 64) -> np.ndarray:
    import cv2

    m = np.zeros((size, size), np.uint8)
    for i in range(n):
        cv2.circle(m, (8 + (i % 4) * 15, 8 + (i // 4) * 15), radius, 1, -1)
    return m


@pytest.mark.parametrize("counts", [(2, 12), (10, 11)])
def test_match_density_aims_at_the_painted_range_or_around_its_median_when_narrow(tmp_project, monkeypatch, counts):
    """The range spans the painted frames' lowest to highest coverage, or +-SPREAD around the median when they
    hardly differ (the head-count search itself is replaced by a recorder: only the targets are checked)."""
    from dvos_core.synth import density

    masks = [_disc_mask(counts[0], 6), _disc_mask(counts[1], 6)]
    v = tmp_project.add_video_array("plot", np.full((3, 64, 64, 3), 90, np.uint8))
    for t, m in enumerate(masks):
        v.set_mask(t, m, "manual")
    heads, fakes = toy_objects(np.random.default_rng(0), 2, 2)
    tmp_project.objects.add(
        [(h, {"kind": "head", "source": "toy"}) for h in heads]
        + [(f, {"kind": "fake", "source": "toy"}) for f in fakes]
    )
    targets = []

    def record(heads, fakes, cfg, target, fake_ratio, **kw):
        targets.append(target)
        return 50.0

    monkeypatch.setattr(density, "heads_for_coverage", record)
    monkeypatch.setattr(density, "synthetic_coverage", lambda *a, **k: 0.1)
    density.match_density(tmp_project, base=SynthConfig(n_heads=(1, 2), n_fakes=(0, 0)))
    lo, hi = sorted(float(m.mean()) for m in masks)
    median = (lo + hi) / 2
    if hi - lo >= 2 * density.SPREAD * median:  # clearly different frames: their own range
        assert targets == pytest.approx([lo, hi])
    else:
        assert targets == pytest.approx([(1 - density.SPREAD) * median, (1 + density.SPREAD) * median])


def test_fakes_per_frame_keep_the_ratio_to_the_nearest_whole_fake():
    from dvos_core.synth.density import _with_heads

    cfg = _with_heads(SynthConfig(), 10, 0.29)  # 2.9 fakes per frame -> 3
    assert tuple(cfg.n_heads) == (10, 10) and tuple(cfg.n_fakes) == (3, 3)


def test_heads_for_coverage_reaches_a_far_target_in_few_steps(monkeypatch):
    """Coverage with -log(1 - c) exactly proportional to the head count (0.01 per head): 50 heads cover
    1 - exp(-0.5). From 1 head, steps of up to 4x reach it (1, 4, 16, 50) well within the search's six steps."""
    from dvos_core.synth import density

    monkeypatch.setattr(density, "synthetic_coverage", lambda h, f, cfg, **k: 1 - math.exp(-0.01 * cfg.n_heads[0]))
    n = density.heads_for_coverage([], [], SynthConfig(n_heads=(1, 1), n_fakes=(0, 0)), 1 - math.exp(-0.5), 0.0)
    assert n == pytest.approx(50, rel=0.03)


def test_match_density_that_lands_on_the_base_heads_keeps_the_base_fakes(tmp_project, monkeypatch):
    """Matched head counts equal to the base's change nothing: the base's own fakes are kept, even where they are
    not in one ratio to the heads at both ends."""
    from dvos_core.synth import density

    v = tmp_project.add_video_array("plot", np.full((2, 64, 64, 3), 90, np.uint8))
    v.set_mask(0, _disc_mask(3, 6), "manual")
    heads, fakes = toy_objects(np.random.default_rng(0), 2, 2)
    tmp_project.objects.add(
        [(h, {"kind": "head", "source": "toy"}) for h in heads]
        + [(f, {"kind": "fake", "source": "toy"}) for f in fakes]
    )
    ends = iter([1.0, 2.0])
    monkeypatch.setattr(density, "heads_for_coverage", lambda *a, **k: next(ends))
    monkeypatch.setattr(density, "synthetic_coverage", lambda *a, **k: 0.1)
    m = density.match_density(tmp_project, base=SynthConfig(n_heads=(1, 2), n_fakes=(0, 5)))
    assert tuple(m.config.n_heads) == (1, 2) and tuple(m.config.n_fakes) == (0, 5)
    assert m.overrides == {}
