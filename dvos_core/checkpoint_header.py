"""A dvos checkpoint's header - its kind, model config and training info - read without its tensors and without
torch (importable by the napari panel, whose model lists must not load torch).

A checkpoint (:mod:`dvos_core.model.checkpoint`) is a zip archive that ``torch.save`` wrote: a small pickle
(``data.pkl``, a few kB whatever the model's size) describing the dict, and one entry per tensor. The header is that
pickle alone: ``{"format", "format_version", "kind", "config", "state_dict", "info"}`` with every tensor (and any
object but plain containers) left as an unbuilt placeholder, so no code of the file runs and no weight is read.
"""

from __future__ import annotations

FORMAT = "dvos-checkpoint"  # the "format" entry of every dvos checkpoint


class _Unread:
    """What the header reader makes of anything in a checkpoint's pickle but plain containers (tensors, storages):
    it is never built, so no code of the file runs and no tensor is read."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


def not_torch_file(data: bytes) -> str | None:
    """What the bytes ``data`` of a file (its first 200 are enough) are when ``torch.save`` cannot have written them
    (it writes a zip archive, or a pickle in its legacy format), e.g. "a text file beginning 'hello'"; None when it
    may have. A checkpoint's error says it rather than what torch's loader stumbled on ("KeyError: 101")."""
    if data[:4] == b"PK\x03\x04" or data[:1] == b"\x80":
        return None
    if not data:
        return "an empty file"
    text = data[:200].decode("utf-8", "replace").rstrip("\ufffd")  # (a character cut at 200 bytes)
    if "\ufffd" not in text and all(c.isprintable() or c in "\t\r\n" for c in text):
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        return f"a text file beginning {first[:40]!r}" if first else "a text file of blank lines"
    return "a file of another kind"


def read_checkpoint_header(path) -> dict | None:
    """The dict a dvos checkpoint holds, read from its pickle alone: ``kind``, ``config`` and ``info`` (epoch,
    metrics, the data summary ``info["data"]`` with the videos it trained and validated on, ...) as saved, with
    each tensor (``state_dict``'s weights, an optimizer state in ``info``) left as an opaque placeholder. Neither
    torch is imported nor any tensor read, so it takes milliseconds for a checkpoint of hundreds of MB, and a file
    whose weights are damaged still tells what it is. The dict is as the file holds it: an old format is not
    migrated (:func:`dvos_core.model.checkpoint.read_checkpoint` does that, and loads the weights).

    None when ``path`` is no dvos checkpoint torch wrote as a zip archive (missing, unreadable, torch's legacy
    format, another pickle, a bare state_dict)."""
    import pickle
    import zipfile

    class Header(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) == ("collections", "OrderedDict"):
                import collections

                return collections.OrderedDict
            return _Unread

        def persistent_load(self, pid):
            return None

    try:
        with zipfile.ZipFile(path) as archive:
            entry = next((n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
            if entry is None:
                return None
            with archive.open(entry) as f:
                payload = Header(f).load()
    except Exception:  # missing, not a zip archive, a damaged one, or a pickle of something else
        return None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        return None
    return payload


def checkpoint_data_videos(path, parts=("train", "val")) -> set[str] | None:
    """The videos the model in checkpoint ``path`` used in ``parts`` of its recorded data summary (``train``,
    ``val``), read from its header (:func:`read_checkpoint_header`); None when the file is no readable dvos
    checkpoint or records none of those parts' videos (an imported model)."""
    header = read_checkpoint_header(path)
    info = header.get("info") if header else None
    data = info.get("data") if isinstance(info, dict) else None
    found = [data.get(p) for p in parts] if isinstance(data, dict) else []
    found = [p for p in found if isinstance(p, dict) and "videos" in p]
    if not found:
        return None
    return {v for p in found for v in p.get("videos") or () if isinstance(v, str)}


def model_settings(path) -> dict | None:
    """What checkpoint ``path`` says about its model, from its header (:func:`read_checkpoint_header`): ``kind``,
    ``preset`` (the model's, also when another was asked for and a start checkpoint's was kept), ``tau`` (reference
    frames of a video model; None for an image model), ``input_size``, ``phase``, ``epoch`` (the epoch these weights
    are), ``epochs`` (the run's planned epochs), ``val_dice`` and ``init_from`` (the checkpoint the run started
    from); a value the file does not record is None. None when ``path`` is no readable dvos checkpoint."""
    header = read_checkpoint_header(path)
    if header is None:
        return None

    def part(d, key):
        found = d.get(key) if isinstance(d, dict) else None
        return found if isinstance(found, dict) else {}

    info, config = part(header, "info"), part(header, "config")
    kind = header.get("kind")
    dice = info.get("val_dice")
    return {
        "kind": kind,
        "preset": info.get("preset") or config.get("name"),
        "tau": config.get("tau") if kind in ("dvos", "context") else None,
        "input_size": info.get("input_size") or config.get("input_size"),
        "phase": info.get("phase"),
        "epoch": info.get("epoch"),
        "epochs": part(info, "train_config").get("epochs"),
        "val_dice": float(dice) if isinstance(dice, (int, float)) else None,
        "init_from": part(info, "init").get("init_from"),
    }


def settings_line(settings: dict) -> str:
    """:func:`model_settings` in one line, e.g. "context model (tiny preset, tau 4, 64 px), synthetic phase, epoch 2
    of 2, validation Dice 0.912, started from models/img/best.pt"; what is not recorded is left out."""
    names = {"frame": "image model", "dvos": "paper's dvos video model", "context": "context video model"}
    inner = [
        f"{settings['preset']} preset" if settings.get("preset") else None,
        f"tau {settings['tau']}" if settings.get("tau") is not None else None,
        f"{settings['input_size']} px" if settings.get("input_size") else None,
    ]
    inner = [x for x in inner if x]
    kind = settings.get("kind")
    if kind is None:  # nothing read (project_model_settings of a model without a readable checkpoint)
        return settings.get("note") or "no readable checkpoint"
    parts = [names.get(kind, f"{kind} model") + (f" ({', '.join(inner)})" if inner else "")]
    if settings.get("phase"):
        parts.append(f"{settings['phase']} phase")
    if settings.get("epoch") is not None:
        of = f" of {settings['epochs']}" if settings.get("epochs") is not None else ""
        parts.append(f"epoch {settings['epoch']}{of}")
    if settings.get("val_dice") is not None:
        parts.append(f"validation Dice {settings['val_dice']:.3f}")
    if settings.get("init_from"):
        parts.append(f"started from {settings['init_from']}")
    if settings.get("note"):
        parts.append(f"NOTE: {settings['note']}")
    return ", ".join(parts)


def project_model_settings(project_path, names) -> dict:
    """{model name: :func:`model_settings` of its best.pt, with ``checkpoint`` "best.pt"; else of its last.pt (a
    run before its first best epoch, or a best.pt that cannot be read), with ``checkpoint`` "last.pt" and ``note``
    saying why; else {"checkpoint": None, "note": ...}} of the models ``names`` of the project at ``project_path``."""
    from pathlib import Path

    found = {}
    for name in names:
        folder = Path(project_path) / "models" / name
        best, last = folder / "best.pt", folder / "last.pt"
        settings = model_settings(best)
        if settings is not None:
            found[name] = {**settings, "checkpoint": "best.pt"}
            continue
        no_best = f"its best.pt cannot be read{_what_file(best)}" if best.exists() else "it has no best.pt yet"
        settings = model_settings(last)
        if settings is not None:
            found[name] = {**settings, "checkpoint": "last.pt", "note": f"{no_best}: read from its last.pt"}
        else:
            found[name] = {"checkpoint": None, "note": f"{no_best}, nor a readable last.pt (`dvos check` names what)"}
    return found


def _what_file(path) -> str:
    """What :func:`not_torch_file` says of the file ``path``, as an aside (" (not a PyTorch checkpoint: a text file
    beginning 'hello')"); "" for a file torch may have written."""
    try:
        with open(path, "rb") as f:
            what = not_torch_file(f.read(200))
    except OSError:
        return ""
    return f" (not a PyTorch checkpoint: {what})" if what else ""
