"""Running a model on uint8 frames of any size: checkpoint resolution, padding, tiling, blending, bf16 on CUDA."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import torch

from dvos_core.infer.tiling import MULTIPLE, Blender, pad_amounts, reflect_pad, round_up, tile_grid

FLIPS = (None, "h", "v", "hv")


def resolve_checkpoint_path(project, spec) -> Path:
    """A checkpoint path from ``spec``: an existing file, or a model name in the project (``models/<name>/best.pt``)."""
    p = Path(spec)
    if p.exists():
        return p
    if project is not None and isinstance(spec, str) and "/" not in spec and "\\" not in spec:
        try:
            cand = project.model_dir(spec) / "best.pt"
        except ValueError:
            cand = None
        if cand is not None and cand.exists():
            return cand
        known = project.model_names()
        raise FileNotFoundError(
            f"checkpoint {spec!r}: no such file, and no model {spec!r} with best.pt in "
            f"{project.path / 'models'} (models there: {known or 'none'}); train one with "
            f"`dvos train` or pass a checkpoint path"
        )
    raise FileNotFoundError(f"checkpoint {spec}: no such file; pass the path of a .pt file written by `dvos train`")


def load_model(checkpoint, device="auto"):
    """(model, info, device) from a path, a ``(model, info)`` pair or a bare model; the model is in eval mode."""
    from dvos_core.model import load_checkpoint, select_device

    dev = select_device(device) if isinstance(device, str) else torch.device(device)
    if isinstance(checkpoint, (tuple, list)):
        model, info = checkpoint
    elif isinstance(checkpoint, torch.nn.Module):
        model, info = checkpoint, {}
    else:
        model, info = load_checkpoint(checkpoint, dev)
    info = dict(info or {})
    info.setdefault("kind", getattr(model, "kind", "dvos"))
    model = model.to(dev).eval()
    return model, info, dev


def default_tile_size(info: dict) -> int:
    """The checkpoint's training size x 2 (a multiple of 32), or 512 when unknown."""
    size = info.get("input_size")
    if isinstance(size, (tuple, list)):
        size = max(size)
    return round_up(int(size) * 2) if size else 512


def _accepts_stochastic(model) -> bool:
    try:
        return "stochastic" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _flip_frames(x: np.ndarray, flip: str | None) -> np.ndarray:
    """Flip (..., H, W, 3) frames horizontally ('h') and/or vertically ('v')."""
    if flip and "h" in flip:
        x = x[..., :, ::-1, :]
    if flip and "v" in flip:
        x = x[..., ::-1, :, :]
    return x


def _flip_maps(p: np.ndarray, flip: str | None) -> np.ndarray:
    """Undo :func:`_flip_frames` on (..., H, W) maps."""
    if flip and "h" in flip:
        p = p[..., :, ::-1]
    if flip and "v" in flip:
        p = p[..., ::-1, :]
    return p


class Predictor:
    """Applies a DVOS or frame model to uint8 inputs of any size and returns mask probabilities.

    Inputs: (B, tau, H, W, 3) windows for a DVOS model, (B, H, W, 3) frames for a frame model. Frames are
    reflect-padded to multiples of 32; if larger than ``tile_size`` they are cut into overlapping tiles whose outputs
    are blended with a raised-cosine window, so memory depends on the tile size, not the frame size.
    """

    def __init__(
        self,
        model,
        info: dict | None = None,
        device=None,
        tile_size: int | None = None,
        overlap: int = 64,
        amp: bool = True,
    ):
        from dvos_core.model import supports_bf16

        self.model = model
        self.info = dict(info or {})
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.kind = self.info.get("kind", getattr(model, "kind", "dvos"))
        self.tau = int(getattr(model, "tau", 0) or 0) if self.kind == "dvos" else 0
        tile = int(tile_size) if tile_size else default_tile_size(self.info)
        if not tile_size:  # automatic tile size: keep the overlap sensible for small models
            overlap = min(int(overlap), tile // 4)
        if tile < MULTIPLE or tile % MULTIPLE:
            raise ValueError(f"tile size must be a positive multiple of {MULTIPLE}, got {tile}")
        if not 0 <= overlap < tile:
            raise ValueError(f"tile overlap must be in [0, tile size {tile}), got {overlap}")
        self.tile_size, self.overlap = tile, int(overlap)
        self.amp = bool(amp) and supports_bf16(self.device)  # bf16 on CUDA (as describe_device says)
        self.stochastic_capable = _accepts_stochastic(model)

    @classmethod
    def from_checkpoint(cls, checkpoint, device="auto", **kw) -> Predictor:
        model, info, dev = load_model(checkpoint, device)
        return cls(model, info, dev, **kw)

    def _forward(self, x: np.ndarray, stochastic: bool) -> np.ndarray:
        from dvos_core.model import to_model_input

        # move uint8 (4x smaller than float) to the device, normalise there
        t = to_model_input(torch.from_numpy(np.ascontiguousarray(x)).to(self.device, non_blocking=True))
        kwargs = {"stochastic": True} if stochastic and self.stochastic_capable else {}
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            logits = self.model(t, **kwargs)["mask"]
        return torch.sigmoid(logits.float())[:, 0].cpu().numpy()

    def predict(self, inputs: np.ndarray, stochastic: bool = False, flip: str | None = None) -> np.ndarray:
        """Probabilities (B, H, W) float32 for a batch of uint8 inputs; ``flip`` in {None,'h','v','hv'} (TTA)."""
        x = np.asarray(inputs)
        want = 5 if self.kind == "dvos" else 4
        if x.ndim != want or x.shape[-1] != 3:
            shape = "(B, tau, H, W, 3)" if want == 5 else "(B, H, W, 3)"
            raise ValueError(f"{self.kind} model input must be {shape} uint8 frames, got {x.shape}")
        if want == 5 and x.shape[1] != self.tau:
            raise ValueError(f"this DVOS model uses tau={self.tau} reference frames, got windows of {x.shape[1]}")
        b, h, w = x.shape[0], x.shape[-3], x.shape[-2]
        x = _flip_frames(x, flip)
        ph, pw = pad_amounts(h, w)
        x = reflect_pad(x, ph, pw)
        hp, wp = h + ph, w + pw
        tiles = tile_grid(hp, wp, self.tile_size, self.overlap)
        blender = Blender(b, hp, wp, self.overlap)
        for tile in tiles:
            ys, xs = tile.slices
            blender.add(tile, self._forward(x[..., ys, xs, :], stochastic), single=len(tiles) == 1)
        return np.ascontiguousarray(_flip_maps(blender.result(h, w), flip))
