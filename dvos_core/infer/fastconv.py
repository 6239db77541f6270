"""Faster CPU kernels for the 3x3 convolutions that dominate DVOS inference, applied to a parameter-sharing copy.

Each convolution shape gets the fastest of a few interchangeable kernels, measured on this CPU on its first calls
(:mod:`dvos_core.infer.kernel_choice`): which one wins depends on the CPU (an AVX2 Zen 3 and an AVX-512 Zen 5 were
measured, and they disagree on narrow convolutions on large maps), so no rule per CPU decides it. The candidates:

* 3x3 convolutions (from ``MIN_CHANNELS_NNPACK`` channels, maps from ``MIN_SIDE`` px): oneDNN's direct kernel
  (stock) or NNPACK's Winograd kernels, one image at a time (NNPACK's batched mode is slower). Winograd
  reassociates the sums: outputs differ from the direct convolution by about 1e-5 relative.
* 3x3 convolutions with dilation 2 (the attention blocks' second spatial conv): stock, or split into the four
  polyphase sub-images, each a plain 3x3 convolution run by NNPACK (output pixel (2i+r, 2j+s) only sees input
  pixels of phase (r, s)), or, from ``MIN_CHANNELS_WINOGRAD`` channels, Winograd F(2x2, 3x3) on the sub-images
  with the transformed weight kept (:mod:`dvos_core.infer.winograd`: the deep blocks' small, wide maps).
* A stock (direct) candidate is tried last, once the others had all their timed calls, and not at all when one of
  them ran at least as fast as its arithmetic could at 1.25 times this core's matrix-product rate
  (:func:`~dvos_core.infer.kernel_choice.arithmetic_floor`).
* 1x1 convolutions (grouped or not) on large maps: stock, or matrix products over blocks of ``POINTWISE_COLUMNS``
  pixels, so each block's input and output stay in the cache.
* The attention blocks (:class:`FastAttention`) apply their activations, gates and products in place instead of
  allocating a new full-size map for each, and on large maps run their spatial gate's dilated convolution and the
  1x1 after it as one convolution (folded weights); the per-frame 3x3 and the 1x1 after it are either run as they
  are (each frame's 3x3 as a plain convolution, the 1x1 gathering the frames' outputs block by block) or folded
  into one dense 3x3 run by NNPACK (four times the arithmetic, but Winograd may make it faster), again whichever
  measured faster.

Only CPU float32 inputs without autograd take these paths (and the attention blocks only in eval mode without
sampling); anything else calls the stock modules.
"""

from __future__ import annotations

import copy
import functools
import itertools

import torch
import torch.nn.functional as F
from torch import nn

from dvos_core.infer import winograd
from dvos_core.infer.kernel_choice import CHOICES_FILE, KernelChooser, arithmetic_floor
from dvos_core.model.attention import SpatioTemporalAttention, stack_frames

MIN_CHANNELS_NNPACK = 16  # NNPACK is a candidate for 3x3 convolutions from this width (in and out) ...
MIN_SIDE = 32  # ... on maps (or, dilated, polyphase sub-images) at least this many px on each side
MIN_CHANNELS_WINOGRAD = 512  # dilated 3x3 convolutions this wide (in and out) may run by cached-weight Winograd
POINTWISE_COLUMNS = 2048  # pixels per matrix-product block of a 1x1 convolution (measured: 1k-2k best, 16k worse)
POINTWISE_MIN_PIXELS = 128 * 128  # below this the stock 1x1 kernel's maps fit in the cache anyway
FOLD_MIN_PIXELS = 128 * 128  # attention blocks fold their spatial gate's convolutions from this map size
# ... and may run their folded per-frame pair by NNPACK up to this map size: beyond it its workspace outgrows every
# other NNPACK call's (0.5 GB for the paper model at 512^2, 4x) for a pair measured within 4% of the unfolded one
FOLD_NNPACK_MAX_PIXELS = 256 * 256

# one per process: decisions hold for a shape and a thread count, kept on disk (the same kernels in every run)
CHOOSER = KernelChooser(choices_file=CHOICES_FILE)


