"""The context model's anchor loss: on a clean query its mask is held to the one it gets from the query alone (the
references may fill in what a degraded frame lacks, not widen what a clean frame shows); the flags that drive it
come from the samples, and the trainer computes it only for the context model. With ``anchor_view="clean"`` every
sample is held to the mask of its query before degradation (the samples carry that clean view)."""

import pytest
import torch
import torch.nn.functional as F
from test_model_context import inputs
from test_train_loop import tiny_config

from dvos_core.data import ClipDataset, ClipIndex
from dvos_core.data.augment import AugmentConfig
from dvos_core.data.context_sample import ContextConfig, context_sample
from dvos_core.data.toy import make_toy_project
from dvos_core.model import build_model
from dvos_core.model.context import ContextNet
from dvos_core.train import TrainConfig, losses, train

torch.set_num_threads(1)


def test_the_anchor_pulls_only_clean_queries_and_never_through_the_query_alone():
    g = torch.Generator().manual_seed(0)
    ctx = torch.randn(2, 1, 16, 16, generator=g, requires_grad=True)
    alone = torch.randn(2, 1, 16, 16, generator=g, requires_grad=True)
    mask = (torch.rand(2, 1, 16, 16, generator=g) > 0.5).float()
    losses.anchor_loss({"mask": ctx, "mask_alone": alone}, mask, torch.tensor([1.0, 0.0])).backward()
    assert float(ctx.grad[0].abs().sum()) > 0 and float(ctx.grad[1].abs().sum()) == 0  # the degraded query is free
    # the query-alone mask learns from the label only (its half-weight BCE), never from the context output
    expected = torch.autograd.grad(0.5 * F.binary_cross_entropy_with_logits(alone, mask), alone)[0]
    assert torch.allclose(alone.grad, expected, atol=1e-7)
    # where the context mask already equals the query-alone mask the anchor has nothing to pull
    same = alone.detach().clone().requires_grad_(True)
    losses.anchor_loss({"mask": same, "mask_alone": alone.detach()}, mask, torch.ones(2)).backward()
    assert float(same.grad.abs().max()) < 1e-7


def _reference_pull(anchor: float) -> float:
    """Train a tiny context model whose labels lie only in its references (what a union with wide reference masks
    would learn), with every query clean; return how far the references move its probabilities afterwards."""
    torch.manual_seed(0)
    model = build_model("tiny", "context")
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    q, refs, masks, valid = inputs(b=4)
    target = masks[:, -1, :1]
    clean = torch.ones(len(q))
    w = losses.LossWeights(frame=0.0, anchor=anchor)
    for _ in range(30):
        out = model(q, refs, masks, valid, heads=("mask", "mask_alone"))
        loss, _ = losses.dvos_loss(out, target, None, w, clean)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        out = model(q, refs, masks, valid, heads=("mask", "mask_alone"))
    return float((torch.sigmoid(out["mask"]) - torch.sigmoid(out["mask_alone"])).abs().mean())


def test_with_the_anchor_references_barely_move_a_clean_query():
    free, anchored = _reference_pull(0.0), _reference_pull(4.0)
    assert free > 0.15  # without it the model copies the references' masks
    assert anchored < 0.35 * free


def test_samples_say_whether_their_query_was_degraded(tmp_path):
    x, m = torch.rand(5, 3, 32, 32), torch.ones(5, 2, 32, 32)
    for p, degraded in ((0.0, False), (1.0, True)):
        cfg = ContextConfig(degrade_query_p=p, degrade={"blur_p": 1.0})
        assert context_sample(x, m, torch.ones(5), cfg, torch.Generator().manual_seed(0))["query_degraded"] is degraded
    project = make_toy_project(tmp_path / "t.dvos", n_clips=2, n_frames=6, size=64, n_videos=0)
    idx = ClipIndex.from_project(project, 4, 1, "synthetic", val_fraction=0)
    aug = {p: AugmentConfig(context={"degrade_query_p": p}) for p in (0.0, 1.0)}
    flags = {
        p: float(ClipDataset(project.path, idx, 64, True, a, "context")[(1, 5)]["query_clean"]) for p, a in aug.items()
    }
    assert flags == {0.0: 1.0, 1.0: 0.0}


def spy_on_anchor(monkeypatch) -> list:
    """Record (shape of the query-alone mask, per-sample flags) of every anchor loss the trainer computes."""
    seen = []
    real = losses.anchor_loss

    def spy(out, mask, query_clean):
        seen.append((tuple(out["mask_alone"].shape), query_clean.tolist()))
        return real(out, mask, query_clean)

    monkeypatch.setattr(losses, "anchor_loss", spy)
    return seen


def test_the_trainer_anchors_the_context_model_only(tmp_path, monkeypatch):
    project = make_toy_project(tmp_path / "t.dvos", n_clips=4, n_frames=8, size=64, n_videos=0, seed=1)
    seen = spy_on_anchor(monkeypatch)
    short = {"epochs": 1, "batch_size": 2, "max_steps_per_epoch": 2}
    train(project, tiny_config(video_model="context", anchor_view="query", **short), "ctx", resume=False)
    assert len(seen) == 2 and all(shape == (2, 1, 64, 64) and set(c) <= {0.0, 1.0} for shape, c in seen)
    seen.clear()
    train(project, tiny_config(video_model="context", anchor_weight=0.0, **short), "ctx0", resume=False)
    train(project, tiny_config(video_model="dvos", **short), "dvos", resume=False)
    assert seen == []
    assert TrainConfig(phase="image").loss_weights().anchor == 0.0
    with pytest.raises(ValueError, match="anchor_weight must be >= 0"):
        TrainConfig(phase="real", video_model="context", anchor_weight=-1.0)


