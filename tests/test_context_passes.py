"""The context model's two passes share their motion estimates: the second pass (references on both sides) takes
the transforms before frame t from the first pass instead of estimating them again, with the very same predictions;
and a new first pass never takes a transform made on other frames under the same frame numbers."""

import hashlib

import numpy as np
import pytest
import torch
from motion_clips import camera_clip, fast_pan, paint_heads, texture

import dvos_core.motion.align as align
from dvos_core.infer.context import ContextPredictor, refine_context, run_context
from dvos_core.model import build_model

torch.set_num_threads(1)


def _clip(seed: int, n: int = 9) -> np.ndarray:
    world, _, _ = paint_heads(texture(size=512, dark=True), 40, seed=4)
    frames, _, _ = camera_clip(world, fast_pan(n - 1, seed=seed, speed=(3, 8)), size=(96, 96))
    return frames[:, :64, :64].copy()


@pytest.fixture(scope="module")
def model():
    """A tiny context model whose reference path is drawn at random, so where a reference lands changes the answer."""
    torch.manual_seed(0)
    net = build_model("tiny", "context", input_fusion=True).eval()
    for name, p in net.named_parameters():
        if name.startswith(("fusions.", "mask_prior", "ref_input")):
            torch.nn.init.normal_(p, std=0.2)
    return net


@pytest.fixture
def estimates(monkeypatch):
    """The (frame, frame) of every motion estimate the aligner makes, frames named by their grey pixels."""
    made = []
    real = align.estimate_prepared

    def counted(a, b, params):
        made.append(tuple(hashlib.sha1(p.grey.tobytes()).hexdigest() for p in (a, b)))
        return real(a, b, params)

    monkeypatch.setattr(align, "estimate_prepared", counted)
    return made


def _two_passes(model, frames, targets=None, reference_masks="chained", refine_next=True) -> dict:
    ctx = ContextPredictor(model, "cpu", tile_size=64, reference_masks=reference_masks)
    first, second = {}, {}
    run_context(ctx, lambda a, b: frames[a:b], range(len(frames)), first.__setitem__, refine_next=refine_next)
    todo = range(len(frames)) if targets is None else targets
    refine_context(ctx, lambda a, b: frames[a:b], len(frames), todo, first.get, second.__setitem__)
    return {**{(1, t): p for t, p in first.items()}, **{(2, t): p for t, p in second.items()}}


@pytest.mark.parametrize("reference_masks", ["chained", "independent"])
def test_the_second_pass_estimates_no_pair_again_and_predicts_the_same(model, estimates, monkeypatch, reference_masks):
    frames = _clip(5)
    shared = _two_passes(model, frames, reference_masks=reference_masks)
    n_shared, distinct = len(estimates), len(set(estimates))
    estimates.clear()
    monkeypatch.setattr(align.SequenceAligner, "hold", lambda self, length: None)  # nothing kept between passes
    alone = _two_passes(model, frames, reference_masks=reference_masks)
    assert shared.keys() == alone.keys() and len(shared) == 2 * len(frames)
    assert all(np.array_equal(shared[k], alone[k]) for k in shared)
    assert n_shared == distinct  # no pair of frames estimated twice
    assert len(set(estimates)) == distinct  # the same pairs...
    # ...of which the second pass made again the 2 before each frame t (t-1 -> t, t-2 -> t), bar frames 0 and 1
    assert len(estimates) - n_shared == 2 * len(frames) - 3


def test_a_second_pass_over_part_of_the_video_predicts_as_without_sharing(model, estimates):
    """A resumed refinement (some targets only) takes what it can and estimates the rest; ``refine_next=False``
    (no second pass to come) keeps nothing."""
    frames = _clip(6)
    shared = _two_passes(model, frames, targets=[2, 3, 7])
    n_shared = len(estimates)
    estimates.clear()
    alone = _two_passes(model, frames, targets=[2, 3, 7], refine_next=False)
    assert shared.keys() == alone.keys() and all(np.array_equal(shared[k], alone[k]) for k in shared)
    assert n_shared < len(estimates)


def test_a_predictor_used_again_on_other_frames_predicts_as_a_fresh_one(model):
    """The estimates of the last frames of one video are not taken for another video's frames of the same
    numbers (here the last frames of the other video: a resumed run's)."""
    a, b = _clip(7), _clip(8)
    used = ContextPredictor(model, "cpu", tile_size=64)
    run_context(used, lambda s, e: a[s:e], range(len(a)), lambda t, p: None)
    again, fresh = {}, {}
    run_context(used, lambda s, e: b[s:e], range(5, len(b)), again.__setitem__)
    run_context(ContextPredictor(model, "cpu", tile_size=64), lambda s, e: b[s:e], range(5, len(b)), fresh.__setitem__)
    assert again.keys() == fresh.keys() and all(np.array_equal(again[t], fresh[t]) for t in fresh)


