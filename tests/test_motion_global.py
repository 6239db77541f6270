"""Global camera motion: a known synthetic camera path over real textures is recovered, moving objects and
excluded pixels do not mislead it, flat frames give "none", every kind of frame source streams the same result."""

import numpy as np
import pytest

pytest.importorskip("skimage")
from motion_clips import camera_clip, fast_pan, paint_heads, smeared, texture

from dvos_core.motion import (
    MotionParams,
    compose,
    decompose,
    estimate_global_motion,
    estimate_pair,
    invert,
    similarity_matrix,
    valid_region,
    warp_to,
)
from dvos_core.motion.transforms import frame_centre, to3x3

# shift, roll and zoom per pair: slow, fast (15-25 px), turning, zooming in and out
STEPS = [
    (2.0, -1.5, 0.0, 1.0),
    (18.0, 7.0, 0.0, 1.0),
    (-24.0, 3.0, 0.8, 1.0),
    (5.0, 21.0, -1.2, 1.015),
    (0.0, 0.0, 2.0, 0.98),
    (-12.0, -16.0, 0.4, 1.02),
    (9.0, -9.0, -0.6, 0.99),
]
TOL_PX, TOL_DEG, TOL_SCALE = 0.25, 0.1, 0.002


def _truth(matrices, shape):
    return [decompose(m, frame_centre(shape)) for m in matrices]


def _errors(gm, truth):
    return (
        np.abs(gm.dx - [d["dx"] for d in truth]).max(),
        np.abs(gm.dy - [d["dy"] for d in truth]).max(),
        np.abs(gm.rotation_deg - [d["rotation_deg"] for d in truth]).max(),
        np.abs(gm.scale - [d["scale"] for d in truth]).max(),
    )


@pytest.mark.parametrize("name", ["astronaut", "gravel", "coffee"])
def test_recovers_a_known_camera_path(name):
    frames, _, truth = camera_clip(texture(name), STEPS, size=(192, 224))
    gm = estimate_global_motion(frames)
    ex, ey, er, es = _errors(gm, _truth(truth, frames.shape[1:]))
    assert gm.method == ["features"] * len(STEPS)
    assert max(ex, ey) < TOL_PX and er < TOL_DEG and es < TOL_SCALE, (ex, ey, er, es)
    # the chained path stays on the true one: a point of frame 0 lands within a pixel in the last frame
    true_path = compose(*truth)
    corners = np.array([[0, 0, 1], [223, 191, 1]], float)
    assert np.abs(corners @ gm.cumulative()[-1].T - corners @ true_path.T).max() < 1.0


def test_large_frames_are_analysed_small_but_reported_full_size():
    frames, _, truth = camera_clip(texture("astronaut", 2048), STEPS[:3], size=(720, 960))
    gm = estimate_global_motion(frames, params=MotionParams(max_side=320))
    ex, ey, er, es = _errors(gm, _truth(truth, frames.shape[1:]))
    assert max(ex, ey) < 0.6 and er < TOL_DEG and es < TOL_SCALE, (ex, ey, er, es)


def test_small_objects_moving_on_their_own_are_ignored():
    rng = np.random.default_rng(3)
    frames, _, truth = camera_clip(texture("immunohistochemistry"), fast_pan(8, seed=1), size=(200, 200))
    frames = frames.copy()
    pos, vel = rng.uniform(20, 180, (12, 2)), rng.uniform(-8, 8, (12, 2))
    import cv2

    for t in range(len(frames)):  # 12 yellow blobs swaying independently of the camera
        for p, v in zip(pos, vel):
            x, y = (p + v * t) % 200
            cv2.circle(frames[t], (int(x), int(y)), 6, (240, 220, 40), -1)
    gm = estimate_global_motion(frames)
    ex, ey, er, _ = _errors(gm, _truth(truth, frames.shape[1:]))
    assert max(ex, ey) < 0.3 and er < TOL_DEG, (ex, ey, er)


# what docs/synthesis.md states of head-sized textured discs that move with the field and sway on their own:
# (discs, sway amplitude px) -> (share of the frame covered, shift px, turn deg, zoom %) bounds per pair
SWAYING_DISCS = {(14, amp): (0.07, 0.35, 0.2, 0.35) for amp in (1.0, 3.0, 6.0)}
SWAYING_DISCS[(20, 3.0)] = (0.10, 0.45, 0.3, 0.45)


