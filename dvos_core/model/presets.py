"""Model configurations (``ModelConfig``) and named presets.

``paper`` reproduces the published DVOS model exactly (92,679,324 parameters for the video model, 16,328,604 for the
frame model); ``small`` and ``tiny`` are CPU-friendly variants with the same topology.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dvos_core.config_io import coerce_fields, dataclass_from_dict
from dvos_core.model.attention import BIAS_LAYOUTS, REDUCTIONS


@dataclass
class ModelConfig:
    """Hyper-parameters of DVOSNet / FrameNet. All sizes are channel counts."""

    name: str = "custom"
    widths: tuple = (32, 64, 64, 128, 256)  # encoder levels, full resolution first (H, H/2, ... H/16)
    latent: int = 512  # bottleneck width at H/32
    tau: int = 4  # number of reference frames
    res_blocks: int = 2  # ResBlocks per level
    stem_blocks: int | None = None  # ResBlocks after the stem conv (None: res_blocks; the reference always has 2)
    groups: int = 4  # GroupNorm groups
    stem: int = 4  # width of the stem conv
    head_width: int = 32  # middle width of both heads
    head_out: int = 16  # width before the final 3x3 conv of each head
    dropout: float = 0.0  # Dropout2d after each attention block (video model only)
    temporal_reduction: str = "tau_mean"  # "tau_mean" or "adjacent" (reference-compatible channel pooling)
    attention_bias: str = "spatial"  # "spatial" (as the reference) or "temporal" (dvos checkpoints of format 1)
    skip_diffusion: bool = True  # noise skip features in training (and on request at inference)
    beta_a: float = 3.0  # Beta(a + k, b - beta_step * k) at the k-th level, deepest first
    beta_b: float = 18.0
    beta_step: float = 2.0
    diffusion_steps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    input_size: int = 256  # default training / inference crop size (multiple of 32)
    # context-aware video model (kind "context") only: where and how the query looks up its references
    fusion_levels: list = dataclasses.field(default_factory=lambda: [1, 2, 3, 4])  # levels fused (0 = H .. 4 = H/16)
    fusion_radius: int = 2  # local window (2r+1)^2 at each fused level, after global alignment
    fusion_dim: int = 32  # key / value width of the lookup
    # the full-resolution mask prior moves each reference mask by the offsets the finest lookup matched (False: as
    # context checkpoints of format 2 and older were trained, masks in place)
    mask_prior_offsets: bool = True
    # a small corrector of the mask logits that sees the references' masks beside frame t's own answer (its
    # probability), so it can learn to change only what frame t is unsure of; zero at initialisation
    prior_refine: bool = False
    # the references' pixels (their mean, aligned, minus frame t) read by a conv added to frame t's stem conv, so the
    # encoder sees them from its first layer; zero at initialisation
    input_fusion: bool = False

    def __post_init__(self):
        coerce_fields(self)  # types and finite numbers (dvos_core.config_io)
        self.widths = tuple(int(w) for w in self.widths)
        self.fusion_levels = sorted({int(v) for v in self.fusion_levels})
        if not self.fusion_levels or not all(0 <= v < len(self.widths) for v in self.fusion_levels):
            raise ValueError(f"fusion_levels must be a non-empty list of levels 0..4, got {self.fusion_levels}")
        if self.fusion_radius < 0 or self.fusion_dim < 1:
            raise ValueError(
                f"need fusion_radius >= 0 and fusion_dim >= 1, got {self.fusion_radius}, {self.fusion_dim}"
            )
        if len(self.widths) != 5:
            raise ValueError(f"ModelConfig.widths needs 5 levels (H .. H/16), got {self.widths}")
        if self.tau < 1:
            raise ValueError(f"ModelConfig.tau must be >= 1, got {self.tau}")
        if self.temporal_reduction not in REDUCTIONS:
            raise ValueError(f"temporal_reduction must be one of {REDUCTIONS}, got {self.temporal_reduction!r}")
        if self.attention_bias not in BIAS_LAYOUTS:
            raise ValueError(f"attention_bias must be one of {BIAS_LAYOUTS}, got {self.attention_bias!r}")
        if self.input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32, got {self.input_size}")
        lowest = self.beta_b - self.beta_step * (len(self.widths) - 1)
        if self.skip_diffusion and (self.beta_a <= 0 or lowest <= 0):
            raise ValueError(f"skip-diffusion Beta parameters become non-positive (b={lowest}); lower beta_step")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["widths"] = list(self.widths)
        d["fusion_levels"] = list(self.fusion_levels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        return dataclass_from_dict(
            cls, d, "model config keys", f"known keys are {sorted(f.name for f in dataclasses.fields(cls))}"
        )

    def replace(self, **changes) -> ModelConfig:
        return dataclasses.replace(self, **changes)

    def level_betas(self) -> list[tuple[float, float]]:
        """Beta(a, b) per level, deepest level first."""
        return [(self.beta_a + k, self.beta_b - self.beta_step * k) for k in range(len(self.widths))]


PRESETS: dict[str, ModelConfig] = {
    # The published model: 4 x [8, 16, 16, 32, 64] levels, latent 512, tau 4, dropout 0.3, 384 px in the paper.
    "paper": ModelConfig(
        name="paper",
        widths=(32, 64, 64, 128, 256),
        latent=512,
        tau=4,
        stem=4,
        head_width=32,
        dropout=0.3,
        input_size=384,
    ),
    # CPU-trainable (2.34M video / 0.72M frame parameters).
    "small": ModelConfig(
        name="small",
        widths=(16, 24, 32, 32, 48),
        latent=48,
        tau=4,
        stem=8,
        head_width=16,
        head_out=16,
        dropout=0.1,
        input_size=256,
    ),
    # Tests and demos (275k video / 65k frame parameters): trains a few steps in seconds.
    "tiny": ModelConfig(
        name="tiny",
        widths=(8, 8, 8, 16, 16),
        latent=16,
        tau=4,
        stem=4,
        head_width=8,
        head_out=8,
        res_blocks=1,
        input_size=64,
    ),
}


def list_presets() -> list[str]:
    return list(PRESETS)


def get_config(preset, **overrides) -> ModelConfig:
    """A ModelConfig from a preset name, a ModelConfig or a dict, with optional field overrides."""
    if isinstance(preset, ModelConfig):
        cfg = preset
    elif isinstance(preset, dict):
        cfg = ModelConfig.from_dict(preset)
    elif isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"unknown model preset {preset!r}; choose one of {list_presets()}")
        cfg = PRESETS[preset]
    else:
        raise TypeError(f"preset must be a name, ModelConfig or dict, got {type(preset).__name__}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return cfg.replace(**overrides) if overrides else cfg.replace()
