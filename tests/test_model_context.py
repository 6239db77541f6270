"""The context-aware video model: shapes with any number of references, equal to its image model when fresh,
samples whose references are aligned to the query, frame-by-frame prediction, and the test-video rule."""

import numpy as np
import pytest
import torch

from dvos_core.data import ClipDataset, ClipIndex
from dvos_core.data.context_sample import ContextConfig, context_sample, perturb_mask, warp_references
from dvos_core.data.degrade import DegradeConfig, composite, degrade, occluder
from dvos_core.data.toy import make_toy_project
from dvos_core.model import build_model, init_from_frame_model, load_checkpoint, save_checkpoint

torch.set_num_threads(1)


def inputs(b=2, t=4, s=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, 3, s, s, generator=g)
    refs = torch.randn(b, t, 3, s, s, generator=g)
    blocks = (torch.rand(b * t, 2, s // 8, s // 8, generator=g) > 0.5).float()  # head-sized blobs, not pixel noise
    masks = torch.nn.functional.interpolate(blocks, scale_factor=8).view(b, t, 2, s, s)
    return q, refs, masks, torch.ones(b, t)


def test_shapes_with_any_number_of_references():
    model = build_model("tiny", "context").eval()
    q, refs, masks, valid = inputs()
    with torch.no_grad():
        for t in (0, 1, 2, 4):
            out = model(q, refs[:, :t], masks[:, :t], valid[:, :t]) if t else model(q)
            assert out["mask"].shape == (2, 1, 64, 64) and out["frame"].shape == (2, 3, 64, 64)
        half = valid.clone()
        half[0, :3] = 0  # the start of a video: empty slots
        assert model(q, refs, masks, half)["mask"].shape == (2, 1, 64, 64)
        full = model(q, refs, masks, valid)
        mask_only = model(q, refs, masks, valid, heads=("mask",))  # prediction skips the frame head
        assert list(mask_only) == ["mask"] and torch.equal(mask_only["mask"], full["mask"])
    with pytest.raises(ValueError, match="ref_masks"):
        model(q, refs, masks[:, :, :1], valid)
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.zeros(1, 3, 40, 64))


@pytest.mark.parametrize("refine,pixels", [(False, False), (True, False), (False, True)])
def test_a_fresh_context_model_is_its_image_model(tmp_path, refine, pixels):
    torch.manual_seed(0)
    image = build_model("tiny", "frame").eval()
    model = build_model("tiny", "context", prior_refine=refine, input_fusion=pixels).eval()
    report = init_from_frame_model(model, image)
    new_parts = ("fusions.", "mask_prior") + (("mask_refine",) if refine else ()) + (("ref_input",) if pixels else ())
    assert report["mismatched"] == [] and all(k.startswith(new_parts) for k in report["missing"])
    assert any(k.startswith("mask_refine") for k in report["missing"]) == refine
    assert any(k.startswith("ref_input") for k in report["missing"]) == pixels
    q, refs, masks, valid = inputs(seed=3)
    with torch.no_grad():
        want = image(q)["mask"]
        assert torch.equal(model(q, refs, masks, valid)["mask"], want)  # whatever the references say
        assert torch.equal(model(q)["mask"], want)
    path = save_checkpoint(tmp_path / "c.pt", model)
    loaded, info = load_checkpoint(path)
    assert info["kind"] == "context" and type(loaded).__name__ == "ContextNet"
    with torch.no_grad():
        assert torch.equal(loaded(q, refs, masks, valid)["mask"], want)


def test_the_full_resolution_mask_prior_follows_the_matched_offset(tmp_path):
    model = build_model("tiny", "context").eval()
    fusion = model.fusions[str(min(model.fusion_levels))]
    offsets, scale = fusion.offsets, 2 ** min(model.fusion_levels)
    _, _, masks, _ = inputs(b=1, t=2, seed=5)
    h, w = masks.shape[-2] // scale, masks.shape[-1] // scale
    per_offset = torch.zeros(1, 2, len(offsets), h, w)
    per_offset[0, 0, offsets.index((1, -2))] = 1.0  # reference 0 matched one step down, two steps left
    sharp = model._sharp_masks(masks, per_offset, offsets, scale)
    want = torch.zeros_like(masks[0, 0])
    want[:, :-scale, 2 * scale :] = masks[0, 0, :, scale:, : -2 * scale]  # the mask moved by that offset
    assert torch.equal(sharp[0], want)
    # checkpoints of format 2 were trained with the masks in place: they load with that prior and compute it
    model.config.mask_prior_offsets = False
    assert torch.equal(model._sharp_masks(masks, per_offset, offsets, scale)[0], masks[0, 0])
    torch.nn.init.normal_(model.mask_prior.weight, std=0.1)
    path = save_checkpoint(tmp_path / "old.pt", model)
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = 2
    del payload["config"]["mask_prior_offsets"]
    torch.save(payload, path)
    old, _ = load_checkpoint(path)
    assert old.config.mask_prior_offsets is False
    model.config.mask_prior_offsets = True
    q, refs, masks, valid = inputs(seed=6)
    with torch.no_grad():
        legacy = old(q, refs, masks, valid)["mask"]
        assert not torch.allclose(model(q, refs, masks, valid)["mask"], legacy)
        model.config.mask_prior_offsets = False
        assert torch.equal(model(q, refs, masks, valid)["mask"], legacy)


def test_the_references_can_change_the_answer_after_training_steps():
    torch.manual_seed(0)
    model = build_model("tiny", "context")
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    q, refs, masks, valid = inputs(b=4)
    target = masks[:, -1, :1]  # the answer is in the last reference's mask, not in the query
    for _ in range(40):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(q, refs, masks, valid)["mask"], target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        with_refs = torch.nn.functional.binary_cross_entropy_with_logits(model(q, refs, masks, valid)["mask"], target)
        without = torch.nn.functional.binary_cross_entropy_with_logits(model(q)["mask"], target)
    assert float(with_refs) < 0.6 * float(without)


def test_degradations_and_perturbed_masks():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 64, 64)
    y = degrade(x, g, DegradeConfig(blur_p=1, noise_p=1, exposure_p=1, occlude_p=1))
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1 and not torch.allclose(x, y)
    flat = torch.full((3, 64, 64), 0.5)
    alpha, texture = occluder(flat, torch.Generator().manual_seed(1), (0.2, 0.2))
    seen = composite(flat, (alpha, texture))
    assert 0.15 < float((alpha > 0.5).float().mean()) < 0.25  # about the share asked for is covered
    assert torch.equal(seen[:, alpha == 0], flat[:, alpha == 0])  # and nothing else changes
    m = torch.zeros(1, 40, 40)
    m[:, 10:20, 10:20] = 1
    p = perturb_mask(m.clone(), torch.Generator().manual_seed(2))
    assert set(torch.unique(p).tolist()) <= {0.0, 1.0} and not torch.equal(p, m)