@functools.cache
def nnpack_available() -> bool:
    """True when this torch build has NNPACK and it initialised on this CPU (also initialises it; asked once)."""
    try:
        return bool(torch._nnpack_available())
    except (AttributeError, RuntimeError):
        return False


def _key(family: str, x: torch.Tensor, weight: torch.Tensor, groups: int = 1) -> tuple:
    """What a kernel decision holds for: the operation, its shapes and the thread count."""
    return (family, tuple(x.shape), tuple(weight.shape), groups, torch.get_num_threads())


def nnpack_fits(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """NNPACK is a candidate for this 3x3 convolution: available, both widths at least ``MIN_CHANNELS_NNPACK`` and
    maps at least ``MIN_SIDE`` px on each side (below that the kernel choice hardly matters)."""
    if min(x.shape[-2:]) < MIN_SIDE or min(weight.shape[:2]) < MIN_CHANNELS_NNPACK:
        return False
    return nnpack_available()


def nnpack_conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """A 3x3, stride 1, padding 1 convolution by NNPACK, one image at a time (the stock kernel where NNPACK refuses
    the input)."""
    x = x.contiguous()
    try:
        outs = [torch._nnpack_spatial_convolution(x[i : i + 1], weight, bias, [1, 1]) for i in range(x.shape[0])]
    except RuntimeError:  # NNPACK refused this input: the stock kernel computes the same convolution
        return F.conv2d(x, weight, bias, padding=1)
    return outs[0] if len(outs) == 1 else torch.cat(outs)


def direct_floor(x: torch.Tensor, weight: torch.Tensor) -> float:
    """Seconds a direct stride-1 convolution of ``x`` by ``weight`` (same-size output) cannot beat on this CPU."""
    return arithmetic_floor(2.0 * x.shape[0] * x.shape[-2] * x.shape[-1] * weight.numel())


def conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """A 3x3, stride 1, padding 1 convolution: the stock kernel or NNPACK, whichever measured faster here."""
    if not nnpack_fits(x, weight):
        return F.conv2d(x, weight, bias, padding=1)
    return CHOOSER.run(
        _key("conv3x3", x, weight),
        {"stock": lambda: F.conv2d(x, weight, bias, padding=1), "nnpack": lambda: nnpack_conv3x3(x, weight, bias)},
        floors={"stock": direct_floor(x, weight)},
    )


def dilated_conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, use_nnpack: bool):
    """A 3x3 convolution with dilation 2 and padding 2 on even-sized maps, as plain 3x3 convolutions of the four
    polyphase sub-images (output pixel (2i+r, 2j+s) only sees input pixels of phase (r, s)), run by NNPACK when
    ``use_nnpack``."""
    b, _, h, w = x.shape
    o = weight.shape[0]
    # each pair of phases (r, 0), (r, 1) goes straight into its rows of the result: viewed as complex numbers, row
    # phase r of the result is (b, o, h/2, w/2) pairs (pixel 2j, pixel 2j+1), which torch.complex writes from the
    # two phases' outputs in one pass (half the time of two strided writes)
    out = x.new_empty(b, o, h, w)
    pairs = torch.view_as_complex(out.view(b, o, h // 2, 2, w // 2, 2))
    for r in range(2):
        ys = []
        for s in range(2):
            # one phase at a time, copied straight out of x: a quarter of x's size at once (copying all four phases
            # through a column-split copy held twice x's size at its peak, as fast but 128 MB more heap at 512^2)
            phase = x[:, :, r::2, s::2].contiguous()
            ys.append(nnpack_conv3x3(phase, weight, bias) if use_nnpack else F.conv2d(phase, weight, bias, padding=1))
            del phase
        torch.complex(ys[0], ys[1], out=pairs[:, :, :, r])
        del ys
    return out


def dilated2_conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None):
    """A 3x3 convolution with dilation 2 and padding 2: the stock dilated kernel, polyphase + NNPACK (even-sized
    maps whose phases NNPACK takes) or polyphase + Winograd (wide convolutions, sides multiples of 4), whichever
    measured faster here."""
    h, w = x.shape[-2:]
    candidates = {}
    if h % 2 == 0 and w % 2 == 0 and nnpack_fits(x[..., ::2, ::2], weight):
        candidates["polyphase"] = lambda: dilated_conv3x3(x, weight, bias, True)
    key = _key("dilated3x3", x, weight)
    if h % 4 == 0 and w % 4 == 0 and min(weight.shape[:2]) >= MIN_CHANNELS_WINOGRAD:
        if CHOOSER.decision(key) is None:
            winograd.cached_transform(weight)  # once, and not inside the candidate's timing
        candidates["winograd"] = lambda: winograd.dilated_conv3x3(x, winograd.cached_transform(weight), bias)
    stock = lambda: F.conv2d(x, weight, bias, padding=2, dilation=2)  # noqa: E731
    if not candidates:
        return stock()
    out = CHOOSER.run(key, {**candidates, "stock": stock}, floors={"stock": direct_floor(x, weight)})
    if "winograd" in candidates and CHOOSER.decision(key) not in (None, "winograd"):
        winograd.drop_transform(weight)  # another kernel won: free the transformed weight
    return out


def conv1x1(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, groups: int) -> torch.Tensor:
    """A 1x1 convolution: on large maps the stock kernel or cache-sized matrix products (:func:`pointwise_conv`),
    whichever measured faster here."""
    stock = lambda: F.conv2d(x, weight, bias, groups=groups)  # noqa: E731
    if x.shape[-2] * x.shape[-1] < POINTWISE_MIN_PIXELS:
        return stock()
    return CHOOSER.run(
        _key("conv1x1", x, weight, groups), {"stock": stock, "blocked": lambda: pointwise_conv(x, weight, bias, groups)}
    )


def pointwise_conv(x, weight: torch.Tensor, bias: torch.Tensor | None, groups: int) -> torch.Tensor:
    """A 1x1 convolution (stride 1, no padding, ``groups`` groups) as batched matrix products, one block of
    ``POINTWISE_COLUMNS`` pixels at a time. ``x``: a (B, C, h, w) tensor, or (one group only) a list of (B, C_i, h,
    w) tensors that together are such an input split along its channels: each block of pixels is gathered from the
    parts into a cache-sized buffer, so the whole input is never stacked."""
    if not isinstance(x, torch.Tensor):
        if groups != 1:
            raise ValueError("a 1x1 convolution of channel parts takes one group")
        return _pointwise_parts(list(x), weight, bias)
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


def _pointwise_parts(parts: list, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """:func:`pointwise_conv` of the channel-wise concatenation of ``parts`` (one group), without making it."""
    b, _, h, w = parts[0].shape
    flat = [p.reshape(b, p.shape[1], h * w) for p in parts]
    c, o = sum(p.shape[1] for p in flat), weight.shape[0]
    wt = weight.reshape(o, c)
    out = torch.empty(b, o, h, w, dtype=wt.dtype, device=wt.device)
    ov = out.view(b, o, h * w)
    buf = wt.new_empty(c, POINTWISE_COLUMNS)
    for i in range(b):
        for s in range(0, h * w, POINTWISE_COLUMNS):
            n = min(POINTWISE_COLUMNS, h * w - s)
            row = 0
            for p in flat:
                buf[row : row + p.shape[1], :n].copy_(p[i, :, s : s + n])
                row += p.shape[1]
            if bias is None:
                torch.mm(wt, buf[:, :n], out=ov[i, :, s : s + n])
            else:
                torch.addmm(bias[:, None], wt, buf[:, :n], out=ov[i, :, s : s + n])
    return out


class FastConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` (same parameters, same state_dict keys) whose inference forward picks its kernel as above."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or x.dtype != torch.float32 or x.ndim != 4 or torch.is_grad_enabled():
            return super().forward(x)
        if self.kernel_size == (1, 1):
            return conv1x1(x, self.weight, self.bias, self.groups)
        if self.dilation == (1, 1):
            return conv3x3(x, self.weight, self.bias)
        return dilated2_conv3x3(x, self.weight, self.bias)


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
    ``FOLD_MIN_PIXELS`` the dilated pair always runs folded (10-20% less time for the pair at 512^2: the same
    arithmetic, one map less); the per-frame pair runs as it is (:meth:`_per_frame_pair`), or, on maps up to
    ``FOLD_NNPACK_MAX_PIXELS``, folded into one dense 3x3 run by NNPACK, whichever measured faster for the shape
    (four times the arithmetic of the per-frame 3x3, yet NNPACK's Winograd kernels run it within 4% of the pair as
    it is on an AVX2 Zen 3, where the stock grouped kernel was up to 1.7x slower). The folded weights are computed
    on first use and again whenever a source parameter changes."""

    def forward(self, x, stochastic: bool = False) -> torch.Tensor:
        first_frame = x if isinstance(x, torch.Tensor) else x[0][0]
        if self.training or stochastic or torch.is_grad_enabled() or first_frame.device.type != "cpu":
            return super().forward(x, stochastic)
        sp = self.spatial  # conv3x3 (per frame), conv1x1, GN, Swish, dilated conv3x3, conv1x1 (per frame), GN, sigmoid
        x = F.silu(self.in_norm(stack_frames(x)), inplace=True)  # the stacked copy is freed at once
        if x.shape[-2] * x.shape[-1] >= FOLD_MIN_PIXELS and x.dtype == torch.float32:
            w_in, w_gate, b_gate = self._folded()
            first = {"per_frame": lambda: self._per_frame_pair(x)}
            # (folded and run by oneDNN it was slower than the pair as it is everywhere measured)
            if x.shape[-2] * x.shape[-1] <= FOLD_NNPACK_MAX_PIXELS and nnpack_fits(x, w_in):
                first["folded_nnpack"] = lambda: nnpack_conv3x3(x, w_in, None)
            gate = CHOOSER.run(_key("attention_in", x, w_in), first)
            gate = F.silu(sp[2](gate), inplace=True)
            gate = sp[6](dilated2_conv3x3(gate, w_gate, b_gate)).sigmoid_()
        else:
            gate = F.silu(sp[2](sp[1](sp[0](x))), inplace=True)
            gate = sp[6](sp[5](sp[4](gate))).sigmoid_()
        gate_t = self.temporal(x.mean(dim=(2, 3)))[:, :, None, None]
        return self.reduce(gate.mul_(x).mul_(gate_t))

    def _per_frame_pair(self, x: torch.Tensor) -> torch.Tensor:
        """The spatial gate's per-frame 3x3 and the 1x1 after it, as they are: each frame's 3x3 as a plain convolution
        (:func:`conv3x3`, the kernel chosen for that shape elsewhere in the model), the 1x1 reading the frames'
        outputs block by block (the stock grouped kernel goes through a 9x im2col copy of each frame: 300 MB at the
        paper model's finest level, and 10-20% slower)."""
        c, w0 = self.channels, self.spatial[0].weight
        frames = [conv3x3(x[:, f * c : (f + 1) * c], w0[f * c : (f + 1) * c], None) for f in range(self.tau)]
        return pointwise_conv(frames, self.spatial[1].weight, None, 1)

    def _folded(self) -> tuple:
        """(3x3 weight of the per-frame conv and the 1x1 after it, weight and bias of the dilated conv and the
        per-frame 1x1 after it), cached until a source parameter is changed or replaced."""
        sp = self.spatial
        sources = [sp[0].weight, sp[1].weight, sp[4].weight, sp[4].bias, sp[5].weight]
        key = tuple(None if t is None else (id(t), t.data_ptr(), t._version) for t in sources)
        cached = getattr(self, "_fold_cache", None)
        if cached is None or cached[0] != key:
            with torch.no_grad():
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
    :class:`FastAttention`. ``model`` itself is not modified; a model without eligible convolutions, or that cannot
    be copied, is returned as is."""
    if not any(eligible(m) for m in model.modules()):
        return model
    try:
        clone = sharing_copy(model)
    except Exception:  # e.g. a model holding an uncopyable handle: run it as it is
        return model
    for m in clone.modules():
        if eligible(m):
            m.__class__ = FastConv2d
        elif FastAttention.fits(m):
            m.__class__ = FastAttention
    return clone
