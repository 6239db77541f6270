"""Moving weights between models: image-model weights -> video model (the paper's partial pretraining)."""

from __future__ import annotations

from pathlib import Path

import torch

from dvos_core.model.checkpoint import CheckpointError, read_checkpoint


def init_from_frame_model(dvos: torch.nn.Module, frame) -> dict:
    """Copy FrameNet weights (a model, a state_dict, or a checkpoint path) into ``dvos`` with a non-strict load.

    Returns ``{"loaded": n, "missing": [...], "unexpected": [...], "mismatched": [...]}``; the attention blocks are
    the expected missing keys. Shape-mismatched tensors are skipped and listed.
    """
    if isinstance(frame, (str, Path)):
        payload = read_checkpoint(frame)
        if payload.get("kind") not in ("frame", "dvos"):
            raise CheckpointError(f"{frame}: checkpoint kind {payload.get('kind')!r} cannot initialise a DVOS model")
        state = payload["state_dict"]
    elif isinstance(frame, torch.nn.Module):
        state = frame.state_dict()
    elif isinstance(frame, dict):
        state = frame
    else:
        raise TypeError(f"init_from_frame_model takes a model, state_dict or checkpoint path, got {type(frame)}")
    own = dvos.state_dict()
    usable, mismatched = {}, []
    for k, v in state.items():
        if k in own and own[k].shape != v.shape:
            mismatched.append(f"{k}: {tuple(v.shape)} vs {tuple(own[k].shape)}")
        else:
            usable[k] = v
    result = dvos.load_state_dict(usable, strict=False)
    loaded = sum(1 for k in usable if k in own)
    return {
        "loaded": loaded,
        "missing": list(result.missing_keys),
        "unexpected": list(result.unexpected_keys),
        "mismatched": mismatched,
    }


def image_parameter_names(model: torch.nn.Module) -> set[str]:
    """Names of ``model``'s parameters that an image model (FrameNet) of the same configuration also has (same name
    and shape): the parts a video model inherits from its image model (encoder, decoder, heads), as opposed to its own
    new blocks."""
    from dvos_core.model.factory import build_model

    with torch.device("meta"):  # names only: no memory, no initialisation cost
        frame = build_model(model.config, "frame")
    shared = {name: p.shape for name, p in frame.named_parameters()}
    return {name for name, p in model.named_parameters() if shared.get(name) == p.shape}