def _swaying_discs(name: str, n: int, amp: float, radius: int = 9, seed: int = 1):
    """:data:`STEPS` filmed over picture ``name`` with ``n`` textured discs of ``2 * radius + 1`` px (patches of
    another picture) carried by the field and swaying on their own by ``amp`` px (periods 8-20 frames, per axis),
    pasted with sub-pixel positions. Returns (frames, true pair matrices, the share of the frame they cover)."""
    import cv2

    frames, _, truth = camera_clip(texture(name), STEPS, size=(192, 224))
    frames, (h, w) = frames.copy(), frames.shape[1:3]
    rng = np.random.default_rng(seed)
    skin, side = texture("astronaut" if name == "coffee" else "coffee", 512).astype(np.float32), 2 * radius + 1
    field = rng.uniform([radius, radius], [w - radius, h - radius], (n, 2))  # (x, y) in frame 0
    period, phase = rng.uniform(8, 20, (n, 2)), rng.uniform(0, 2 * np.pi, (n, 2))
    patches = [skin[int(y) : int(y) + side, int(x) : int(x) + side] for y, x in rng.uniform(0, 510 - side, (n, 2))]
    yy, xx = np.mgrid[:side, :side]
    disc = (((yy - radius) ** 2 + (xx - radius) ** 2) <= radius**2).astype(np.float32)
    cover = []
    for t in range(len(frames)):
        if t:  # the field moves with the camera
            field = field @ truth[t - 1][:, :2].T + truth[t - 1][:, 2]
        f, m = frames[t].astype(np.float32), np.zeros((h, w), np.float32)
        for (x, y), patch in zip(field + amp * np.sin(2 * np.pi * t / period + phase), patches):
            at = np.float32([[1, 0, x - radius], [0, 1, y - radius]])
            a = cv2.warpAffine(disc, at, (w, h))
            f = f * (1 - a[..., None]) + cv2.warpAffine(patch, at, (w, h)) * a[..., None]
            m = np.maximum(m, a)
        frames[t] = np.clip(f, 0, 255).astype(np.uint8)
        cover.append(float((m >= 0.5).mean()))
    return frames, truth, float(np.mean(cover))


@pytest.mark.parametrize("n, amp", sorted(SWAYING_DISCS))
@pytest.mark.parametrize("name", ["astronaut", "gravel", "coffee"])
def test_head_sized_discs_swaying_on_the_field_move_the_estimate_by_what_the_docs_say(name, n, amp):
    """docs/synthesis.md said the motion is recovered within 0.25 px, 0.1 deg and 0.2 % "also with a dozen blobs
    moving on their own"; textured swaying discs covering 11 % of the frame put it up to 0.34 px, 0.15 deg and
    0.56 % off. Measured here on discs carried by the field (as heads are) and swaying on their own, and the doc
    states these figures with the cover and sway they hold for."""
    cover, px, deg, pct = SWAYING_DISCS[(n, amp)]
    frames, truth, covered = _swaying_discs(name, n, amp)
    assert abs(covered - cover) < 0.01, covered
    ex, ey, er, es = _errors(estimate_global_motion(frames), _truth(truth, frames.shape[1:]))
    assert max(ex, ey) < px and er < deg and 100 * es < pct, (ex, ey, er, 100 * es)


def test_the_docs_state_the_accuracy_measured_with_swaying_discs():
    from pathlib import Path

    doc = " ".join((Path(__file__).parents[1] / "docs" / "synthesis.md").read_text(encoding="utf-8").split())
    assert f"within {TOL_PX} px, {TOL_DEG}° and {100 * TOL_SCALE:g} % per pair" in doc
    for cover, px, deg, pct in sorted(set(SWAYING_DISCS.values())):
        assert f"within {px} px, {deg}° and {pct} % while they cover {100 * cover:.0f} % of the frame" in doc, cover
    assert "also with a dozen blobs moving on their own" not in doc


