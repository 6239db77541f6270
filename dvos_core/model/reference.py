"""Weights trained by the authors' DVOS code -> dvos checkpoints (``dvos import-weights``).

The reference code saves a bare ``state_dict`` of its UNet (``encoder.backbone...``, ``encoder.encoder.N...``,
``decoder.decoder.N...``, ``heads.seg_head...``), possibly with the ``module.`` (DDP) or ``_orig_mod.``
(torch.compile) prefixes. Its modules are flat ``nn.Sequential`` lists; dvos names the same tensors by role. The
mapping is positional and exact (every tensor has one place, shapes are checked), so a converted video model with
``temporal_reduction="adjacent"`` computes what the reference computes.

Reference layout (R = ResBlocks per level):
* ``encoder.backbone``: ``0`` stem conv, ``1..R`` stem ResBlocks;
* ``encoder.encoder``: per level, R ResBlocks then a ``downsample`` (GN at ``.0``, strided conv at ``.2``);
* ``decoder.decoder``: per level (deepest first), the skip ``attention`` block (absent in the image model), an
  ``upsample`` (GN at ``.0``, conv at ``.3``), then R ResBlocks;
* ResBlock: ``block.0`` GN, ``block.2`` conv, ``block.3`` GN, ``block.5`` conv, ``shortcut``;
* attention: ``norm_act.0`` GN, ``spatial.0..6`` (as dvos), ``temporal.2/3/5/6`` = Linear, LayerNorm, Linear,
  LayerNorm (``.0`` and ``.1`` are the pooling and flatten, no weights);
* heads ``rec_head`` (frame) / ``seg_head`` (mask): ``0..2`` ResBlocks, ``3`` GN, ``5`` output conv.
"""

from __future__ import annotations

from pathlib import Path

import torch

from dvos_core.model.checkpoint import CheckpointError, save_checkpoint
from dvos_core.model.factory import build_model
from dvos_core.model.presets import ModelConfig, get_config
from dvos_core.shell import quote, user_path

KIND_NAMES = {"video": "dvos", "dvos": "dvos", "image": "frame", "frame": "frame"}
PREFIXES = ("module.", "_orig_mod.")
_RES = {"block.0": "act1.norm", "block.2": "conv1", "block.3": "act2.norm", "block.5": "conv2"}
_TEMPORAL = {"2": "0", "3": "1", "5": "3", "6": "4"}


def strip_prefixes(state: dict) -> dict:
    """Keys without leading ``module.`` / ``_orig_mod.`` wrappers (in any order and number)."""
    out = {}
    for key, value in state.items():
        k = str(key)
        while k.startswith(PREFIXES):
            k = k.split(".", 1)[1]
        out[k] = value
    return out


def _res(rest: list[str]) -> str:
    if rest[0] == "shortcut":
        return ".".join(rest)
    return f"{_RES['.'.join(rest[:2])]}.{rest[2]}"


def _attention(rest: list[str]) -> str:
    # rest: ["attention", "norm_act"|"spatial"|"temporal", index, param]
    _, part, idx, param = rest
    if part == "norm_act":
        return f"in_norm.{param}"
    if part == "spatial":
        return f"spatial.{idx}.{param}"
    return f"temporal.{_TEMPORAL[idx]}.{param}"


