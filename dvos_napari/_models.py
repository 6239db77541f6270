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


_CONFIGS: dict = {}  # config.yaml path -> (its stat, what it holds): the pickers of a dozen models parse none again


def _config(model_dir) -> dict:
    """The model's ``config.yaml`` as a dict ({} when unreadable); parsed again only when the file changed (parsing
    one takes ~10 ms, and the Train and Predict steps list every model at each change of the store)."""
    import yaml

    from dvos_napari._summary import file_stamp, settled

    path = str(model_dir / "config.yaml")
    key = file_stamp(path)
    held = _CONFIGS.get(path)
    if key is not None and held is not None and held[0] == key:
        return dict(held[1])
    try:
        data = yaml.safe_load((model_dir / "config.yaml").read_text()) or {}
    except (OSError, ValueError, yaml.YAMLError):
        data = {}
    data = data if isinstance(data, dict) else {}
    if key is not None and settled(key[0]):
        _CONFIGS[path] = (key, data)
    else:
        _CONFIGS.pop(path, None)
    return dict(data)


def epochs_done(model_dir) -> int:
    """The epochs a run in ``model_dir`` has finished, from its ``metrics.json`` (0 when unreadable)."""
    import json

    try:
        history = json.loads((model_dir / "metrics.json").read_text()).get("history") or []
        return int(history[-1]["epoch"]) if history else 0
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return 0


def stopped_early(model_dir) -> bool:
    """Whether the run in ``model_dir`` stopped before the epochs it was started with (its config.yaml's) and can be
    resumed (its last.pt is there): read on demand, not by every model listing."""
    planned = _config(model_dir).get("epochs")
    if not isinstance(planned, int) or not (model_dir / "last.pt").is_file():
        return False
    return epochs_done(model_dir) < planned


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
    """{model name: entry} of the project's models that have a best.pt, newest last (by the time its best.pt was
    written; the store lists them by name): the steps offer them newest first, so the model just trained is the one
    chosen by default, not the one whose name comes last in the alphabet."""
    found = []
    for name in project.model_names():
        d = project.model_dir(name)
        ck = d / "best.pt"
        try:
            written = ck.stat().st_mtime_ns
        except OSError:
            continue
        cfg = _config(d)
        found.append((written, name, ModelEntry(name, str(ck), cfg.get("phase"), cfg.get("video_model"))))
    return {name: entry for _, name, entry in sorted(found, key=lambda x: x[:2])}