def test_excluded_pixels_are_not_used():
    """A large object moving against the camera misleads the estimate unless its pixels are excluded."""
    frames, _, _ = camera_clip(texture("gravel"), [(6.0, 0.0, 0.0, 1.0)] * 3, size=(160, 160))
    frames, masks = frames.copy(), np.zeros(frames.shape[:3], np.uint8)
    big = texture("astronaut", 512)
    for t in range(len(frames)):  # a window over 56 % of the frame whose content moves the other way
        frames[t, 20:140, 20:140] = big[100:220, 100 + 7 * t : 220 + 7 * t]
        masks[t, 20:140, 20:140] = 1
    fooled = estimate_global_motion(frames)
    assert np.abs(fooled.dx - 6.0).max() > 3  # it follows the big window
    gm = estimate_global_motion(frames, masks)
    assert np.abs(gm.dx - 6.0).max() < 0.5 and np.abs(gm.dy).max() < 0.5


@pytest.mark.parametrize("side", [120, 130])
def test_a_large_excluded_window_is_still_excluded(side):
    """A window over 56 % or 66 % of the frame moving against the camera: excluded, it does not mislead (a rule
    that dropped masks leaving under 30 % of the frame followed the window's motion at 66 %)."""
    frames, _, _ = camera_clip(texture("gravel"), [(6.0, 0.0, 0.0, 1.0)] * 3, size=(160, 160))
    frames, masks = frames.copy(), np.zeros(frames.shape[:3], np.uint8)
    big = texture("astronaut", 512)
    lo = (160 - side) // 2
    for t in range(len(frames)):
        frames[t, lo : lo + side, lo : lo + side] = big[100 : 100 + side, 100 + 7 * t : 100 + side + 7 * t]
        masks[t, lo : lo + side, lo : lo + side] = 1
    gm = estimate_global_motion(frames, masks)
    assert np.abs(gm.dx - 6.0).max() < 0.5 and np.abs(gm.dy).max() < 0.5


def test_masks_over_most_of_the_frame_do_not_hide_the_camera():
    """Masks that leave too little of the frame to measure (dense heads, a rough model's pseudo-labels over 3/4 of
    it): where nothing is found with them, the whole frames are used, and the camera is still measured."""
    frames, _, _ = camera_clip(texture("gravel"), [(4.0, -3.0, 0.0, 1.0)] * 3, size=(128, 128))
    masks = np.zeros(frames.shape[:3], np.uint8)
    masks[:, ::9, :] = 1  # stripes every 9 px: with the exclusion margin nothing is left between them
    masks[:, :, ::9] = 1
    gm = estimate_global_motion(frames, masks)
    assert gm.method == ["features"] * 3
    assert np.abs(gm.dx - 4.0).max() < 0.5 and np.abs(gm.dy + 3.0).max() < 0.5


def test_flat_frames_give_identity_not_the_objects_motion():
    f = np.full((3, 64, 80, 3), 30, np.uint8)
    for t, y in enumerate((10, 22, 34)):
        f[t, y : y + 8, 6:16] = 230  # one box jumping 12 px per frame on a flat field
    gm = estimate_global_motion(f)
    assert gm.method == ["none", "none"] and np.allclose(gm.matrices, np.eye(2, 3))


@pytest.mark.parametrize("shape", [(1, 80), (80, 1), (1, 200)])
def test_frames_one_pixel_high_or_wide_give_identity_not_an_opencv_error(shape):
    """A 1x80 video crashed `dvos count-heads` and `dvos predict` of a context model with OpenCV's
    `winSize.width > 1 && winSize.height > 1` (the phase correlation's Hann window). A single row holds no 2-D
    motion: "none", the identity."""
    for seed in range(3):
        a = np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)
        pm = estimate_pair(a, np.roll(a, 2, axis=int(shape[0] == 1)))
        assert pm.method == "none" and not pm.ok and np.allclose(pm.matrix, np.eye(2, 3))


def test_fallbacks_ecc_and_phase_correlation():
    frames, _, _ = camera_clip(texture("coffee"), [(7.0, -4.0, 0.0, 1.0)], size=(160, 192))
    no_features = MotionParams(min_inliers=100000)  # forces the fallbacks
    pm = estimate_pair(frames[0], frames[1], params=no_features)
    assert pm.method == "ecc" and abs(pm.dx - 7) < 0.5 and abs(pm.dy + 4) < 0.5
    pm = estimate_pair(frames[0], frames[1], params=MotionParams(min_inliers=100000, min_ecc=2.0))
    assert pm.method == "phase" and abs(pm.dx - 7) < 0.5 and abs(pm.dy + 4) < 0.5