def reference_key(key: str, res_blocks: int) -> str:
    """The dvos name of one reference tensor name (prefixes already stripped). KeyError for an unknown name.

    ``res_blocks``: ResBlocks per encoder/decoder level (the stem has its own count, read from the names)."""
    p = key.split(".")
    r = res_blocks
    try:
        if p[0] == "encoder" and p[1] == "backbone":
            n = int(p[2])
            return "encoder.stem." + p[3] if n == 0 else f"encoder.stem_blocks.{n - 1}.{_res(p[3:])}"
        if p[0] == "encoder" and p[1] == "encoder":
            level, j = divmod(int(p[2]), r + 1)
            if j < r:
                return f"encoder.levels.{level}.{j}.{_res(p[3:])}"
            return f"encoder.downs.{level}.{ {'0': 'act.norm', '2': 'conv'}[p[4]] }.{p[5]}"
        if p[0] == "encoder" and p[1] == "bottleneck":
            return "encoder.bottleneck." + _res(p[2:])
        if p[0] == "decoder" and p[1] == "bottleneck_diff_atten":
            return "decoder.latent_fuse." + _attention(p[2:])
        if p[0] == "decoder" and p[1] == "bottleneck":
            return "decoder.mid." + _res(p[2:])
        if p[0] == "decoder" and p[1] == "decoder":
            level, j = divmod(int(p[2]), r + 2)
            if j == 0:
                return f"decoder.skip_fuse.{level}.{_attention(p[3:])}"
            if j == 1:
                return f"decoder.ups.{level}.{ {'0': 'act.norm', '3': 'conv'}[p[4]] }.{p[5]}"
            return f"decoder.blocks.{level}.{j - 2}.{_res(p[3:])}"
        if p[0] == "heads":
            head = {"rec_head": "frame", "seg_head": "mask"}[p[1]]
            if p[2] in ("0", "1", "2"):
                return f"heads.{head}.blocks.{p[2]}.{_res(p[3:])}"
            return f"heads.{head}.{ {'3': 'norm', '5': 'conv'}[p[2]] }.{p[3]}"
    except (IndexError, KeyError, ValueError):
        pass
    raise KeyError(key)


def res_blocks_of(state: dict) -> int:
    """ResBlocks per level: the ``encoder.encoder.N.block`` entries before the first ``downsample``."""
    if "encoder.backbone.0.weight" not in state:
        raise CheckpointError("not a reference DVOS state_dict: no encoder.backbone.0 (stem conv) tensor")
    kinds = {}
    for k in state:
        p = k.split(".")
        if p[:2] == ["encoder", "encoder"] and len(p) > 3:
            kinds[int(p[2])] = p[3]
    downs = sorted(n for n, part in kinds.items() if part == "downsample")
    if not downs:
        raise CheckpointError("not a reference DVOS state_dict: the encoder has no downsample layers")
    return downs[0]


def stem_blocks_of(state: dict) -> int:
    """ResBlocks after the stem conv (``encoder.backbone.1..``); the reference always builds 2."""
    return max(int(k.split(".")[2]) for k in state if k.startswith("encoder.backbone."))


def infer_config(state: dict, kind: str, base: ModelConfig | str = "paper") -> ModelConfig:
    """The ModelConfig whose tensors have the shapes of ``state`` (reference names, prefixes stripped).

    Widths, latent, stem, ResBlocks per level, head widths and (video) tau come from the shapes; what weights do
    not fix (GroupNorm groups, dropout, skip-diffusion schedule, input size) comes from ``base``.
    """
    kind = KIND_NAMES[kind]
    r = res_blocks_of(state)

    def out(key):
        if key not in state:
            raise CheckpointError(f"not a reference DVOS state_dict: {key} is missing")
        return int(state[key].shape[0])

    widths = tuple(out(f"encoder.encoder.{k * (r + 1) + r - 1}.block.5.weight") for k in range(5))
    latent = out("encoder.bottleneck.block.5.weight")
    changes = {
        "name": "imported",
        "widths": widths,
        "latent": latent,
        "stem": out("encoder.backbone.0.weight"),
        "res_blocks": r,
        "stem_blocks": stem_blocks_of(state),
        "head_width": out("heads.seg_head.0.block.2.weight"),
        "head_out": out("heads.seg_head.2.block.5.weight"),
    }
    if kind == "dvos":
        changes["tau"] = out("decoder.bottleneck_diff_atten.attention.norm_act.0.weight") // latent
    return get_config(base).replace(**changes)


def _kind_error(state: dict, kind: str) -> str | None:
    has_attention = any(".attention." in k for k in state)
    if kind == "dvos" and not has_attention:
        return "these weights have no attention blocks: they are an image model; use --kind image"
    if kind == "frame" and has_attention:
        return "these weights hold attention blocks: they are a video model; use --kind video"
    return None


