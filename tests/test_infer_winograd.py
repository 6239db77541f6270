"""Winograd F(2x2, 3x3) for wide dilated convolutions: same function as the stock kernel, transformed weight kept
until the weight changes or is freed, and a choice among the fast kernels like the others."""

import gc

import pytest
import torch
import torch.nn.functional as F
from conftest import rel_err

from dvos_core.infer import fastconv, winograd
from dvos_core.infer.fastconv import FastConv2d, sharing_copy
from dvos_core.infer.kernel_choice import KernelChooser


@pytest.mark.parametrize("batch, bias", [(1, True), (2, False)])
def test_winograd_dilated_conv_matches_the_dilated_convolution(batch, bias):
    torch.manual_seed(0)
    x, w = torch.randn(batch, 24, 12, 20), torch.randn(40, 24, 3, 3) / 15  # non-square, widths differ
    b = torch.randn(40) if bias else None
    with torch.inference_mode():
        out = winograd.dilated_conv3x3(x, winograd.transform_weight(w), b)
        assert out.shape == (batch, 40, 12, 20)
        assert rel_err(out, F.conv2d(x, w, b, padding=2, dilation=2)) < 1e-5


def test_transformed_weight_is_kept_until_the_weight_changes_or_goes():
    conv = torch.nn.Conv2d(8, 8, 3, padding=2, dilation=2)
    first = winograd.cached_transform(conv.weight)
    assert winograd.cached_transform(conv.weight) is first  # kept
    with torch.no_grad():
        conv.weight.mul_(2.0)  # changed in place (as training does): transformed again
    second = winograd.cached_transform(conv.weight)
    assert second is not first and torch.allclose(second, 2 * first)
    winograd.drop_transform(conv.weight)
    assert winograd._TRANSFORMED[id(conv.weight)] == (None, None)
    assert torch.equal(winograd.cached_transform(conv.weight), second)  # computed again on demand
    key = id(conv.weight)
    del conv
    gc.collect()
    assert key not in winograd._TRANSFORMED  # freed with the weight


def test_wide_dilated_fast_conv_may_run_winograd_and_matches_the_stock_one(monkeypatch):
    monkeypatch.setattr(fastconv, "MIN_CHANNELS_WINOGRAD", 16)
    chooser = KernelChooser(rounds=1)
    monkeypatch.setattr(fastconv, "CHOOSER", chooser)
    torch.manual_seed(1)
    stock = torch.nn.Conv2d(32, 32, 3, padding=2, dilation=2)
    fast = sharing_copy(stock)
    fast.__class__ = FastConv2d
    x = torch.randn(1, 32, 16, 24)  # phases of 8 x 12 px: too small for NNPACK, so winograd or stock
    calls = []
    real = winograd.dilated_conv3x3
    monkeypatch.setattr(winograd, "dilated_conv3x3", lambda *a: calls.append(1) or real(*a))
    with torch.inference_mode():
        ref = stock(x)
        outs = [fast(x) for _ in range(4)]
    assert calls  # the Winograd kernel was tried
    assert all(rel_err(out, ref) < 1e-5 for out in outs)
    (decision,) = chooser.chosen().values()
    kept = winograd._TRANSFORMED[id(stock.weight)][1]
    assert (kept is not None) == (decision == "winograd")  # the loser's transformed weight is not kept