def test_a_phase_shift_is_taken_only_when_it_lines_the_frames_up():
    """On degraded footage a clear phase-correlation peak was often a leaf's or the noise's: the shift alone is now
    taken only when the frames it lines up agree (``min_agreement``). With every other way forced off and any peak
    trusted, a true shift is taken and two unrelated views are not."""
    frames, _, _ = camera_clip(texture("coffee"), [(7.0, -4.0, 0.0, 1.0)], size=(160, 192))
    only_phase = MotionParams(min_inliers=100000, min_ecc=2.0, min_phase_response=-1.0)
    pm = estimate_pair(frames[0], frames[1], params=only_phase)
    assert pm.method == "phase" and abs(pm.dx - 7) < 0.5 and abs(pm.dy + 4) < 0.5
    other, _, _ = camera_clip(texture("astronaut"), [(0.0, 0.0, 0.0, 1.0)], size=(160, 192))
    pm = estimate_pair(frames[0], other[0], params=only_phase)
    assert pm.method == "none" and (pm.dx, pm.dy) == (0.0, 0.0)
    pm = estimate_pair(frames[0], other[0], params=MotionParams(**{**vars(only_phase), "min_agreement": -1.0}))
    assert pm.method == "phase"  # what it was before: the peak of two unrelated views taken as the camera's motion


def test_sources_stream_the_same_result(tmp_project, tmp_path):
    from dvos_core.progress import Cancelled, CancelToken

    frames, _, _ = camera_clip(texture("astronaut"), fast_pan(5, seed=2), size=(96, 128))
    ref = estimate_global_motion(frames)
    from_iter = estimate_global_motion(iter(list(frames)))
    video = tmp_project.add_video_array("pan", frames)
    seen = []
    stored = estimate_global_motion(video, progress=lambda d, n, m: seen.append((d, n)))
    assert np.allclose(from_iter.matrices, ref.matrices) and np.allclose(stored.matrices, ref.matrices)
    assert seen[-1] == (5, 5)
    import tifffile

    tifffile.imwrite(tmp_path / "pan.tif", frames)
    assert np.allclose(estimate_global_motion(str(tmp_path / "pan.tif")).matrices, ref.matrices)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        estimate_global_motion(frames, cancel=token)
    # a bounded sample: runs of consecutive pairs spread over the video
    part = estimate_global_motion(frames, max_pairs=2, run_length=1)
    assert part.pairs.tolist() == [0, 4] and np.allclose(part.matrices, ref.matrices[[0, 4]], atol=1e-6)
    with pytest.raises(ValueError, match="masks has 2 frames"):
        estimate_global_motion(frames, np.zeros((2, 96, 128)))


def test_transform_helpers():
    c = (79.5, 59.5)
    m = similarity_matrix(3.0, -2.0, 1.5, 1.02, c)
    d = decompose(m, c)
    assert d == pytest.approx({"dx": 3.0, "dy": -2.0, "rotation_deg": 1.5, "scale": 1.02})
    assert np.allclose(compose(m, invert(m)), np.eye(2, 3))
    mask = np.zeros((120, 160), np.uint8)
    mask[40:60, 50:90] = 1
    moved = warp_to(mask, similarity_matrix(10, 5, 0, 1, c), mask.shape)
    assert set(np.unique(moved)) == {0, 1} and moved[45:65, 60:100].all() and moved.sum() == mask.sum()
    valid = valid_region(similarity_matrix(10, 0, 0, 1, c), mask.shape, margin=0)
    assert not valid[:, :10].any() and valid[:, 10:].all()


def test_residual_local_motion_sees_swaying_heads_only():
    import cv2

    world, _, _ = paint_heads(texture("gravel", dark=True), 60, seed=1)
    frames, _, _ = camera_clip(world, [(12.0, 4.0, 0.0, 1.0)] * 4, size=(160, 160))
    rigid = estimate_global_motion(frames, residual=True)
    assert rigid.residual[:, 2].max() < 0.6  # p99 of what is left after compensation: nothing moves
    swaying = frames.copy()
    rng = np.random.default_rng(0)
    pos, phase = rng.uniform(-20, 100, (25, 2)), rng.uniform(0, 2 * np.pi, 25)
    for t in range(len(frames)):
        for p, ph in zip(pos, phase):  # heads carried by the camera and swaying about 6 px per frame
            x, y = p + t * np.array([12.0, 4.0]) + 4 * np.array([np.sin(t + ph), np.cos(t + ph)])
            cv2.circle(swaying[t], (int(x), int(y)), 8, (230, 200, 60), -1)
    moving = estimate_global_motion(swaying, residual=True)
    assert np.abs(moving.dx - 12).max() < 0.5
    assert np.median(moving.residual[:, 2]) > 2.0


