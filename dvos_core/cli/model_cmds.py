"""`dvos import-weights`: weights trained by the authors' DVOS code -> a dvos checkpoint; a dvos model of another
project copied into this one (:mod:`dvos_core.model.install`)."""

from __future__ import annotations

from pathlib import Path

from dvos_core.shell import quote


def register(sub) -> None:
    p = sub.add_parser(
        "import-weights",
        help="convert a reference DVOS state_dict into a dvos checkpoint, or copy a dvos model into a project",
        epilog="examples:\n  dvos import-weights weights/ckpt_best.tar --kind video --project field.dvos --name paper\n"
        "  dvos import-weights field2025.dvos/models/image/best.pt --project field2026.dvos --name image_2025",
        description="With --kind: convert weights trained by the authors' DVOS code (a bare state_dict such as "
        "weights/ckpt_best.tar, with or without module./_orig_mod. prefixes) into a dvos checkpoint that "
        "`dvos predict`, `dvos train --init-from` and the napari panel accept. With --reduction adjacent (the "
        "default) the video model computes exactly what the reference computes. Without --kind: copy a dvos model "
        "(a best.pt, or a model folder) of another project, e.g. last season's, into --project as --name (default: "
        "its model's name), so that the project holds it itself: best.pt byte for byte (the same SHA-256, which "
        "predictions record), with its training run's config.yaml and metrics.json; not last.pt (fine-tune the copy "
        "under a new name: dvos train PROJECT --init-from NAME --name NEW).",
    )
    p.add_argument(
        "source",
        help="the reference checkpoint file (with --kind), or a dvos checkpoint or model folder to copy (without)",
    )
    p.add_argument(
        "--kind",
        choices=("video", "image"),
        help="convert the authors' weights of a video (DVOS UNet) or image model; leave out to copy a dvos model",
    )
    p.add_argument(
        "--preset",
        help="with --kind: dvos preset the weights must fit, or 'auto' (sizes from the weights); default paper",
    )
    p.add_argument(
        "--reduction",
        choices=("adjacent", "tau_mean"),
        help="with --kind video: 'adjacent' (default) reproduces the reference; 'tau_mean' is the layout dvos's own "
        "models use (use only to fine-tune from)",
    )
    p.add_argument(
        "--input-size",
        type=int,
        help="with --kind: training / inference crop size to record, a multiple of 32 up to 2048 (default: preset's)",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--out", help="output checkpoint file (default: SOURCE stem + '_dvos.pt' beside it)")
    where.add_argument("--project", help="write into this project as models/NAME/best.pt")
    p.add_argument(
        "--name",
        help="model name with --project (default: SOURCE stem; a copied model's: the name of its model folder)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing output file; with --project, replace the whole model folder models/NAME: the "
        "new best.pt is written first, then the old run's last.pt, config.yaml and metrics.json are removed (so "
        "`dvos train --name NAME` starts over from nothing instead of resuming the old run)",
    )
    from dvos_core.cli._common import add_wait

    add_wait(p)
    p.set_defaults(func=_import)


def _import(args) -> int:
    from dvos_core.model.reference import import_reference_weights
    from dvos_core.store.schema import safe_id

    src = Path(args.source)
    if args.kind is None:
        return _copy(args)
    preset, reduction = args.preset or "paper", args.reduction or "adjacent"
    if args.input_size is not None:
        from dvos_core.train.config import check_size

        check_size(args.input_size, "--input-size")  # before a model folder is touched
    if not args.project:
        out = Path(args.out) if args.out else src.with_name(src.stem + "_dvos.pt")
        if out.exists() and not args.overwrite:
            raise FileExistsError(f"{out} already exists; pass --overwrite to replace it, or choose another --out")
        path = import_reference_weights(src, out, args.kind, preset, reduction, args.input_size)
        print(f"wrote {path}")
        return 0
    from dvos_core.model.install import install_model
    from dvos_core.store import Project

    project = Project.open(args.project)
    name = args.name or safe_id(src.stem)
    done = install_model(
        project,
        name,
        lambda staged: import_reference_weights(src, staged, args.kind, preset, reduction, args.input_size),
        overwrite=args.overwrite,
        operation=f"import-weights {name}",
    )
    note = f" (replaced the old model: removed {', '.join(done.removed)})" if done.removed else ""
    print(f"wrote {done.best}{note}")
    return 0


def _copy(args) -> int:
    """A dvos model (``--kind`` left out) copied into ``--project`` as ``--name``: :func:`dvos_core.model.install.
    copy_model`."""
    from dvos_core.model.install import copy_model

    given = [o for o, v in (("--preset", args.preset), ("--reduction", args.reduction)) if v is not None]
    given += ["--input-size"] if args.input_size is not None else []
    if given:
        raise ValueError(
            f"{', '.join(given)}: only for converting the authors' weights (with --kind); a dvos model is copied as "
            f"it is"
        )
    if not args.project:
        raise ValueError(
            f"{args.source}: without --kind, import-weights copies a dvos model into a project: add --project "
            f"PROJECT (and --name NAME; default: its model's name); to convert weights of the authors' DVOS code, "
            f"add --kind video or --kind image"
        )
    done = copy_model(args.project, args.source, args.name, overwrite=args.overwrite)
    name = done.best.parent.name
    with_ = f" with its {' and '.join(done.copied)}" if done.copied else ""
    note = f"; replaced the old model: removed {', '.join(done.removed)}" if done.removed else ""
    print(f"copied {args.source} to {done.best}{with_} (sha256 {done.sha256[:12]}...){note}")
    phase = "--phase image" if done.kind == "frame" else f"--phase real --video-model {done.kind}"
    print(
        f"predict with it: dvos predict {quote(args.project)} {quote(name)} --videos VIDEO; fine-tune it on this "
        f"project's frames: dvos train {quote(args.project)} {phase} --init-from {quote(name)} --name NEW_NAME"
        + (
            f"; start run-all's image model from it: dvos run-all {quote(args.project)} --init-from {quote(name)}"
            if done.kind == "frame"
            else ""
        )
    )
    return 0
