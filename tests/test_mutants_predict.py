"""Small tests that catch plausible bugs in which frames are predicted from which, and with which reference masks
(batch planning, reference windows, thresholds, resumes, test-video labels) that the other prediction tests let
through."""

import numpy as np
import pytest
import torch

from dvos_core.infer.window import plan_batches

torch.set_num_threads(1)


def test_batches_hold_targets_in_frame_order_whatever_order_they_come_in():
    # sets of ints do not iterate in order ({100, 3, 40} -> 40, 3, 100): the targets must be sorted first
    batches = plan_batches([100, 3, 40], tau=2, batch_size=2, image_first=False)
    assert [b.targets for b in batches] == [(3, 40), (100,)]
    batches = plan_batches({9, 1, 17, 8}, tau=2, batch_size=4, image_first=True)
    assert [(b.mode, b.targets) for b in batches] == [("image", (1,)), ("video", (8, 9, 17))]


# ---- context model over a stored video --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def context_ckpt(tmp_path_factory):
    from dvos_core.model import build_model, save_checkpoint

    torch.manual_seed(0)
    net = build_model("tiny", "context").eval()
    return save_checkpoint(tmp_path_factory.mktemp("m") / "ctx.pt", net)


def _video(project, n=5, split="test"):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (n, 64, 64, 3), dtype=np.uint8)
    return project.add_video_array("v", frames, split=split)


@pytest.fixture
def calls(monkeypatch):
    """(pass, query time, reference times, reference masks) of every context prediction."""
    from dvos_core.infer import context

    seen = []
    real = context.ContextPredictor.predict

    def spy(self, query, refs, ref_masks, times=None, on_tile=None):
        seen.append((list(times)[-1], list(times)[:-1], [None if m is None else np.asarray(m) for m in ref_masks]))
        return real(self, query, refs, ref_masks, times, on_tile)

    monkeypatch.setattr(context.ContextPredictor, "predict", spy)
    return seen


def test_a_resumed_context_run_predicts_only_the_missing_frames_from_the_stored_masks(tmp_project, context_ckpt, calls):
    from dvos_core.infer import predict_video

    _video(tmp_project)
    assert predict_video(tmp_project, "v", context_ckpt, device="cpu", frames=[0, 1, 2]) == 3
    stored = tmp_project.video("v").predictions["ctx"].arrays()[0][:3].astype(np.float32)
    calls.clear()
    assert predict_video(tmp_project, "v", context_ckpt, device="cpu") == 2  # frames 3 and 4 only
    assert [c[0] for c in calls] == [3, 4]
    _, refs, masks = calls[0]
    assert refs[-3:] == [0, 1, 2]
    for k, m in zip(refs[-3:], masks[-3:]):  # the frames done before lend their stored masks, as in one go
        assert m is not None
        np.testing.assert_array_equal(m, stored[k])


def test_frames_a_call_before_predicted_lend_their_stored_masks_to_a_call_on_the_next_frames(
    tmp_project, context_ckpt, calls
):
    """Predicting frames 0-2, then frames 3-4 in a second call, gives frames 3 and 4 the references one call over the
    whole video gives them (their masks were unknown: only frames of the call's own targets lent theirs)."""
    from dvos_core.infer import predict_video

    _video(tmp_project)
    predict_video(tmp_project, "v", context_ckpt, device="cpu", frames=[0, 1, 2])
    stored = tmp_project.video("v").predictions["ctx"].arrays()[0][:3].astype(np.float32)
    calls.clear()
    assert predict_video(tmp_project, "v", context_ckpt, device="cpu", frames=[3, 4]) == 2
    assert [c[0] for c in calls] == [3, 4]
    _, refs, masks = calls[0]
    assert refs[-3:] == [0, 1, 2]
    for k, m in zip(refs[-3:], masks[-3:]):
        assert m is not None
        np.testing.assert_array_equal(m, stored[k])
    calls.clear()
    predict_video(tmp_project, "v", context_ckpt, device="cpu", frames=[3], resume=False)  # a fresh run: none lent
    assert all(m is None for m in calls[0][2])


