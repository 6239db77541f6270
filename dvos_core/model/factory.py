"""``build_model``: a fresh model of a kind (video ``dvos`` or image ``frame``) from a preset or config."""

from __future__ import annotations

import torch

from dvos_core.model.context import ContextNet
from dvos_core.model.presets import ModelConfig, get_config
from dvos_core.model.unet import DVOSNet, FrameNet

# dvos: the paper's video model (tau earlier frames, never frame t); frame: the image model; context: the
# context-aware video model (frame t plus its aligned earlier frames and their masks).
KINDS = {"dvos": DVOSNet, "frame": FrameNet, "context": ContextNet}


def build_model(preset="paper", kind: str = "dvos", **overrides) -> torch.nn.Module:
    """A fresh model of ``kind`` (see :data:`KINDS`) from a preset name / ModelConfig / dict."""
    if kind not in KINDS:
        raise ValueError(f"model kind must be one of {list(KINDS)}, got {kind!r}")
    cfg: ModelConfig = get_config(preset, **overrides)
    return KINDS[kind](cfg)
