"""The one loader of configuration values (YAML files, command-line options, napari dock fields) for every config
dataclass of dvos (TrainConfig, SynthConfig, DemoConfig, ModelConfig, AugmentConfig, Preprocess).

A config dataclass calls :func:`coerce_fields` in its ``__post_init__``; each field is then checked and normalised
by its declared type, whatever door the value came through:

- numbers in any spelling: ``1e-4`` (a string to PyYAML), ``"3e-2"``, ``1_000``, NumPy scalars, and whole floats
  such as ``1e3`` for integer fields; never NaN or infinity; never ``true``/``false``;
- ``bool`` fields take true/false only; ``str`` fields text only;
- ``tuple`` fields a list of numbers as long as the default (``(low, high)`` ranges), whole numbers when the
  default's are; ``list`` fields a list; ``dict`` fields a mapping (with numeric values when the default's are);
- ``X | None`` fields also take null.

Errors are :class:`ConfigError` (a ``ValueError``) naming ``Class.field``, and, through :func:`load_config`, the
file: ``train.yaml: TrainConfig.lr must be a finite number, got nan``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import os
import types
import typing

from dvos_core.shell import user_path


class ConfigError(ValueError):
    """A bad configuration value; the message names the field (and the file when read from one)."""


# ---- one value -----------------------------------------------------------------------------------------------------
def parse_number(value, whole: bool = False):
    """``value`` as a finite int (``whole``) or float; raises TypeError (not a number) or ValueError (not finite or
    not whole). Accepts ints, floats, NumPy scalars and numeric text (``"1e-4"``, ``" 2.5 "``, ``"1_000"``)."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)) and getattr(value, "ndim", 0) == 0:
        value = value.item()  # NumPy scalar -> Python
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        raise TypeError
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if whole and text.lstrip("+-").replace("_", "").isdigit() else float(text)
        except ValueError:
            raise TypeError from None
    if isinstance(value, numbers.Integral):
        return int(value) if whole else float(value)
    value = float(value)
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    if whole:
        if not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    return value


def field_default(f: dataclasses.Field):
    """A dataclass field's default value, given directly or by a factory; None when it has neither."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _is_whole(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _coerce(value, kind, default, name: str):
    """``value`` checked against the declared ``kind``; raises ConfigError naming ``name``."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], default, name) if len(args) == 1 else value
    if kind is bool:
        if type(value).__name__ == "bool_":  # NumPy's bool
            value = bool(value)
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        return value
    if kind in (int, float):
        whole = kind is int
        try:
            return parse_number(value, whole)
        except TypeError:
            raise ConfigError(f"{name} must be {'a whole number' if whole else 'a number'}, got {value!r}") from None
        except ValueError as e:
            raise ConfigError(f"{name} {e}, got {value!r}") from None
    if kind is str:
        if isinstance(value, os.PathLike):  # a path given as a Path (init_from=project.model_dir(...) / "best.pt")
            return os.fspath(value)
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be text, got {value!r}")
        return value
    if kind is tuple:
        return _coerce_tuple(value, default, name)
    if kind is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} must be a list such as [a, b], got {value!r}")
        return list(value)
    if kind is dict:
        return _coerce_dict(value, default, name)
    return value


def _coerce_tuple(value, default, name: str) -> tuple:
    ref = tuple(default) if isinstance(default, (tuple, list)) else ()
    whole = bool(ref) and all(_is_whole(x) for x in ref)
    n = len(ref)
    example = list(ref)
    want = (
        f"a (low, high) pair of numbers such as {example}"
        if n == 2
        else f"a list of {n} {'whole ' if whole else ''}numbers such as {example}"
        if n
        else "a list of numbers"
    )
    if not isinstance(value, (list, tuple)) or (n and len(value) != n):
        raise ConfigError(f"{name} must be {want}, got {value!r}")
    out = []
    for x in value:
        try:
            out.append(parse_number(x, whole))
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be {want}, got {value!r}") from None
    return tuple(out)


def _coerce_dict(value, default, name: str) -> dict:
    if not isinstance(value, dict):
        example = f" such as {dict(default)}" if isinstance(default, dict) and default else " such as {key: value}"
        raise ConfigError(f"{name} must be a mapping{example}, got {value!r}")
    out = dict(value)
    if isinstance(default, dict) and default and all(isinstance(v, numbers.Real) for v in default.values()):
        for k, v in out.items():
            if not isinstance(k, str):
                raise ConfigError(f"{name} keys must be names such as {sorted(default)}, got {k!r}")
            try:
                out[k] = parse_number(v)
            except (TypeError, ValueError):
                raise ConfigError(f"{name}[{k!r}] must be a finite number, got {v!r}") from None
    return out


