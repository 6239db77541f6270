"""`dvos train`: train the image model (FrameNet) or the DVOS video model (phase 1 synthetic, phase 2 real)."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from dvos_core.cli._common import add_wait
from dvos_core.lr_schedule import epoch_rate
from dvos_core.prediction_options import PRECISIONS

# TrainConfig's defaults, stated in the help (importing TrainConfig here would load torch for every `dvos` call);
# tests/test_cli_consistency.py checks them against TrainConfig().
TRAIN_DEFAULTS = {
    "phase": "synthetic",
    "preset": "small",
    "video_model": "dvos",
    "epochs": 15,
    "batch_size": 8,
    "lr": 1e-4,
    "eta_min": None,  # a tenth of lr (the floor the cosine schedule reaches after the last epoch)
    "device": "auto",
    "precision": "auto",
    "seed": 123,
}


def register(sub) -> None:
    d = TRAIN_DEFAULTS
    floor = d["lr"] / 10
    p = sub.add_parser(
        "train",
        help="train a model (image | synthetic | real phase)",
        epilog="examples:\n  dvos train field.dvos --phase image --name image --preset small --epochs 10\n"
        "  dvos train field.dvos --phase synthetic --video-model context --name context "
        "--init-from field.dvos/models/image/best.pt\n"
        "  dvos train field.dvos --phase image --print-config > train.yaml   (edit it, then pass --config train.yaml)",
        description="Train a model on the project's data. Phases: 'image' trains the frame model used for "
        "pseudo-labels; 'synthetic' trains a video model (--video-model: the paper's dvos, or context) on "
        "synthetic clips (init from an image model with --init-from); 'real' fine-tunes it on pseudo-labelled "
        "and corrected real clips. Checkpoints go "
        "to PROJECT/models/NAME (best.pt, last.pt, metrics.json, config.yaml). An interrupted run resumes "
        "where it stopped when started again with the same name. Multi-GPU / multi-node: launch with "
        "`torchrun --nproc_per_node N -m dvos_core.cli train ...`. An option left out takes its value from "
        "--config or --recipe, else the built-in default; --print-config shows every value the run would use.",
    )
    p.add_argument("project", nargs="?", help="path of the project store (.dvos folder)")
    p.add_argument(
        "--print-config",
        action="store_true",
        help="print, as commented YAML, the config the other options build (defaults, --recipe or --config, then "
        "the options) and exit",
    )
    base = p.add_mutually_exclusive_group()
    base.add_argument("--config", help="YAML file with training settings (command-line options override it)")
    base.add_argument(
        "--recipe",
        help="a shipped recipe for the phase, e.g. 'paper' (the paper's schedule, 384 px, "
        "batch 16/32 and augmentation set; options override it)",
    )
    p.add_argument("--phase", choices=("image", "synthetic", "real"), help=f"what to train (default {d['phase']})")
    p.add_argument("--name", help="model name (folder under PROJECT/models); default: the phase")
    p.add_argument("--preset", help=f"model preset: paper | small | tiny (default {d['preset']})")
    p.add_argument(
        "--video-model",
        choices=("dvos", "context"),
        help="synthetic/real phases: 'dvos' is the paper's model (earlier frames only); 'context' segments frame t "
        f"with its aligned earlier frames and their masks (start it from an image model); default {d['video_model']}",
    )
    p.add_argument(
        "--epochs",
        type=int,
        help=f"number of epochs (the cosine schedule steps once per epoch: each epoch trains at one rate; default "
        f"{d['epochs']})",
    )
    p.add_argument("--batch-size", type=int, help=f"clips per step and per process (default {d['batch_size']})")
    p.add_argument(
        "--size",
        type=int,
        help="training size in pixels, a multiple of 32 up to 2048 (default: the input size of the preset or of "
        "--init-from's model)",
    )
    p.add_argument(
        "--lr",
        type=float,
        help=f"AdamW learning rate: the first epoch's (default {d['lr']:g}); the cosine schedule lowers it once per "
        "epoch towards --eta-min",
    )
    p.add_argument(
        "--eta-min",
        type=float,
        help=f"floor of the cosine schedule (default a tenth of --lr: {floor:g}; where --config or --recipe sets one, "
        "that floor, scaled by --lr over its lr when --lr is given). The rate steps once per epoch and "
        f"reaches the floor only after the last epoch, so the last epoch trains above it: with --epochs 1 at --lr "
        f"(the floor has no effect), with 2 halfway ({epoch_rate(d['lr'], floor, 1, 2):.2g} at the defaults), with "
        f"{d['epochs']} at {epoch_rate(d['lr'], floor, d['epochs'] - 1, d['epochs']):.2g}",
    )
    p.add_argument(
        "--init-from",
        help="checkpoint to start from: a file, e.g. PROJECT/models/image/best.pt, or a model name of the project "
        "(image: its best.pt); an image model for 'synthetic', the synthetic phase's model for 'real'",
    )
    from dvos_core.cli import DEVICE_HELP
    from dvos_core.cli._common import device_option

    p.add_argument("--device", type=device_option, help=f"{DEVICE_HELP} (default {d['device']})")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        help=f"number format: auto (bf16 on CUDA GPUs that have it, else fp32), fp32, or bf16 (also on a CPU with "
        f"native bfloat16, AVX512-BF16 or AMX: faster steps there); default {d['precision']}",
    )
    p.add_argument(
        "--num-workers",
        type=int,
        metavar="N",
        help="DataLoader worker processes (default: automatic, none on a CPU or MPS, up to 4 on a CUDA GPU)",
    )
    p.add_argument(
        "--seed",
        type=int,
        help=f"random seed of the model's start, the sampling and the augmentation (default {d['seed']}); the same "
        "seed and settings on the same machine train the same model again (recorded in the model's config.yaml)",
    )
    p.add_argument(
        "--max-steps-per-epoch",
        type=int,
        metavar="N",
        help="cap on steps per epoch (quick runs; 0 = no cap, as null in a config; default: no cap)",
    )
    p.add_argument(
        "--pseudo-quality-min",
        type=float,
        help="image and real phases: leave out pseudo-labelled frames whose quality score is below this (0-1)",
    )
    p.add_argument(
        "--real-share",
        type=_share_or_off,
        help="image phase: share of the draws that go to the real videos' labelled frames beside the synthetic "
        "clips (0-1; default 0.3), or 'off' to draw by provenance weight alone",
    )
    p.add_argument(
        "--select-by",
        choices=("auto", "val", "last"),
        help="which epoch becomes best.pt: val = best validation Dice, last = the last epoch, auto (default) = "
        "validation unless a run that starts from a checkpoint validates on no painted/corrected label "
        "(pseudo, predicted or synthetic only: then last)",
    )
    p.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="continue an unfinished run of the same name from its last.pt",
    )
    p.add_argument("--json", action="store_true", help="print one JSON line per event instead of a progress bar")
    add_wait(p)
    from dvos_core.cli._common import add_threads

    add_threads(p)
    p.set_defaults(func=_train)


def _share_or_off(text: str):
    """``--real-share``: a share strictly between 0 and 1, or 'off' (returned as the string, set to None later)."""
    if text.strip().lower() in ("off", "none", "null"):
        return "off"
    from dvos_core.data.clips import check_real_share

    try:
        return check_real_share(float(text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1 or 'off', got {text!r} ({e})") from None


def build_config(args):
    from dvos_core.train import TrainConfig

    if getattr(args, "recipe", None):
        cfg = TrainConfig.from_recipe(args.recipe, args.phase or "synthetic")
    else:
        cfg = TrainConfig.from_yaml(args.config, args.phase) if args.config else TrainConfig()
    if args.lr is not None:
        eta_min = args.eta_min
        if eta_min is None and cfg.eta_min is not None and cfg.lr > 0:  # the file's floor, kept in proportion
            eta_min = float(f"{cfg.eta_min * args.lr / cfg.lr:.12g}")  # (no 0.0010000000000000002 in the YAML)
            source = f"--recipe {args.recipe}" if getattr(args, "recipe", None) else args.config
            print(
                f"dvos: --lr {args.lr:g} without --eta-min: the cosine floor {cfg.eta_min:g} that {source} sets for "
                f"its lr {cfg.lr:g} is scaled with it to {eta_min:g} (give --eta-min to choose another)",
                file=sys.stderr,
            )
        cfg = cfg.with_lr(args.lr, eta_min)
    cfg = cfg.replace(
        phase=args.phase,
        preset=args.preset,
        video_model=args.video_model,
        epochs=args.epochs,
        batch_size=args.batch_size,
        size=args.size,
        eta_min=args.eta_min,
        init_from=args.init_from,
        device=args.device,
        precision=args.precision,
        num_workers=args.num_workers,
        max_steps_per_epoch=args.max_steps_per_epoch,
        pseudo_quality_min=args.pseudo_quality_min,
        select_by=args.select_by,
        seed=getattr(args, "seed", None),
    )
    share = args.real_share
    return cfg if share is None else dataclasses.replace(cfg, real_share=None if share == "off" else share)


def _train(args) -> int:
    import json

    if args.print_config:
        sys.stdout.write(build_config(args).to_yaml(comments=True))
        return 0
    if not args.project:
        raise ValueError("give the project path: dvos train PROJECT --phase synthetic --name NAME")
    from dvos_core.cli._common import TerminalProgress, cancel_on_sigint
    from dvos_core.progress import Cancelled, print_working
    from dvos_core.train import train
    from dvos_core.train.distributed import env_world_size

    cfg = build_config(args)
    if args.name is not None and not args.name.strip():  # used to fall back to the phase's name without a word
        raise ValueError(
            f"--name is empty; give the model a name (--name p1), or leave --name out to name it after the phase "
            f"({cfg.phase})"
        )
    name = cfg.phase if args.name is None else args.name
    main_rank = int(__import__("os").environ.get("RANK", "0")) == 0

    def on_event(e):
        if args.json:
            print_working(json.dumps(e.to_dict()))
        elif e["type"] == "start":
            print(
                f"training {cfg.kind} model '{name}' ({cfg.phase} phase, {e['params']:,} parameters) on "
                f"{e['device']} x{e['world_size']}: {e['train_samples']} train / {e['val_samples']} val samples, "
                f"{e['total_epochs']} epochs x {e['steps_per_epoch']} steps "
                + (
                    f"(going on with the run in its folder at epoch {e['start_epoch']}, step {e.get('start_step', 0)})"
                    if e.get("resumed")
                    else f"(from epoch {e['start_epoch']})"
                )
                + (
                    ""
                    if e.get("matched_degraded_queries") is None
                    else f"; degraded queries {e['matched_degraded_queries']:.2f} (matched to the project's videos)"
                ),
                file=sys.stderr,
            )
            if args.preset and args.init_from and e.get("preset") and e["preset"] != args.preset:
                print(
                    f"note: --preset {args.preset} is not used: the model is the one --init-from holds (preset "
                    f"{e['preset']}); to train a {args.preset} model, start from a checkpoint of that preset",
                    file=sys.stderr,
                )
        elif e["type"] == "done" and e.get("note"):
            print(e["note"], file=sys.stderr)
        elif e["type"] == "cancelled":
            print(
                f"stopped in epoch {e['epoch']} after step {e['step']}; {e['last']} holds the run: the same command "
                f"continues it from there (--no-resume starts over)",
                file=sys.stderr,
            )
        elif e["type"] == "epoch":
            dice = "-" if e["val_dice"] is None else f"{e['val_dice']:.4f}"
            vl = "-" if e["val_loss"] is None else f"{e['val_loss']:.4f}"
            print(
                f"epoch {e['epoch']}: train loss {e['train_loss']:.4f}, val loss {vl}, val Dice {dice}, "
                f"lr {e['lr']:.2e}{'  (best)' if e.get('best') else ''}",
                file=sys.stderr,
            )

    progress = TerminalProgress() if (main_rank and not args.json) else None
    try:
        best = train(
            args.project,
            cfg,
            name,
            progress=progress,
            cancel=cancel_on_sigint(),
            on_event=on_event,
            resume=args.resume,
            threads=args.threads,
        )
    except Exception as e:  # the event stream ends with what ended the run (the message also goes to stderr)
        if args.json and main_rank and not isinstance(e, (Cancelled, BrokenPipeError)):
            from dvos_core.train.events import ErrorEvent

            print(json.dumps(ErrorEvent(message=f"{e}").to_dict()), flush=True)
        raise
    if main_rank and not args.json:
        print(f"best checkpoint: {best}" + (f" (world size {env_world_size()})" if env_world_size() > 1 else ""))
    return 0
