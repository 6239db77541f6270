"""Head sway measured on the painted heads: known per-head steps are recovered through motion blur, noise, flicker
and a passing leaf (where the whole frame's flow is not), and motion matching sets sway_px from them."""

import cv2
import numpy as np
import pytest

pytest.importorskip("skimage")
from motion_clips import camera_clip, fast_pan, paint_heads, smeared, texture

from dvos_core.motion import MotionParams, estimate_pair
from dvos_core.motion.head_sway import MIN_HEADS, head_steps, measure_head_sway, painted_pairs
from dvos_core.motion.local_motion import residual_motion

SIZE = 192
BLUR, NOISE = 5, 6.0


def _film(n_frames: int, n_heads: int = 24, sway: float = 1.0, pan=(1.5, 0.6), seed: int = 0):
    """(frames (T, H, W, 3) uint8, masks (T, H, W) uint8, head positions (T, n, 2) relative to the camera): bright
    textured discs that each sway on their own (random steps of about ``sway`` px) over a field that the camera
    pans across by ``pan`` px per frame."""
    rng = np.random.default_rng(seed)
    world = texture("gravel", 512, dark=True)
    centres = rng.uniform(16, SIZE - 16, (n_heads, 2))
    radii = rng.uniform(5, 8, n_heads)
    offsets = np.cumsum(rng.normal(0, sway, (n_frames, n_heads, 2)), 0)
    offsets -= offsets.mean(0)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    frames, masks = [], []
    for t in range(n_frames):
        cam = np.array([100 + pan[0] * t, 100 + pan[1] * t])
        m = np.float32([[1, 0, cam[0]], [0, 1, cam[1]]])
        f = cv2.warpAffine(world, m, (SIZE, SIZE), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP).astype(np.float32)
        mask = np.zeros((SIZE, SIZE), np.uint8)
        for c, r, o in zip(centres, radii, offsets[t]):
            x, y = c + o - np.asarray(pan) * t  # heads ride on the field, and sway on top
            d = np.hypot(xx - x, yy - y)
            alpha = np.clip(r - d + 0.5, 0, 1)[..., None]
            stripes = 40 * np.sin((xx - x) * 0.9 + (yy - y) * 0.4)[..., None]  # texture that moves with the head
            f = f * (1 - alpha) + (np.array([220, 190, 70], np.float32) + stripes) * alpha
            mask |= (d < r).astype(np.uint8)
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
        masks.append(mask)
    return np.stack(frames), np.stack(masks), centres + offsets


def _degrade(frame: np.ndarray, rng, leaf_at=(60, 40)) -> np.ndarray:
    """Wind blur along a slant, exposure down by a third, sensor noise, and a dark leaf across part of the view."""
    k = np.zeros((BLUR, BLUR), np.float32)
    np.fill_diagonal(k, 1 / BLUR)
    f = cv2.filter2D(frame.astype(np.float32), -1, k) * 0.65 + rng.normal(0, NOISE, frame.shape)
    y, x = leaf_at
    f[y : y + 30, x : x + 110] = (40, 80, 30)
    return np.clip(f, 0, 255).astype(np.uint8)


def _true_steps(pos, t, u):
    return np.hypot(*(pos[u] - pos[t]).T)


def test_head_steps_recover_known_sway_where_the_frames_flow_does_not():
    frames, masks, pos = _film(2, sway=1.0)
    truth = np.median(_true_steps(pos, 0, 1))
    clean = head_steps(frames[0], masks[0], frames[1])
    assert len(clean) >= 15  # heads that touch merge into one, heads at the edge are left out
    assert abs(np.median(np.hypot(*clean.T)) - truth) < 0.15
    # the same pair, the neighbour blurred, darkened, noisy and partly behind a leaf
    rough = _degrade(frames[1], np.random.default_rng(1))
    d = head_steps(frames[0], masks[0], rough)
    assert len(d) >= 12  # heads behind the leaf are dropped, not mis-measured
    measured = np.median(np.hypot(*d.T))
    assert abs(measured - truth) < 0.35  # per-head noise biases a magnitude upwards a little
    # the whole frame's residual flow (the fallback) reads the leaf and the blur as motion
    from dvos_core.motion import estimate_pair

    p99 = residual_motion(frames[0], rough, estimate_pair(frames[0], rough, masks[0]).matrix)[2]
    assert p99 > 4 * truth


def test_head_steps_refuse_mismatched_shapes_and_skip_pairs_without_camera_motion():
    frames, masks, _ = _film(2)
    with pytest.raises(ValueError, match="one size"):
        head_steps(frames[0], masks[0][:-1], frames[1])
    flat = np.full_like(frames[1], 90)  # nothing to track: the camera motion cannot be found
    assert head_steps(frames[0], masks[0], flat).shape == (0, 2)


