"""Training losses: BCE + soft Dice for masks, MSE + (1 - SSIM) for reconstructed frames; validation Dice.

Both fix flaws of the reference code: its Dice thresholded the probabilities (no gradient) and its MS-SSIM term was
added as a similarity on normalised images with data_range 255 (a near-constant). Here Dice is computed on sigmoid
probabilities and SSIM on images mapped back to [0, 1] with data_range 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dvos_core.model.normalize import denormalize


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - mean over samples of (2 sum(p g) + s) / (sum p + sum g + s), with p = sigmoid(logits). Differentiable."""
    p = torch.sigmoid(logits.float()).flatten(1)
    g = target.float().flatten(1)
    dice = (2 * (p * g).sum(1) + smooth) / (p.sum(1) + g.sum(1) + smooth)
    return 1 - dice.mean()


def _gaussian_window(size: int, sigma: float, channels: int, device, dtype) -> torch.Tensor:
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g.view(1, 1, 1, size).expand(channels, 1, 1, size).contiguous()


def ssim(
    x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, window: int = 11, sigma: float = 1.5
) -> torch.Tensor:
    """Mean SSIM of two image batches (B, C, H, W) with a separable Gaussian window (valid region only)."""
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"ssim needs two (B, C, H, W) tensors of the same shape, got {x.shape} and {y.shape}")
    x, y = x.float(), y.float()
    c = x.shape[1]
    win = min(window, x.shape[-1], x.shape[-2])
    k = _gaussian_window(win, sigma, c, x.device, x.dtype)

    def blur(t):
        t = F.conv2d(t, k, groups=c)
        return F.conv2d(t, k.transpose(2, 3), groups=c)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return s.mean()


@dataclass
class LossWeights:
    mask: float = 1.0  # task weight of the segmentation loss
    frame: float = 1.0  # task weight of the reconstruction loss
    bce: float = 1.0
    dice: float = 1.0
    mse: float = 1.0
    ssim: float = 1.0
    anchor: float = 0.0  # weight of :func:`anchor_loss` (context model; image model on degraded inputs)


def anchor_loss(out: dict, mask: torch.Tensor, query_clean: torch.Tensor) -> torch.Tensor:
    """The context model's anchor to its query: on the samples whose query frame is clean (``query_clean`` (B,) 1,
    else 0), binary cross-entropy of its mask logits against the probabilities it gets from the query alone
    (``out["mask_alone"]``, held fixed: a clean frame t needs nothing from its references, so they must not move its
    boundaries); plus half the BCE of the query-alone mask against the label on every sample (the query path stays a
    good image model). With the trainer's ``anchor_view="clean"`` (the default) ``mask_alone`` is decoded from the
    query before it was degraded and every sample is flagged: a degraded frame's mask is then held to what the model
    sees in the same frame undegraded, which only its references can supply. The image model's clean-view anchor
    (``frame_anchor_weight``) is the same loss without references: its mask on a degraded frame held to its mask on
    the frame undegraded."""
    ctx, alone = out["mask"].float(), out["mask_alone"].float()
    clean = query_clean.to(ctx.device, ctx.dtype).view(-1, *([1] * (ctx.ndim - 1)))
    keep = (F.binary_cross_entropy_with_logits(ctx, torch.sigmoid(alone).detach(), reduction="none") * clean).mean()
    return keep + 0.5 * F.binary_cross_entropy_with_logits(alone, mask.float())


def dvos_loss(
    out: dict, mask: torch.Tensor, target: torch.Tensor, w: LossWeights, query_clean: torch.Tensor | None = None
) -> tuple[torch.Tensor, dict]:
    """Total loss and its parts (floats). ``target`` is the normalised clean query frame, ``mask`` (B,1,H,W);
    ``query_clean`` (B,): the context model's clean-query flags, for :func:`anchor_loss`."""
    logits = out["mask"].float()
    parts = {}
    total = logits.new_zeros(())
    if w.mask:
        bce = F.binary_cross_entropy_with_logits(logits, mask.float())
        dice = soft_dice_loss(logits, mask)
        seg = w.bce * bce + w.dice * dice
        total = total + w.mask * seg
        parts.update(bce=float(bce.detach()), dice=float(dice.detach()))
    if w.frame:
        rec = out["frame"].float()
        mse = F.mse_loss(rec, target.float())
        s = ssim(denormalize(rec), denormalize(target.float()), data_range=1.0) if w.ssim else rec.new_ones(())
        total = total + w.frame * (w.mse * mse + w.ssim * (1 - s))
        parts.update(mse=float(mse.detach()), ssim=float(s.detach()))
    if w.anchor and "mask_alone" in out and query_clean is not None:
        anchor = anchor_loss(out, mask, query_clean)
        total = total + w.anchor * anchor
        parts["anchor"] = float(anchor.detach())
    parts["loss"] = float(total.detach())
    return total, parts


@torch.no_grad()
def frame_dice(logits: torch.Tensor, mask: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Per-frame Dice (2|P and G| + 1) / (|P| + |G| + 1) at ``threshold`` on sigmoid(logits), shape (B,)."""
    p = (torch.sigmoid(logits.float()) >= threshold).flatten(1).float()
    g = (mask > 0.5).flatten(1).float()
    return (2 * (p * g).sum(1) + 1) / (p.sum(1) + g.sum(1) + 1)
