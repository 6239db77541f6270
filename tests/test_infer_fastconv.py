"""CPU inference kernels: NNPACK / polyphase convolutions match the stock ones, the kernel chooser keeps the fastest,
the fast copy shares the weights and leaves the model alone; the allocator block keeps freed memory for reuse."""

import json
import resource
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import rel_err

from dvos_core.infer import fastconv, predict_array
from dvos_core.infer.allocator import reuse_freed_memory
from dvos_core.infer.fastconv import (
    FastAttention,
    FastConv2d,
    dilated_conv3x3,
    fast_cpu_copy,
    nnpack_available,
    nnpack_conv3x3,
    pointwise_conv,
    sharing_copy,
)
from dvos_core.infer.kernel_choice import KernelChooser
from dvos_core.model import build_model

torch.set_num_threads(1)
needs_nnpack = pytest.mark.skipif(not nnpack_available(), reason="this torch build has no NNPACK for this CPU")


@pytest.fixture
def chooser(monkeypatch):
    """A fresh kernel chooser for the fast kernels (the process-wide one may have decided already)."""
    fresh = KernelChooser()
    monkeypatch.setattr(fastconv, "CHOOSER", fresh)
    return fresh


@needs_nnpack
def test_nnpack_conv3x3_matches_the_stock_convolution():
    torch.manual_seed(0)
    x, w, b = torch.randn(2, 64, 40, 48), torch.randn(80, 64, 3, 3) / 24, torch.randn(80)
    with torch.inference_mode():
        assert rel_err(nnpack_conv3x3(x, w, b), F.conv2d(x, w, b, padding=1)) < 5e-5  # Winograd rounding


@pytest.mark.parametrize("use_nnpack", [False, pytest.param(True, marks=needs_nnpack)])
@pytest.mark.parametrize("out_channels, bias", [(96, False), (80, True)])
def test_polyphase_dilated_conv_matches_the_dilated_convolution(use_nnpack, out_channels, bias):
    torch.manual_seed(1)
    x, w = torch.randn(2, 96, 64, 80), torch.randn(out_channels, 96, 3, 3) / 30
    b = torch.randn(out_channels) if bias else None
    with torch.inference_mode():
        ref = F.conv2d(x, w, b, padding=2, dilation=2)
        # the polyphase split itself is exact up to summation order; Winograd (NNPACK) adds its rounding
        assert rel_err(dilated_conv3x3(x, w, b, use_nnpack), ref) < (5e-5 if use_nnpack else 1e-6)


