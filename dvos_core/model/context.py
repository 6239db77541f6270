"""ContextNet: the context-aware video model. The query frame is the anchor; earlier frames add what it lacks.

Unlike the paper's DVOSNet (which never sees frame t), ContextNet segments frame t from frame t itself, like the image
model, and looks up its tau earlier frames - aligned to frame t by the camera motion - together with their masks
(painted, pseudo-labelled or its own earlier predictions) wherever frame t alone is not enough: motion blur, noise,
exposure flicker, something passing in front of a head. Its encoder, decoder and heads are the image model's
(FrameNet) with the same tensor names, so an image checkpoint initialises it; every fusion block, the mask prior and
the conv that adds the references' pixels to frame t's stem start at zero, so a fresh ContextNet computes exactly
what its image model computes and can only learn from there.

``forward(query, refs, ref_masks, ref_valid)``:
* query (B, 3, H, W) normalised frame t;
* refs (B, T, 3, H, W) normalised earlier frames warped onto frame t (any T, oldest first; T = 0 or None = none);
* ref_masks (B, T, 2, H, W): [mask * known, known], where "known" is 0 outside the warped frame or where a
  reference has no mask;
* ref_valid (B, T): 1 for a real reference, 0 for an empty slot (fewer references at the start of a video).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dvos_core.model.fusion import MASK_CHANNELS, ReferenceFusion, window_shift
from dvos_core.model.presets import ModelConfig
from dvos_core.model.unet import _UNet

SWITCHABLE = ("lookup", "prior", "pixels")  # parts of the reference path ContextNet.switch_off can leave out
REFINE_WIDTH = 16  # hidden width of the mask corrector (ModelConfig.prior_refine)


class ContextNet(_UNet):
    kind = "context"
    input_keys = ("query", "refs", "ref_masks", "ref_valid")

    def __init__(self, config: ModelConfig):
        super().__init__(config, video=False)
        self.tau = config.tau
        self.fusion_levels = tuple(config.fusion_levels)
        self.fusions = nn.ModuleDict(
            {
                str(level): ReferenceFusion(
                    config.widths[level], config.fusion_dim, config.fusion_radius, config.groups
                )
                for level in self.fusion_levels
            }
        )
        # the finest level's attended mask and match share (upsampled), plus the references' full-resolution masks
        # weighted by how much each reference was attended there, each moved by the offset it was matched at
        self.mask_prior = nn.Conv2d(2 * MASK_CHANNELS + 1, self.decoder.out_channels, 3, padding=1)
        nn.init.zeros_(self.mask_prior.weight)
        nn.init.zeros_(self.mask_prior.bias)
        if config.prior_refine:  # the same context plus frame t's own probability -> a correction of the logits
            self.mask_refine = nn.Sequential(
                nn.Conv2d(2 * MASK_CHANNELS + 2, REFINE_WIDTH, 3, padding=1),
                nn.SiLU(),
                nn.Conv2d(REFINE_WIDTH, 1, 3, padding=1),
            )
            nn.init.zeros_(self.mask_refine[-1].weight)
            nn.init.zeros_(self.mask_refine[-1].bias)
        if config.input_fusion:  # [mean of the references - frame t, any reference] -> added to frame t's stem
            self.ref_input = nn.Conv2d(4, config.stem, 3, padding=1)
            nn.init.zeros_(self.ref_input.weight)
            nn.init.zeros_(self.ref_input.bias)
        self.switched_off: frozenset = frozenset()  # parts of the reference path left out (see switch_off)

    def switch_off(self, *parts: str) -> ContextNet:
        """Leave parts of the reference path out of every later forward pass, to measure what each adds (the
        accuracy benchmark's ablations): ``"lookup"`` - the fusion blocks' corrections of the query features (the
        attention is still computed for the mask prior); ``"prior"`` - the references' masks added before the heads
        (and the mask corrector, with ``prior_refine``); ``"pixels"`` - the references' pixels added to frame t's stem
        (``input_fusion``). All three: frame t decoded alone. No argument switches everything back on. Returns the
        model."""
        bad = sorted(set(parts) - set(SWITCHABLE))
        if bad:
            raise ValueError(f"switch_off: unknown part(s) {bad}; choose from {list(SWITCHABLE)}")
        self.switched_off = frozenset(parts)
        return self

    def _check(self, query, refs, ref_masks, ref_valid):
        if query.ndim != 4 or query.shape[1] != 3:
            raise ValueError(f"ContextNet expects a (B, 3, H, W) query, got {tuple(query.shape)}")
        self._check_hw(query.shape[2], query.shape[3])
        if refs is None or refs.shape[1] == 0:
            return False
        b, t = refs.shape[:2]
        want = {"refs": (b, t, 3, *query.shape[2:]), "ref_masks": (b, t, MASK_CHANNELS, *query.shape[2:])}
        for name, x, shape in (("refs", refs, want["refs"]), ("ref_masks", ref_masks, want["ref_masks"])):
            if x is None or tuple(x.shape) != shape or shape[0] != query.shape[0]:
                got = None if x is None else tuple(x.shape)
                raise ValueError(
                    f"ContextNet expects {name} shaped {shape} for a query {tuple(query.shape)}, got {got}"
                )
        if ref_valid is None or tuple(ref_valid.shape) != (b, t):
            raise ValueError(f"ContextNet expects ref_valid shaped {(b, t)}")
        return True

    def _reference_pixels(self, query, refs, ref_valid) -> torch.Tensor:
        """What frame t's stem adds from the references' pixels (``input_fusion``): a conv of [the mean of the valid
        aligned references minus frame t, 1 where there is any reference]. Where frame t is blurred, noisy, dimmed or
        hidden the mean of its neighbours is not, and the encoder can read that from its first layer - a path that
        learns within the few hundred steps of a CPU run (docs/video_model.md)."""
        w = ref_valid.to(query.dtype)[:, :, None, None, None]
        n = w.sum(1)  # (B, 1, 1, 1)
        mean = (refs * w).sum(1) / n.clamp(min=1)
        diff = torch.where(n > 0, mean - query, torch.zeros_like(query))
        return self.ref_input(torch.cat([diff, (n > 0).to(query.dtype).expand_as(query[:, :1])], 1))

    def _encode_refs(self, frames: torch.Tensor, chunk: int | None) -> list:
        """The encoder's skips (up to the coarsest fused level) of the (N, 3, H, W) reference frames, ``chunk`` frames
        per pass (None: all at once). Same values either way (every layer works per frame); on a CPU the large maps
        of a batch leave the caches, so prediction passes one frame at a time
        (:func:`dvos_core.infer.engine.frames_per_pass`)."""
        upto = max(self.fusion_levels)
        if not chunk or chunk >= frames.shape[0]:
            return self.encoder(frames, upto=upto)[1]
        parts = [self.encoder(frames[s : s + chunk], upto=upto)[1] for s in range(0, frames.shape[0], chunk)]
        return [torch.cat(level) for level in zip(*parts)]

    def _sharp_masks(self, ref_masks, per_offset, offsets, scale: int) -> torch.Tensor:
        """The references' full-resolution masks (B, T, 2, H, W) weighted by the attention of the finest fused
        level (B, T, n_offsets, h, w; ``scale`` = H / h): each reference's mask moved by the offset its weight is for
        (``scale`` px per step), so the boundaries follow the sway the lookup matched -> (B, 2, H, W). Without
        ``mask_prior_offsets`` (checkpoints of format 2 and older) the weights are summed over the offsets and the
        masks stay in place."""
        b = per_offset.shape[0]
        full = ref_masks.shape[-2:]
        if not self.config.mask_prior_offsets:
            up = F.interpolate(per_offset.sum(2), size=full, mode="bilinear", align_corners=False)
            return (up[:, :, None] * ref_masks).sum(1)
        reach = max(max(abs(dy), abs(dx)) for dy, dx in offsets) * scale
        padded = F.pad(ref_masks, (reach, reach, reach, reach))
        sharp = ref_masks.new_zeros(b, ref_masks.shape[2], *full)
        for i, (dy, dx) in enumerate(offsets):  # one offset at a time: no (B, T, offsets, H, W) tensor
            up = F.interpolate(per_offset[:, :, i], size=full, mode="bilinear", align_corners=False)
            moved = window_shift(padded, dy * scale, dx * scale, reach)
            sharp = sharp + (up[:, :, None] * moved).sum(1)
        return sharp

    def forward(
        self,
        query,
        refs=None,
        ref_masks=None,
        ref_valid=None,
        stochastic: bool = False,
        heads=("mask", "frame"),
        alone_query=None,
        ref_chunk: int | None = None,
    ) -> dict:
        """The heads' outputs (mask logits, cleaned frame); ``heads=("mask",)`` skips the frame head (prediction).
        ``"mask_alone"`` in ``heads`` adds the mask logits of frame t decoded without its references (what the model
        sees in frame t alone; the encoder pass is shared): prediction with ``reference_masks="independent"`` lends
        them to the next frames as this frame's reference mask, so the model's mistakes are not fed back into it.
        ``alone_query`` (B, 3, H, W), training only: decode ``"mask_alone"`` from this frame instead (one more encoder
        pass), e.g. the query before it was degraded, for the anchor loss's clean view."""
        has_refs = self._check(query, refs, ref_masks, ref_valid)
        pixels = has_refs and self.config.input_fusion and "pixels" not in self.switched_off
        extra = self._reference_pixels(query, refs, ref_valid) if pixels else None
        latent, skips = self.encoder(query, extra=extra)
        want_alone = "mask_alone" in heads
        if want_alone and alone_query is None and extra is not None:
            alone_query = query  # the skips already hold the references' pixels: frame t alone needs its own pass
        # the skips before any reference is fused in (not needed when the query-alone mask has its own view)
        alone = list(skips) if want_alone and alone_query is None else None
        heads = tuple(k for k in heads if k != "mask_alone")
        context = None
        full = query.shape[-2:]
        if has_refs:
            b, t = refs.shape[:2]
            ref_skips = self._encode_refs(refs.flatten(0, 1), ref_chunk)
            for level in self.fusion_levels:  # finest first
                f = ref_skips[level]
                pooled = F.avg_pool2d(ref_masks.flatten(0, 1), 2**level) if level else ref_masks.flatten(0, 1)
                fusion = self.fusions[str(level)]
                fused, ctx, per_offset = fusion(
                    skips[level],
                    f.view(b, t, *f.shape[1:]),
                    pooled.view(b, t, *pooled.shape[1:]),
                    ref_valid.to(query.dtype),
                )
                if "lookup" not in self.switched_off:
                    skips[level] = fused
                if context is None:  # the finest fused level
                    sharp = self._sharp_masks(ref_masks, per_offset, fusion.offsets, 2**level)
                    context = torch.cat([F.interpolate(ctx, size=full, mode="bilinear", align_corners=False), sharp], 1)
        h = self.decoder(latent, skips)
        with_prior = context is not None and "prior" not in self.switched_off
        if with_prior:
            h = h + self.mask_prior(context)
        out = self._heads(h, heads)
        if with_prior and self.config.prior_refine and "mask" in out:
            own = torch.sigmoid(out["mask"]).detach()  # how sure frame t is, as an input only
            out["mask"] = out["mask"] + self.mask_refine(torch.cat([context, own], 1))
        if not want_alone:
            return out
        if alone_query is None and context is None and "mask" in out:  # frame t alone is what was just decoded
            out["mask_alone"] = out["mask"]
        else:
            a_latent, a_skips = (latent, alone) if alone_query is None else self.encoder(alone_query)
            out["mask_alone"] = self._heads(self.decoder(a_latent, a_skips), ("mask",))["mask"]
        return out
