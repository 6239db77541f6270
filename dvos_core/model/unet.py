"""DVOSNet (video model: tau reference frames -> query mask + frame) and FrameNet (the same UNet, one frame)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dvos_core.model.attention import SpatioTemporalAttention, stack_frames
from dvos_core.model.blocks import Down, ResBlock, Up, norm
from dvos_core.model.diffusion import SkipDiffusion
from dvos_core.model.presets import ModelConfig


class PassThrough(nn.Module):
    """Stands in for an attention block in the frame model (plain UNet skip)."""

    def forward(self, x, stochastic: bool = False) -> torch.Tensor:
        return stack_frames(x)


class Encoder(nn.Module):
    """Stem + 5 levels (skip taken before each downsample) + bottleneck ResBlock at H/32."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        g = cfg.groups
        self.stem = nn.Conv2d(3, cfg.stem, 3, padding=1)
        n_stem = cfg.res_blocks if cfg.stem_blocks is None else cfg.stem_blocks
        self.stem_blocks = nn.Sequential(*[ResBlock(cfg.stem, cfg.stem, g) for _ in range(n_stem)])
        self.levels, self.downs = nn.ModuleList(), nn.ModuleList()
        c = cfg.stem
        for w in cfg.widths:
            blocks = []
            for _ in range(cfg.res_blocks):
                blocks.append(ResBlock(c, w, g))
                c = w
            self.levels.append(nn.Sequential(*blocks))
            self.downs.append(Down(w, g))
        self.bottleneck = ResBlock(c, cfg.latent, g)

    def forward(self, x: torch.Tensor, upto: int | None = None, extra: torch.Tensor | None = None):
        """(latent, [skip H, H/2, ..., H/16]); with ``upto`` = k, only the skips 0..k (latent None). ``extra``
        (B, stem, H, W) is added to the stem conv's output (the context model's reference pixels)."""
        h = self.stem(x)
        if extra is not None:
            h = h + extra
        h = self.stem_blocks(h)
        skips = []
        for level, down in zip(self.levels, self.downs):
            h = level(h)
            skips.append(h)
            if upto is not None and len(skips) > upto:
                return None, skips
            h = down(h)
        return self.bottleneck(h), skips


class Decoder(nn.Module):
    """Latent fusion + ResBlock, then per level (deepest first): fuse skips, Up, ResBlocks on cat[out, skip]."""

    def __init__(self, cfg: ModelConfig, video: bool):
        super().__init__()
        g, tau = cfg.groups, cfg.tau
        widths = list(cfg.widths)[::-1]  # deepest first
        if video:
            self.latent_fuse = SpatioTemporalAttention(
                cfg.latent, tau, g, cfg.temporal_reduction, bias=cfg.attention_bias
            )
            betas = cfg.level_betas()
            self.skip_fuse = nn.ModuleList(
                [
                    SpatioTemporalAttention(
                        w,
                        tau,
                        g,
                        cfg.temporal_reduction,
                        dropout=cfg.dropout,
                        bias=cfg.attention_bias,
                        diffusion=SkipDiffusion(*betas[k], cfg.diffusion_steps, cfg.beta_start, cfg.beta_end)
                        if cfg.skip_diffusion
                        else None,
                    )
                    for k, w in enumerate(widths)
                ]
            )
        else:
            self.latent_fuse = PassThrough()
            self.skip_fuse = nn.ModuleList([PassThrough() for _ in widths])
        self.mid = ResBlock(cfg.latent, widths[0], g)
        self.ups, self.blocks = nn.ModuleList(), nn.ModuleList()
        c = widths[0]
        for w in widths:
            self.ups.append(Up(c, g))
            blocks = []
            for _ in range(cfg.res_blocks):
                blocks.append(ResBlock(c + w, w, g))
                c = w
            self.blocks.append(nn.ModuleList(blocks))
        self.out_channels = c

    def forward(self, latent: torch.Tensor, skips: list, stochastic: bool = False) -> torch.Tensor:
        h = self.mid(self.latent_fuse(latent))
        for fuse, up, blocks, skip in zip(self.skip_fuse, self.ups, self.blocks, skips[::-1]):
            s = fuse(skip, stochastic=stochastic)
            h = up(h)
            for block in blocks:
                h = block(torch.cat([h, s], dim=1))
        return h


class Head(nn.Module):
    """ResBlock c->m, m->m, m->o, then GN, Swish and a 3x3 conv to ``out`` channels (no output activation)."""

    def __init__(self, c_in: int, mid: int, last: int, out: int, groups: int):
        super().__init__()
        self.blocks = nn.Sequential(
            ResBlock(c_in, mid, groups), ResBlock(mid, mid, groups), ResBlock(mid, last, groups)
        )
        self.norm = norm(last, groups, eps=1e-5)
        self.conv = nn.Conv2d(last, out, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.silu(self.norm(self.blocks(x))))