def test_held_transforms_are_handed_out_once_and_dropped_by_reset(estimates):
    frames = list(_clip(9, n=4))
    aligner = align.SequenceAligner()
    aligner.hold(3)
    first = aligner.align(frames, times=[0, 1, 2, 3])  # pairs 0-1, 1-2, 2-3 and paths 1-2-3, 0-1-2-3
    made = len(estimates)
    aligner.forget(set())
    aligner.hold(0)
    again = aligner.align(frames[1:], times=[1, 2, 3])  # 1-2, 2-3 and 1-2-3 were held
    assert len(estimates) == made and all(np.array_equal(x, y) for x, y in zip(again, first[1:], strict=True))
    aligner.forget(set())
    aligner.align(frames[1:], times=[1, 2, 3])  # handed out once: made again
    assert len(estimates) == made + 3
    aligner.forget(set())
    aligner.hold(3)
    aligner.align(frames[2:], times=[2, 3])  # made and held
    aligner.forget(set())
    aligner.reset()
    aligner.align(frames[2:], times=[2, 3])  # the held one went with the reset
    assert len(estimates) == made + 5


def test_a_stored_video_refined_with_shared_estimates_keeps_the_same_predictions(tmp_project, model, monkeypatch):
    """``predict_video(passes=2)``: the second pass reads the stored masks; the sharing changes no stored value."""
    from dvos_core.infer import predict_video
    from dvos_core.model import save_checkpoint

    frames = _clip(10)
    vid = "v"
    tmp_project.add_video_array(vid, frames, split="test")
    ckpt = save_checkpoint(tmp_project.model_dir("ctx", create=True) / "best.pt", model)
    made = []
    real = align.estimate_prepared
    monkeypatch.setattr(align, "estimate_prepared", lambda a, b, p: made.append(1) or real(a, b, p))
    assert predict_video(tmp_project, vid, ckpt, device="cpu", passes=2, name="shared") == len(frames)
    n_shared = len(made)
    made.clear()
    monkeypatch.setattr(align.SequenceAligner, "hold", lambda self, length: None)
    assert predict_video(tmp_project, vid, ckpt, device="cpu", passes=2, name="alone") == len(frames)
    sets = tmp_project.video(vid).predictions
    for i in range(3):  # masks, probabilities, done
        assert np.array_equal(sets["shared"].arrays()[i][:], sets["alone"].arrays()[i][:])
    assert len(made) - n_shared == 2 * len(frames) - 3


def test_frames_in_memory_and_a_stored_video_are_refined_alike(tmp_project, model):
    """``predict_array`` and ``predict_video`` with ``passes=2`` give the same masks: in both the second pass's
    frame t reads the refined masks of the frames before it (the store holds them by then) and the first-pass
    masks of the frames after it."""
    from dvos_core.infer import predict_array, predict_video
    from dvos_core.model import save_checkpoint

    frames = _clip(11)
    tmp_project.add_video_array("v", frames, split="test")
    ckpt = save_checkpoint(tmp_project.model_dir("ctx", create=True) / "best.pt", model)
    predict_video(tmp_project, "v", ckpt, device="cpu", passes=2, name="stored")
    stored = tmp_project.video("v").predictions["stored"].arrays()[0][:]
    probs = predict_array(ckpt, frames, device="cpu", passes=2)
    assert np.array_equal((probs >= 0.5).astype(np.uint8), stored)


def test_one_pass_holds_no_estimates_for_a_second(tmp_project, model, monkeypatch):
    """Only a run that goes on to a second pass keeps motion estimates for it (``predict_video``, ``predict_array``)."""
    from dvos_core.infer import predict_array, predict_video
    from dvos_core.model import save_checkpoint

    held = []
    real = align.SequenceAligner.hold
    monkeypatch.setattr(align.SequenceAligner, "hold", lambda self, n: held.append(n) or real(self, n))
    frames = _clip(12, n=5)
    tmp_project.add_video_array("v", frames, split="test")
    ckpt = save_checkpoint(tmp_project.model_dir("ctx", create=True) / "best.pt", model)
    predict_video(tmp_project, "v", ckpt, device="cpu", passes=1)
    predict_array(ckpt, frames, device="cpu", passes=1)
    assert not [n for n in held if n > 0]
    predict_array(ckpt, frames, device="cpu", passes=2)
    assert [n for n in held if n > 0]