def convert_state_dict(state: dict, kind: str, preset="paper", reduction: str = "adjacent"):
    """A dvos model holding the reference weights ``state`` -> ``(model, config)``.

    ``kind``: ``video``/``dvos`` or ``image``/``frame``. ``preset``: the dvos preset the weights must fit (a name,
    ModelConfig or dict), or ``"auto"`` to take the sizes from the weights. ``reduction``: the video model's
    temporal reduction; ``"adjacent"`` reproduces the reference's function, ``"tau_mean"`` makes a model of dvos's
    default layout to fine-tune from. Raises CheckpointError naming the first keys that do not fit.
    """
    if kind not in KIND_NAMES:
        raise ValueError(f"kind must be one of {sorted(KIND_NAMES)}, got {kind!r}")
    kind = KIND_NAMES[kind]
    state = strip_prefixes(state)
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError("not a state_dict: some values are not tensors")
    wrong = _kind_error(state, kind)
    if wrong:
        raise CheckpointError(wrong)
    r = res_blocks_of(state)
    mapped, unknown = {}, []
    for key, value in state.items():
        try:
            mapped[reference_key(key, r)] = value
        except KeyError:
            unknown.append(key)
    if unknown:
        raise CheckpointError(f"{len(unknown)} tensors have names the reference UNet does not use: {unknown[:5]}")
    if preset == "auto":
        config = infer_config(state, kind)
    else:
        config = get_config(preset)
    extra = {"temporal_reduction": reduction, "attention_bias": "spatial"} if kind == "dvos" else {}
    config = config.replace(**extra)
    model = build_model(config, kind)
    own = model.state_dict()
    mismatched = [
        f"{k}: {tuple(v.shape)} vs {tuple(own[k].shape)}"
        for k, v in mapped.items()
        if k in own and own[k].shape != v.shape
    ]
    missing = [k for k in own if k not in mapped]
    surplus = [k for k in mapped if k not in own]
    if mismatched or missing or surplus:
        parts = []
        if mismatched:
            parts.append(f"shapes differ (weights vs preset {config.name!r}): {mismatched[:4]}")
        if missing:
            parts.append(f"missing: {missing[:4]}")
        if surplus:
            parts.append(f"not in the preset: {surplus[:4]}")
        raise CheckpointError(
            "the weights do not fit; " + "; ".join(parts) + ". Pick the preset they were trained with, or "
            "--preset auto to take the sizes from the weights"
        )
    model.load_state_dict(mapped, strict=True)
    return model.eval(), config


def load_reference_state_dict(path) -> dict:
    """A reference state_dict from a file: bare, or under a ``state_dict`` / ``model`` key."""
    path = user_path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file; pass the reference checkpoint (e.g. weights/ckpt_best.tar)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt, or a pickle that needs code
        raise CheckpointError(f"{path}: cannot read it as a torch state_dict ({type(e).__name__})") from e
    if isinstance(payload, dict) and payload.get("format") == "dvos-checkpoint":
        raise CheckpointError(
            f"{path}: already a dvos checkpoint: use it directly (no conversion needed), or copy it into a project "
            f"by leaving out --kind: `dvos import-weights {quote(path)} --project PROJECT --name NAME`"
        )
    for key in ("state_dict", "model"):
        if isinstance(payload, dict) and isinstance(payload.get(key), dict):
            payload = payload[key]
            break
    if not isinstance(payload, dict) or not payload:
        raise CheckpointError(f"{path}: holds no state_dict (a mapping of tensor names to tensors)")
    return payload


def import_reference_weights(
    src, out, kind: str = "video", preset="paper", reduction: str = "adjacent", input_size: int | None = None
) -> Path:
    """Convert the reference checkpoint ``src`` into the dvos checkpoint ``out`` (which predict, train
    ``--init-from`` and the docks accept). Returns ``out``."""
    if input_size is not None:
        from dvos_core.train.config import check_size

        check_size(input_size, "--input-size (input_size)")  # before the checkpoint is read
    state = load_reference_state_dict(src)
    try:
        model, config = convert_state_dict(state, kind, preset, reduction)
    except CheckpointError as e:
        raise CheckpointError(f"{src}: {e}") from None
    if input_size is not None:
        model.config = config = config.replace(input_size=int(input_size))
    return save_checkpoint(
        out,
        model,
        imported_from=str(Path(src).resolve()),
        reference_format="DVOS reference state_dict",
        temporal_reduction=config.temporal_reduction,
    )
