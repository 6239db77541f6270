"""Faster CPU kernels for the 3x3 convolutions that dominate DVOS inference, applied to a parameter-sharing copy.

* Wide 3x3 convolutions (both widths >= ``MIN_CHANNELS``, feature maps at least ``MIN_SIDE`` px) run through
  NNPACK's Winograd kernels, one image at a time (NNPACK's batched mode is slower): 1.2-2.8x faster than oneDNN's
  direct kernels on an AVX2 CPU at the paper model's widths (so used only there: see :func:`nnpack_pays`).
  Winograd reassociates the sums: outputs differ from the direct convolution by about 1e-5 relative.
* Wide 3x3 convolutions with dilation 2 (the attention blocks' second spatial conv) are split into the four
  polyphase sub-images, each a plain 3x3 convolution run by NNPACK (output pixel (2i+r, 2j+s) only sees input
  pixels of phase (r, s)): 1.3-2x faster than oneDNN's dilated kernel from 96 channels on, despite the two copies.

Only CPU float32 inputs without autograd take these paths; anything else calls the stock convolution.
"""

from __future__ import annotations

import copy
import itertools

import torch
import torch.nn.functional as F
from torch import nn

MIN_CHANNELS = 64  # NNPACK for a plain 3x3 conv from this width (measured: 1.3x at 64 channels, 512^2)
MIN_CHANNELS_DILATED = 96  # polyphase + NNPACK for a dilated one (at 64 channels the extra copies cost more)
MIN_SIDE = 32


def nnpack_available() -> bool:
    """True when this torch build has NNPACK and it initialised on this CPU (also initialises it)."""
    try:
        return bool(torch._nnpack_available())
    except (AttributeError, RuntimeError):
        return False


def nnpack_pays() -> bool:
    """Use NNPACK only where it was measured to win: x86 CPUs whose best vector unit is AVX2. With AVX-512,
    oneDNN's direct kernels are about twice as fast, and other CPUs were not measured, so they keep the stock ones."""
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except (AttributeError, RuntimeError):
        return False
    return capability == "AVX2" and nnpack_available()


def _wants_nnpack(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return min(weight.shape[0], weight.shape[1]) >= MIN_CHANNELS and min(x.shape[-2:]) >= MIN_SIDE


def conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, use_nnpack: bool) -> torch.Tensor:
    """A 3x3, stride 1, padding 1 convolution: NNPACK per image where it pays, else the stock kernel."""
    if not (use_nnpack and _wants_nnpack(x, weight)):
        return F.conv2d(x, weight, bias, padding=1)
    x = x.contiguous()
    try:
        outs = [torch._nnpack_spatial_convolution(x[i : i + 1], weight, bias, [1, 1]) for i in range(x.shape[0])]
    except RuntimeError:  # NNPACK refused this input: the stock kernel computes the same convolution
        return F.conv2d(x, weight, bias, padding=1)
    return outs[0] if len(outs) == 1 else torch.cat(outs)


def dilated_conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, use_nnpack: bool):
    """A 3x3 convolution with dilation 2 and padding 2 on even-sized maps, as plain 3x3 convolutions of the four
    polyphase sub-images (output pixel (2i+r, 2j+s) only sees input pixels of phase (r, s))."""
    b, c, h, w = x.shape
    phases = x.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4).reshape(4 * b, c, h // 2, w // 2)
    y = conv3x3(phases, weight, bias, use_nnpack)
    return y.reshape(b, 2, 2, -1, h // 2, w // 2).permute(0, 3, 4, 1, 5, 2).reshape(b, -1, h, w)


class FastConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` (same parameters, same state_dict keys) whose inference forward uses the kernels above."""

    use_nnpack = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or x.dtype != torch.float32 or x.ndim != 4 or torch.is_grad_enabled():
            return super().forward(x)
        if self.dilation == (1, 1):
            return conv3x3(x, self.weight, self.bias, self.use_nnpack)
        h, w = x.shape[-2:]
        phases_fit = h % 2 == 0 and w % 2 == 0 and min(h, w) // 2 >= MIN_SIDE  # else the phases stay on oneDNN
        if self.use_nnpack and phases_fit and min(self.in_channels, self.out_channels) >= MIN_CHANNELS_DILATED:
            return dilated_conv3x3(x, self.weight, self.bias, True)
        return super().forward(x)


def eligible(m: nn.Module) -> bool:
    """A plain 3x3 convolution (stride 1, one group, zero padding equal to its dilation of 1 or 2)."""
    return (
        type(m) is nn.Conv2d
        and m.kernel_size == (3, 3)
        and m.stride == (1, 1)
        and m.groups == 1
        and m.dilation in ((1, 1), (2, 2))
        and m.padding == m.dilation
        and m.padding_mode == "zeros"
    )


def fast_cpu_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` that shares its parameters and buffers (no extra weight memory, sees later updates)
    with every eligible convolution switched to :class:`FastConv2d`. ``model`` itself is not modified; where NNPACK
    does not pay (:func:`nnpack_pays`), or for a model without eligible convolutions or that cannot be copied,
    ``model`` is returned as is."""
    if not nnpack_pays() or not any(eligible(m) for m in model.modules()):
        return model
    memo = {id(t): t for t in itertools.chain(model.parameters(), model.buffers())}
    try:
        clone = copy.deepcopy(model, memo)
    except Exception:  # e.g. a model holding an uncopyable handle: run it as it is
        return model
    for m in clone.modules():
        if eligible(m):
            m.__class__ = FastConv2d
            m.use_nnpack = True
    return clone
