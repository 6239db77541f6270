"""Reference fusion for the context-aware video model: query features look up matching reference features.

At one encoder level, each query position compares its feature with the features of every reference frame in a
(2r+1)^2 window around the same position (the references are already aligned to the query frame by the global camera
motion, so the window only has to absorb local sway). A softmax over all references, offsets and one "no match"
option gives weights; the weighted reference features and the weighted reference *masks* (with how much of them is
known) feed a small residual block that adds a correction to the query feature. The block's last convolution starts
at zero, so a fresh fusion changes nothing: the model starts as the image model it was initialised from.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from dvos_core.model.blocks import NormAct

MASK_CHANNELS = 2  # per reference: the mask (0..1, times known) and how much of it is known (0..1)


def window_shift(x: torch.Tensor, dy: int, dx: int, r: int) -> torch.Tensor:
    """The window offset (dy, dx) of a tensor padded by r on its last two axes, cropped back to the unpadded size."""
    h, w = x.shape[-2] - 2 * r, x.shape[-1] - 2 * r
    return x[..., r + dy : r + dy + h, r + dx : r + dx + w]


def window_offsets(r: int) -> list[tuple[int, int]]:
    """The (dy, dx) offsets of a (2r+1)^2 window, row by row."""
    return [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)]


def _correlate(a: torch.Tensor, x: torch.Tensor, r: int) -> torch.Tensor:
    """``out[:, t, i] = sum over c of a * x[:, t]`` shifted by the i-th window offset: a (B, C, h, w), x padded by r
    (B, T, C, h+2r, w+2r) -> (B, T, (2r+1)^2, h, w)."""
    offsets = window_offsets(r)
    b, t, c = x.shape[:3]
    h, w = a.shape[-2:]
    dtype = torch.promote_types(a.dtype, x.dtype)
    out = a.new_empty(b, t, len(offsets), h, w, dtype=dtype)
    prod = a.new_empty(b, t, c, h, w, dtype=dtype)  # one buffer for every offset's products
    for i, (dy, dx) in enumerate(offsets):
        torch.mul(a[:, None], window_shift(x, dy, dx, r), out=prod)
        out[:, :, i] = prod.sum(2)
    return out


def _aggregate(weights: torch.Tensor, x: torch.Tensor, r: int) -> torch.Tensor:
    """``out = sum over t, i of weights[:, t, i] * x[:, t]`` shifted by the i-th window offset: weights (B, T,
    (2r+1)^2, h, w), x padded by r (B, T, C, h+2r, w+2r) -> (B, C, h, w), accumulated in place."""
    b, t, c = x.shape[:3]
    out = x.new_zeros(b, c, *weights.shape[-2:], dtype=torch.promote_types(weights.dtype, x.dtype))
    for i, (dy, dx) in enumerate(window_offsets(r)):
        shifted = window_shift(x, dy, dx, r)
        for j in range(t):
            out.addcmul_(weights[:, j, i, None], shifted[:, j])
    return out


def _scatter(weights: torch.Tensor, a: torch.Tensor, r: int, like: torch.Tensor) -> torch.Tensor:
    """The padded (B, T, C, h+2r, w+2r) tensor shaped as ``like`` whose i-th window offset receives ``weights[:, t,
    i] * a`` for every t: weights (B, T, (2r+1)^2, h, w), a (B, C, h, w); accumulated in place."""
    out = torch.zeros_like(like)
    for i, (dy, dx) in enumerate(window_offsets(r)):
        window_shift(out, dy, dx, r).addcmul_(weights[:, :, i, None], a[:, None])
    return out


class LocalCorrelation(torch.autograd.Function):
    """``scores[:, t, i] = sum over d of q * keys[:, t]`` shifted by the i-th window offset: q (B, d, h, w), keys
    padded by r (B, T, d, h+2r, w+2r) -> (B, T, (2r+1)^2, h, w).

    The same as a loop of elementwise products under autograd, with a backward pass that accumulates into one
    gradient buffer in place instead of allocating a padded gradient per offset (the lookup's main cost in training).
    Its backward is :class:`LocalAggregate`'s forward and a scatter, as the two ops are each other's adjoints.
    """

    @staticmethod
    def forward(ctx, q, keys, r: int):
        ctx.save_for_backward(q, keys)
        ctx.r = r
        return _correlate(q, keys, r)

    @staticmethod
    def backward(ctx, grad):
        q, keys = ctx.saved_tensors
        grad_q = _aggregate(grad, keys, ctx.r).to(q.dtype) if ctx.needs_input_grad[0] else None
        grad_k = _scatter(grad, q, ctx.r, keys) if ctx.needs_input_grad[1] else None
        return grad_q, grad_k, None


class LocalAggregate(torch.autograd.Function):
    """``out = sum over t, i of weights[:, t, i] * x[:, t]`` shifted by the i-th window offset: weights (B, T,
    (2r+1)^2, h, w), x padded by r (B, T, C, h+2r, w+2r) -> (B, C, h, w); accumulated in place, forward and
    backward (whose weight gradient is :class:`LocalCorrelation`'s forward)."""

    @staticmethod
    def forward(ctx, weights, x, r: int):
        ctx.save_for_backward(weights, x)
        ctx.r = r
        return _aggregate(weights, x, r)

    @staticmethod
    def backward(ctx, grad):
        weights, x = ctx.saved_tensors
        grad_w = _correlate(grad, x, ctx.r).to(weights.dtype) if ctx.needs_input_grad[0] else None
        grad_x = _scatter(weights, grad, ctx.r, x) if ctx.needs_input_grad[1] else None
        return grad_w, grad_x, None


class ReferenceFusion(nn.Module):
    """Local cross-attention from query features (B, C, h, w) to tau aligned reference features.

    ``forward(query, refs, masks, valid)`` with refs (B, T, C, h, w), masks (B, T, 2, h, w) as [mask * known,
    known] and valid (B, T) in {0, 1} (an empty reference slot is 0) returns ``(fused query, context, per_offset)``
    where context (B, 3, h, w) holds the attended mask, its known share and the matched share (1 - weight of "no
    match"), and per_offset (B, T, (2r+1)^2, h, w) the weight each reference received at each window offset
    (:attr:`offsets` order).
    """

    def __init__(self, channels: int, dim: int = 32, radius: int = 2, groups: int = 4):
        super().__init__()
        self.radius, self.dim = int(radius), int(dim)
        self.query = nn.Conv2d(channels, dim, 1)
        self.key = nn.Conv2d(channels, dim, 1)
        self.value = nn.Conv2d(channels, dim, 1)
        self.log_scale = nn.Parameter(torch.tensor(math.log(10.0)))  # cosine-similarity temperature
        self.null = nn.Parameter(torch.zeros(1))  # score of "no reference matches here"
        c_in = channels + dim + MASK_CHANNELS + 1
        self.mix = nn.Sequential(nn.Conv2d(c_in, channels, 3, padding=1), NormAct(channels, groups))
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    @property
    def offsets(self) -> list[tuple[int, int]]:
        """The window offsets (dy, dx) at this level, in the order of the attention weights."""
        return window_offsets(self.radius)

    def attend(self, query, refs, masks, valid):
        """(attended values (B, d, h, w), attended masks (B, 2, h, w), matched share (B, 1, h, w), weight per
        reference and offset (B, T, (2r+1)^2, h, w))."""
        b, t, c, h, w = refs.shape
        r = self.radius
        q = F.normalize(self.query(query), dim=1)
        flat = refs.reshape(b * t, c, h, w)
        k = F.normalize(self.key(flat), dim=1).view(b, t, self.dim, h, w)
        v = self.value(flat).view(b, t, self.dim, h, w)
        pad = (r, r, r, r)
        offsets = self.offsets
        scores = LocalCorrelation.apply(q, F.pad(k, pad), r) * self.log_scale.exp()  # (B, T, n, h, w)
        inside = F.pad(torch.ones(1, 1, h, w, device=query.device, dtype=query.dtype), pad)
        outside = torch.stack([window_shift(inside, dy, dx, r)[0, 0] <= 0 for dy, dx in offsets])  # (n, h, w)
        scores = scores.masked_fill(outside | (valid <= 0).view(b, t, 1, 1, 1), float("-inf"))
        null = self.null.view(1, 1, 1, 1).expand(b, 1, h, w).to(query.dtype)
        weights = torch.softmax(torch.cat([scores.flatten(1, 2), null], 1), dim=1)
        per_offset = weights[:, :-1].view(b, t, len(offsets), h, w)
        wv = LocalAggregate.apply(per_offset, F.pad(v, pad), r)
        wm = LocalAggregate.apply(per_offset, F.pad(masks, pad), r)
        matched = 1 - weights[:, -1:]
        return wv, wm, matched, per_offset

    def forward(self, query, refs, masks, valid):
        wv, wm, matched, per_offset = self.attend(query, refs, masks, valid)
        context = torch.cat([wm, matched], 1)
        delta = self.out(self.mix(torch.cat([query, wv, context], 1)))
        return query + delta, context, per_offset
