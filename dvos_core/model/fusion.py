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
        r = self.radius
        return [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)]

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
        k = F.pad(k, pad)
        v = F.pad(v, pad)
        m = F.pad(masks, pad)
        inside = F.pad(torch.ones(1, 1, h, w, device=query.device, dtype=query.dtype), pad)
        offsets = self.offsets
        scale = self.log_scale.exp()
        blocked = (valid <= 0).view(b, t, 1, 1)
        scores = []
        for dy, dx in offsets:
            s = (q[:, None] * window_shift(k, dy, dx, r)).sum(2) * scale  # (B, T, h, w)
            s = s.masked_fill(blocked | (window_shift(inside, dy, dx, r)[:, 0] <= 0), float("-inf"))
            scores.append(s)
        null = self.null.view(1, 1, 1, 1).expand(b, 1, h, w).to(query.dtype)
        weights = torch.softmax(torch.cat([torch.stack(scores, 2).flatten(1, 2), null], 1), dim=1)
        per_offset = weights[:, :-1].view(b, t, len(offsets), 1, h, w)
        wv = torch.zeros(b, self.dim, h, w, device=query.device, dtype=query.dtype)
        wm = torch.zeros(b, masks.shape[2], h, w, device=query.device, dtype=query.dtype)
        for i, (dy, dx) in enumerate(offsets):
            wi = per_offset[:, :, i]  # (B, T, 1, h, w)
            wv = wv + (wi * window_shift(v, dy, dx, r)).sum(1)
            wm = wm + (wi * window_shift(m, dy, dx, r)).sum(1)
        matched = 1 - weights[:, -1:]
        return wv, wm, matched, per_offset[:, :, :, 0]

    def forward(self, query, refs, masks, valid):
        wv, wm, matched, per_offset = self.attend(query, refs, masks, valid)
        context = torch.cat([wm, matched], 1)
        delta = self.out(self.mix(torch.cat([query, wv, context], 1)))
        return query + delta, context, per_offset