def test_context_reference_labels_come_from_human_and_pseudo_masks_never_from_a_test_video(tmp_project):
    from dvos_core.infer.predict import reference_labels

    v = _video(tmp_project, split="train")
    m = np.zeros((64, 64), np.uint8)
    m[10:20, 10:20] = 1
    v.set_mask(0, m, "manual")
    v.set_mask(1, m, "pseudo")
    v.set_mask(2, m, "predicted")
    known = reference_labels(v)
    assert known(0) is not None and known(1) is not None
    assert known(2) is None and known(3) is None
    v.clear_masks(["pseudo", "predicted"])
    v.set_split("test")  # its manual masks are now the ground truth the predictions are scored against
    assert reference_labels(tmp_project.video("v")) is None


def test_frames_past_the_end_are_refused():
    from dvos_core.infer.predict import target_frames

    assert target_frames(5, [4, 0, 4], "v") == [0, 4]
    with pytest.raises(IndexError, match="cannot predict frames"):
        target_frames(5, [5], "v")


def test_each_frame_gets_its_tau_previous_frames_as_references(tmp_project, context_ckpt, calls):
    from dvos_core.infer import predict_video
    from dvos_core.model import load_checkpoint

    tau = load_checkpoint(context_ckpt)[0].tau
    _video(tmp_project, n=tau + 2)
    predict_video(tmp_project, "v", context_ckpt, device="cpu")
    assert [c[0] for c in calls] == list(range(tau + 2))
    for t, refs, _ in calls:
        assert refs == list(range(max(0, t - tau), t))


def test_stored_labels_lend_their_masks_to_the_references(tmp_project, context_ckpt, calls):
    from dvos_core.infer import predict_video

    v = _video(tmp_project, split="train")
    m = np.zeros((64, 64), np.uint8)
    m[10:30, 20:40] = 1
    v.set_mask(0, m, "manual")
    predict_video(tmp_project, "v", context_ckpt, device="cpu", frames=[1])
    ((t, refs, masks),) = calls
    assert (t, refs) == (1, [0])
    np.testing.assert_array_equal(masks[0], m.astype(np.float32))


@pytest.mark.parametrize("threshold", [0.0, 1.0])
def test_a_threshold_that_leaves_no_choice_is_refused(tmp_project, context_ckpt, threshold):
    from dvos_core.infer import predict_video

    _video(tmp_project)
    with pytest.raises(ValueError, match="threshold"):
        predict_video(tmp_project, "v", context_ckpt, device="cpu", threshold=threshold)


def _context_predictor(ckpt, **kw):
    from dvos_core.infer.context import ContextPredictor
    from dvos_core.model import load_checkpoint

    return ContextPredictor(load_checkpoint(ckpt)[0].eval(), "cpu", tile_size=64, **kw)


def test_reference_masks_are_zero_and_unknown_where_the_warped_reference_does_not_reach(context_ckpt):
    ctx = _context_predictor(context_ckpt)
    shift = np.array([[1.0, 0.0, 5.0], [0.0, 1.0, 0.0]])  # the reference lands 5 px to the right
    ctx.aligner.align = lambda frames, keys=None, times=None: [shift] * (len(frames) - 1)
    frame = np.zeros((32, 32, 3), np.uint8)
    ref = np.random.default_rng(3).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    refs, masks = ctx.inputs(frame, [ref], [np.ones((32, 32), np.float32)])
    np.testing.assert_array_equal(refs[0][:, 5:], ref[:, :-5])  # the reference itself is warped onto the query
    mask, known = masks[0]
    assert not known[:, :6].any() and known[:, 6:].all()  # columns 0-4 empty, column 5 the warp's edge
    np.testing.assert_array_equal(mask, known)  # [mask * known, known] of a mask that is all head


