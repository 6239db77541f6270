"""The project's trained models as the steps list them: name, checkpoint path and kind (image or video model), from
the model's config.yaml, or from the checkpoint's header for a model without one (imported, or copied in)."""

from __future__ import annotations

from dataclasses import dataclass

from dvos_core.checkpoint_header import read_checkpoint_header


@dataclass(frozen=True)
class ModelEntry:
    name: str
    checkpoint: str  # path of best.pt
    phase: str | None  # the training phase recorded in its config.yaml (None if unreadable)
    video_model: str | None = None  # the video model of a synthetic/real phase (dvos, context), from config.yaml
    # the kind the checkpoint itself holds (frame, dvos, context), read from it when config.yaml names no phase: a
    # model imported with `dvos import-weights` or a best.pt copied in has no config.yaml
    held_kind: str | None = None

    @property
    def is_image_model(self) -> bool:
        return self.phase == "image" or (self.phase is None and self.held_kind == "frame")

    @property
    def kind(self) -> str | None:
        """The model kind as the core names it (frame, dvos, context); None when neither config.yaml nor the
        checkpoint tells."""
        if self.phase is None:
            return self.held_kind
        return "frame" if self.is_image_model else (self.video_model or "dvos")

    @property
    def trained_as(self) -> str | None:
        """The phase this model stands for when the Train step proposes what to train next: config.yaml's, or
        "image" for an image model without one (imported); None for a video model without one (its phase is
        unknown)."""
        return self.phase or ("image" if self.is_image_model else None)


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


MODEL_KINDS = ("frame", "dvos", "context")  # dvos_core.model.factory.KINDS, whose module imports torch
_HELD: dict = {}  # checkpoint path -> (its stat, the kind it holds): read once per version of the file


def _header_kind(path: str) -> str | None:
    """The ``kind`` a dvos checkpoint records, from its header alone (:func:`read_checkpoint_header`: a few kB
    whatever the model's size, no tensor read and torch not imported); None when the file is no dvos checkpoint or
    records a kind dvos does not know."""
    header = read_checkpoint_header(path)
    kind = header.get("kind") if header else None
    return kind if kind in MODEL_KINDS else None


def _per_version(cache: dict, path, read):
    """``read(path)``, kept in ``cache`` for the file's current version: read again only when the file changed, so
    the steps' lists read none of a dozen models again at each refresh (None when the file is not there)."""
    from dvos_napari._summary import file_stamp, settled

    path = str(path)
    key = file_stamp(path)
    if key is None:
        return None
    held = cache.get(path)
    if held is not None and held[0] == key:
        return held[1]
    value = read(path)
    if settled(key[0]):
        cache[path] = (key, value)
    else:
        cache.pop(path, None)
    return value


def held_kind(path) -> str | None:
    """The kind (frame, dvos, context) checkpoint ``path`` holds, from its header (:func:`_header_kind`)."""
    return _per_version(_HELD, path, _header_kind)


_NOTES: dict = {}  # checkpoint path -> (its stat, its settings in words)


def settings_note(path) -> str:
    """Checkpoint ``path``'s model settings in one line (:func:`~dvos_core.checkpoint_header.settings_line`: kind,
    preset, tau, size, phase, epoch, validation Dice, start), for the model lists' tooltips; "" when it says none."""
    from dvos_core.checkpoint_header import model_settings, settings_line

    def read(p):
        found = model_settings(p)
        return settings_line(found) if found else ""

    return _per_version(_NOTES, path, read) or ""


def note_models(combo, models: dict) -> None:
    """Give each item of ``combo`` that names one of ``models`` ({name: ModelEntry}) its settings as its tooltip."""
    from qtpy.QtCore import Qt

    for i in range(combo.count()):
        entry = models.get(combo.itemText(i))
        if entry is not None:
            combo.setItemData(i, settings_note(entry.checkpoint), Qt.ItemDataRole.ToolTipRole)


def _entry(name: str, checkpoint, cfg: dict) -> ModelEntry:
    """The model ``name`` whose checkpoint is ``checkpoint`` and config.yaml ``cfg``: its kind read from the
    checkpoint when ``cfg`` names no phase."""
    phase = cfg.get("phase")
    return ModelEntry(
        name, str(checkpoint), phase, cfg.get("video_model"), None if phase is not None else held_kind(checkpoint)
    )


def checkpoint_kind(path) -> str | None:
    """The kind of the model in checkpoint ``path``, read from the ``config.yaml`` beside it (no torch needed), else
    from the checkpoint's header; None when neither tells."""
    from pathlib import Path

    return _entry("", path, _config(Path(path).parent)).kind


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
        found.append((written, name, _entry(name, ck, _config(d))))
    return {name: entry for _, name, entry in sorted(found, key=lambda x: x[:2])}
