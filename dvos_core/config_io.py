"""Shared loading of the dataclass configs (model, training, synthesis) from dicts and YAML files."""

from __future__ import annotations

import dataclasses
from pathlib import Path


def dataclass_from_dict(cls, data: dict, what: str, hint: str):
    """``cls(**data)`` after rejecting unknown keys with a ValueError that lists them and says where to look."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; {hint}")
    return cls(**data)


def read_yaml_mapping(path, what: str, template_hint: str) -> dict:
    """Read a YAML file that must hold a mapping; clear errors for a missing file, bad YAML or another shape."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found; {template_hint}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: invalid YAML ({e})") from e
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected 'name: value' settings, got {type(data).__name__}")
    return data
