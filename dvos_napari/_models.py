"""The project's trained models as the steps list them: name, checkpoint path and kind (image or video model)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelEntry:
    name: str
    checkpoint: str  # path of best.pt
    phase: str | None  # the training phase recorded in its config.yaml (None if unreadable)
    video_model: str | None = None  # the video model of a synthetic/real phase (dvos, context), from config.yaml

    @property
    def is_image_model(self) -> bool:
        return self.phase == "image"

    @property
    def kind(self) -> str | None:
        """The model kind as the core names it (frame, dvos, context); None when config.yaml is unreadable."""
        if self.phase is None:
            return None
        return "frame" if self.is_image_model else (self.video_model or "dvos")


def _config(model_dir) -> dict:
    import yaml

    try:
        data = yaml.safe_load((model_dir / "config.yaml").read_text()) or {}
    except (OSError, ValueError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def checkpoint_kind(path) -> str | None:
    """The kind of the model in checkpoint ``path``, read from the ``config.yaml`` beside it (no torch needed);
    None when there is none."""
    from pathlib import Path

    cfg = _config(Path(path).parent)
    phase = cfg.get("phase")
    if phase is None:
        return None
    return ModelEntry("", str(path), phase, cfg.get("video_model")).kind


def model_checkpoints(project) -> dict[str, ModelEntry]:
    """{model name: entry} of the project's models that have a best.pt (newest last, as the store sorts them)."""
    out = {}
    for name in project.model_names():
        d = project.model_dir(name)
        ck = d / "best.pt"
        if ck.exists():
            cfg = _config(d)
            out[name] = ModelEntry(name, str(ck), cfg.get("phase"), cfg.get("video_model"))
    return out
