"""The context-aware video model: shapes with any number of references, equal to its image model when fresh,
samples whose references are aligned to the query, frame-by-frame prediction, and the test-video rule."""

import numpy as np
import pytest
import torch

from dvos_core.data import ClipDataset, ClipIndex
from dvos_core.data.context_sample import ContextConfig, context_sample, perturb_mask
from dvos_core.data.degrade import DegradeConfig, degrade, occlude
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
    with pytest.raises(ValueError, match="ref_masks"):
        model(q, refs, masks[:, :, :1], valid)
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.zeros(1, 3, 40, 64))


def test_a_fresh_context_model_is_its_image_model(tmp_path):
    torch.manual_seed(0)
    image = build_model("tiny", "frame").eval()
    model = build_model("tiny", "context").eval()
    report = init_from_frame_model(model, image)
    assert report["mismatched"] == [] and all(k.startswith(("fusions.", "mask_prior")) for k in report["missing"])
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
    covered = (occlude(torch.rand(3, 64, 64), torch.Generator().manual_seed(1), (0.2, 0.2)) - flat).abs()
    assert covered.shape == flat.shape
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


def test_context_samples_align_references_to_the_query():
    frames, masks = panning_clip()
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    m = torch.from_numpy(masks).float()[:, None]
    cfg = ContextConfig(degrade_query_p=0, degrade_refs_p=0, empty_refs_p=0, ref_mask_noise_p=0, ref_mask_unknown_p=0)
    out = context_sample(x, m, torch.ones(5), cfg, torch.Generator().manual_seed(0))
    assert out["refs"].shape == (4, 3, 96, 96) and out["ref_masks"].shape == (4, 2, 96, 96)
    known = out["ref_masks"][:, 1] > 0
    for i in range(4):  # inside the covered part each warped reference looks like the query and its mask fits
        k = known[i]
        assert k.float().mean() > 0.5
        err = (out["refs"][i] - out["query"]).abs().mean(0)[k].mean()
        raw = (x[i] - out["query"]).abs().mean(0)[k].mean()
        assert float(err) < 0.3 * float(raw)
        inter = (out["ref_masks"][i, 0][k] * m[-1, 0][k]).sum()
        assert float(inter / m[-1, 0][k].sum()) > 0.9
    empty = context_sample(x, m, torch.tensor([-1, -1, 1, 1, 1]), cfg, torch.Generator().manual_seed(0))
    assert empty["ref_valid"].tolist() == [0, 0, 1, 1] and float(empty["refs"][:2].abs().sum()) == 0


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
    assert video.predicted_frames().tolist() == list(range(8))
    video.set_mask(2, np.ones((64, 64), np.uint8), "manual")
    assert reference_labels(video)(2) is not None and reference_labels(video)(5) is None
    video.set_split("test")
    assert reference_labels(video) is None  # a test video's ground truth never feeds the model
