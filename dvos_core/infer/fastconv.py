"""Faster CPU kernels for the 3x3 convolutions that dominate DVOS inference, applied to a parameter-sharing copy.

* Wide 3x3 convolutions (both widths >= ``MIN_CHANNELS``, feature maps at least ``MIN_SIDE`` px) run through
  NNPACK's Winograd kernels, one image at a time (NNPACK's batched mode is slower): 1.2-2.8x faster than oneDNN's
  direct kernels on an AVX2 CPU at the paper model's widths (so used only there: see :func:`nnpack_pays`).
  Narrower ones (from ``MIN_CHANNELS_LARGE`` wide) on large maps too: oneDNN slows down per pixel once input and
  output no longer fit in the caches (32 -> 32 channels: 0.9x NNPACK's speed at 256^2, 1.5x slower at 512^2).
  Winograd reassociates the sums: outputs differ from the direct convolution by about 1e-5 relative.
* Wide 3x3 convolutions with dilation 2 (the attention blocks' second spatial conv) are split into the four
  polyphase sub-images, each a plain 3x3 convolution run by NNPACK (output pixel (2i+r, 2j+s) only sees input
  pixels of phase (r, s)): 1.3-2x faster than oneDNN's dilated kernel from 96 channels on, despite the two copies.
* 1x1 convolutions (grouped or not) on large maps are matrix products over blocks of ``POINTWISE_COLUMNS`` pixels,
  so each block's input and output stay in the cache: 1.1x (dense) to 1.6-2x (grouped) faster than the stock
  kernel at the attention blocks' widths on large maps, same arithmetic.
* The attention blocks (:class:`FastAttention`) apply their activations, gates and products in place instead of
  allocating a new full-size map for each, and on large maps run their spatial gate's two convolution pairs (a
  convolution followed by a 1x1 one, nothing in between) as one convolution each, with folded weights.

Only CPU float32 inputs without autograd take these paths (and the attention blocks only in eval mode without
sampling); anything else calls the stock modules.
"""

from __future__ import annotations

import copy
import itertools

import torch
import torch.nn.functional as F
from torch import nn

from dvos_core.model.attention import SpatioTemporalAttention