def panning_clip(n=5, size=96, step=6):
    """A textured field panned by `step` px per frame, with square 'heads' fixed to it."""
    rng = np.random.default_rng(0)
    big = (rng.random((size + n * step, size + n * step, 3)) * 255).astype(np.uint8)
    import cv2

    big = cv2.GaussianBlur(big, (0, 0), 2)
    mask_big = np.zeros(big.shape[:2], np.uint8)
    for y, x in rng.integers(0, big.shape[0] - 12, (25, 2)):
        mask_big[y : y + 10, x : x + 10] = 1
        big[y : y + 10, x : x + 10] = (220, 200, 60)
    frames = np.stack([big[0:size, k * step : k * step + size] for k in range(n)])
    masks = np.stack([mask_big[0:size, k * step : k * step + size] for k in range(n)])
    return frames, masks


def test_references_are_aligned_and_warped_onto_the_query():
    from dvos_core.motion.align import SequenceAligner

    frames, masks = panning_clip()
    matrices = SequenceAligner().align(list(frames))
    warped, wmasks, cover = warp_references(frames, masks, matrices)
    query = frames[-1].astype(np.float32)
    for i in range(4):  # inside the covered part each warped reference looks like the query and its mask fits
        k = cover[i] > 0
        assert k.mean() > 0.5
        err = np.abs(warped[i].astype(np.float32) - query).mean(-1)[k].mean()
        raw = np.abs(frames[i].astype(np.float32) - query).mean(-1)[k].mean()
        assert err < 0.3 * raw
        assert (wmasks[i][k] & masks[-1][k]).sum() / masks[-1][k].sum() > 0.9
    x = torch.from_numpy(warped).permute(0, 3, 1, 2).float() / 255
    m = torch.from_numpy(np.stack([wmasks, cover], 1)).float()
    cfg = ContextConfig(degrade_query_p=0, degrade_refs_p=0, empty_refs_p=0, ref_mask_noise_p=0, ref_mask_unknown_p=0)
    out = context_sample(x, m, torch.ones(5), cfg, torch.Generator().manual_seed(0))
    assert out["refs"].shape == (4, 3, 96, 96) and out["ref_masks"].shape == (4, 2, 96, 96)
    assert torch.equal(out["ref_masks"][:, 1], m[:4, 1]) and torch.equal(out["ref_masks"][:, 0], m[:4, 0] * m[:4, 1])
    empty = context_sample(x, m, torch.tensor([-1, -1, 1, 0, 1]), cfg, torch.Generator().manual_seed(0))
    assert empty["ref_valid"].tolist() == [0, 0, 1, 1] and float(empty["refs"][:2].abs().sum()) == 0
    assert float(empty["ref_masks"][3].abs().sum()) == 0  # a frame without a mask: its mask is unknown


