"""The project's trained models as the steps list them: name, checkpoint path and kind (image or video model)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelEntry:
    name: str
    checkpoint: str  # path of best.pt
    phase: str | None  # the training phase recorded in its config.yaml (None if unreadable)

    @property
    def is_image_model(self) -> bool:
        return self.phase == "image"


def _phase(model_dir) -> str | None:
    import yaml

    try:
        data = yaml.safe_load((model_dir / "config.yaml").read_text()) or {}
    except (OSError, ValueError, yaml.YAMLError):
        return None
    return data.get("phase") if isinstance(data, dict) else None


def model_checkpoints(project) -> dict[str, ModelEntry]:
    """{model name: entry} of the project's models that have a best.pt (newest last, as the store sorts them)."""
    out = {}
    for name in project.model_names():
        d = project.model_dir(name)
        ck = d / "best.pt"
        if ck.exists():
            out[name] = ModelEntry(name, str(ck), _phase(d))
    return out