class _UNet(nn.Module):
    kind = "base"
    input_keys: tuple = ("frames",)  # the batch entries (see dvos_core.data.ClipDataset) forward() takes, in order

    def __init__(self, config: ModelConfig, video: bool):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config, video)
        c = self.decoder.out_channels
        self.heads = nn.ModuleDict(
            {
                "frame": Head(c, config.head_width, config.head_out, 3, config.groups),
                "mask": Head(c, config.head_width, config.head_out, 1, config.groups),
            }
        )

    @staticmethod
    def _check_hw(h: int, w: int) -> None:
        if h % 32 or w % 32 or h == 0 or w == 0:
            raise ValueError(
                f"input height and width must be positive multiples of 32, got {h}x{w}; crop or pad "
                f"the frames (e.g. to {max(32, h // 32 * 32)}x{max(32, w // 32 * 32)})"
            )

    def _heads(self, h: torch.Tensor, heads=("mask", "frame")) -> dict:
        return {name: self.heads[name](h) for name in heads}

    def batch_inputs(self, batch: dict, device) -> tuple:
        """The positional inputs of ``forward`` from a training batch, on ``device``."""
        return tuple(batch[k].to(device, non_blocking=True) for k in self.input_keys)

    def encode_frames(self, x: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        """Encoder features of N normalised frames (N, 3, H, W): one ``(latent, skip_0, ..., skip_4)`` tuple per frame,
        each tensor (C, h, w), finest skip first. The encoder sees each frame alone (it is deterministic even when
        skip diffusion is on), so a frame's features can be computed once and shared by every window holding it."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"encode_frames expects (N, 3, H, W) frames, got {tuple(x.shape)}")
        self._check_hw(x.shape[2], x.shape[3])
        latent, skips = self.encoder(x)
        return [tuple(t[i] for t in (latent, *skips)) for i in range(x.shape[0])]

    def decode_windows(self, windows, stochastic: bool = False, heads=("mask", "frame")) -> dict:
        """The heads' outputs for B windows of per-frame features (each window a sequence of ``encode_frames``
        tuples, oldest frame first; ``tau`` of them for DVOSNet, one for FrameNet): the same result as ``forward`` on
        those frames. ``heads`` picks the outputs to compute (``("mask",)`` skips the frame reconstruction)."""
        want = self.tau or 1
        if not windows or any(len(w) != want for w in windows):
            raise ValueError(
                f"{type(self).__name__} decodes windows of {want} frame(s), got {[len(w) for w in windows]}"
            )
        # per level, the windows' per-frame features as they are: each attention block (or plain skip) stacks its
        # level itself when it needs it (see stack_frames), so no stacked copy of every level is held at once
        levels = [[[frame[k] for frame in w] for w in windows] for k in range(len(windows[0][0]))]
        h = self.decoder(levels[0], levels[1:], stochastic=stochastic)
        return self._heads(h, heads)


class DVOSNet(_UNet):
    """The video model: predicts the query frame's mask (logits) and the frame itself from tau earlier frames.

    ``forward(x)`` takes ``x`` of shape (B, tau, 3, H, W), normalised, oldest frame first; H, W multiples of 32.
    Skip diffusion is active in training mode, or in eval mode with ``stochastic=True`` (uncertainty sampling).
    """

    kind = "dvos"

    def __init__(self, config: ModelConfig):
        super().__init__(config, video=True)
        self.tau = config.tau

    def forward(self, x: torch.Tensor, stochastic: bool = False) -> dict:
        if x.ndim != 5 or x.shape[1] != self.tau or x.shape[2] != 3:
            raise ValueError(f"DVOSNet expects (B, tau={self.tau}, 3, H, W) frames, got {tuple(x.shape)}")
        b, tau, _, h, w = x.shape
        self._check_hw(h, w)
        latent, skips = self.encoder(x.reshape(b * tau, 3, h, w))
        latent = _frames_to_channels(latent, b, tau)
        skips = [_frames_to_channels(s, b, tau) for s in skips]
        return self._heads(self.decoder(latent, skips, stochastic=stochastic))


class FrameNet(_UNet):
    """The image model: the same UNet with plain skips; (B, 3, H, W) -> mask logits + reconstructed frame."""

    kind = "frame"
    tau = 0

    def __init__(self, config: ModelConfig):
        super().__init__(config, video=False)

    def forward(self, x: torch.Tensor, stochastic: bool = False, heads=("mask", "frame"), alone_query=None) -> dict:
        """``heads``: the outputs to compute; ``"mask_alone"`` (training, the anchor loss) adds the mask logits of
        ``alone_query`` (B, 3, H, W), e.g. the same frames before they were degraded (one more encoder pass)."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"FrameNet expects (B, 3, H, W) frames, got {tuple(x.shape)}")
        self._check_hw(x.shape[2], x.shape[3])
        latent, skips = self.encoder(x)
        out = self._heads(self.decoder(latent, skips), tuple(k for k in heads if k != "mask_alone"))
        if "mask_alone" in heads:
            if alone_query is None or alone_query.shape != x.shape:
                got = None if alone_query is None else tuple(alone_query.shape)
                raise ValueError(f"FrameNet's mask_alone needs alone_query shaped {tuple(x.shape)}, got {got}")
            a_latent, a_skips = self.encoder(alone_query)
            out["mask_alone"] = self._heads(self.decoder(a_latent, a_skips), ("mask",))["mask"]
        return out


def _frames_to_channels(t: torch.Tensor, b: int, tau: int) -> torch.Tensor:
    """(B*tau, C, h, w) -> (B, tau*C, h, w), frame-major channels."""
    _, c, h, w = t.shape
    return t.reshape(b, tau * c, h, w)