@pytest.mark.parametrize("groups, bias", [(1, False), (4, False), (4, True), (2, True)])
def test_pointwise_conv_matches_the_stock_1x1_convolution(groups, bias, monkeypatch):
    monkeypatch.setattr(fastconv, "POINTWISE_COLUMNS", 1000)  # several blocks and a partial last one
    torch.manual_seed(2)
    x, w = torch.randn(2, 32, 50, 45), torch.randn(48, 32 // groups, 1, 1)
    b = torch.randn(48) if bias else None
    with torch.inference_mode():
        ref = F.conv2d(x, w, b, groups=groups)
        assert rel_err(pointwise_conv(x, w, b, groups), ref) < 1e-6
        if groups == 1:  # the same input as channel parts of unequal widths, never stacked
            parts = [x[:, :8], x[:, 8:20], x[:, 20:]]
            assert rel_err(pointwise_conv(parts, w, b, 1), ref) < 1e-6
        else:
            with pytest.raises(ValueError, match="one group"):
                pointwise_conv([x[:, :16], x[:, 16:]], w, b, groups)


@pytest.mark.parametrize("reduction, fold", [("tau_mean", False), ("adjacent", False), ("tau_mean", True)])
def test_fast_attention_computes_the_stock_block(reduction, fold, monkeypatch, chooser):
    if fold:  # fold the convolution pairs of the spatial gate on these small maps too
        monkeypatch.setattr(fastconv, "FOLD_MIN_PIXELS", 1)
    torch.manual_seed(3)
    model = build_model("tiny", "dvos", temporal_reduction=reduction).eval()
    stock = model.decoder.skip_fuse[-1]
    for m in stock.modules():  # non-trivial norms, so a wrong order of the in-place steps shows
        if isinstance(m, (torch.nn.GroupNorm, torch.nn.LayerNorm)):
            torch.nn.init.normal_(m.weight, 1.0, 0.3)
            torch.nn.init.normal_(m.bias, 0.0, 0.3)
    assert FastAttention.fits(stock)
    fast = sharing_copy(stock)  # as fast_cpu_copy does: the same weight tensors
    fast.__class__ = FastAttention
    x = torch.randn(2, stock.tau * stock.channels, 64, 64)
    with torch.inference_mode():
        ref = stock(x)
        keep = x.clone()
        tol = 5e-5 if nnpack_available() else 1e-6  # Winograd rounding where NNPACK runs
        assert rel_err(fast(x), ref) < tol and torch.equal(x, keep)  # the input is not overwritten
        c = stock.channels  # the decoder's cached path hands over each window's per-frame features unstacked
        per_frame = [[x[b, f * c : (f + 1) * c] for f in range(stock.tau)] for b in range(x.shape[0])]
        assert torch.equal(stock(per_frame), ref)
        assert rel_err(fast(per_frame), ref) < tol
        for _ in range(2 * chooser.rounds):  # the per-frame pair: each candidate (as is, folded by NNPACK) is tried
            assert rel_err(fast(x), ref) < tol
        for conv in (stock.spatial[0], stock.spatial[4], stock.spatial[5]):  # changed weights: folded again
            conv.weight.mul_(1.5)
            assert rel_err(fast(x), stock(x)) < tol
        assert (getattr(fast, "_fold_cache", None) is not None) == fold
        decided = any(key[0] == "attention_in" for key in chooser.chosen())
        assert decided == (fold and nnpack_available())  # decided after the tries (one candidate without NNPACK)
        if fold:  # maps above the cap for the folded pair by NNPACK: the pair as it is is the only candidate
            monkeypatch.setattr(fastconv, "FOLD_NNPACK_MAX_PIXELS", 63 * 63)
            chooser.clear()
            for _ in range(2 * chooser.rounds):
                assert rel_err(fast(x), stock(x)) < tol
            assert not any(key[0] == "attention_in" for key in chooser.chosen())
    fast.train()  # training (dropout, skip diffusion) and autograd take the stock path
    torch.manual_seed(4)
    a = fast(x)
    stock.train()
    torch.manual_seed(4)
    assert torch.equal(a, stock(x)) and a.requires_grad


@needs_nnpack
def test_fast_attention_per_frame_pair_on_frames_wide_enough_for_nnpack(monkeypatch, chooser):
    """Frames of 16 channels: each frame's 3x3 may run by NNPACK (from a strided channel slice when B > 1)."""
    from dvos_core.model.attention import SpatioTemporalAttention

    monkeypatch.setattr(fastconv, "FOLD_MIN_PIXELS", 1)
    monkeypatch.setattr(fastconv, "FOLD_NNPACK_MAX_PIXELS", 1)  # only the pair as it is
    torch.manual_seed(5)
    stock = SpatioTemporalAttention(16, 4).eval()
    fast = sharing_copy(stock)
    fast.__class__ = FastAttention
    x = torch.randn(2, 64, 48, 40)
    with torch.inference_mode():
        ref = stock(x)
        for _ in range(2 * chooser.rounds + 1):  # the 3x3's kernels are tried, then the chosen one runs
            assert rel_err(fast(x), ref) < 5e-5
    assert any(key[0] == "conv3x3" and key[1] == (2, 16, 48, 40) for key in chooser.chosen())


class FakeKernels:
    """Kernels that only advance a fake clock by their cost and return their name; ``calls`` lists what ran."""

    def __init__(self, costs: dict):
        self.costs, self.now, self.calls = costs, 0.0, []
        self.candidates = {name: self._kernel(name) for name in costs}

    def _kernel(self, name):
        def run():
            self.calls.append(name)
            self.now += self.costs[name]
            return name

        return run

    def clock(self) -> float:
        return self.now


def test_chooser_tries_each_kernel_then_keeps_the_fastest():
    fake = FakeKernels({"a": 3.0, "b": 1.0, "c": 2.0})
    costs, calls, candidates = fake.costs, fake.calls, fake.candidates
    chooser = KernelChooser(rounds=2, margin=3.0, clock=fake.clock)
    outputs = [chooser.run("k", candidates) for _ in range(5)]
    # the first call times each twice, in turn, and returns the chosen one's output, as every later call does
    assert calls == ["a", "b", "c", "a", "b", "c", "b", "b", "b", "b"]
    assert outputs == ["b"] * 5 and chooser.chosen() == {"k": "b"}
    assert chooser.run("other", {"only": lambda: 7}) == 7 and "other" not in chooser.chosen()  # nothing to choose
    costs["b"] = 10.0  # a decision holds for its key; another key is measured afresh
    assert chooser.run("k", candidates) == "b"
    chooser.clear()
    assert chooser.chosen() == {}
    chooser = KernelChooser(rounds=2, margin=1.4, clock=fake.clock)  # c ahead of a by 1.5x after one call each
    calls.clear()
    assert [chooser.run("k", candidates) for _ in range(2)] == ["c", "c"] and chooser.chosen() == {"k": "c"}
    assert calls == ["a", "b", "c", "c"]


def test_chooser_skips_a_candidate_another_one_already_beats_by_its_floor():
    fake = FakeKernels({"direct": 5.0, "fast": 1.0, "other": 2.0})
    calls, candidates = fake.calls, fake.candidates
    chooser = KernelChooser(rounds=2, margin=1.25, clock=fake.clock)
    # the floored candidate comes last; "fast" beats its floor of 3 s by more than the margin: never run
    outputs = [chooser.run("k", candidates, floors={"direct": 3.0}) for _ in range(3)]
    assert "direct" not in calls and outputs == ["fast"] * 3 and chooser.chosen() == {"k": "fast"}
    chooser = KernelChooser(rounds=2, margin=1.25, clock=fake.clock)
    # a floor below every time measured: the candidate is timed, but only once the others had all their rounds
    calls.clear()
    assert chooser.run("k", candidates, floors={"direct": 0.9}) == "fast"
    assert calls == ["fast", "other", "fast", "other", "direct"]
    chooser = KernelChooser(rounds=1, margin=1.25, clock=fake.clock)
    # a floor at or above the best time measured cannot be beaten, even when inside the margin: skipped
    calls.clear()
    assert chooser.run("k", candidates, floors={"direct": 1.2}) == "fast" and chooser.chosen() == {"k": "fast"}
    assert calls == ["fast", "other"]
    chooser = KernelChooser(rounds=1, margin=1.25, clock=fake.clock)
    calls.clear()
    assert chooser.run("k", candidates, floors={"direct": 0.9}) == "fast" and calls == ["fast", "other", "direct"]
    # a decision whose kernel is not offered any more is made again among those offered
    assert chooser.run("k", {"other": candidates["other"], "direct": candidates["direct"]}) == "other"
    assert chooser.chosen() == {"k": "other"}


def test_chooser_keeps_its_decisions_for_the_next_process(tmp_path):
    """A timing decides between two close kernels differently from run to run (their outputs a rounding apart): the
    decisions are kept in a file, so a prediction made again gets the same kernels, hence the same probabilities."""
    kept = tmp_path / "kernel_choices.json"
    fast_a = FakeKernels({"a": 1.0, "b": 1.1})
    assert KernelChooser(clock=fast_a.clock, choices_file=kept).run("k", fast_a.candidates) == "a"
    fast_b = FakeKernels({"a": 1.1, "b": 1.0})  # another process, where b timed faster
    later = KernelChooser(clock=fast_b.clock, choices_file=kept)
    assert later.decision("k") == "a" and later.run("k", fast_b.candidates) == "a" and fast_b.calls == ["a"]
    assert KernelChooser(clock=fast_b.clock).run("k", fast_b.candidates) == "b"  # no file: timed again
    kept.write_text("not json")  # a damaged file is decided again (and written anew)
    assert KernelChooser(clock=fast_b.clock, choices_file=kept).run("k", fast_b.candidates) == "b"
    assert KernelChooser(clock=fast_a.clock, choices_file=kept).run("k", fast_a.candidates) == "b"


def test_a_choices_file_whose_folder_cannot_exist_is_no_error(tmp_path):
    """HOME=/dev/null (services, containers, CI) stopped every prediction with "Not a directory": the cache is
    optional."""
    blocker = tmp_path / "home"
    blocker.write_text("a file where the cache folder would go")
    fast_b = FakeKernels({"a": 1.1, "b": 1.0})
    kept = blocker / ".cache" / "dvos" / "kernel_choices.json"
    assert KernelChooser(clock=fast_b.clock, choices_file=kept).run("k", fast_b.candidates) == "b"


@pytest.mark.parametrize("mine", [["x"], {"'k'": ["a"]}, {"'k'": None}, "a"])
def test_a_choices_file_of_another_shape_is_decided_again_and_rewritten(tmp_path, mine):
    """A file of valid JSON but another shape (edited by hand) stopped every prediction with a TypeError ('list'
    object is not a mapping, unhashable type: 'list') naming neither the file nor the fix."""
    from dvos_core.infer.kernel_choice import machine

    kept = tmp_path / "kernel_choices.json"
    kept.write_text(json.dumps({machine(): mine}))
    fast_b = FakeKernels({"a": 1.1, "b": 1.0})
    assert KernelChooser(clock=fast_b.clock, choices_file=kept).run("k", fast_b.candidates) == "b"
    assert json.loads(kept.read_text())[machine()] == {"'k'": "b"}


@pytest.mark.parametrize("family", ["conv3x3", "dilated", "conv1x1"])
def test_fast_convolutions_match_the_stock_one_whichever_kernel_runs(family, chooser, monkeypatch):
    monkeypatch.setattr(fastconv, "POINTWISE_MIN_PIXELS", 1)
    torch.manual_seed(5)
    dilation, k = {"conv3x3": (1, 3), "dilated": (2, 3), "conv1x1": (1, 1)}[family]
    stock = torch.nn.Conv2d(32, 48, k, padding=dilation * (k // 2), dilation=dilation)
    fast = sharing_copy(stock)
    fast.__class__ = FastConv2d
    x = torch.randn(1, 32, 64, 96)
    with torch.inference_mode():
        ref = stock(x)
        # `rounds` timed calls per candidate (two candidates at most), then the chosen one
        outs = [fast(x) for _ in range(1 + 2 * chooser.rounds)]
    assert all(rel_err(out, ref) < 5e-5 for out in outs)
    decided = chooser.chosen()
    if family == "conv1x1" or nnpack_available():  # with NNPACK every family has two candidates
        assert len(decided) == 1 and next(iter(decided.values())) in ("stock", "nnpack", "polyphase", "blocked")


def test_fast_copy_shares_weights_and_keeps_the_model():
    model = build_model("tiny", "dvos").eval()
    fast = fast_cpu_copy(model)
    assert fast is not model and list(fast.state_dict()) == list(model.state_dict())
    assert all(a is b for a, b in zip(fast.parameters(), model.parameters()))  # no extra weight memory
    assert not any(isinstance(m, FastConv2d) for m in model.modules())
    convs = [m for m in fast.modules() if isinstance(m, FastConv2d)]
    assert convs and all((m.kernel_size == (3, 3) and m.groups == 1) or m.kernel_size == (1, 1) for m in convs)
    attention = [m for m in fast.modules() if isinstance(m, FastAttention)]
    assert len(attention) == 6 and not any(isinstance(m, FastAttention) for m in model.modules())
    with torch.no_grad():
        model.encoder.stem.weight.add_(1.0)  # later updates (training) are seen by the copy
    assert torch.equal(fast.encoder.stem.weight, model.encoder.stem.weight)
    x = torch.randn(1, 4, 3, 64, 64, requires_grad=True)
    out = fast(x)["mask"]  # with autograd the stock kernels run (and gradients flow)
    out.sum().backward()
    assert torch.equal(out, model(x)["mask"]) and x.grad is not None


def test_wide_model_prediction_within_1e4_of_the_plain_path():
    torch.manual_seed(0)
    model = build_model("tiny", "dvos", widths=(8, 64, 64, 64, 64), latent=64).eval()
    frames = np.random.default_rng(0).integers(0, 255, (6, 128, 128, 3), dtype=np.uint8)
    fast = fast_cpu_copy(model)
    assert any(isinstance(m, FastConv2d) and m.dilation == (2, 2) and m.in_channels >= 96 for m in fast.modules())
    plain = predict_array((model, {}), frames, device="cpu", optimize=False)
    optimised = predict_array((model, {}), frames, device="cpu")
    assert np.abs(plain - optimised).max() < 1e-4


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning")
def test_freed_memory_is_reused_inside_the_block():
    model = build_model("tiny", "dvos").eval()
    x = torch.randn(2, 4, 3, 512, 512)  # 64 MB feature maps: above glibc's largest automatic mmap threshold

    def faults_of_second_forward():
        with torch.inference_mode():
            model(x)
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            model(x)
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    outside = faults_of_second_forward()
    with reuse_freed_memory() as active:
        inside = faults_of_second_forward()
    assert active
    assert outside > 50_000 and inside < outside / 4  # outside, the feature maps' pages are faulted in again
    with reuse_freed_memory(enabled=False) as active:
        assert not active