MIN_CHANNELS = 64  # NNPACK for a plain 3x3 conv from this width (measured: 1.3x at 64 channels, 512^2)
MIN_CHANNELS_LARGE = 16  # ... and from this width when input + output maps are large (measured on one AVX2 CPU:
LARGE_MAP_BYTES = 48 << 20  # 16 -> 16 @ 1024^2 1.5x, 32 -> 32 @ 448^2 1.3x, 32 -> 32 @ 320^2 0.8x, @ 256^2 0.9x)
MIN_CHANNELS_DILATED = 96  # polyphase + NNPACK for a dilated one (at 64 channels the extra copies cost more)
MIN_SIDE = 32
POINTWISE_COLUMNS = 2048  # pixels per matrix-product block of a 1x1 convolution (measured: 1k-2k best, 16k worse)
POINTWISE_MIN_PIXELS = 128 * 128  # below this the stock 1x1 kernel's maps fit in the cache anyway
FOLD_MIN_PIXELS = 128 * 128  # attention blocks fold their spatial gate's convolutions from this map size ...
FOLD_MIN_WIDTH = 32  # ... and its per-frame 3x3 into the 1x1 after it from this many channels per frame


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
    c_out, c_in = weight.shape[:2]
    if min(x.shape[-2:]) < MIN_SIDE or min(c_out, c_in) < MIN_CHANNELS_LARGE:
        return False
    return min(c_out, c_in) >= MIN_CHANNELS or (c_in + c_out) * x.shape[-2] * x.shape[-1] * 4 >= LARGE_MAP_BYTES


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
    # columns first, then rows: two copies that read memory in order (one 6-d permute reading every other float
    # was 2-3x slower on large maps)
    cols = x.reshape(b, c, h, w // 2, 2).transpose(-1, -2).contiguous()
    phases = cols.view(b, c, h // 2, 2, 2, w // 2).permute(0, 3, 4, 1, 2, 5).reshape(4 * b, c, h // 2, w // 2)
    y = conv3x3(phases, weight, bias, use_nnpack)
    return y.reshape(b, 2, 2, -1, h // 2, w // 2).permute(0, 3, 4, 1, 5, 2).reshape(b, -1, h, w)


def dilated2_conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, use_nnpack: bool):
    """A 3x3 convolution with dilation 2 and padding 2: polyphase + NNPACK where that pays (wide, even-sized maps
    whose phases are at least ``MIN_SIDE`` px), else the stock kernel."""
    h, w = x.shape[-2:]
    phases_fit = h % 2 == 0 and w % 2 == 0 and min(h, w) // 2 >= MIN_SIDE  # else the phases stay on oneDNN
    if use_nnpack and phases_fit and min(weight.shape[:2]) >= MIN_CHANNELS_DILATED:
        return dilated_conv3x3(x, weight, bias, True)
    return F.conv2d(x, weight, bias, padding=2, dilation=2)


def pointwise_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, groups: int) -> torch.Tensor:
    """A 1x1 convolution (stride 1, no padding, ``groups`` groups) as batched matrix products, one block of
    ``POINTWISE_COLUMNS`` pixels at a time."""
    b, c, h, w = x.shape
    o = weight.shape[0]
    wt = weight.reshape(groups, o // groups, c // groups)
    xv = x.reshape(b, groups, c // groups, h * w)
    out = torch.empty(b, o, h, w, dtype=x.dtype, device=x.device)
    ov = out.view(b, groups, o // groups, h * w)
    bias_v = None if bias is None else bias.view(groups, o // groups, 1)
    for i in range(b):
        for s in range(0, h * w, POINTWISE_COLUMNS):
            cols = slice(s, s + POINTWISE_COLUMNS)
            if bias_v is None:
                torch.bmm(wt, xv[i, :, :, cols], out=ov[i, :, :, cols])
            else:
                torch.baddbmm(bias_v, wt, xv[i, :, :, cols], out=ov[i, :, :, cols])
    return out


class FastConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` (same parameters, same state_dict keys) whose inference forward uses the kernels above."""

    use_nnpack = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or x.dtype != torch.float32 or x.ndim != 4 or torch.is_grad_enabled():
            return super().forward(x)
        if self.kernel_size == (1, 1):
            if x.shape[-2] * x.shape[-1] < POINTWISE_MIN_PIXELS:
                return super().forward(x)
            return pointwise_conv(x, self.weight, self.bias, self.groups)
        if self.dilation == (1, 1):
            return conv3x3(x, self.weight, self.bias, self.use_nnpack)
        return dilated2_conv3x3(x, self.weight, self.bias, self.use_nnpack)


def eligible(m: nn.Module) -> bool:
    """A plain 3x3 convolution (stride 1, one group, zero padding equal to its dilation of 1 or 2), or a 1x1 one
    (stride 1, no padding, any groups)."""
    if type(m) is not nn.Conv2d or m.stride != (1, 1) or m.padding_mode != "zeros":
        return False
    if m.kernel_size == (1, 1):
        return m.padding == (0, 0) and m.dilation == (1, 1)
    return m.kernel_size == (3, 3) and m.groups == 1 and m.dilation in ((1, 1), (2, 2)) and m.padding == m.dilation


def fold_pointwise(pointwise: torch.Tensor, groups: int, weight: torch.Tensor, bias: torch.Tensor | None = None):
    """The (weight, bias) of one convolution computing ``conv1x1(pointwise, groups)(conv(weight, bias)(x))``: a 1x1
    convolution without bias straight after another convolution is a linear map of its output, so the two are one
    convolution of the first one's shape (``weight``: (C, C_in, kh, kw), one group; ``pointwise``: (O, C/groups, 1,
    1))."""
    o, c = pointwise.shape[0], weight.shape[0]
    blocks = pointwise.reshape(groups, o // groups, c // groups)
    w = torch.bmm(blocks, weight.reshape(groups, c // groups, -1)).reshape(o, *weight.shape[1:])
    b = None if bias is None else torch.bmm(blocks, bias.reshape(groups, c // groups, 1)).reshape(o)
    return w.contiguous(), b


def ungroup(weight: torch.Tensor, groups: int) -> torch.Tensor:
    """The dense (O, C_in, kh, kw) weight of a grouped convolution (zeros between the groups)."""
    o, per = weight.shape[:2]
    dense = weight.new_zeros(o, per * groups, *weight.shape[2:])
    for g in range(groups):
        rows = slice(g * (o // groups), (g + 1) * (o // groups))
        dense[rows, g * per : (g + 1) * per] = weight[rows]
    return dense


class FastAttention(SpatioTemporalAttention):
    """A :class:`SpatioTemporalAttention` (same parameters and function) whose inference forward works in place.

    No nonlinearity sits between the spatial gate's dilated 3x3 and the per-frame 1x1 after it, nor between its
    per-frame 3x3 and the 1x1 after that, so each pair is one convolution with folded weights. On maps of at least
    ``FOLD_MIN_PIXELS`` the dilated pair is folded (measured at 512^2 frames: 10-20% less time for the pair, paper
    and small models), and the per-frame pair too when each frame has at least ``FOLD_MIN_WIDTH`` channels (paper
    model: 3-35% less; with narrower frames the dense 3x3, four times the arithmetic of the per-frame one, was
    slower). The folded weights are computed on first use and again whenever a source parameter changes."""

    def forward(self, x: torch.Tensor, stochastic: bool = False) -> torch.Tensor:
        if self.training or stochastic or torch.is_grad_enabled() or x.device.type != "cpu":
            return super().forward(x, stochastic)
        sp = self.spatial  # conv3x3 (per frame), conv1x1, GN, Swish, dilated conv3x3, conv1x1 (per frame), GN, sigmoid
        x = F.silu(self.in_norm(x), inplace=True)
        if x.shape[-2] * x.shape[-1] >= FOLD_MIN_PIXELS and x.dtype == torch.float32:
            w_in, w_gate, b_gate = self._folded()
            nnpack = getattr(sp[4], "use_nnpack", False)  # a FastConv2d in the fast copy
            gate = sp[1](sp[0](x)) if w_in is None else conv3x3(x, w_in, None, nnpack)
            gate = F.silu(sp[2](gate), inplace=True)
            gate = sp[6](dilated2_conv3x3(gate, w_gate, b_gate, nnpack)).sigmoid_()
        else:
            gate = F.silu(sp[2](sp[1](sp[0](x))), inplace=True)
            gate = sp[6](sp[5](sp[4](gate))).sigmoid_()
        gate_t = self.temporal(x.mean(dim=(2, 3)))[:, :, None, None]
        return self.reduce(gate.mul_(x).mul_(gate_t))

    def _folded(self) -> tuple:
        """(3x3 weight of the per-frame conv and the 1x1 after it, weight and bias of the dilated conv and the
        per-frame 1x1 after it), cached until a source parameter is changed or replaced."""
        sp = self.spatial
        sources = [sp[0].weight, sp[1].weight, sp[4].weight, sp[4].bias, sp[5].weight]
        key = (FOLD_MIN_WIDTH, *(None if t is None else (id(t), t.data_ptr(), t._version) for t in sources))
        cached = getattr(self, "_fold_cache", None)
        if cached is None or cached[0] != key:
            with torch.no_grad():
                w_in = None
                if self.channels >= FOLD_MIN_WIDTH:
                    w_in, _ = fold_pointwise(sp[1].weight, 1, ungroup(sp[0].weight, sp[0].groups))
                w_gate, b_gate = fold_pointwise(sp[5].weight, sp[5].groups, sp[4].weight, sp[4].bias)
            cached = self._fold_cache = (key, (w_in, w_gate, b_gate))
        return cached[1]

    @staticmethod
    def fits(m: nn.Module) -> bool:
        """``m`` is a stock attention block laid out as :meth:`forward` expects."""
        kinds = (nn.Conv2d, nn.Conv2d, nn.GroupNorm, nn.SiLU, nn.Conv2d, nn.Conv2d, nn.GroupNorm, nn.Sigmoid)
        return (
            type(m) is SpatioTemporalAttention
            and len(m.spatial) == len(kinds)
            and all(type(layer) is kind for layer, kind in zip(m.spatial, kinds))
        )


def sharing_copy(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` whose parameters and buffers are the original tensors (no extra weight memory; the
    copy sees later updates)."""
    return copy.deepcopy(module, {id(t): t for t in itertools.chain(module.parameters(), module.buffers())})


def fast_cpu_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` that shares its parameters and buffers (no extra weight memory, sees later updates)
    with every eligible convolution switched to :class:`FastConv2d` and every attention block to
    :class:`FastAttention`. ``model`` itself is not modified; where NNPACK does not pay (:func:`nnpack_pays`), or
    for a model without eligible convolutions or that cannot be copied, ``model`` is returned as is."""
    if not nnpack_pays() or not any(eligible(m) for m in model.modules()):
        return model
    try:
        clone = sharing_copy(model)
    except Exception:  # e.g. a model holding an uncopyable handle: run it as it is
        return model
    for m in clone.modules():
        if eligible(m):
            m.__class__ = FastConv2d
            m.use_nnpack = True
        elif FastAttention.fits(m):
            m.__class__ = FastAttention
    return clone