def test_dataset_items_and_frame_by_frame_prediction(tmp_path):
    from dvos_core.infer import predict_array, predict_video
    from dvos_core.infer.predict import reference_labels

    project = make_toy_project(tmp_path / "t.dvos", n_clips=2, n_frames=6, size=64, n_videos=1, video_frames=8)
    idx = ClipIndex.from_project(project, 4, 1, "synthetic", val_fraction=0)
    ds = ClipDataset(project.path, idx, 64, train=True, kind="context")
    a, b = ds[(3, 11)], ds[(3, 11)]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert a["refs"].shape == (4, 3, 64, 64) and a["ref_masks"].shape == (4, 2, 64, 64)
    torch.manual_seed(0)
    model = build_model("tiny", "context").eval()
    ckpt = save_checkpoint(tmp_path / "ctx.pt", model)
    vid = project.video_ids()[0]
    video = project.video(vid)
    probs = predict_array(ckpt, video.read_frames(), device="cpu")
    assert probs.shape == (8, 64, 64) and np.isfinite(probs).all()  # every frame, frame 0 included
    assert predict_video(project, vid, ckpt, device="cpu") == 8
    assert video.predictions.frames().tolist() == list(range(8))
    video.set_mask(2, np.ones((64, 64), np.uint8), "manual")
    assert reference_labels(video)(2) is not None and reference_labels(video)(5) is None
    video.set_split("test")
    assert reference_labels(video) is None  # a test video's ground truth never feeds the model


def test_training_windows_of_one_clip_share_their_pair_estimates(tmp_path, monkeypatch):
    import dvos_core.motion.align as align

    project = make_toy_project(tmp_path / "t.dvos", n_clips=1, n_frames=8, size=64, n_videos=0)
    idx = ClipIndex.from_project(project, 4, 1, "synthetic", val_fraction=0)
    ds = ClipDataset(project.path, idx, 64, train=True, kind="context")
    calls = []
    real = align.best_transform
    monkeypatch.setattr(align, "best_transform", lambda *a, **k: calls.append(1) or real(*a, **k))
    samples = sorted((idx[i] for i in range(len(idx))), key=lambda s: s.t)
    first, second = (s for s in samples if s.t in (4, 5))
    for s in (first, second):
        times = ds._times(s)
        frames, _, _ = ds.read_clip_masks(s, times=times)
        ds._alignment(s, times[0], frames)
        calls.append("|")
    per_window = "".join("x" if c == 1 else c for c in calls).split("|")[:2]
    # window 0..4: 4 consecutive pairs + 3 direct estimates; window 1..5 adds one pair (4 -> 5) + 3 direct ones
    assert [len(w) for w in per_window] == [7, 4]