@pytest.mark.parametrize("gain, offset, noise", [(0.6, 0.0, 0.0), (1.4, 0.0, 4.0), (0.7, 10.0, 8.0)])
def test_a_change_of_exposure_between_frames_does_not_lose_the_camera(gain, offset, noise):
    """Flicker or a cloud: frame t is darker or brighter than frame t-1. The corner tracker assumes grey levels stay,
    so the pair is also tracked with frame t brought to frame t-1's brightness and contrast."""
    frames, _, truth = camera_clip(texture("gravel", dark=True), [(6.0, -3.0, 0.5, 1.0)], size=(160, 192))
    rng = np.random.default_rng(0)
    lit = frames[1].astype(np.float32) * gain + offset + rng.normal(0, noise, frames[1].shape)
    pm = estimate_pair(frames[0], np.clip(lit, 0, 255).astype(np.uint8))
    want = _truth(truth, frames.shape[1:])[0]
    assert pm.method == "features" and pm.inliers > 200
    assert abs(pm.dx - want["dx"]) < 0.1 and abs(pm.dy - want["dy"]) < 0.1
    assert abs(pm.rotation_deg - want["rotation_deg"]) < 0.05


def test_a_large_smeared_frame_is_found_on_a_smaller_copy():
    """A 31 px gust streak with sensor noise on 384 px frames defeats the corner tracker's fixed windows at the
    frames' own size (some pairs found by nothing, others by ECC only); the same pairs on the half-size copies are
    found by the corners, and the result is given in full-size pixels."""
    steps = [(3 * dx, 3 * dy, r, s) for dx, dy, r, s in fast_pan(6, seed=1)]  # 45-75 px per frame
    frames, _, truth = camera_clip(texture("gravel", 2048), steps, size=(384, 384))
    frames = smeared(frames, 31, 20)
    corners = np.array([[0, 0, 1], [383, 0, 1], [0, 383, 1], [383, 383, 1]], float)

    def worst(gm):
        return max(np.abs(corners @ to3x3(m).T - corners @ to3x3(t).T).max() for m, t in zip(gm.matrices, truth))

    alone = estimate_global_motion(frames, params=MotionParams(coarse_retry=False), residual=False)
    assert "none" in alone.method and worst(alone) > 30
    gm = estimate_global_motion(frames, residual=False)
    assert "none" not in gm.method and "features" in gm.method  # ECC where it lines the frames up as well
    assert worst(gm) < 3.0


def test_the_coarse_retry_stops_at_copies_of_96_px():
    from dvos_core.motion.global_motion import COARSE_MIN_SIDE, PreparedFrame

    params = MotionParams()
    small = PreparedFrame(np.zeros((150, 190, 3), np.uint8), None, params)
    assert small.coarser() is None  # 95 px would be too small: frames under 192 px are estimated as before
    big = PreparedFrame(np.zeros((1080, 1920, 3), np.uint8), np.ones((1080, 1920), np.uint8), params)
    half = big.coarser()
    assert big.grey.shape == (360, 640) and half.grey.shape == (180, 320) and half.factor == big.factor / 2
    assert half.allowed.shape == (180, 320) and not half.allowed.any()
    assert half.coarser().grey.shape == (90, 160) and max(90, 160) // 2 < COARSE_MIN_SIDE
    assert half.coarser().coarser() is None
    assert big.coarser() is half  # made once


def test_a_chance_fit_on_a_small_copy_of_unrelated_frames_is_not_taken():
    """Frames with nothing in common (independent noise, 720p): a small copy can give a dozen chance corner tracks
    that fit a similarity; the coarse retry takes a fit only when it lines the frames up (``min_agreement``)."""
    frames = np.random.default_rng(0).integers(0, 256, (30, 720, 1280, 3), dtype=np.uint8)
    pairs = [(10, 11), (15, 16), (22, 23)]  # the pairs of this draw whose 160 px copies fit by chance
    loose = MotionParams(min_agreement=-1.0)  # what the retry took without the check
    assert all(estimate_pair(frames[i], frames[j], params=loose).method == "features" for i, j in pairs)
    assert all(estimate_pair(frames[i], frames[j]).method == "none" for i, j in pairs)