def test_the_query_alone_mask_can_come_from_another_view_of_the_query():
    model = build_model("tiny", "context").eval()
    with torch.no_grad():  # draw the zero-initialised fusion layers at random so that the references count
        for name, p in model.named_parameters():
            if name.startswith(("fusions", "mask_prior")):
                p.normal_(0, 0.1)
    q, refs, masks, valid = inputs()
    view = torch.randn_like(q)
    with torch.no_grad():
        out = model(q, refs, masks, valid, heads=("mask", "mask_alone"), alone_query=view)
        same = model(q, refs, masks, valid, heads=("mask", "mask_alone"))
        assert torch.allclose(out["mask_alone"], model(view, heads=("mask",))["mask"], atol=1e-6)
        assert torch.equal(out["mask"], same["mask"])  # the prediction itself is untouched
        assert not torch.allclose(out["mask_alone"], same["mask_alone"], atol=1e-3)


def _item(project, aug: AugmentConfig, seed: int, clean_view: bool = True) -> dict:
    idx = ClipIndex.from_project(project, 4, 1, "synthetic", val_fraction=0)
    return ClipDataset(project.path, idx, 64, True, aug, "context", clean_view=clean_view)[(1, seed)]


def test_samples_carry_their_query_before_degradation(tmp_path):
    project = make_toy_project(tmp_path / "t.dvos", n_clips=2, n_frames=6, size=64, n_videos=0)
    pixels_off = {"jitter_p": 0.0, "gamma_p": 0.0, "gray_p": 0.0, "blur_p": 0.0, "patch_diffusion_p": 0.0}
    item = _item(project, AugmentConfig(**pixels_off, context={"degrade_query_p": 1.0, "degrade": {"noise_p": 1.0}}), 5)
    assert float(item["query_clean"]) == 0.0 and not torch.allclose(item["query"], item["query_view"], atol=0.05)
    assert torch.allclose(item["query_view"], item["target"], atol=1e-4)  # the undegraded frame
    # with every pixel augmentation on, the clean view gets the very draws the query got: a degradation that changes
    # nothing leaves the two identical
    nothing = dict.fromkeys(("blur_p", "noise_p", "exposure_p", "occlude_p"), 0.0)
    pixels_on = {"jitter_p": 1.0, "gamma_p": 1.0, "blur_p": 1.0, "patch_diffusion_p": 1.0}
    item = _item(project, AugmentConfig(**pixels_on, context={"degrade_query_p": 1.0, "degrade": nothing}), 5)
    assert float(item["query_clean"]) == 0.0 and not torch.allclose(item["query_view"], item["target"], atol=0.05)
    assert torch.equal(item["query_view"], item["query"])
    clean = _item(project, AugmentConfig(**pixels_on, context={"degrade_query_p": 0.0}), 5)
    assert float(clean["query_clean"]) == 1.0 and torch.equal(clean["query_view"], clean["query"])


def test_the_clean_view_is_made_only_when_read(tmp_path):
    """Without ``clean_view`` (the trainer's setting for ``anchor_view: query`` or no anchor) a degraded item skips
    the second pixel pass: its view is the degraded query, and every other tensor is the same as with the view."""
    project = make_toy_project(tmp_path / "t.dvos", n_clips=2, n_frames=6, size=64, n_videos=0)
    aug = AugmentConfig(jitter_p=1.0, context={"degrade_query_p": 1.0, "degrade": {"noise_p": 1.0}})
    with_view, without = _item(project, aug, 5), _item(project, aug, 5, clean_view=False)
    assert not torch.allclose(with_view["query_view"], with_view["query"], atol=0.05)
    assert torch.equal(without["query_view"], without["query"])
    for key in with_view.keys() - {"query_view"}:
        assert torch.equal(with_view[key], without[key]), key


def test_the_clean_view_anchors_every_sample(tmp_path, monkeypatch):
    project = make_toy_project(tmp_path / "t.dvos", n_clips=4, n_frames=8, size=64, n_videos=0, seed=1)
    seen, calls = [], []
    real_loss, real_forward = losses.anchor_loss, ContextNet.forward

    def spy(out, mask, query_clean):
        seen.append(query_clean.tolist())
        return real_loss(out, mask, query_clean)

    def forward(self, *args, alone_query=None, **kwargs):
        calls.append(None if alone_query is None else tuple(alone_query.shape))
        return real_forward(self, *args, alone_query=alone_query, **kwargs)

    monkeypatch.setattr(losses, "anchor_loss", spy)
    monkeypatch.setattr(ContextNet, "forward", forward)
    short = {"epochs": 1, "batch_size": 2, "max_steps_per_epoch": 2, "augment": {"context": {"degrade_query_p": 0.5}}}
    train(project, tiny_config(video_model="context", anchor_view="clean", **short), "ctx", resume=False)
    assert seen == [[1.0, 1.0], [1.0, 1.0]]
    assert calls[:2] == [(2, 3, 64, 64)] * 2  # the training steps pass the clean views (validation does not)
    with pytest.raises(ValueError, match="anchor_view must be one of"):
        TrainConfig(phase="real", video_model="context", anchor_view="label")
