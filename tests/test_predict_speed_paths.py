"""The fast paths around the networks give what the plain paths give: the aligner analyses each frame of a sliding
window once (its corners, grey copies, ...) instead of once per pair, and smoothing makes frame t's side of the sway
flow once for all its neighbours; the matrices, flows, smoothed maps and context predictions are bit for bit those
of the plain computation (every pair estimated from the raw frames, every flow made from scratch)."""

import itertools

import cv2
import numpy as np
import pytest
import torch
from motion_clips import camera_clip, fast_pan, paint_heads, texture

import dvos_core.motion.align as align
from dvos_core.infer.frame_window import FrameWindow
from dvos_core.motion import compose, estimate_pair
from dvos_core.motion.sway import MAX_FLOW_SIDE, flow_image, sway_flow
from dvos_core.motion.transforms import IDENTITY

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def clip():
    world, wmask, _ = paint_heads(texture(size=512, dark=True), 40, seed=4)
    frames, masks, _ = camera_clip(world, fast_pan(7, seed=5, speed=(3, 8)), size=(96, 96), world_mask=wmask)
    return frames, masks


def plain_best(ref, query, candidates):
    """best_transform as it was: the direct estimate made from the two raw frames, agreements from scratch."""
    direct = estimate_pair(ref, query)
    options = [IDENTITY[:2].copy(), *[np.asarray(c, np.float64)[:2] for c in candidates]]
    if direct.ok:
        options.append(direct.matrix)
    return options[int(np.argmax([align.agreement(ref, query, m) for m in options]))]


class PlainAligner:
    """SequenceAligner.align without anything kept between pairs or calls."""

    def forget(self, keep):
        pass

    def hold(self, length):
        pass

    def reset(self):
        pass

    def align(self, frames, keys=None, times=None):
        n = len(frames) - 1
        times = list(range(n + 1)) if times is None else list(times)
        now = times[-1]
        before = sorted((i for i in range(n) if times[i] < now), key=lambda i: times[i])
        after = sorted((i for i in range(n) if times[i] >= now), key=lambda i: -times[i])
        out = [None] * n
        for side in (before, after):
            seq = [*side, n]
            steps = [plain_best(frames[a], frames[b], ()) for a, b in itertools.pairwise(seq)]
            for j, i in enumerate(side):
                last = j == len(side) - 1
                out[i] = steps[-1] if last else plain_best(frames[i], frames[-1], [compose(*steps[j:])])
        return out


def windows(n, tau=4, half=None):
    """The (references, t) of a context model's first pass (``half`` None) or second pass over n frames."""
    for t in range(n):
        if half is None:
            yield list(range(max(0, t - tau), t)), t
        else:
            yield [k for k in range(t - half, t + half + 1) if k != t and 0 <= k < n], t


@pytest.mark.parametrize("half", [None, 2])
def test_the_aligner_analyses_each_frame_once_and_finds_the_plain_matrices(clip, monkeypatch, half):
    frames = clip[0]
    made = []

    class Counted(align._Analysis):
        def __init__(self, frame, params):
            made.append(1)
            super().__init__(frame, params)

    monkeypatch.setattr(align, "_Analysis", Counted)
    fast, plain, window = align.SequenceAligner(), PlainAligner(), FrameWindow(lambda a, b: frames[a:b])
    for refs, t in windows(len(frames), half=half):
        if not refs:
            continue
        held = window.get([*refs, t])
        got = fast.align([*(held[k] for k in refs), held[t]], times=[*refs, t])
        want = plain.align([*(frames[k] for k in refs), frames[t]], times=[*refs, t])
        assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
        fast.forget(set(range(min(refs + [t]), max(refs + [t]) + 1)))
    assert len(made) == len(frames)  # one analysis per frame, however many pairs it is part of


def test_frames_that_are_new_arrays_are_analysed_again(clip):
    """A frame held under a key is only reused while it is the very same array (training reads fresh copies)."""
    frames = clip[0]
    fast = align.SequenceAligner()
    fast.align([frames[k] for k in range(4)], times=[0, 1, 2, 3])  # holds the analyses of keys 0-3
    seq = [frames[k].copy() for k in (7, 5, 4)]  # other pictures under keys 3, 1, 0, in pairs not estimated yet
    got = fast.align(seq, times=[3, 1, 0])
    assert all(np.array_equal(g, w) for g, w in zip(got, PlainAligner().align(seq, times=[3, 1, 0]), strict=True))


