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
