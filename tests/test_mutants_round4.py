"""Small tests that catch plausible bugs the other tests let through: the camera motion and the recorded median shift
of background clips inpainted from annotated frames (a two-frame video included), the per-frame seed of their fill,
the emboss distortion's kernel and the drift of persisting occluders."""

import math
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from test_persisting_occluders import _only_occluders

from dvos_core.data import distort as D
from dvos_core.data.context_sample import ContextConfig, _persisting, context_sample
from dvos_core.data.pixel_ops import rand_uniform
from dvos_core.extract import backgrounds_from_annotated
from dvos_core.extract.inpaint import head_hole


def _field(h=96, w=128, seed=0):
    """A textured RGB field (blurred noise) with detail everywhere: motion can be measured, a fill textured."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.uniform(0, 255, (h, w, 3)).astype(np.float32), (0, 0), 1.5)
    return np.clip((img - img.mean()) * 3 + 120, 0, 255).astype(np.uint8)


def _mask(h, w):
    m = np.zeros((h, w), np.uint8)
    m[h // 2 - 6 : h // 2 + 6, w // 2 - 8 : w // 2 + 8] = 1
    return m


class _Video:
    """A stand-in stored video of ``n`` frames for measured_path (motion comes from a stubbed estimator)."""

    def __init__(self, n):
        self.n, self.name, self.shape = n, "v", (n, 8, 8, 3)

    def __len__(self):
        return self.n

    def frame_run(self, a, b):
        return list(range(a, b))

    def mask(self, t):
        return None


def _stub_motion(monkeypatch, pairs, seen=None):
    """estimate_global_motion answers ``pairs`` (the pair matrices of the frames it is given)."""
    import dvos_core.motion.global_motion as gm

    def fake(frames, masks, cancel=None):
        if seen is not None:
            seen.append(list(frames))
        return SimpleNamespace(matrices=pairs[: max(0, len(frames) - 1)])

    monkeypatch.setattr(gm, "estimate_global_motion", fake)


def _tx(d):
    return np.array([[1.0, 0, d], [0, 1.0, 0]])


# --- 1. a two-frame video: one frame pair, its motion repeated along the clip ---------------------------------------


def test_a_two_frame_video_repeats_its_one_pair_motion_on_either_frame(monkeypatch):
    # catches: an off-by-one in the pair loops (a view left out or chained twice), a 2-frame window cut to one
    # frame, or a two-frame video refused as "nothing to measure"
    from dvos_core.extract.annotated_backgrounds import measured_path

    seen = []
    _stub_motion(monkeypatch, [_tx(3.0)], seen)
    video = _Video(2)
    assert measured_path(video, 0, 4)[:, 0, 2].tolist() == [0, 3, 6, 9]  # frame 0 -> 1 -> "2" -> "3"
    assert measured_path(video, 1, 4)[:, 0, 2].tolist() == [-3, 0, 3, 6]  # frame 1 is view 1 of the window 0..1
    assert measured_path(video, 1, 2)[:, 0, 2].tolist() == [-3, 0]
    assert all(f == [0, 1] for f in seen)  # both frames measured each time
    for t0 in (0, 1):
        path = measured_path(video, t0, 5)
        assert np.allclose(path[:, :, :2], np.eye(2)) and np.allclose(path[:, 1, 2], 0)
        assert np.allclose(np.diff(path[:, 0, 2]), 3.0)  # every consecutive view moves by the one pair's motion


def test_auto_motion_of_a_two_frame_video_is_the_measured_camera(tmp_project):
    # catches: "auto" treating a two-frame video like a one-frame still (len > 2 instead of > 1): its clip would get a
    # synthetic camera (kind "default") instead of the 5 px pan the video has
    from dvos_core.motion import estimate_global_motion

    world = _field(160, 220)
    frames = np.stack([world[20:116, 40:168], world[20:116, 45:173]])  # the camera pans 5 px right: field moves left
    v = tmp_project.add_video_array("pair", frames, split="train")
    v.set_mask(1, _mask(96, 128), "manual")
    [clip] = backgrounds_from_annotated(tmp_project, clip_length=4, dilate_px=1)
    motion = clip.attrs["motion"]
    assert motion["kind"] == "measured"
    assert motion["median_shift_px"] == pytest.approx(5.0, abs=0.5)
    gm = estimate_global_motion(clip.read_frames())
    assert np.allclose(gm.dx, estimate_global_motion(frames).dx[0], atol=0.5) and np.allclose(gm.dy, 0, atol=0.5)
    keep = ~head_hole(v.mask(1), 1)  # frame 1 is view 1 of the clip (the window is frames 0..1), as it was
    assert np.array_equal(clip.read_frames()[1][keep], frames[1][keep])


# --- 2. the recorded shift is a median ------------------------------------------------------------------------------


def test_the_recorded_shift_is_the_median_of_the_views_shifts(tmp_project, monkeypatch):
    # catches: median_shift_px computed as a mean (one 20 px jolt among 1 px steps would raise it to 4.8 px)
    steps = [1.0, 1.0, 1.0, 1.0, 20.0]
    _stub_motion(monkeypatch, [_tx(d) for d in steps])
    frame = _field(32, 48)
    v = tmp_project.add_video_array("jolt", np.stack([frame] * 6), split="train")
    v.set_mask(0, _mask(32, 48), "manual")
    [clip] = backgrounds_from_annotated(tmp_project, clip_length=6, dilate_px=0, method="telea", motion="measured")
    got = clip.attrs["motion"]["median_shift_px"]
    assert got == pytest.approx(float(np.median(steps)), abs=1e-6)
    assert got != pytest.approx(float(np.mean(steps)), abs=0.5)


# --- 3. the fill's seed: the run's seed, the video and the frame ----------------------------------------------------


def test_the_fill_is_seeded_per_frame_and_video_not_per_run_position(tmp_project):
    # the texture fill copies detail from a random head-free patch; its seed comes from (seed, video, frame)
    # (frame_seed). Catches: one seed for every frame (identical frames would get identical fills), a seed from the
    # clip's position in the run (a frame made alone, as a resumed run does, would get another fill), or one that
    # ignores the video
    frame, mask = _field(64, 80), _mask(64, 80)
    hole = head_hole(mask, 2)
    for name in ("a", "b"):
        v = tmp_project.add_video_array(name, np.stack([frame, frame]), split="train")
        v.set_mask(0, mask, "manual")
        v.set_mask(1, mask, "manual")
    clips = backgrounds_from_annotated(tmp_project, clip_length=1, dilate_px=2, motion="none")
    fills = {(c.attrs["source"], c.attrs["frame"]): c.read_frames()[0] for c in clips}
    assert len(fills) == 4
    for f in fills.values():
        assert np.array_equal(f[~hole], frame[~hole])  # only the hole is filled
    assert not np.array_equal(fills["a", 0][hole], fills["a", 1][hole])  # same pixels, other frame: another fill
    assert not np.array_equal(fills["a", 0][hole], fills["b", 0][hole])  # same frame number, other video
    # frame 1 of video a made alone (as a run resumed after a stop would) gets the fill the whole run gave it
    [again] = backgrounds_from_annotated(
        tmp_project, ["a"], frames=[1], clip_length=1, dilate_px=2, motion="none", replace=True
    )
    assert np.array_equal(again.read_frames()[0], fills["a", 1])
    [other] = backgrounds_from_annotated(
        tmp_project, ["a"], frames=[1], clip_length=1, dilate_px=2, motion="none", replace=True, seed=1
    )
    assert not np.array_equal(other.read_frames()[0][hole], fills["a", 1][hole])  # the run's seed counts too


# --- 4. the emboss kernel -------------------------------------------------------------------------------------------


def _emboss(x, seed):
    """emboss of one (1, 1, H, W) image, and the (alpha, strength) it drew (the same draws from the same seed)."""
    g = torch.Generator().manual_seed(seed)
    out = D.emboss(x, torch.Generator().manual_seed(seed))
    alpha, strength = rand_uniform(g, 0.2, 0.5), rand_uniform(g, 0.2, 0.7)
    return out, alpha, strength


def test_emboss_leaves_flat_grey_alone_and_lights_slopes_rising_to_the_bottom_right():
    # the reference Emboss (albumentations, applied as a correlation): (1 - alpha) * identity + alpha * relief, relief
    # [[-1 - s, -s, 0], [-s, 1, s], [0, s, 1 + s]] sums to 1. Catches: a flipped sign or a rotated kernel (the light
    # from the other side), a kernel that does not sum to 1 (flat field changed), a relief along the other diagonal
    h = w = 12
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))  # away from the reflected border
    for seed in range(4):
        flat = torch.full((2, 3, h, w), 0.4)
        assert torch.allclose(D.emboss(flat, torch.Generator().manual_seed(seed)), flat, atol=1e-6)
        b = 0.01
        down_right = (0.3 + b * (xs + ys))[None, None]
        out, alpha, s = _emboss(down_right, seed)
        # the three differences (diagonal 4b, across 2b, down 2b) weighted 1 + s, s, s
        assert torch.allclose((out - down_right)[inner], torch.tensor(4 * b * alpha * (1 + 2 * s)), atol=1e-5)
        up_left = (0.5 - b * (xs + ys))[None, None]
        assert bool(((_emboss(up_left, seed)[0] - up_left)[inner] < -b).all())  # darkened
        along = (0.3 + b * (xs - ys + h))[None, None]  # a slope along the other diagonal: no relief
        assert torch.allclose(_emboss(along, seed)[0][inner], along[inner], atol=1e-5)


def test_emboss_strength_and_alpha_are_drawn_in_their_ranges_and_used():
    # an impulse on grey reads the kernel back (rotated by half a turn: a correlation). Catches: strength ignored (the
    # side weights would be 0), alpha ignored (the relief at full weight), draws outside 0.2-0.5 / 0.2-0.7
    x = torch.full((1, 1, 7, 7), 0.5)
    x[0, 0, 3, 3] += 0.1
    for seed in range(6):
        out, alpha, s = _emboss(x, seed)
        k = torch.flip((out - 0.5)[0, 0, 2:5, 2:5] / 0.1, (0, 1))  # the kernel itself
        assert k[1, 1] == pytest.approx(1.0, abs=1e-4)  # the centre keeps its value
        assert k[0, 1] == pytest.approx(-alpha * s, abs=1e-4) and k[1, 2] == pytest.approx(alpha * s, abs=1e-4)
        assert k[0, 0] == pytest.approx(-alpha * (1 + s), abs=1e-4)
        assert k[2, 2] == pytest.approx(alpha * (1 + s), abs=1e-4)
        assert abs(float(k[0, 2])) < 1e-4 and abs(float(k[2, 0])) < 1e-4
        got_s = float(k[0, 1] / (k[0, 0] - k[0, 1]))  # s / (1 + s - s): the strength alone
        got_alpha = float(k[2, 2] - k[1, 2])
        assert 0.2 <= got_s < 0.7 and 0.2 <= got_alpha < 0.5


# --- 5. persisting occluders drift: one random direction, steps times one per-frame drift ---------------------------


def _point_layer(size=64):
    alpha = torch.zeros(size, size)
    alpha[size // 2, size // 2] = 1.0
    return alpha, torch.rand(3, size, size, generator=torch.Generator().manual_seed(0))


def _where(layer):
    a = layer[0]
    (y, x) = torch.nonzero(a > 0.5)[0].tolist()
    return y - a.shape[0] // 2, x - a.shape[1] // 2


def test_persisting_occluders_drift_in_a_random_direction_further_on_farther_references():
    # catches: one fixed heading (e.g. always +x), a heading drawn anew per reference (the leaf would jump about), and
    # a drift not multiplied by the reference's distance in frames
    cfg = ContextConfig(occluder_drift=(0.05, 0.05))  # 3.2 px per frame on a 64 px frame
    speed = 0.05 * 64
    headings = []
    for seed in range(24):
        moved = _persisting(_point_layer(), [1, 3, 6], 64, cfg, torch.Generator().manual_seed(seed))
        (y1, x1), (y3, x3), (y6, x6) = (_where(m) for m in moved)
        assert math.hypot(y6, x6) == pytest.approx(6 * speed, abs=1)  # 6 frames of drift
        for k, (y, x) in ((1, (y1, x1)), (3, (y3, x3))):  # the same line, k frames of it
            assert abs(y - k * y6 / 6) <= 1 and abs(x - k * x6 / 6) <= 1
        headings.append(math.atan2(y6, x6))
    quadrants = {(math.sin(a) > 0, math.cos(a) > 0) for a in headings}
    assert len(quadrants) == 4  # up, down, left and right all happen
    assert len({round(a, 1) for a in headings}) > 12


def test_context_sample_moves_each_references_leaves_by_its_own_distance():
    # a still clip: each reference is the query's frame under its own leaves. Catches: the references' steps
    # ignored (the default T..1 used instead) or taken as distances (a reference after the query at the same
    # distance as one before it was shifted the same way, where a drifting leaf lies on the other side)
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(1, 3, 64, 64, generator=g).expand(5, 3, 64, 64).clone()
    masks = torch.ones(5, 2, 64, 64)
    cfg = _only_occluders(persist_occluders_p=1.0, occluder_drift=(0.05, 0.05))
    s = context_sample(frames, masks, torch.ones(5), cfg, torch.Generator().manual_seed(3), steps=[2, 1, -1, -2])
    refs = s["refs"]
    assert not torch.equal(refs[0], refs[3]) and not torch.equal(refs[1], refs[2])
    assert not torch.equal(refs[0], refs[1]) and not torch.equal(refs[1], s["query"])
    layer = _point_layer()
    before, after = _persisting(layer, [2, -2], 64, cfg, torch.Generator().manual_seed(5))
    (yb, xb), (ya, xa) = _where(before), _where(after)
    assert abs(yb + ya) <= 1 and abs(xb + xa) <= 1 and math.hypot(yb, xb) > 4  # two frames either side: opposite