def test_head_steps_skip_pairs_whose_camera_turns_or_zooms_more_than_footage_does():
    """Between adjacent frames a camera estimate with more zoom or turn than field footage shows is not trusted
    (a leaf drifting in front of a slow camera produced 3-5 % a frame): its error would be read as sway."""
    from dvos_core.motion.head_sway import MAX_TURN_STEP_DEG, MAX_ZOOM_STEP

    frames, masks, _ = _film(2, sway=0.0, pan=(0.0, 0.0))
    centre = (SIZE / 2, SIZE / 2)

    def moved(zoom, turn_deg=0.0):
        m = cv2.getRotationMatrix2D(centre, turn_deg, 1 + zoom)
        return cv2.warpAffine(frames[0], m, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    small = head_steps(frames[0], masks[0], moved(0.01))  # a real zoom of 1 %: removed, the heads do not sway
    assert len(small) >= 15 and np.median(np.hypot(*small.T)) < 0.5
    assert len(head_steps(frames[0], masks[0], moved(0.01, 1.0))) >= 15
    assert head_steps(frames[0], masks[0], moved(2 * MAX_ZOOM_STEP)).shape == (0, 2)
    assert head_steps(frames[0], masks[0], moved(0.0, 2 * MAX_TURN_STEP_DEG)).shape == (0, 2)


def test_matching_sets_sway_from_the_painted_heads(tmp_project):
    """Painted frames of a stored video: the sway comes from the heads, and the matched config's heads move as
    far per frame as the footage's (median), even with a leaf crossing the view in every frame."""
    from dvos_core.motion import config_motion, match_motion
    from dvos_core.synth import SynthConfig

    frames, masks, pos = _film(12, sway=0.8, seed=3)
    rng = np.random.default_rng(2)
    windy = np.stack([_degrade(f, rng, leaf_at=(20 + 12 * t, 30)) if t % 2 else f for t, f in enumerate(frames)])
    v = tmp_project.add_video_array("plot", windy, split="train")
    for t in (2, 6, 9):
        v.set_mask(t, masks[t], "manual")
    v.set_mask(4, masks[4], "pseudo")  # not painted by a person: not used
    assert painted_pairs(v) == [(2, 1), (2, 3), (6, 5), (6, 7), (9, 8), (9, 10)]
    heads = measure_head_sway(v)
    assert heads is not None and heads["heads"] >= MIN_HEADS and heads["pairs"] >= 4
    truth = np.median(np.concatenate([_true_steps(pos, t, u) for t, u in painted_pairs(v)]))
    assert abs(heads["p50"] - truth) < 0.3

    base = SynthConfig(n_frames=12, sway_px=40.0)
    mm = match_motion(tmp_project, ["plot"], base)
    assert mm.measured["all"]["head_sway_px"] == heads
    assert mm.config.sway_px < base.sway_px and not any("sway" in w for w in mm.warnings_after)
    got = config_motion(mm.config, 64)["head_sway_px"]["p50"]
    assert abs(got - heads["p50"]) < 0.3 * heads["p50"]
    said = f"sway_px {mm.config.sway_px:g}, drift_speed {mm.config.drift_speed:g}: from {heads['heads']} painted"
    assert mm.table().splitlines()[-1].startswith(said)
    row = next(r for r in mm.rows if r["quantity"].startswith("head sway"))
    assert row["measured"] == heads["p50"] and row["far_before"] and not row["far_after"]


def test_too_few_painted_heads_give_no_measurement(tmp_project):
    frames, masks, _ = _film(3, n_heads=3)
    v = tmp_project.add_video_array("sparse", frames, split="train")
    v.set_mask(1, masks[1], "manual")
    assert measure_head_sway(v) is None


def test_a_camera_found_only_on_a_smaller_copy_is_not_used_for_sway():
    """On a smeared 384 px pair the corners fit only on the half-size copy (the coarse retry), pixels off at full
    size: that error would be read as sway, so the heads' steps are not measured on such a pair."""
    world, world_mask, _ = paint_heads(texture("gravel", 2048), 400, seed=1)
    steps = [(3 * dx, 3 * dy, r, s) for dx, dy, r, s in fast_pan(1, seed=1)]
    frames, masks, _ = camera_clip(world, steps, size=(384, 384), world_mask=world_mask)
    frames = smeared(frames, 31, 20)
    full_size = estimate_pair(frames[0], frames[1], exclude_prev=masks[0], params=MotionParams(coarse_retry=False))
    assert full_size.method != "features"
    assert estimate_pair(frames[0], frames[1], exclude_prev=masks[0]).method == "features"  # on the smaller copy
    assert len(head_steps(frames[0], masks[0], frames[1])) == 0
