"""Small tests that catch plausible bugs in the camera-motion helpers and estimator (pixel-centre rescaling, mask
warps, valid regions, reflected borders, rejected turns, weak phase peaks, cumulative paths) that the other motion
tests let through."""

import cv2
import numpy as np
import pytest

from dvos_core.motion import global_motion
from dvos_core.motion.global_motion import GlobalMotion, MotionParams, estimate_pair
from dvos_core.motion.transforms import rescale, valid_region, warp_to


def _texture(seed: int, size: int = 256) -> np.ndarray:
    g = cv2.GaussianBlur(np.random.default_rng(seed).integers(0, 255, (size, size)).astype(np.float32), (0, 0), 2.0)
    return cv2.normalize(g, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def test_rescale_follows_the_pixel_centre_convention_of_resize():
    # frames halved by cv2.resize: full pixel X is small pixel x = (X + 0.5) / 2 - 0.5. A zoom by 2 about small pixel
    # 0 (x' = 2 x) is, in full pixels, X' = 2 (x' + 0.5) - 0.5 = 2 X - 0.5
    m = rescale(np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]), 0.5)
    np.testing.assert_allclose(m, [[2.0, 0.0, -0.5], [0.0, 2.0, -0.5]], atol=1e-12)
    # a pure shift by d small pixels is a shift by 2 d full pixels
    np.testing.assert_allclose(rescale(np.array([[1.0, 0, 3.0], [0, 1.0, -1.0]]), 0.5), [[1, 0, 6.0], [0, 1, -2.0]])


def test_a_2d_mask_is_warped_with_nearest_neighbour_labels_stay_labels():
    mask = np.zeros((20, 20), np.uint8)
    mask[5:12, 6:14] = 3
    out = warp_to(mask, np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.3]]), mask.shape)
    assert set(np.unique(out)) == {0, 3}


def test_valid_region_erodes_its_margin():
    # a 10x10 frame moved 3 px right fills target columns 3..9; the 1 px margin drops column 3 (next to the empty
    # columns; the frame's own edges are not eroded) -> columns 4..9
    shift = np.array([[1.0, 0, 3.0], [0, 1.0, 0]])
    v = valid_region(shift, (10, 10))
    assert v.sum() == 60 and v[:, 4:].all()
    assert valid_region(shift, (10, 10), margin=0).sum() == 70


def test_warp_to_with_a_reflected_border_fills_from_inside_the_frame():
    img = np.tile(np.arange(10, dtype=np.uint8) * 10 + 5, (6, 1))  # columns 5, 15, ..., 95
    out = warp_to(img, np.array([[1.0, 0, 2.0], [0, 1.0, 0]]), img.shape, border="reflect")  # moved 2 px right
    # target column x reads source column x - 2; columns -2, -1 reflect (101) onto columns 2, 1
    np.testing.assert_array_equal(out[:, 0], img[:, 2])
    np.testing.assert_array_equal(out[:, 1], img[:, 1])
    np.testing.assert_array_equal(out[:, 2:], img[:, :-2])
    assert not warp_to(img, np.array([[1.0, 0, 2.0], [0, 1.0, 0]]), img.shape)[:, :2].any()  # constant: zero


@pytest.mark.parametrize("turn", [20.0, -20.0])
def test_a_turn_larger_than_max_rotation_either_way_is_a_failure(monkeypatch, turn):
    a = np.deg2rad(turn)
    m = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0]])
    monkeypatch.setattr(global_motion, "_from_features", lambda *args, **kw: (m, 100))
    pm = estimate_pair(_texture(0), _texture(0), params=MotionParams(max_rotation_deg=15.0))
    assert pm.method == "none" and pm.rotation_deg == 0.0


def test_unrelated_frames_give_no_motion_not_a_weak_phase_peak():
    pm = estimate_pair(_texture(0), _texture(1))
    assert pm.method == "none" and (pm.dx, pm.dy) == (0.0, 0.0)


def test_cumulative_refuses_pairs_with_a_gap():
    eye = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    gm = GlobalMotion((8, 8), np.array([0, 2]), np.stack([eye, eye]), *(np.zeros(2),) * 3, np.ones(2))
    with pytest.raises(ValueError, match="contiguous"):
        gm.cumulative()
    gm = GlobalMotion((8, 8), np.array([0, 1]), np.stack([eye, eye]), *(np.zeros(2),) * 3, np.ones(2))
    assert gm.cumulative().shape == (3, 2, 3)