class _Recorder:
    """A stand-in ContextPredictor: records which references each frame gets and returns a constant map."""

    references, reference_masks = "previous", "chained"

    def __init__(self, tau=4):
        self.tau, self.calls = tau, []
        from dvos_core.motion.align import SequenceAligner

        self.aligner = SequenceAligner()  # never asked to align: predict() is a stand-in

    def predict(self, query, refs, masks, times=None, on_tile=None):
        self.calls.append((list(times), [m is not None for m in masks]))
        return np.full(query.shape[:2], 0.9, np.float32)


def test_the_refining_pass_uses_neighbours_on_both_sides():
    from dvos_core.infer.context import refine_context, run_context

    frames = np.zeros((6, 32, 32, 3), np.uint8)
    rec = _Recorder()
    run_context(rec, lambda a, b: frames[a:b], range(6), lambda t, p: None)
    assert [c[0] for c in rec.calls[:3]] == [[0], [0, 1], [0, 1, 2]]  # fewer earlier frames at the start
    rec.calls.clear()
    first = {t: np.ones((32, 32), np.float32) for t in range(6) if t != 4}
    refine_context(rec, lambda a, b: frames[a:b], 6, range(6), first.get, lambda t, p: None)
    assert rec.calls[0] == ([1, 2, 0], [True, True])
    assert rec.calls[3] == ([1, 2, 4, 5, 3], [True, True, False, True])  # frame 4 had no first-pass mask
    assert rec.calls[5] == ([3, 4, 5], [True, False])


def test_training_references_come_from_both_sides_within_the_segment(tmp_path):
    import dataclasses

    from dvos_core.data.augment import AugmentConfig

    project = make_toy_project(tmp_path / "t.dvos", n_clips=1, n_frames=10, size=64, n_videos=0)
    idx = ClipIndex.from_project(project, 4, 1, "synthetic", val_fraction=0)
    s = dataclasses.replace(idx[5], stop=7)  # frames 7.. belong to another split segment
    ds = ClipDataset(project.path, idx, 64, train=True, kind="context", augment=AugmentConfig())
    seen_after = False
    for seed in range(20):
        times, inside = ds._times(s, torch.Generator().manual_seed(seed))
        assert times[-1] == 5 and len(times) == 5
        for t, ok in zip(times[:-1], inside[:-1]):
            assert ok == (0 <= t < 7) or (not ok and t in (0, 6))  # outside the segment: flagged, clamped
        seen_after |= any(t > 5 for t, ok in zip(times[:-1], inside[:-1]) if ok)
    assert seen_after
    plain = ClipDataset(
        project.path, idx, 64, train=True, kind="context", augment=AugmentConfig(context={"bidirectional_p": 0.0})
    )
    assert plain._times(s, torch.Generator().manual_seed(0))[0] == [1, 2, 3, 4, 5]


def test_a_stopped_refinement_resumes_where_it_stopped(tmp_path):
    from dvos_core.infer import predict_video
    from dvos_core.progress import Cancelled, CancelToken

    project = make_toy_project(tmp_path / "t.dvos", n_clips=1, n_frames=4, size=64, n_videos=1, video_frames=8)
    vid = project.video_ids()[0]
    torch.manual_seed(0)
    ckpt = save_checkpoint(project.model_dir("ctx", create=True) / "best.pt", build_model("tiny", "context"))
    token = CancelToken()

    def progress(done, total, message):
        if "refining" in message or ("frame 5" in message and done > total / 2):  # in the second pass
            token.cancel()

    with pytest.raises(Cancelled):
        predict_video(project, vid, ckpt, device="cpu", passes=2, progress=progress, cancel=token)
    done = project.video(vid).predictions["ctx"].arrays()[2][:]
    assert (done >= 1).all() and (done < 2).any()  # the first pass finished, the refinement did not
    left = int((done < 2).sum())
    assert predict_video(project, vid, ckpt, device="cpu", passes=2) == left
    assert (project.video(vid).predictions["ctx"].arrays()[2][:] == 2).all()


def _fused_model():
    """A tiny context model whose lookup, mask prior and reference pixels are drawn at random, so the references
    change its answer."""
    torch.manual_seed(0)
    model = build_model("tiny", "context", input_fusion=True).eval()
    for name, p in model.named_parameters():
        if name.startswith(("fusions.", "mask_prior", "ref_input")):
            torch.nn.init.normal_(p, std=0.2)
    return model


