"""``build_model``: a fresh model of a kind (video ``dvos`` or image ``frame``) from a preset or config."""

from __future__ import annotations

import torch

from dvos_core.model.presets import ModelConfig, get_config
from dvos_core.model.unet import DVOSNet, FrameNet

KINDS = {"dvos": DVOSNet, "frame": FrameNet}


def build_model(preset="paper", kind: str = "dvos", **overrides) -> torch.nn.Module:
    """A fresh DVOSNet (``kind="dvos"``) or FrameNet (``kind="frame"``) from a preset name / ModelConfig / dict."""
    if kind not in KINDS:
        raise ValueError(f"model kind must be one of {list(KINDS)}, got {kind!r}")
    cfg: ModelConfig = get_config(preset, **overrides)
    return KINDS[kind](cfg)
