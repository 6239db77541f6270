"""simulate_clip: exact masks, fakes never labelled, determinism, smooth bounded motion, clear input errors."""

import cv2
import numpy as np
import pytest

from dvos_core.synth import SynthConfig, max_step_px, simulate_clip
from dvos_core.synth.clip import background_indices
from dvos_core.synth.toy import toy_background, toy_objects

RED, BLUE, GREEN = (220, 20, 20), (20, 20, 220), (20, 200, 20)
NO_COLOUR_JITTER = {"head_brightness": 0, "head_colour": 0, "fake_brightness": 0, "fake_colour": 0}


def solid_ellipse(h, w, colour):
    a = np.zeros((h, w, 4), np.uint8)
    cv2.ellipse(a, (w // 2, h // 2), (w // 2 - 2, h // 2 - 2), 0, 0, 360, (*colour, 255), -1)
    return a


def solid_inputs(n_bg=4, size=140):
    heads = [solid_ellipse(30, 14, RED), solid_ellipse(24, 12, RED)]
    fakes = [solid_ellipse(30, 14, BLUE), solid_ellipse(26, 16, BLUE)]
    bg = np.empty((n_bg, size, size, 3), np.uint8)
    bg[:] = GREEN
    return heads, fakes, bg


def is_colour(frames, colour):
    return np.all(frames == np.asarray(colour, np.uint8), axis=-1)


def test_hard_paste_mask_is_exactly_the_visible_real_head_pixels():
    heads, fakes, bg = solid_inputs()
    cfg = SynthConfig(
        n_frames=8,
        height=96,
        width=96,
        n_heads=(8, 12),
        n_fakes=(8, 12),
        fake_on_top_prob=0.5,
        edge_feather_px=0,
        **NO_COLOUR_JITTER,
    )
    frames, masks, info = simulate_clip(heads, fakes, bg, cfg, seed=3, return_info=True)
    assert frames.shape == (8, 96, 96, 3) and frames.dtype == np.uint8
    assert masks.shape == (8, 96, 96) and masks.dtype == np.uint8 and set(np.unique(masks)) <= {0, 1}
    red, blue = is_colour(frames, RED), is_colour(frames, BLUE)
    # with hard edges every pixel is exactly the topmost object's colour (or the field's)
    assert np.all(red | blue | is_colour(frames, GREEN))
    np.testing.assert_array_equal(masks.astype(bool), red)
    assert blue.any() and red.any()
    # some fakes lie above real heads and hide them: those pixels are blue and unlabelled
    labels, real = info["labels"], info["is_real"]
    assert not masks[blue].any()
    np.testing.assert_array_equal(masks, real[labels].astype(np.uint8))


def test_fakes_above_real_heads_remove_mask_pixels():
    heads, fakes, bg = solid_inputs()
    base = dict(
        n_frames=4, height=96, width=96, n_heads=(20, 20), n_fakes=(20, 20), edge_feather_px=0, **NO_COLOUR_JITTER
    )
    _, below = simulate_clip(heads, fakes, bg, SynthConfig(fake_on_top_prob=0.0, **base), seed=5)
    frames, above = simulate_clip(heads, fakes, bg, SynthConfig(fake_on_top_prob=1.0, **base), seed=5)
    # same placement: fakes on top can only take pixels away from the mask, and they do take some
    assert np.all(above <= below) and above.sum() < below.sum()
    assert not above[is_colour(frames, BLUE)].any()


def test_soft_edges_keep_the_hard_mask_outline():
    heads, fakes, bg = solid_inputs()
    base = dict(n_frames=6, height=96, width=96, n_heads=(10, 10), n_fakes=(10, 10), **NO_COLOUR_JITTER)
    hard_f, hard_m, hard = simulate_clip(
        heads, fakes, bg, SynthConfig(edge_feather_px=0, **base), seed=11, return_info=True
    )
    soft_f, soft_m = simulate_clip(heads, fakes, bg, SynthConfig(edge_feather_px=1.0, **base), seed=11)
    # blended edge colours exist only with feathering
    pure = is_colour(soft_f, RED) | is_colour(soft_f, BLUE) | is_colour(soft_f, GREEN)
    assert (~pure).sum() > 100
    assert np.all(is_colour(hard_f, RED) | is_colour(hard_f, BLUE) | is_colour(hard_f, GREEN))
    # the masks agree except for a thin band along object outlines
    diff = hard_m != soft_m
    inter, union = (hard_m & soft_m).sum(), (hard_m | soft_m).sum()
    assert inter / union > 0.85
    k = np.ones((5, 5), np.uint8)
    band = np.stack(
        [
            cv2.dilate(lab, k, borderType=cv2.BORDER_REPLICATE) != cv2.erode(lab, k, borderType=cv2.BORDER_REPLICATE)
            for lab in hard["labels"]
        ]
    )
    assert np.all(band[diff])
    # soft mask pixels are mostly head-coloured: red dominates there
    r, b = soft_f[..., 0].astype(int), soft_f[..., 2].astype(int)
    on = soft_m.astype(bool)
    assert np.mean(r[on] > b[on]) > 0.97


def colour_shares(frames, colours):
    """Per pixel, the shares of four ``colours`` that mix to it (summing to 1): (..., 4)."""
    m = np.array([[*np.array(colours).T[c]] for c in range(3)] + [[1, 1, 1, 1]], float)
    x = np.c_[frames.reshape(-1, 3).astype(float), np.ones(frames[..., 0].size)]
    return np.linalg.solve(m, x.T).T.reshape(*frames.shape[:-1], 4)


def dense_soft_clip(heads, fakes, bg, feather, n_heads=50, n_fakes=50):
    """Four 128² frames crowded with heads and fakes, fakes above and below, no colour jitter."""
    cfg = SynthConfig(
        n_frames=4,
        height=128,
        width=128,
        n_heads=(n_heads, n_heads),
        n_fakes=(n_fakes, n_fakes),
        fake_on_top_prob=0.5,
        edge_feather_px=feather,
        **NO_COLOUR_JITTER,
    )
    return simulate_clip(heads, fakes, bg, cfg, seed=2)


@pytest.mark.parametrize("feather", [0.7, 2.5])
def test_soft_mask_is_where_real_heads_make_up_half_the_rendered_colour(feather):
    """Dense soft-edged layers, fakes above and below: the mask is 1 exactly where at least half of the rendered
    colour comes from real heads, and soft rims bleed object colour, never black (no dark halo)."""
    frames, masks = dense_soft_clip(*solid_inputs(size=200), feather)
    share = colour_shares(frames, [RED, BLUE, GREEN, (0, 0, 0)])
    red, dark = share[..., 0], share[..., 3]
    assert np.abs(dark).max() < 0.02
    clear = np.abs(red - 0.5) > 0.01  # 8-bit rounding decides pixels at exactly half
    assert clear.mean() > 0.97 and ((red > 0.01) & (red < 0.99)).sum() > 500  # many blended pixels checked
    np.testing.assert_array_equal(masks[clear], (red >= 0.5)[clear])


YELLOW = (220, 220, 20)


def haloed_ellipse(h, w, colour, ring_colour, ring_px=3):
    """An ellipse of ``colour`` cut with ``ring_px`` of halo (``extract.components``) in ``ring_colour``."""
    from dvos_core.extract.components import halo_weights, rgba_crop

    obj = solid_ellipse(h, w, colour)[..., 3] > 0
    frame = np.empty((h, w, 3), np.uint8)
    frame[:] = ring_colour
    frame[obj] = colour
    return rgba_crop(frame, obj, halo_weights(obj.astype(np.int32), 1, ring_px))


@pytest.mark.parametrize("feather", [0.0, 0.7])
def test_a_heads_halo_is_pasted_with_it_but_never_labelled(feather):
    """Heads carry a yellow halo ring: it shows in the frames, and the mask is still exactly where at least half of
    the colour is the heads' own red - never where the ring is, over the field, a fake or another head."""
    heads = [haloed_ellipse(30, 14, RED, YELLOW), haloed_ellipse(24, 12, RED, YELLOW)]
    _, fakes, bg = solid_inputs(size=200)
    fakes.append(haloed_ellipse(28, 14, BLUE, YELLOW))  # a fake's ring is field alike
    frames, masks = dense_soft_clip(heads, fakes, bg, feather, n_heads=40, n_fakes=20)
    share = colour_shares(frames, [RED, BLUE, GREEN, YELLOW])
    red, yellow = share[..., 0], share[..., 3]
    assert (yellow > 0.5).sum() > 500  # the rings are pasted
    clear = np.abs(red - 0.5) > 0.02  # 8-bit rounding decides pixels at exactly half
    assert clear.mean() > 0.97
    np.testing.assert_array_equal(masks[clear], (red >= 0.5)[clear])
    assert not masks[yellow > 0.5].any()


@pytest.mark.parametrize("feather", [0.0, 0.7])
def test_a_halo_never_covers_a_head_pasted_before(feather):
    """Crowded clips of the same heads with and without a yellow halo ring have the same masks: a ring replaces
    field only, so overlapping heads get no field-coloured outline between them and the crowd keeps its cover."""
    _, fakes, bg = solid_inputs(size=200)
    plain = [solid_ellipse(30, 14, RED), solid_ellipse(24, 12, RED)]
    haloed = [haloed_ellipse(30, 14, RED, YELLOW), haloed_ellipse(24, 12, RED, YELLOW)]
    _, without = dense_soft_clip(plain, fakes, bg, feather, n_heads=90, n_fakes=10)
    frames, masks = dense_soft_clip(haloed, fakes, bg, feather, n_heads=90, n_fakes=10)
    assert without.mean() > 0.5  # crowded: most heads overlap others
    assert (colour_shares(frames, [RED, BLUE, GREEN, YELLOW])[..., 3] > 0.5).sum() > 200  # rings over the field
    if feather == 0:
        np.testing.assert_array_equal(masks, without)
    else:  # a ring may still tip a pixel where a head gives a few % of the colour and the next head's rim the rest
        assert not (masks > without).any() and (masks < without).mean() < 5e-4


def test_toy_objects_with_a_halo_render_like_cut_objects():
    """Toy objects with ``halo_px`` carry a ring of field exactly as extraction cuts real heads (alpha 1..127 only
    outside the object), and a clip's mask never covers field that only a ring covers."""
    plain = toy_objects(np.random.default_rng(0), 3, 3)
    haloed = toy_objects(np.random.default_rng(0), 3, 3, halo_px=4)
    for a, b in zip(plain[0] + plain[1], haloed[0] + haloed[1]):
        assert b.shape == (a.shape[0] + 8, a.shape[1] + 8, 4)
        np.testing.assert_array_equal(b[4:-4, 4:-4][a[..., 3] >= 128], a[a[..., 3] >= 128])  # the object as it was
        ring = (b[..., 3] > 0) & (b[..., 3] < 128)
        assert ring.sum() > 2 * (a.shape[0] + a.shape[1]) and b[..., 3][ring].max() <= 127
    bg = toy_background(np.random.default_rng(1), 3, 120, 120)
    cfg = SynthConfig(n_frames=3, height=96, width=96, n_heads=(6, 6), n_fakes=(6, 6), edge_feather_px=0)
    _, masks, info = simulate_clip(*haloed, bg, cfg, seed=2, return_info=True)
    heads_here = info["is_real"][info["labels"]]
    assert not masks[info["labels"] == 0].any()  # a ring over the field is never head
    assert heads_here.sum() > 300 and (masks[heads_here] > 0).mean() > 0.9


def test_same_seed_same_clip_bit_for_bit_and_different_seed_differs():
    rng = np.random.default_rng(0)
    heads, fakes = toy_objects(rng, 4, 4)
    bg = toy_background(rng, 5, 120, 120)
    cfg = SynthConfig(n_frames=6, height=96, width=96, n_heads=(5, 15), n_fakes=(5, 15))
    f1, m1 = simulate_clip(heads, fakes, bg, cfg, seed=7)
    f2, m2 = simulate_clip(heads, fakes, bg, cfg, seed=7)
    f3, m3 = simulate_clip(heads, fakes, bg, cfg, seed=8)
    assert np.array_equal(f1, f2) and np.array_equal(m1, m2)
    assert not np.array_equal(f1, f3) and not np.array_equal(m1, m3)


def test_store_records_are_accepted_as_objects():
    heads, fakes, bg = solid_inputs()
    cfg = SynthConfig(n_frames=3, height=64, width=64, n_heads=(3, 3), n_fakes=(3, 3))
    a = simulate_clip(heads, fakes, bg, cfg, seed=1)
    b = simulate_clip([(h, {"kind": "head"}) for h in heads], [(f, {"kind": "fake"}) for f in fakes], bg, cfg, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def _centre_tracks(labels, n_labels, height, width):
    """Centroids per label and frame where the object is whole (not cut by the border, not partly hidden)."""
    T = len(labels)
    tracks = np.full((n_labels + 1, T, 2), np.nan)
    areas = np.zeros((n_labels + 1, T))
    for t in range(T):
        ys, xs = np.indices(labels[t].shape)
        for j in np.unique(labels[t]):
            if j == 0:
                continue
            sel = labels[t] == j
            y, x = ys[sel], xs[sel]
            areas[j, t] = sel.sum()
            if y.min() > 1 and x.min() > 1 and y.max() < height - 2 and x.max() < width - 2:
                tracks[j, t] = x.mean(), y.mean()
    whole = areas >= 0.9 * np.nanmax(np.where(areas > 0, areas, np.nan), axis=1, initial=0, keepdims=True)
    tracks[~whole] = np.nan
    return tracks


def test_head_motion_is_smooth_and_bounded():
    heads = [solid_ellipse(25, 25, RED)]  # round heads: rotation and scale about the centre keep the centroid
    _, _, bg = solid_inputs(n_bg=30, size=200)
    cfg = SynthConfig(
        n_frames=40,
        height=160,
        width=160,
        n_heads=(6, 6),
        n_fakes=(0, 0),
        placement_tries=20,
        camera_speed=2.0,
        sway_px=4.0,
        elastic_px=0.5,
        edge_feather_px=0,
        **NO_COLOUR_JITTER,
    )
    _, _, info = simulate_clip(heads, [], bg, cfg, seed=4, return_info=True)
    tracks = _centre_tracks(info["labels"], len(info["is_real"]) - 1, 160, 160)
    step = np.linalg.norm(np.diff(tracks, axis=1), axis=-1)
    accel = np.linalg.norm(np.diff(tracks, n=2, axis=1), axis=-1)
    assert np.isfinite(step).sum() > 60  # enough tracked steps for the test to mean something
    bound = max_step_px(cfg) + cfg.elastic_px + 1.0
    assert np.nanmax(step) <= bound
    assert np.nanmean(step) > 0.3  # it does move
    # smooth: the frame-to-frame change of velocity is much smaller than the velocity (white noise: ~1.4x)
    assert np.nanmean(accel) < 0.4 * np.nanmean(step)


def test_background_shorter_than_clip_plays_back_and_forth():
    idx = background_indices(4, 10, np.random.default_rng(0))
    np.testing.assert_array_equal(idx, [0, 1, 2, 3, 2, 1, 0, 1, 2, 3])
    assert np.all(np.abs(np.diff(idx)) == 1)
    idx = background_indices(50, 10, np.random.default_rng(0))
    np.testing.assert_array_equal(np.diff(idx), np.ones(9))
    assert background_indices(1, 5, np.random.default_rng(0)).tolist() == [0] * 5


def test_background_follows_the_camera():
    """A background with a sharp vertical edge: the camera pan moves it by the same amount as the heads."""
    bg = np.zeros((3, 200, 200, 3), np.uint8)
    bg[:, :, :100] = 200
    cfg = SynthConfig(
        n_frames=20,
        height=96,
        width=96,
        n_heads=(1, 1),
        n_fakes=(0, 0),
        camera_speed=2.0,
        camera_shake_px=0,
        camera_rotation_deg=0,
        camera_zoom=0,
        sway_px=0,
        drift_speed=0,
        rotation_deg=0,
        scale_jitter=0,
        elastic_px=0,
        edge_feather_px=0,
        **NO_COLOUR_JITTER,
    )
    heads = [solid_ellipse(16, 16, RED)]
    checked = 0
    for seed in range(20):
        frames, _masks, info = simulate_clip(heads, [], bg, cfg, seed=seed, return_info=True)
        free = np.flatnonzero(~(info["labels"][0] > 0).any(1) & ~(info["labels"][-1] > 0).any(1))
        if not len(free):
            continue
        rows = frames[[0, -1], free[0], :, 1].astype(float)  # a row of bare field in both frames
        if not np.all((rows[:, 0] == 200) & (rows[:, -1] == 0)):
            continue  # the edge is not in view in both frames
        bg_shift = (rows[1].sum() - rows[0].sum()) / 200  # width of the bright part, sub-pixel
        for j in range(1, len(info["is_real"])):
            m0, m1 = info["labels"][0] == j, info["labels"][-1] == j
            on_border = any(m[[0, -1]].any() or m[:, [0, -1]].any() for m in (m0, m1))
            if m0.sum() > 100 and abs(int(m0.sum()) - int(m1.sum())) < 10 and not on_border:
                head_shift = np.nonzero(m1)[1].mean() - np.nonzero(m0)[1].mean()
                assert abs(bg_shift - head_shift) <= 1.0
                checked += abs(bg_shift) >= 3  # a clear pan
    assert checked >= 2


def test_no_heads_is_a_clear_error():
    _, fakes, bg = solid_inputs()
    with pytest.raises(ValueError, match="no real heads"):
        simulate_clip([], fakes, bg, SynthConfig(n_frames=2, height=64, width=64))


def test_background_smaller_than_output_is_a_clear_error_unless_upscaling():
    heads, fakes, bg = solid_inputs(size=80)
    with pytest.raises(ValueError, match="smaller output size|allow_upscale"):
        simulate_clip(heads, fakes, bg, SynthConfig(n_frames=2, height=96, width=96))
    frames, masks = simulate_clip(heads, fakes, bg, SynthConfig(n_frames=2, height=96, width=96, allow_upscale=True))
    assert frames.shape == (2, 96, 96, 3) and masks.any()


def test_bad_inputs_are_clear_errors():
    heads, fakes, bg = solid_inputs()
    cfg = SynthConfig(n_frames=2, height=64, width=64)
    with pytest.raises(ValueError, match="uint8"):
        simulate_clip(heads, fakes, bg.astype(np.float32), cfg)
    with pytest.raises(ValueError, match="no frames"):
        simulate_clip(heads, fakes, bg[:0], cfg)
    with pytest.raises(ValueError, match="RGBA"):
        simulate_clip([h[..., :3] for h in heads], fakes, bg, cfg)
    with pytest.raises(ValueError, match="alpha"):
        simulate_clip([np.zeros((10, 10, 4), np.uint8)], fakes, bg, cfg)
    faint = heads[0].copy()
    faint[..., 3] //= 3  # alpha 85 inside: below the 128 threshold, nothing would be pasted
    with pytest.raises(ValueError, match="alpha >= 128"):
        simulate_clip(heads, [faint], bg, cfg)


def test_no_fakes_is_fine():
    heads, _, bg = solid_inputs()
    frames, masks = simulate_clip(
        heads, [], bg, SynthConfig(n_frames=2, height=64, width=64, edge_feather_px=0, **NO_COLOUR_JITTER), seed=2
    )
    assert not is_colour(frames, BLUE).any() and masks.any()


def test_cancel_stops_between_frames():
    from dvos_core.progress import Cancelled, CancelToken

    heads, fakes, bg = solid_inputs()
    token, seen = CancelToken(), []

    def progress(done, total, msg):
        seen.append(done)
        if done == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        simulate_clip(heads, fakes, bg, SynthConfig(n_frames=10, height=64, width=64), progress=progress, cancel=token)
    assert seen == [1, 2]