def test_a_stopped_prediction_resumes_to_the_same_masks_as_one_run(tmp_path):
    """Frames predicted before a stop lend their stored masks to the next frames, as they do in one run (they
    were lent no mask after a resume, and the masks of the frames after it changed)."""
    from dvos_core.infer import predict_video
    from dvos_core.progress import Cancelled, CancelToken

    project = make_toy_project(tmp_path / "r.dvos", n_clips=1, n_frames=4, size=64, n_videos=1, video_frames=8)
    vid = project.video_ids()[0]
    project.video(vid).set_split("test")  # no stored label stands in for a reference
    ckpt = save_checkpoint(project.model_dir("ctx", create=True) / "best.pt", _fused_model())
    assert predict_video(project, vid, ckpt, device="cpu", name="whole") == 8
    token = CancelToken()

    def progress(done, total, message):
        if "frame 3" in message:
            token.cancel()

    with pytest.raises(Cancelled):
        predict_video(project, vid, ckpt, device="cpu", name="stopped", progress=progress, cancel=token)
    sets = project.video(vid).predictions
    left = 8 - len(sets["stopped"].frames())
    assert 0 < left < 8
    assert predict_video(project, vid, ckpt, device="cpu", name="stopped") == left
    whole, stopped = sets["whole"].arrays()[1][:], sets["stopped"].arrays()[1][:]
    assert np.array_equal(whole, stopped)


def test_a_stopped_or_part_by_part_independent_prediction_gives_one_runs_masks(tmp_path):
    """With reference_masks="independent" the frames before a stop (or before a part) lend the mask of the frame
    alone, as in one run: it is not stored, and they lent nothing after a resume (the masks of the tau frames after
    the stop changed)."""
    from dvos_core.infer import predict_video
    from dvos_core.progress import Cancelled, CancelToken

    project = make_toy_project(tmp_path / "i.dvos", n_clips=1, n_frames=4, size=64, n_videos=1, video_frames=8)
    vid = project.video_ids()[0]
    project.video(vid).set_split("test")  # no stored label stands in for a reference
    ckpt = save_checkpoint(project.model_dir("ctx", create=True) / "best.pt", _fused_model())
    kw = {"device": "cpu", "reference_masks": "independent"}
    assert predict_video(project, vid, ckpt, name="whole", **kw) == 8
    token = CancelToken()

    def progress(done, total, message):
        if "frame 3" in message:
            token.cancel()

    with pytest.raises(Cancelled):
        predict_video(project, vid, ckpt, name="stopped", progress=progress, cancel=token, **kw)
    sets = project.video(vid).predictions
    left = 8 - len(sets["stopped"].frames())
    assert 0 < left < 8
    assert predict_video(project, vid, ckpt, name="stopped", **kw) == left
    assert predict_video(project, vid, ckpt, name="parts", frames=range(5), **kw) == 5
    assert predict_video(project, vid, ckpt, name="parts", frames=range(5, 8), **kw) == 3
    whole = sets["whole"].arrays()[1][:]
    assert np.array_equal(whole, sets["stopped"].arrays()[1][:]) and np.array_equal(whole, sets["parts"].arrays()[1][:])
    lone = predict_video(project, vid, ckpt, name="lone", frames=range(5, 8), **kw)  # nothing before: lent nothing
    assert lone == 3 and not np.array_equal(whole[5:], sets["lone"].arrays()[1][5:])  # (the references count)


