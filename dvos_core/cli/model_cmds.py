"""`dvos import-weights`: weights trained by the authors' DVOS code -> a dvos checkpoint."""

from __future__ import annotations

import os
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "import-weights",
        help="convert a reference DVOS state_dict into a dvos checkpoint",
        epilog="example: dvos import-weights weights/ckpt_best.tar --kind video --project field.dvos --name paper",
        description="Convert weights trained by the authors' DVOS code (a bare state_dict such as "
        "weights/ckpt_best.tar, with or without module./_orig_mod. prefixes) into a dvos checkpoint that "
        "`dvos predict`, `dvos train --init-from` and the napari panel accept. With --reduction adjacent (the "
        "default) the video model computes exactly what the reference computes.",
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
        help="video model: 'adjacent' (default) reproduces the reference; 'tau_mean' is the layout dvos's own "
        "models use (use only to fine-tune from)",
    )
    p.add_argument(
        "--input-size",
        type=int,
        help="training / inference crop size to record: a multiple of 32 up to 2048 (default: preset's)",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--out", help="output checkpoint file (default: SOURCE stem + '_dvos.pt' beside it)")
    where.add_argument("--project", help="write into this project as models/NAME/best.pt")
    p.add_argument("--name", help="model name with --project (default: SOURCE stem)")
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
    if args.input_size is not None:
        from dvos_core.train.config import check_size

        check_size(args.input_size, "--input-size")  # before a model folder is touched
    if not args.project:
        out = Path(args.out) if args.out else src.with_name(src.stem + "_dvos.pt")
        if out.exists() and not args.overwrite:
            raise FileExistsError(f"{out} already exists; pass --overwrite to replace it, or choose another --out")
        path = import_reference_weights(src, out, args.kind, args.preset, args.reduction, args.input_size)
        print(f"wrote {path}")
        return 0
    from dvos_core.store import Project

    project = Project.open(args.project)
    name = args.name or safe_id(src.stem)
    folder = project.model_dir(name)  # checks the name
    # the writer lock for the whole import, and the model's training lock: a `dvos train --name NAME` running or
    # started meanwhile cannot write the same folder
    from dvos_core.train.loop import LOCK_FILES, training_lock

    made = not folder.is_dir()
    try:
        with project.writing(operation=f"import-weights {name}"), training_lock(project, name):
            for p in folder.iterdir():  # a killed import's or training's half-written files (both locks are ours)
                if p.is_file() and p.name.startswith(".") and (STAGED in p.name or p.name.endswith(".tmp")):
                    p.unlink(missing_ok=True)
            old = sorted(p.name for p in folder.iterdir() if p.name not in LOCK_FILES)
            if old and not args.overwrite:
                raise FileExistsError(
                    f"{folder} already holds a model ({', '.join(old)}); pass --overwrite to replace it whole, or "
                    f"choose another --name"
                )
            staged = folder / f"{STAGED}{os.getpid()}"
            try:
                import_reference_weights(src, staged, args.kind, args.preset, args.reduction, args.input_size)
                replace_model_folder(folder, staged)
            except BaseException:
                staged.unlink(missing_ok=True)
                raise
    except BaseException:
        if made and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # the folder this import made
        raise
    note = f" (replaced the old model: removed {', '.join(n for n in old if n != 'best.pt')})" if len(old) > 1 else ""
    print(f"wrote {folder / 'best.pt'}{note}")
    return 0


STAGED = ".best.pt.import."  # the checkpoint an import writes in the model folder before it becomes best.pt


def replace_model_folder(folder: Path, staged: Path) -> None:
    """Make ``staged`` (a checkpoint written inside ``folder``) the folder's only model: everything else in it - the
    old run's last.pt (which `dvos train` would resume from), config.yaml, metrics.json - is removed first, then
    ``staged`` becomes best.pt. A stop in between leaves the old best.pt alone: a whole model either way."""
    import shutil

    from dvos_core.train.loop import LOCK_FILES

    for p in sorted(folder.iterdir()):
        if p == staged or p.name == "best.pt" or p.name in LOCK_FILES:  # (a training lock held by the caller)
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
    os.replace(staged, folder / "best.pt")
