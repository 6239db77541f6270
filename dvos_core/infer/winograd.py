"""Winograd F(2x2, 3x3) for the wide dilated 3x3 convolutions on small maps (the deep attention blocks).

The paper model's deepest attention blocks run a dense 3x3 convolution with dilation 2 over 2048 channels at 16^2
and 1024 channels at 32^2 (at 512^2 frames): 19 GFLOP each, about 0.6 s of a 7 s window on one Zen 3 core with the
stock kernel, whose arithmetic rate is already near the core's peak. Split into its four polyphase sub-images, each
is a plain 3x3 convolution of 8^2 or 16^2 px, too small for NNPACK (which also transforms its 150 MB weight again on
every call). Here the weight is transformed once and kept (16/9 of its size), and each call transforms the
input tiles, multiplies one (16, out, in) x (16, in, tiles) batch of matrices and transforms the result back:
2.25x less arithmetic, outputs within float rounding of the direct convolution (a few 1e-6 relative).

F(2x2, 3x3): output tile Y = A^T [(G g G^T) * (B^T d B)] A for each 4x4 input tile d (stride 2) and 3x3 kernel g.
"""

from __future__ import annotations

import math
import mmap
import weakref

import torch
import torch.nn.functional as F


def _rows_g(g: torch.Tensor, dim: int) -> tuple:
    """The four rows of G g along ``dim`` (size 3), G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]."""
    g0, g1, g2 = g.unbind(dim)
    half = (g0 + g2).mul_(0.5)
    return g0, half + 0.5 * g1, half - 0.5 * g1, g2


def transform_weight(weight: torch.Tensor) -> torch.Tensor:
    """(O, C, 3, 3) weight -> (16, O, C): G g G^T for each kernel, the 4x4 positions first."""
    o, c = weight.shape[:2]
    u = _outside_heap(weight, (4, 4, o, c))
    step = max(1, (1 << 20) // (9 * c))  # output channels per block: small temporaries (a few MB)
    for s in range(0, o, step):
        g = weight[s : s + step].permute(2, 3, 0, 1).contiguous()  # (3, 3, block, C)
        for a, r in enumerate(_rows_g(g, 0)):  # r: (3, block, C), the kernel's columns
            for b, v in enumerate(_rows_g(r, 0)):
                u[a, b, s : s + step] = v
    return u.view(16, o, c)


def _outside_heap(like: torch.Tensor, shape: tuple) -> torch.Tensor:
    """An empty CPU float tensor of ``shape`` in its own anonymous memory map, so that a long-lived block (hundreds of
    MB for the paper model) made in the middle of a prediction does not split the heap that prediction keeps for its
    short-lived feature maps (:mod:`~dvos_core.infer.allocator`). Other devices and dtypes: a plain tensor."""
    if like.device.type != "cpu" or like.dtype != torch.float32:
        return like.new_empty(shape)
    count = math.prod(shape)
    return torch.frombuffer(mmap.mmap(-1, max(4 * count, 1)), dtype=torch.float32, count=count).view(shape)


_TRANSFORMED: dict[int, tuple] = {}  # id(weight) -> ((data pointer, version, shape), transformed weight)


def cached_transform(weight: torch.Tensor) -> torch.Tensor:
    """:func:`transform_weight` of ``weight``, kept until the weight is changed in place, replaced or freed (not on
    the tensor itself, so copying or pickling a model never carries it)."""
    stamp = (weight.data_ptr(), weight._version, tuple(weight.shape))
    entry = _TRANSFORMED.get(id(weight))
    if entry is None or entry[0] != stamp:
        if entry is None:
            weakref.finalize(weight, _TRANSFORMED.pop, id(weight), None)
        with torch.no_grad():
            entry = _TRANSFORMED[id(weight)] = (stamp, transform_weight(weight))
    return entry[1]


def drop_transform(weight: torch.Tensor) -> None:
    """Free the transformed copy kept for ``weight`` (when another kernel was chosen for it)."""
    entry = _TRANSFORMED.get(id(weight))
    if entry is not None and entry[1] is not None:
        _TRANSFORMED[id(weight)] = (None, None)  # the finaliser stays registered; a later call transforms again


def _rows_bt(d: torch.Tensor, dim: int) -> tuple:
    """The four rows of B^T d along ``dim`` (size 4); B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    (the input transform)."""
    d0, d1, d2, d3 = d.unbind(dim)
    return d0 - d2, d1 + d2, d2 - d1, d1 - d3


def _input_tiles(x: torch.Tensor) -> torch.Tensor:
    """(C, N, h, w) maps (h, w even) -> (16, C, N * h/2 * w/2): B^T d B for each 4x4 tile of the zero-padded maps."""
    c, n, h, w = x.shape
    d = F.pad(x, (1, 1, 1, 1)).unfold(2, 4, 2).unfold(3, 4, 2)  # (C, N, h/2, w/2, 4, 4), a view
    v = x.new_empty(4, 4, c, n, h // 2, w // 2)
    for a, r in enumerate(_rows_bt(d, -2)):  # r: (C, N, h/2, w/2, 4) over the tile's columns
        r0, r1, r2, r3 = r.unbind(-1)
        torch.sub(r0, r2, out=v[a, 0])
        torch.add(r1, r2, out=v[a, 1])
        torch.sub(r2, r1, out=v[a, 2])
        torch.sub(r1, r3, out=v[a, 3])
    return v.view(16, c, -1)


def _output_tiles(m: torch.Tensor) -> torch.Tensor:
    """(4, 4, O, ...) products -> (2, 2, O, ...): A^T m A for each tile."""
    rows = (m[0] + m[1] + m[2], m[1] - m[2] - m[3])
    return torch.stack([torch.stack((r[0] + r[1] + r[2], r[1] - r[2] - r[3])) for r in rows])


def dilated_conv3x3(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """A 3x3 convolution with dilation 2 and padding 2 of (B, C, H, W) maps (H and W multiples of 4), given the
    weight's :func:`transform_weight` ``u`` (16, O, C)."""
    b, c, h, w = x.shape
    h2, w2 = h // 2, w // 2
    # the four polyphase sub-images, channel-major: (C, B * 4, h/2, w/2), phase (r, s) at index b * 4 + 2r + s
    phases = x.view(b, c, h2, 2, w2, 2).permute(1, 0, 3, 5, 2, 4).reshape(c, b * 4, h2, w2)
    m = torch.matmul(u, _input_tiles(phases))  # (16, O, B * 4 * h/4 * w/4)
    o = u.shape[1]
    y = _output_tiles(m.view(4, 4, o, b, 2, 2, h2 // 2, w2 // 2))  # (2, 2, O, B, 2, 2, h/4, w/4)
    # y[r, s, o, b, pr, ps, i, j] is output pixel (2 * (2i + r) + pr, 2 * (2j + s) + ps)
    out = y.permute(3, 2, 6, 0, 4, 7, 1, 5).reshape(b, o, h, w)
    if bias is not None:
        out += bias.view(1, -1, 1, 1)
    return out