def test_the_references_pixels_reach_frame_ts_stem_and_travel_with_the_checkpoint(tmp_path):
    model = _fused_model()
    q, refs, masks, valid = inputs(seed=8)
    with torch.no_grad():
        stem = model.encoder.stem(q)
        added = model._reference_pixels(q, refs, valid)
        assert added.shape == stem.shape
        # only the valid references count: an empty slot's pixels change nothing
        fewer = valid.clone()
        fewer[:, 0] = 0
        other = refs.clone()
        other[:, 0] = torch.randn_like(other[:, 0])
        assert torch.equal(model._reference_pixels(q, other, fewer), model._reference_pixels(q, refs, fewer))
        assert not torch.allclose(model._reference_pixels(q, other, valid), added, atol=1e-4)
        # references that are copies of frame t (the query-only ablation) add what no reference at all would mean
        copies = q[:, None].expand_as(refs)
        same = model._reference_pixels(q, copies, valid)
        bias_and_any = model.ref_input(torch.cat([torch.zeros_like(q), torch.ones_like(q[:, :1])], 1))
        assert torch.allclose(same, bias_and_any, atol=1e-6)
        full = model(q, refs, masks, valid, heads=("mask",))["mask"]
        assert not torch.allclose(full, model.switch_off("pixels")(q, refs, masks, valid, heads=("mask",))["mask"])
    model.switch_off()
    path = save_checkpoint(tmp_path / "c.pt", model)  # the option travels with the checkpoint
    loaded, _ = load_checkpoint(path)
    assert loaded.config.input_fusion
    with torch.no_grad():
        assert torch.equal(loaded(q, refs, masks, valid, heads=("mask",))["mask"], full)
    assert not hasattr(build_model("tiny", "context"), "ref_input")  # off by default
    from dvos_core.model.transfer import image_parameter_names

    assert not any(n.startswith("ref_input") for n in image_parameter_names(model))  # a new block: full learning rate


def test_the_mask_alone_is_frame_t_decoded_without_its_references():
    model = _fused_model()
    q, refs, masks, valid = inputs(seed=7)
    with torch.no_grad():
        both = model(q, refs, masks, valid, heads=("mask", "mask_alone"))
        assert list(both) == ["mask", "mask_alone"]
        assert torch.equal(both["mask"], model(q, refs, masks, valid, heads=("mask",))["mask"])
        assert torch.equal(both["mask_alone"], model(q, heads=("mask",))["mask"])
        assert not torch.allclose(both["mask"], both["mask_alone"], atol=1e-3)  # the references count here
        alone = model(q, heads=("mask", "mask_alone"))  # no references: one decoder pass serves both
        assert torch.equal(alone["mask_alone"], alone["mask"])


def test_parts_of_the_reference_path_switch_off_for_ablations():
    model = _fused_model()
    q, refs, masks, valid = inputs(seed=3)
    with torch.no_grad():
        full = model(q, refs, masks, valid, heads=("mask",))["mask"]
        alone = model(q, heads=("mask",))["mask"]
        no_lookup = model.switch_off("lookup")(q, refs, masks, valid, heads=("mask",))["mask"]
        no_prior = model.switch_off("prior")(q, refs, masks, valid, heads=("mask",))["mask"]
        no_pixels = model.switch_off("pixels")(q, refs, masks, valid, heads=("mask",))["mask"]
        neither = model.switch_off("lookup", "prior", "pixels")(q, refs, masks, valid, heads=("mask",))["mask"]
        assert torch.equal(neither, alone)  # all off: frame t decoded alone
        for part in (no_lookup, no_prior, no_pixels):  # each part changes the answer; none alone is the whole path
            assert not torch.allclose(part, full, atol=1e-3) and not torch.allclose(part, alone, atol=1e-3)
        model.switch_off()  # everything back on: the full answer again
        assert model.switched_off == frozenset()
        assert torch.equal(model(q, refs, masks, valid, heads=("mask",))["mask"], full)
    with pytest.raises(ValueError, match="unknown part"):
        model.switch_off("fusion")


