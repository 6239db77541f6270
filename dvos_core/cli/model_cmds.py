"""`dvos import-weights`: weights trained by the authors' DVOS code -> a dvos checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "import-weights",
        help="convert a reference DVOS state_dict into a dvos checkpoint",
        description="Convert weights trained by the authors' DVOS code (a bare state_dict such as "
        "weights/ckpt_best.tar, with or without module./_orig_mod. prefixes) into a dvos checkpoint that "
        "`dvos predict`, `dvos train --init-from` and the napari panel accept. With --reduction adjacent (the "
        "default) the video model computes exactly what the reference computes.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("source", help="the reference checkpoint file")
    p.add_argument("--kind", choices=("video", "image"), required=True, help="video (DVOS UNet) or image model")
    p.add_argument(
        "--preset", default="paper", help="dvos preset the weights must fit, or 'auto' (sizes from the weights)"
    )
    p.add_argument(
        "--reduction",
        choices=("adjacent", "tau_mean"),
        default="adjacent",
        help="video model: 'adjacent' reproduces the reference; 'tau_mean' is dvos's default layout "
        "(use only to fine-tune from)",
    )
    p.add_argument("--input-size", type=int, help="training / inference crop size to record (default: preset's)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--out", help="output checkpoint file (default: SOURCE stem + '_dvos.pt' beside it)")
    where.add_argument("--project", help="write into this project as models/NAME/best.pt")
    p.add_argument("--name", help="model name with --project (default: SOURCE stem)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(func=_import)


def _import(args) -> int:
    from dvos_core.model.reference import import_reference_weights
    from dvos_core.store.schema import safe_id

    src = Path(args.source)
    if args.project:
        from dvos_core.store import Project

        project = Project.open(args.project)
        out = project.model_dir(args.name or safe_id(src.stem), create=True) / "best.pt"
    else:
        out = Path(args.out) if args.out else src.with_name(src.stem + "_dvos.pt")
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} already exists; pass --overwrite to replace it, or choose another --out/--name")
    path = import_reference_weights(src, out, args.kind, args.preset, args.reduction, args.input_size)
    print(f"wrote {path}")
    return 0
