"""The units of simulate_clip: object counts per world box, layering order, the background window the camera reads,
heads-visible counts, and a scene drawn once renders the same frame every time."""

import numpy as np
import pytest

from dvos_core.synth import SynthConfig
from dvos_core.synth.clip import _draw_scene, _heads_visible, _make_objects, _objects_in_box, _render_frame
from dvos_core.synth.toy import toy_background, toy_objects

MOVING = {"camera_speed": 4.0, "camera_shake_px": 6.0, "camera_rotation_deg": 8.0, "camera_zoom": 0.1}
STILL = {"camera_speed": 0.0, "camera_shake_px": 0.0, "camera_rotation_deg": 0.0, "camera_zoom": 0.0}


@pytest.fixture(scope="module")
def objects():
    return toy_objects(np.random.default_rng(0), 4, 3)


def test_object_counts_keep_the_per_view_density_and_at_least_one_head():
    lo = np.zeros(2)
    assert _objects_in_box(10, 6, lo, np.array([200.0, 100.0]), 100, 100) == (20, 12)  # box twice the view
    assert _objects_in_box(10, 6, lo, np.array([50.0, 50.0]), 100, 100) == (2, 2)  # 10 / 4 = 2.5 -> 2 (even)
    assert _objects_in_box(1, 1, lo, np.array([10.0, 10.0]), 100, 100) == (1, 0)  # one head stays; fakes may go
    assert _objects_in_box(0, 0, lo, np.array([300.0, 300.0]), 100, 100) == (0, 0)


@pytest.mark.parametrize("on_top", [0.0, 0.5, 1.0])
def test_layering_is_fakes_below_then_heads_then_fakes_on_top(objects, on_top):
    heads, fakes = objects
    cfg = SynthConfig(fake_on_top_prob=on_top)
    sprites, real, order = _make_objects(np.random.default_rng(1), cfg, heads, fakes, 7, 9)
    assert len(sprites) == 16 and real.tolist() == [True] * 7 + [False] * 9
    assert sorted(order.tolist()) == list(range(16))
    layered = real[order]
    first, last = np.flatnonzero(layered)[[0, -1]]
    assert layered[first : last + 1].all()  # the real heads form one contiguous layer
    below, above = first, len(order) - 1 - last
    if on_top == 0.0:
        assert (below, above) == (9, 0)
    elif on_top == 1.0:
        assert (below, above) == (0, 9)
    assert all(s.real == r for s, r in zip(sprites, real))


@pytest.mark.parametrize(
    ("bg_hw", "out_hw", "extra"),
    [
        ((160, 200), (96, 96), MOVING),
        ((160, 200), (64, 128), {}),
        ((60, 80), (96, 128), {"allow_upscale": True, **STILL}),  # the whole background, upscaled 1.6x, fills the view
    ],
)
def test_the_background_window_holds_everything_the_camera_sees(objects, bg_hw, out_hw, extra):
    """Where the background is large enough for the camera's path, every output pixel samples the background inside
    the window that is read (no mirrored border)."""
    heads, fakes = objects
    cfg = SynthConfig(n_frames=12, height=out_hw[0], width=out_hw[1], **extra)
    for seed in range(5):
        scene = _draw_scene(np.random.default_rng(seed), cfg, heads, fakes, (3, *bg_hw))
        rows, cols = scene.window
        assert 0 <= rows.start < rows.stop <= bg_hw[0] and 0 <= cols.start < cols.stop <= bg_hw[1]
        h, w = out_hw
        corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], float).T
        for m in scene.window_matrices:
            inverse = np.linalg.inv(np.vstack([m, [0, 0, 1]]))  # output -> window pixels
            x, y, _ = inverse @ corners
            assert x.min() >= -0.5 and x.max() <= cols.stop - cols.start - 0.5, (seed, x)
            assert y.min() >= -0.5 and y.max() <= rows.stop - rows.start - 0.5, (seed, y)


def test_heads_visible_counts_real_labels_with_enough_pixels():
    labels = np.zeros((10, 10), np.uint16)
    labels[:3, :3] = 1  # real, 9 px
    labels[5:, 5:] = 2  # fake, 25 px
    labels[9, 0] = 3  # real, 1 px
    is_real = np.array([True, False, True, True])  # label 4: real, absent
    assert _heads_visible(labels, is_real, 0) == 2  # any pixel counts (min 1)
    assert _heads_visible(labels, is_real, 5) == 1
    assert _heads_visible(labels, is_real, 10) == 0


def test_a_drawn_scene_renders_the_same_frame_every_time(objects):
    heads, fakes = objects
    cfg = SynthConfig(n_frames=4, height=64, width=96, **MOVING)
    bg = toy_background(np.random.default_rng(2), 5, 120, 160)
    scene = _draw_scene(np.random.default_rng(3), cfg, heads, fakes, bg.shape[:3])
    labels_a, labels_b = np.empty((2, 64, 96), np.uint16)
    a = _render_frame(scene, bg, 2, cfg, labels_a)
    b = _render_frame(scene, bg, 2, cfg, labels_b)
    assert a.dtype == np.float32 and a.shape == (64, 96, 4)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(labels_a, labels_b)
    assert labels_a.max() > 0  # objects are drawn
    assert not np.array_equal(a, _render_frame(scene, bg, 3, cfg, None))  # and they move