def test_the_mask_corrector_sees_frame_t_and_switches_off_with_the_prior(tmp_path):
    import copy

    torch.manual_seed(0)
    model = build_model("tiny", "context", prior_refine=True).eval()
    for name, p in model.named_parameters():
        if name.startswith(("fusions.", "mask_prior", "mask_refine")):
            torch.nn.init.normal_(p, std=0.2)
    q, refs, masks, valid = inputs(seed=5)

    def zeroed(*parts):
        other = copy.deepcopy(model)
        for name, p in other.named_parameters():
            if name.startswith(parts):
                torch.nn.init.zeros_(p)
        return other

    with torch.no_grad():
        full = model(q, refs, masks, valid, heads=("mask", "mask_alone"))
        without = zeroed("mask_refine")(q, refs, masks, valid, heads=("mask", "mask_alone"))
        assert not torch.allclose(full["mask"], without["mask"], atol=1e-3)  # the corrector changes the answer
        assert torch.equal(full["mask_alone"], without["mask_alone"])  # but never frame t's answer alone
        no_prior = model.switch_off("prior")(q, refs, masks, valid, heads=("mask",))["mask"]
        model.switch_off()
        both_zero = zeroed("mask_prior", "mask_refine")(q, refs, masks, valid, heads=("mask",))["mask"]
        assert torch.allclose(no_prior, both_zero, atol=1e-6)  # "prior" off leaves out the corrector too
    path = save_checkpoint(tmp_path / "c.pt", model)  # the option travels with the checkpoint
    loaded, _ = load_checkpoint(path)
    assert loaded.config.prior_refine
    with torch.no_grad():
        assert torch.equal(loaded.eval()(q, refs, masks, valid, heads=("mask",))["mask"], full["mask"])


def test_references_encoded_a_few_at_a_time_give_the_same_answer_and_gradients(monkeypatch):
    """``ref_chunk`` only changes how many reference frames share an encoder pass; on a CPU the predictor passes
    the references of a large tile one at a time (faster: a batch's large maps leave the caches)."""
    from dvos_core.infer import engine
    from dvos_core.infer.context import ContextPredictor

    model = _fused_model()
    q, refs, masks, valid = inputs(b=2, t=3)
    with torch.no_grad():
        whole = model(q, refs, masks, valid, heads=("mask", "frame"))
        for chunk in (1, 2, 4):
            parts = model(q, refs, masks, valid, heads=("mask", "frame"), ref_chunk=chunk)
            for k in whole:
                torch.testing.assert_close(parts[k], whole[k], rtol=1e-5, atol=1e-5)
    model.train()
    grads = []
    for chunk in (None, 2):
        model.zero_grad()
        model(q, refs, masks, valid, ref_chunk=chunk)["mask"].sum().backward()
        grads.append(model.encoder.stem.weight.grad.clone())
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-5)
    model.eval()

    asked = []

    class Spy(torch.nn.Module):  # the model as the predictor calls it
        tau = model.tau

        def forward(self, *args, **kwargs):
            asked.append(kwargs.get("ref_chunk"))
            return model(*args, **kwargs)

    frames = np.random.default_rng(2).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    monkeypatch.setattr(engine, "SINGLE_TILE_PIXELS", 64 * 64)
    one = ContextPredictor(Spy(), "cpu", tile_size=64).predict(frames[2], [frames[0], frames[1]], [None, None])
    monkeypatch.setattr(engine, "SINGLE_TILE_PIXELS", 128 * 128)
    together = ContextPredictor(Spy(), "cpu", tile_size=64).predict(frames[2], [frames[0], frames[1]], [None, None])
    assert asked == [1, 2]
    np.testing.assert_allclose(one, together, atol=1e-5)


@pytest.mark.parametrize("mode", ["independent", "chained"])
def test_a_predicted_frame_lends_its_own_mask_alone_or_its_full_prediction(mode):
    from dvos_core.infer.context import ContextPredictor, run_context

    model = _fused_model()
    frames = np.random.default_rng(1).integers(0, 256, (6, 64, 64, 3), dtype=np.uint8)
    given = []  # the reference masks each frame received

    class Spy(ContextPredictor):
        def _predict(self, query, refs, ref_masks, times, heads, on_tile=None):
            given.append([None if m is None else m.copy() for m in ref_masks])
            return super()._predict(query, refs, ref_masks, times, heads, on_tile)

    spy = Spy(model, "cpu", tile_size=64, reference_masks=mode)
    out = {}
    run_context(spy, lambda a, b: frames[a:b], range(6), out.__setitem__)
    plain = ContextPredictor(model, "cpu", tile_size=64)
    alone = [plain.predict(f, [], []) for f in frames]
    lent = alone if mode == "independent" else [out[t] for t in range(6)]
    for t in (3, 5):  # the masks frame t got from frames t-tau .. t-1
        refs = list(range(max(0, t - spy.tau), t))
        assert [np.array_equal(m, lent[k] >= 0.5) for m, k in zip(given[t], refs)] == [True] * len(refs)
    assert not np.array_equal(out[4] >= 0.5, alone[4] >= 0.5)  # what was lent differs between the two modes
    with pytest.raises(ValueError, match="reference_masks"):
        ContextPredictor(model, "cpu", reference_masks="own")


