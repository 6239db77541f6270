"""Self-describing checkpoints: weights + model config + training info in one file, written atomically.

A checkpoint is a dict saved with ``torch.save`` and read back with ``torch.load(weights_only=True)`` (plain
containers, numbers, strings and tensors only - no pickled code):
``{"format": "dvos-checkpoint", "format_version": 3, "kind", "config", "state_dict", "info"}``.

Format history: 1 (dvos 0.1) put the attention blocks' bias on the second temporal Linear; 2 puts it on the dilated
conv, as the reference code does; 3 moves a context model's full-resolution reference masks by the offsets its
finest lookup matched. Older files are migrated when read (format 1: ``attention_bias="temporal"``; a format-2
context model: ``mask_prior_offsets=False``), so the model built from them computes exactly what was trained (see
:func:`migrate_payload`). Model settings added since format 3 are left out of a file where they are off
(:data:`LATER_CONFIG_DEFAULTS`), so a dvos of the same format released before them still reads it. Weights
trained by the authors' code are bare state_dicts: convert them with ``dvos import-weights``
(:func:`dvos_core.model.reference.import_reference_weights`). A checkpoint's header alone (kind, config and info,
no tensor) is read without torch by :func:`dvos_core.checkpoint_header.read_checkpoint_header`.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import re
import subprocess
from pathlib import Path

import torch

from dvos_core.checkpoint_header import FORMAT, not_torch_file
from dvos_core.model.factory import KINDS, build_model
from dvos_core.model.presets import ModelConfig
from dvos_core.shell import user_path

FORMAT_VERSION = 3
# Model settings added since format 3 came out, with the value that builds the model as it was before them. A
# checkpoint leaves them out at that value, so a dvos of the same format released before them still reads it (it
# refused the whole file over a key it did not know); they are read back as that value.
LATER_CONFIG_DEFAULTS = {"prior_refine": False, "input_fusion": False}


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, of another format, or does not fit the model."""


def _model_kind(model) -> str:
    kind = getattr(model, "kind", None)
    if kind not in KINDS:
        raise TypeError(f"save_checkpoint needs a dvos model (kinds {list(KINDS)}), got {type(model).__name__}")
    return kind


@functools.lru_cache(maxsize=1)
def code_commit(source=None):
    """The git commit of the dvos source tree when it runs from a checkout, else None (read-only git calls).
    ``source`` (default this file) must be tracked by that checkout: dvos installed from a wheel into a virtual
    environment inside the user's own git repository is not the user's commit."""
    source = Path(source or __file__).resolve()

    def git(*args):
        return subprocess.run(["git", *args], cwd=source.parent, capture_output=True, text=True, timeout=5)

    try:
        tracked = git("ls-files", "--error-unmatch", source.name)
        out = git("rev-parse", "HEAD") if tracked.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip() if out is not None else ""
    return commit if out is not None and out.returncode == 0 and len(commit) == 40 else None


def file_fingerprint(path) -> str:
    """SHA-256 of a checkpoint file: what made a set of predictions (a retrained model under the same name differs).
    Hashed once per version of the file (its path, inode, size and modification and change times: checkpoints are
    replaced by renaming a new file over them), however many videos or stages ask: a paper-preset checkpoint is
    hundreds of MB. The file as it is now: a run that loaded the model records its ``info["file_sha256"]`` (the
    bytes it loaded, see :func:`read_checkpoint`) instead, which a new file saved since does not change."""
    from dvos_core.store.fsops import file_sha256

    return file_sha256(path)