@functools.cache
def _field_types(cls) -> dict:
    return typing.get_type_hints(cls)


def coerce_fields(obj) -> None:
    """Check and normalise every field of the dataclass instance ``obj`` in place by its declared type (see the
    module docstring); raises :class:`ConfigError` naming ``Class.field``. Works on frozen dataclasses too."""
    cls = type(obj)
    hints = _field_types(cls)
    for f in dataclasses.fields(obj):
        if f.name not in hints:
            continue
        value = getattr(obj, f.name)
        new = _coerce(value, hints[f.name], field_default(f), f"{cls.__name__}.{f.name}")
        if new is not value:
            object.__setattr__(obj, f.name, new)


def check_shares(cfg, where: str, probabilities: tuple = ()) -> None:
    """Every probability (``*_p`` and the fields named in ``probabilities``) of a config dataclass and every
    ``(low, high)`` share range (``*_share``, ``*_drift``) within 0..1, low <= high; a ValueError naming the setting
    otherwise."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if value is None:  # left to be set later (e.g. matched to the footage)
            continue
        if (f.name.endswith("_p") or f.name in probabilities) and not 0 <= value <= 1:
            raise ValueError(f"{where}.{f.name} is a probability (0..1), got {value}")
        if f.name.endswith(("_share", "_drift")) and not 0 <= value[0] <= value[1] <= 1:
            raise ValueError(f"{where}.{f.name} must be [low, high] with 0 <= low <= high <= 1, got {list(value)}")


# ---- whole configs ---------------------------------------------------------------------------------------------------
def dataclass_from_dict(cls, data: dict, what: str, hint: str):
    """``cls(**data)`` after rejecting a non-mapping and unknown keys with a ValueError that lists them and says where
    to look."""
    if not isinstance(data, dict):
        raise ConfigError(f"{what}: expected 'name: value' settings, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in set(data) - known)
    if unknown:
        raise ConfigError(f"unknown {what} {unknown}; {hint}")
    return cls(**data)


@functools.cache
def _unique_key_loader():
    """A ``yaml.SafeLoader`` (safe loading: plain data, no Python objects) that refuses a mapping giving one key twice,
    which PyYAML takes silently, the last one winning: :class:`_DuplicateKey` names the key and both lines."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":  # '<<: *defaults': keys it brings may be overridden
                        continue
                    key = self.construct_object(key_node, deep=True)
                    try:
                        first = seen.setdefault(key, key_node.start_mark.line + 1)
                    except TypeError:  # an unhashable key: the base constructor says so
                        continue
                    if first != key_node.start_mark.line + 1:
                        raise _DuplicateKey(key, first, key_node.start_mark.line + 1)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


class _DuplicateKey(Exception):
    def __init__(self, key, first: int, again: int):
        super().__init__(f"the key {key!r} is given twice (lines {first} and {again}); keep one of them")


def read_yaml_mapping(path, what: str, template_hint: str) -> dict:
    """Read a YAML file that must hold a mapping; clear errors for a missing file, bad YAML (a key given twice
    included) or another shape. Any readable path that is not a folder will do (``/dev/stdin``, ``<(...)``)."""
    import yaml

    path = user_path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: {what} not found; {template_hint}")
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not a YAML file; give the {what} file ({template_hint})")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_unique_key_loader()) or {}
    except _DuplicateKey as e:
        raise ConfigError(f"{path}: {e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a text (UTF-8) file ({e.reason} at byte {e.start}); {template_hint}") from e
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror or e})") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML ({e})") from e
    except RecursionError as e:
        raise ConfigError(f"{path}: invalid YAML (nested too deeply)") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected 'name: value' settings, got {type(data).__name__}")
    return data


def load_config(cls, path, what: str, template_hint: str, from_dict=None):
    """A config from the YAML file ``path``: ``from_dict(data)`` (default ``cls.from_dict``); every error names the
    file, e.g. ``synth.yaml: SynthConfig.camera_speed must be a finite number, got nan``."""
    data = read_yaml_mapping(path, what, template_hint)
    build = from_dict or cls.from_dict
    try:
        return build(data)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{path}: {e}") from e