def test_corners_are_found_once_and_are_a_fresh_search(clip):
    from dvos_core.motion.global_motion import MotionParams, PreparedFrame, _corners

    params = MotionParams()
    prep = PreparedFrame(clip[0][2], None, params)
    first = prep.corners(params)
    assert prep.corners(params) is first  # kept
    assert np.array_equal(first, _corners(PreparedFrame(clip[0][2], None, params), params))
    other = MotionParams(n_features=64)
    assert np.array_equal(prep.corners(other), _corners(prep, other))  # other settings: searched again


def plain_sway(current, neighbour, cover):
    """sway_flow as it was: both flow images made for every pair, the disagreement by np.linalg.norm."""
    inside = np.asarray(cover) > 0.5
    neighbour = np.where(inside[..., None], neighbour, current)
    h, w = current.shape[:2]
    a, b = flow_image(current), flow_image(neighbour)
    f = min(1.0, MAX_FLOW_SIDE / max(h, w))
    if f < 1.0:
        small = (max(32, round(w * f)), max(32, round(h * f)))
        a, b = (cv2.resize(x, small, interpolation=cv2.INTER_AREA) for x in (a, b))
    fy, fx = a.shape[0] / h, a.shape[1] / w
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    forward, backward = dis.calc(a, b, None), dis.calc(b, a, None)
    ys, xs = np.mgrid[0 : a.shape[0], 0 : a.shape[1]].astype(np.float32)
    back = cv2.remap(backward, xs + forward[..., 0], ys + forward[..., 1], cv2.INTER_LINEAR, borderMode=1)
    disagreement = np.linalg.norm(forward + back, axis=-1)
    trust = cv2.GaussianBlur((disagreement < fx).astype(np.float32), (0, 0), 2.0 * fx)
    flow = forward * trust[..., None]
    if f == 1.0:
        return flow
    flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
    flow[..., 0] /= fx
    flow[..., 1] /= fy
    return flow


@pytest.mark.parametrize("width", [96, MAX_FLOW_SIDE + 40])  # the flow at the frame's size, and on shrunk copies
def test_sway_flow_with_frame_ts_side_made_once_is_the_plain_flow(width):
    from dvos_core.motion.sway import flow_input

    world = texture(size=1024, dark=True)
    cur = np.ascontiguousarray(world[100:196, 10 : 10 + width])
    nb = np.ascontiguousarray(world[103:199, 12 : 12 + width])
    cover = np.ones(cur.shape[:2], np.float32)
    cover[:, :12] = 0
    want = plain_sway(cur, nb, cover)
    assert np.abs(want).max() > 0.5  # a real flow, not zeros
    assert np.array_equal(sway_flow(cur, nb, cover), want)
    assert np.array_equal(sway_flow(cur, nb, cover, flow_input(cur)), want)


def test_smoothing_makes_frame_ts_flow_side_once_and_smooths_as_the_plain_path(clip, monkeypatch):
    import dvos_core.infer.smooth as smooth

    frames, masks = clip
    probs = np.clip(masks.astype(np.float32) * 0.8 + 0.1 * np.arange(len(masks))[:, None, None] / 8, 0, 1)
    made = []
    real_input = smooth.flow_input
    monkeypatch.setattr(smooth, "flow_input", lambda f: made.append(1) or real_input(f))
    fast = smooth.smooth_array(probs, frames, before=2, after=1)
    assert len(made) == len(frames)  # once per frame, not once per neighbour
    monkeypatch.setattr(smooth, "SequenceAligner", PlainAligner)
    monkeypatch.setattr(smooth, "sway_flow", lambda cur, nb, cover, current=None: plain_sway(cur, nb, cover))
    assert np.array_equal(fast, smooth.smooth_array(probs, frames, before=2, after=1))


@pytest.mark.parametrize("reference_masks", ["chained", "independent"])
def test_context_predictions_are_those_of_the_plain_alignment(clip, reference_masks):
    from dvos_core.infer.context import ContextPredictor, refine_context, run_context
    from dvos_core.model import build_model

    torch.manual_seed(0)
    model = build_model("tiny", "context").eval()
    frames = clip[0][:, :64, :64].copy()

    def predict(plain: bool) -> dict:
        ctx = ContextPredictor(model, "cpu", tile_size=64, reference_masks=reference_masks)
        if plain:
            ctx.aligner = PlainAligner()
        out = {}
        run_context(ctx, lambda a, b: frames[a:b], range(len(frames)), lambda t, p: out.__setitem__(t, p))
        second = {}
        refine_context(ctx, lambda a, b: frames[a:b], len(frames), range(len(frames)), out.get, second.__setitem__)
        return {**{("1", t): p for t, p in out.items()}, **{("2", t): p for t, p in second.items()}}

    fast, plain = predict(False), predict(True)
    assert fast.keys() == plain.keys() and len(fast) == 2 * len(frames)
    assert all(np.array_equal(fast[k], plain[k]) for k in fast)