def model_fingerprint(model, info: dict | None = None) -> str:
    """SHA-256 of an in-memory model's weights (and its info): lets predictions of the same model resume."""
    import json

    h = hashlib.sha256(type(unwrap(model)).__name__.encode())
    h.update(json.dumps(info or {}, sort_keys=True, default=str).encode())
    for key, tensor in unwrap(model).state_dict().items():
        h.update(key.encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def unwrap(model):
    """The bare model inside DistributedDataParallel / torch.compile wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            return model
        model = inner


def save_checkpoint(path, model, **info) -> Path:
    """Save ``model`` weights + config + ``info`` (epoch, metrics, data summary, training state ...) atomically.

    ``info`` always gets ``dvos_version``, ``code_commit`` (git commit or None), ``input_size`` and ``preset``."""
    from dvos_core import __version__
    from dvos_core.store.fsops import durable_replace, io_step

    model = unwrap(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = dict(info)
    info.setdefault("dvos_version", __version__)
    info.setdefault("code_commit", code_commit())
    info.setdefault("input_size", model.config.input_size)
    info.setdefault("preset", model.config.name)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": _model_kind(model),
        "config": _portable_config(model.config.to_dict()),
        "state_dict": state,
        "info": info,
    }
    # serialised in memory, then written by Python: a full disk is an OSError naming the file and the fix (torch's
    # own writer failed with "[enforce fail at inline_container.cc] unexpected pos")
    data = io.BytesIO()
    torch.save(payload, data)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with io_step(path, "saving the checkpoint", "The file it replaces is kept as it was."):
            with open(tmp, "wb") as f:
                f.write(data.getbuffer())
            durable_replace(tmp, path)  # hours of training: a power cut must not leave an empty best.pt
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _portable_config(config: dict) -> dict:
    """``config`` without the settings of :data:`LATER_CONFIG_DEFAULTS` that hold the value they are read back as."""
    later = LATER_CONFIG_DEFAULTS
    return {k: v for k, v in config.items() if not (k in later and type(v) is type(later[k]) and v == later[k])}


def _short(error: Exception, limit: int = 200) -> str:
    """First line of an exception message, without terminal colour codes, cut to ``limit`` characters."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    return first if len(first) <= limit else first[: limit - 3] + "..."


def _weights_misfit(own: dict, theirs, limit: int = 3) -> str:
    """Which tensors of a checkpoint's ``theirs`` do not fit a model's ``own`` state dict, the first ``limit`` of each
    kind: "size mismatch for head.weight: checkpoint (8, 16, 1, 1), model (8, 32, 1, 1); missing from the
    checkpoint: ...; not in the model: ..." ("" when every name and shape fits). torch's own error began with a
    line that named none ("Error(s) in loading state_dict for FrameNet:")."""

    def shape(v) -> tuple | None:
        return tuple(v.shape) if hasattr(v, "shape") else None

    def first(names: list[str]) -> str:
        more = f" and {len(names) - limit} more" if len(names) > limit else ""
        return ", ".join(names[:limit]) + more

    theirs = theirs if isinstance(theirs, dict) else {}
    sizes = [
        f"size mismatch for {k}: checkpoint {shape(v)}, model {shape(own[k])}"
        for k, v in theirs.items()
        if k in own and shape(v) != shape(own[k])
    ]
    missing = [k for k in own if k not in theirs]
    unexpected = [str(k) for k in theirs if k not in own]
    parts = sizes[:limit] + ([f"and {len(sizes) - limit} more of another size"] if len(sizes) > limit else [])
    if missing:
        parts.append(f"missing from the checkpoint: {first(missing)}")
    if unexpected:
        parts.append(f"not in the model: {first(unexpected)}")
    return "; ".join(parts)


def _load_failure(error: Exception, data: bytes | None = None) -> str:
    """Why torch could not load a file (whose bytes are ``data``, if given), in short, led by the error's type: for a
    file torch cannot have written, what the file is ("not a PyTorch checkpoint: a text file beginning 'hello'",
    not the error torch's loader stumbled on, e.g. "KeyError: 101"); for a file its safe loader refuses, the refusal
    itself (not its advice to load the file with ``weights_only=False``, which would run any code a damaged or
    foreign file holds)."""
    what = None if data is None else not_torch_file(data)
    if what is not None:
        return f"not a PyTorch checkpoint: {what}"
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    if "Weights only load failed" not in text:
        return f"{type(error).__name__}: {_short(error)}"
    found = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
    why = f"not a file torch reads safely: {found.group(1).strip() if found else 'unpickling refused'}"
    return f"{type(error).__name__}: {why}"[:200]


def _may_read(path: Path) -> bool:
    """Whether ``path`` may hold a checkpoint: a file torch could have written (a zip archive) whose entries match
    their checksums, so that a damaged checkpoint's error never points at another damaged one."""
    import zipfile

    try:
        return path.is_file() and zipfile.is_zipfile(path) and _damaged_entry(path) is None
    except Exception:  # an archive that cannot be read
        return False


def _damaged_entry(path) -> str | None:
    """The first entry of the checkpoint archive (a path, or a file object holding its bytes) whose bytes do not
    match the CRC-32 the archive holds for it, else None. ``torch.load`` does not check them: a disk or a copy that
    flipped bits inside a weight tensor loaded without a word, and the model predicted with the damaged weights."""
    import zipfile

    if not zipfile.is_zipfile(path):  # torch's legacy format: torch.load judges it
        return None
    with zipfile.ZipFile(path) as archive:
        return archive.testzip()


def _project_models(project: Path) -> list[str]:
    """The models of the dvos project folder ``project`` that have a best.pt (what may be given for a checkpoint)."""
    d = project / "models"
    return sorted(m.name for m in d.iterdir() if (m / "best.pt").is_file()) if d.is_dir() else []


def _project_of_folder(folder: Path) -> Path | None:
    """The dvos project ``folder`` is, or whose models folder it is; else None."""
    from dvos_core.store.fsops import group_attrs
    from dvos_core.store.schema import STORE_FORMAT

    if group_attrs(folder).get("format") == STORE_FORMAT:
        return folder
    if folder.name == "models" and group_attrs(folder.parent).get("format") == STORE_FORMAT:
        return folder.parent
    return None


def names_a_model(folder) -> bool:
    """Whether ``folder`` is one :func:`folder_checkpoint` reads or tells about: a model folder (a best.pt or last.pt
    in it), a dvos project or its models folder. Any other folder (e.g. masks exported under a model's name) is
    not."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    return any((folder / c).is_file() for c in ("best.pt", "last.pt")) or _project_of_folder(folder) is not None


def folder_checkpoint(folder) -> Path:
    """The checkpoint a folder given in place of one names: a model folder's best.pt (as `dvos import-weights` takes
    it). Any other folder is refused (:class:`CheckpointError`) saying what it is: a dvos project or its models
    folder (with its models to pick from), a model folder with only a last.pt (a run stopped before it chose a best),
    or a folder with no checkpoint."""
    folder = Path(folder)
    if (folder / "best.pt").is_file():
        return folder / "best.pt"
    project = _project_of_folder(folder)
    if project is not None:
        models = _project_models(project)
        which = "a dvos project" if project == folder else f"the models folder of the dvos project {project}"
        pick = (
            f"give one of its models: {', '.join(str(project / 'models' / m) for m in models)}"
            if models
            else "it has no trained model (no models/NAME/best.pt) yet"
        )
        raise CheckpointError(f"{folder}: {which}, not a model; {pick}")
    if (folder / "last.pt").is_file():
        raise CheckpointError(
            f"{folder}: no best.pt in this model folder, only last.pt (a run stopped before it chose one): pass "
            f"{folder / 'last.pt'}, or train it further"
        )
    raise CheckpointError(
        f"{folder}: a folder, not a checkpoint file, and no model folder (no best.pt in it); pass a model folder "
        f"(PROJECT/models/NAME) or the path of a .pt file written by `dvos train`"
    )


def read_checkpoint(path, option: str | None = None) -> dict:
    """The raw checkpoint dict (validated format), without building a model. Its ``"file_sha256"`` (added here, not
    stored in the file) is the SHA-256 of the very bytes it was read from: the file is read once, checked, hashed
    and loaded from memory, so what a run records as its checkpoint is what it loaded, even when training saves a
    new best.pt over it (renaming a new file over the path) while the run goes on. ``option``: the setting that
    named the file (e.g. ``"--init-from (init_from)"``), which the error for a file that cannot be read tells the
    user to give another checkpoint."""
    path = user_path(path)
    if path.is_dir():  # a model folder: its best.pt (any other folder is refused saying what it is)
        path = folder_checkpoint(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint file here; train one with `dvos train` or check the path")
    data = None
    try:
        data = path.read_bytes()  # one open file: a file renamed over the path later is not read
        damaged = _damaged_entry(io.BytesIO(data))
        if damaged is not None:
            raise ValueError(f"the bytes of {damaged} do not match their checksum")
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt, truncated, bits flipped, or a pickle with code in it
        others = [str(q) for q in (path.with_name("best.pt"), path.with_name("last.pt")) if q != path and _may_read(q)]
        if option:
            use = f"give {option} {' or '.join(others) if others else 'another checkpoint'}"
        else:
            use = f"use {' or '.join(others)}" if others else "use another checkpoint, or train the model again"
        raise CheckpointError(
            f"{path}: cannot read checkpoint ({_load_failure(e, data)}); the file is corrupt or not a dvos "
            f"checkpoint - {use}"
        ) from e
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        hint = "pass a best.pt / last.pt written by `dvos train`"
        if _is_state_dict(payload) and not _looks_like_reference(payload):
            new = path.with_name(f"{path.stem}_dvos.pt")
            hint = (
                f"it holds weights alone (torch.save(model.state_dict())): make a dvos checkpoint of them in Python, "
                f"`import torch; from dvos_core.model import build_model, save_checkpoint; "
                f'm = build_model("PRESET", "KIND"); m.load_state_dict(torch.load({str(path)!r})); '
                f"save_checkpoint({str(new)!r}, m)` with the preset (paper, small, tiny) and kind (frame, context, "
                f"dvos) of the model they come from, or {hint}"
            )
        if _looks_like_reference(payload):
            hint = (
                "it looks like weights from the authors' DVOS code: convert them with "
                "`dvos import-weights FILE --kind video` (or --kind image)"
            )
        raise CheckpointError(f"{path}: not a dvos checkpoint (no 'format: {FORMAT}' entry); {hint}")
    version = payload.get("format_version", 0)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {version!r} is newer than this dvos reads ({FORMAT_VERSION}); update dvos"
        )
    if version < 1:
        raise CheckpointError(f"{path}: checkpoint format {version!r} is unknown; retrain or re-import the model")
    return {**migrate_payload(payload), "file_sha256": hashlib.sha256(data).hexdigest()}


def _is_state_dict(payload) -> bool:
    """Whether ``payload`` is a bare state_dict: a non-empty dict of tensors under string names."""
    return (
        isinstance(payload, dict)
        and bool(payload)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in payload.items())
    )


def _looks_like_reference(payload) -> bool:
    """A bare state_dict with the reference code's key names (encoder.backbone..., heads.seg_head...)."""
    keys = [k for k in payload if isinstance(k, str)] if isinstance(payload, dict) else []
    return any("encoder.backbone." in k or "heads.seg_head." in k for k in keys)