def test_only_the_tau_most_recent_references_are_used(context_ckpt, monkeypatch):
    ctx = _context_predictor(context_ckpt)
    tau = ctx.tau
    seen = {}

    def inputs(query, refs, ref_masks, times=None):
        seen["refs"], seen["times"] = [int(r[0, 0, 0]) for r in refs], times
        return np.zeros((len(refs), 64, 64, 3), np.uint8), np.zeros((len(refs), 2, 64, 64), np.float32)

    monkeypatch.setattr(ctx, "inputs", inputs)
    frames = [np.full((64, 64, 3), k, np.uint8) for k in range(tau + 3)]  # frame k has value k
    ctx.predict(frames[-1], frames[:-1], [None] * (tau + 2), times=list(range(tau + 3)))
    assert seen["refs"] == list(range(2, tau + 2))
    assert seen["times"] == list(range(2, tau + 3))


def test_a_sinks_final_probability_lends_the_frames_mask_to_the_next_frames(context_ckpt, calls):
    from dvos_core.infer.context import run_context

    ctx = _context_predictor(context_ckpt)
    frames = np.random.default_rng(1).integers(0, 255, (3, 64, 64, 3), dtype=np.uint8)
    ones = np.ones((64, 64), np.float32)
    run_context(ctx, lambda a, b: frames[a:b], [0, 1, 2], lambda t, p: ones)  # the caller's final map: all head
    assert [c[0] for c in calls] == [0, 1, 2]
    for _, refs, masks in calls[1:]:
        assert refs and all(m is not None and m.all() for m in masks)


def test_the_padding_of_a_frame_is_unknown_to_the_reference_masks(context_ckpt):
    ctx = _context_predictor(context_ckpt)
    ctx.aligner.align = lambda frames, keys=None, times=None: [np.eye(3)[:2]] * (len(frames) - 1)
    real, seen = ctx.model, []

    def model(*args, **kw):
        seen.append(args[2].clone())  # the reference masks of the tile: (1, T, 2, h, w)
        return real(*args, **kw)

    ctx.model = model
    frame = np.random.default_rng(2).integers(0, 255, (40, 40, 3), dtype=np.uint8)  # padded up to 64
    ctx.predict(frame, [frame], [np.ones((40, 40), np.float32)])
    (masks,) = seen
    assert masks.shape[-2:] == (64, 64)
    assert masks[..., :39, :39].min() == 1  # inside the frame (its 1 px edge aside): a known head
    assert not masks[..., 40:, :].any() and not masks[..., :, 40:].any()  # the padding: no mask, not known


def test_independent_reference_masks_are_the_frames_alone_predictions(context_ckpt):
    from dvos_core.infer.context import run_context

    ctx = _context_predictor(context_ckpt, reference_masks="independent")
    seen = []
    zeros, ones = np.zeros((64, 64), np.float32), np.ones((64, 64), np.float32)

    def both(query, refs, ref_masks, times=None, on_tile=None):
        seen.append([None if m is None else np.asarray(m) for m in ref_masks])
        return zeros, ones  # (with references: nothing, the frame alone: all head)

    ctx.predict_with_alone = both
    frames = np.zeros((3, 64, 64, 3), np.uint8)
    run_context(ctx, lambda a, b: frames[a:b], [0, 1, 2], lambda t, p: None)
    assert len(seen) == 3 and len(seen[2]) == 2
    assert all(m is not None and m.all() for ms in seen[1:] for m in ms)


def test_predictions_to_labels_copies_only_the_frames_asked_for(tmp_project, context_ckpt):
    from dvos_core.infer import predict_video
    from dvos_core.infer.predict import predictions_to_labels
    from dvos_core.store.schema import PREDICTED

    _video(tmp_project, n=4, split="train")
    predict_video(tmp_project, "v", context_ckpt, device="cpu")
    assert predictions_to_labels(tmp_project.video("v"), frames=[1, 2], model="ctx") == 2
    assert (tmp_project.video("v").provenance == PREDICTED).tolist() == [False, True, True, False]