def test_predictions_made_with_other_reference_masks_are_made_again(tmp_path):
    from dvos_core.infer import predict_video

    project = make_toy_project(tmp_path / "t.dvos", n_clips=1, n_frames=4, size=64, n_videos=1, video_frames=6)
    vid = project.video_ids()[0]
    ckpt = save_checkpoint(project.model_dir("ctx", create=True) / "best.pt", _fused_model())
    preds = project.video(vid).predictions["ctx"]
    assert predict_video(project, vid, ckpt, device="cpu") == 6
    assert preds.attrs["reference_masks"] == "chained"
    assert predict_video(project, vid, ckpt, device="cpu") == 0  # same run: nothing left to do
    with pytest.raises(ValueError, match="reference_masks chained -> independent.* pass --replace"):
        predict_video(project, vid, ckpt, device="cpu", reference_masks="independent")  # the set is kept
    assert predict_video(project, vid, ckpt, device="cpu", reference_masks="independent", replace=True) == 6
    assert preds.attrs["reference_masks"] == "independent"
    assert predict_video(project, vid, ckpt, device="cpu", reference_masks="independent") == 0
    for bad in ({"reference_masks": "own"}, {"passes": 3}):  # refused before the stored set is touched
        with pytest.raises(ValueError, match=next(iter(bad))):
            predict_video(project, vid, ckpt, device="cpu", **bad)
        assert preds.attrs["reference_masks"] == "independent" and preds.arrays()[2][:].tolist() == [1] * 6


def test_validation_items_see_the_frames_as_prediction_does(tmp_path):
    """Validation items are not degraded, keep every reference slot and look back only (as the causal prediction
    pass); training items still draw all of that. So a fresh context model validates exactly as its image model."""
    from dvos_core.data.augment import AugmentConfig

    project = make_toy_project(tmp_path / "t.dvos", n_clips=1, n_frames=4, size=64, n_videos=1, video_frames=12)
    vid = project.video_ids()[0]
    idx = ClipIndex.from_project(project, 4, 1, "real", video_ids=[vid], val_fraction=0)
    harsh = {"degrade_query_p": 1.0, "degrade_refs_p": 1.0, "empty_refs_p": 1.0, "bidirectional_p": 1.0}
    aug = AugmentConfig(context={**harsh, "degrade": {"noise_p": 1.0, "noise_sigma": (0.2, 0.3)}})
    train = ClipDataset(project.path, idx, 64, train=True, augment=aug, kind="context")
    val = ClipDataset(project.path, idx, 64, train=False, augment=aug, kind="context")
    frame_val = ClipDataset(project.path, idx, 64, train=False, augment=aug, kind="frame")
    i = next(k for k in range(len(idx)) if idx[k].t >= 6)  # a query with four earlier frames in its video
    s = idx[i]
    assert val._times(s, torch.Generator().manual_seed(0))[0] == [s.t - 4, s.t - 3, s.t - 2, s.t - 1, s.t]
    item, t_item = val[i], train[(i, 3)]
    assert torch.equal(item["query"], item["target"]) and float(item["query_clean"]) == 1.0
    assert item["ref_valid"].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert not torch.equal(t_item["query"], t_item["target"]) and float(t_item["query_clean"]) == 0.0
    assert float(t_item["ref_valid"].sum()) < 4  # training still empties the oldest slots

    torch.manual_seed(0)
    image = build_model("tiny", "frame").eval()
    ctx = build_model("tiny", "context").eval()
    init_from_frame_model(ctx, image.state_dict())
    with torch.no_grad():
        batch = {k: v[None] for k, v in item.items()}
        fbatch = {k: v[None] for k, v in frame_val[i].items()}
        a = ctx(*ctx.batch_inputs(batch, "cpu"))["mask"]
        b = image(*image.batch_inputs(fbatch, "cpu"))["mask"]
    assert torch.equal(a, b)