def migrate_payload(payload: dict) -> dict:
    """Bring a checkpoint dict of an older format up to :data:`FORMAT_VERSION` (in memory; the file is untouched).

    1 -> 2: the attention bias layout of format 1 is kept by ``config.attention_bias = "temporal"`` (the weights
    have a bias on the second temporal Linear and none on the dilated conv); the unused ``extra`` field goes.
    2 -> 3: a context model keeps the mask prior it was trained with (``config.mask_prior_offsets = False``).
    Any format: training settings added since the run was saved get the values it trained with
    (:func:`_old_train_settings`), so ``dvos train --resume`` continues it instead of refusing settings it never had.
    """
    payload = _with_old_train_settings(payload)
    version = payload.get("format_version", 0)
    if version == FORMAT_VERSION:
        return payload
    payload = dict(payload)
    config = dict(payload.get("config") or {})
    if version == 1:
        config.pop("extra", None)
        if payload.get("kind") == "dvos":
            config.setdefault("attention_bias", "temporal")
    if version <= 2 and payload.get("kind") == "context":
        config.setdefault("mask_prior_offsets", False)
    payload["config"] = config
    payload["format_version"] = FORMAT_VERSION
    payload["migrated_from"] = version
    return payload


def _old_train_settings(kind, saved: dict) -> dict:
    """The training settings added since the first dvos, as a run saved before each existed trained: what
    ``info.train_config`` lacks in a checkpoint of an older dvos (all of its formats). A resumed run compares its
    settings with these, so an old run continues where the settings behave as it began, and is refused (naming the
    setting) where they do not. A setting that has no effect on the run's model gets today's default.

    ``real_share`` is left out: read as null it already is what those runs did (the trainer names it with its fix).
    """
    from dvos_core.train.config import ANCHOR_VIEW, ANCHOR_WEIGHT

    context = kind == "context"
    # a context run saved before anchor_weight had no anchor loss; one saved before anchor_view anchored its queries
    anchor = saved.get("anchor_weight", 0.0) if context else ANCHOR_WEIGHT
    anchor = anchor if isinstance(anchor, (int, float)) else 0.0
    old = {
        "video_model": kind if context else "dvos",  # the only video model then; an image run does not read it
        # one learning rate for the whole model (null: 1 for dvos and the image model, 0.3 for the context model)
        "image_lr_scale": 1.0 if context else None,
        "anchor_weight": anchor,
        "anchor_view": "query" if context and anchor > 0 else ANCHOR_VIEW,
        "frame_anchor_weight": 0.0,
        # best.pt was the best validation Dice: what "auto" chooses for a run that starts from no checkpoint
        "select_by": "val" if saved.get("init_from") else "auto",
        "precision": "auto",  # bf16 on CUDA GPUs that have it, else float32
    }
    return {k: v for k, v in old.items() if k not in saved}