def test_sway_flow_of_a_long_thin_frame_is_scaled_back_per_axis():
    # 48 x 2400 px: the flow is computed on a 32 x 960 copy (x shrunk 2.5 times, y 1.5 times: the short side is held
    # at MIN_FLOW_SIDE), so each axis of the flow must be scaled back by its own factor
    from dvos_core.motion.sway import sway_flow

    h, w = 48, 2400
    g = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 255, (h + 10, w + 10)).astype(np.float32), (0, 0), 3.0)
    g = cv2.normalize(g, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    cur = g[5 : 5 + h, 5 : 5 + w]
    moved_x = g[5 : 5 + h, 2 : 2 + w]  # frame t's pixel x shows the neighbour's pixel x + 3
    flow = sway_flow(cur, moved_x)
    assert np.median(flow[:, 100:-100, 0]) == pytest.approx(3.0, abs=0.5)
    assert abs(np.median(flow[:, 100:-100, 1])) < 0.3


def test_agreement_of_a_large_frame_uses_the_matrix_in_the_shrunk_frames_pixels():
    """384 px frames are compared shrunk to 192: the true 20 px shift must still line them up. The full-frame matrix
    was taken into the shrunk frames' pixels the wrong way (rescale(m, 1 / f): a 20 px pan applied as 40 px), so on
    footage over 192 px with a moving camera the identity won and the context model's references, and smoothing's
    neighbours, were not aligned."""
    from dvos_core.motion.align import agreement

    big = _texture(3, 420)
    ref, query = big[:384, 20:404], big[:384, :384]  # query's pixel x + 20 shows ref's pixel x
    shift = np.array([[1.0, 0, 20.0], [0, 1.0, 0]])
    assert agreement(ref, query, shift) > 0.9
    assert agreement(ref, query, shift) > agreement(ref, query, np.array([[1.0, 0, 0], [0, 1.0, 0]])) + 0.3


def test_agreement_over_a_sliver_of_overlap_does_not_count():
    # moved 60 px of 64, the warped reference covers 4/64 of the query (< MIN_OVERLAP): -1 however well it matches
    from dvos_core.motion.align import agreement

    big = _texture(4, 128)
    ref, query = big[:64, 60:124], big[:64, :64]
    assert agreement(ref, query, np.array([[1.0, 0, 60.0], [0, 1.0, 0]])) == -1.0
    assert agreement(ref[:, :32], query[:, :32], np.array([[1.0, 0, 0.0], [0, 1.0, 0]])) > -1.0


def test_references_after_the_current_frame_are_chained_through_the_frames_between(monkeypatch):
    """Frame 4 with references 5 and 6: 6 -> 5 -> 4, never through a frame beyond the reference."""
    from dvos_core.motion import align

    pairs = []
    monkeypatch.setattr(align.SequenceAligner, "pair", lambda self, key, a, b: pairs.append(key) or np.eye(3)[:2])
    monkeypatch.setattr(align, "best_transform", lambda ref, query, cands, *a, **k: np.asarray(cands[0])[:2])
    frames = [np.zeros((8, 8), np.uint8)] * 3
    out = align.SequenceAligner().align(frames, times=[5, 6, 4])
    assert len(out) == 2
    assert sorted(pairs) == [(5, 4), (6, 5)]


def test_a_sharp_frame_of_a_clean_large_pan_is_no_outlier():
    """The outlier gate compared 512 px frames shrunk to 256 with matrices taken the wrong way into the shrunk pixels:
    a perfectly sharp frame of a clean pan got the worst weight (1.0)."""
    from dvos_core.infer.outlier_gate import frame_look, outlier_weight

    big = _texture(0, 600)[:560]
    frames = [np.ascontiguousarray(big[:512, 6 * t : 6 * t + 512]) for t in range(7)]  # frame t's x = big's x + 6t
    others = [t for t in range(7) if t != 3]
    mats = [np.array([[1.0, 0, 6.0 * (t - 3)], [0, 1.0, 0]]) for t in others]  # neighbour t -> frame 3, exact
    w = outlier_weight(frame_look(frames[3]), [frame_look(frames[t]) for t in others], mats, frames[3].shape)
    assert w == pytest.approx(0.0, abs=0.05)