def _with_old_train_settings(payload: dict) -> dict:
    """``payload`` with its ``info.train_config`` completed by :func:`_old_train_settings` (a copy; the same dict when
    nothing is missing)."""
    info = payload.get("info")
    saved = info.get("train_config") if isinstance(info, dict) else None
    if not isinstance(saved, dict):
        return payload
    missing = _old_train_settings(payload.get("kind"), saved)
    if not missing:
        return payload
    return {**payload, "info": {**info, "train_config": {**saved, **missing}}}


def load_checkpoint(path, device="cpu"):
    """Build the model stored in ``path`` and load its weights -> ``(model, info)`` (model in eval mode).

    ``info`` holds kind, preset, config, input_size, tau, metrics, dvos_version, code_commit, data, epoch and
    whatever else was saved with the checkpoint, and ``file_sha256``: the SHA-256 of the bytes the weights were
    loaded from (see :func:`read_checkpoint`), what a prediction or pseudo-labelling run records as its checkpoint.
    ``device``: a name ("auto", "cpu", "cuda", "cuda:N", "mps") or a :class:`torch.device`, checked by
    :func:`~dvos_core.model.device.select_device` before the file is read.
    """
    from dvos_core.model.device import select_device

    device = select_device(device)  # a device this machine lacks is named with what to use, as --device does
    payload = read_checkpoint(path)
    kind = payload.get("kind")
    try:
        config = ModelConfig.from_dict(payload["config"])
        model = build_model(config, kind)
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(
            f"{path}: invalid model description in checkpoint ({e}); the file was written by an "
            f"incompatible dvos version"
        ) from e
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as e:
        raise CheckpointError(
            f"{path}: weights do not fit the {kind} model described in the file "
            f"({_weights_misfit(model.state_dict(), payload['state_dict']) or _short(e)}); the checkpoint is corrupt "
            f"or was edited"
        ) from e
    info = dict(payload.get("info", {}))
    info.update(kind=kind, config=config.to_dict(), tau=getattr(model, "tau", 0), file_sha256=payload["file_sha256"])
    info.setdefault("preset", config.name)
    info.setdefault("input_size", config.input_size)
    info.setdefault("metrics", [])
    info.setdefault("data", {})
    info.setdefault("epoch", None)
    info.setdefault("dvos_version", "unknown")
    info.setdefault("code_commit", None)
    return model.to(device).eval(), info
