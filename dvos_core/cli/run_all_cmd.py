"""`dvos run-all`: every stage of the method on a project's own videos, from painted frames to scored predictions."""

from __future__ import annotations


def register(sub) -> None:
    from dvos_core.cli._common import add_threads, add_wait
    from dvos_core.prediction_options import SCALES

    p = sub.add_parser(
        "run-all",
        help="run every stage on your project: heads, backgrounds, synthetic clips, image model, pseudo-labels, "
        "video model, predictions, scores",
        epilog="examples:\n  dvos run-all field.dvos --quick\n"
        "  dvos run-all --print-config > run.yaml   (edit it, then: dvos run-all field.dvos --config run.yaml)",
        description="From painted frames to scored predictions in one command: cut heads and fake heads from the "
        "painted frames, make background clips (from --bare-video, else inpainted from the painted frames), "
        "synthetic clips at least as crowded as the painted frames and moving like the training videos, the image "
        "model, pseudo-labels of the training videos, both phases of the video model, predictions of the test videos "
        "(and --predict ones), where test videos hold painted masks a table of every model side by side, and the "
        "number of different heads in each predicted video (as dvos count-heads counts them). "
        "Training settings suit the machine (the paper's model on a GPU, the demo's settings on a CPU); --config "
        "changes any of "
        "them. Running it again continues a stopped run: every finished stage is kept.",
    )
    p.add_argument("project", nargs="?", help="path of the project store (a folder ending in .dvos)")
    p.add_argument("--config", help="YAML file of run-all settings (write a template with --print-config)")
    p.add_argument("--print-config", action="store_true", help="print the settings as YAML and exit")
    p.add_argument("--name", help="prefix of what the run makes (default none: models image, context, ...)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="a quick look: tiny model, short training (a few minutes on a CPU, rough masks), named 'quick' unless "
        "--name says otherwise",
    )
    p.add_argument(
        "--video-model",
        choices=("context", "dvos", "both"),
        help="'context' (dvos's context-aware model, default), 'dvos' (the paper's) or 'both'",
    )
    p.add_argument(
        "--bare-video",
        nargs="+",
        metavar="VIDEO",
        help="project videos (ids) of bare field to cut background clips from (add a file with dvos add-video); "
        "the synthetic clips draw from these and any other clips the project holds",
    )
    p.add_argument("--predict", nargs="+", metavar="VIDEO", help="videos to predict besides the test videos")
    p.add_argument(
        "--synthetic-set", metavar="NAME", help="train on this existing synthetic set instead of making the run's own"
    )
    p.add_argument(
        "--init-from",
        metavar="CKPT",
        help="start the image model from this image model instead of from scratch (e.g. last season's: "
        "OTHER.dvos/models/image/best.pt, or a model name of the project: its best.pt); the video models start from "
        "the image model the run trains (image: {init_from: CKPT} in --config)",
    )
    p.add_argument("--clips", type=int, help="synthetic clips (default: 48 on a CPU, 200 on a GPU)")
    p.add_argument("--frames", type=int, help="frames per synthetic clip (default: 12 on a CPU, 24 on a GPU)")
    p.add_argument("--preset", help="model size of every phase: paper | small | tiny (default: the machine's)")
    p.add_argument("--epochs", type=int, help="epochs of every training phase (default: the machine's)")
    p.add_argument(  # --max-steps-per-epoch: `dvos train`'s name for the same cap
        "--steps-per-epoch",
        "--max-steps-per-epoch",
        dest="steps_per_epoch",
        type=int,
        metavar="N",
        help="cap on the steps of each epoch (default: the machine's - 30 on a CPU, 25 with --quick, none on a GPU)",
    )
    p.add_argument("--no-match-motion", action="store_true", help="keep the synthesis engine's default motion")
    p.add_argument(
        "--scales",
        choices=SCALES,
        help="the scales pseudo-labels and predictions segment each frame at (default auto; see dvos predict --help)",
    )
    p.add_argument("--seed", type=int, help="random seed of every stage (default 0)")
    from dvos_core.cli import DEVICE_HELP
    from dvos_core.cli._common import device_option

    p.add_argument("--device", type=device_option, help=f"{DEVICE_HELP} (default auto)")
    add_threads(p)
    add_wait(p)
    p.set_defaults(func=_run_all)


def config_from_args(args):
    """The :class:`RunAllConfig` of ``--config`` with the command-line options over it."""
    from dataclasses import replace

    from dvos_core.run_all import RunAllConfig

    if args.config:
        from dvos_core.config_io import load_config

        # --video-model over the file's video_models before the file's sections are checked against it
        models = None if args.video_model is None else _video_models(args.video_model)
        cfg = load_config(
            RunAllConfig,
            args.config,
            "run-all settings",
            "write one with `dvos run-all --print-config`",
            from_dict=lambda d: RunAllConfig.from_dict(d if models is None else {**d, "video_models": models}),
        )
        if args.quick:
            raise ValueError("--quick sets the run's settings itself; leave out --config (or put them in the file)")
    else:
        cfg = RunAllConfig.quick() if args.quick else RunAllConfig()
    changes: dict = {}
    for opt, key in (
        ("name", "name"),
        ("bare_video", "bare_videos"),
        ("predict", "predict"),
        ("synthetic_set", "synthetic_set"),
        ("clips", "synth_clips"),
        ("frames", "synth_frames"),
        ("seed", "seed"),
        ("device", "device"),
        ("scales", "scales"),
    ):
        if getattr(args, opt) is not None:
            changes[key] = getattr(args, opt)
    if args.video_model is not None:
        changes["video_models"] = _video_models(args.video_model)
    if args.no_match_motion:
        changes["match_motion"] = False
    train = dict(cfg.train)
    phases = {phase: dict(getattr(cfg, phase)) for phase in ("image", "synthetic", "real")}
    for opt, key in (("preset", "preset"), ("epochs", "epochs"), ("steps_per_epoch", "max_steps_per_epoch")):
        if getattr(args, opt) is not None:
            train[key] = getattr(args, opt)
            # the option is for every phase: it goes over a phase's own value (--quick's image epochs, the
            # image/synthetic/real sections of a --config file)
            for values in phases.values():
                values.pop(key, None)
    try:  # replace() checks the values as RunAllConfig() does
        cfg = replace(cfg, train=train, **phases, **changes)
    except ValueError as e:
        raise ValueError(f"{args.config}: {e}" if args.config else str(e)) from None
    return cfg if args.init_from is None else cfg.starting_from(args.init_from)


def _video_models(option: str) -> list:
    """``--video-model``'s choice as RunAllConfig.video_models."""
    return ["context", "dvos"] if option == "both" else [option]


def _run_all(args) -> int:
    from dvos_core.cli._common import TerminalProgress, cancel_on_sigint, napari_command
    from dvos_core.run_all import run_all

    cfg = config_from_args(args)
    if args.print_config:
        print(cfg.to_yaml(), end="")
        return 0
    if not args.project:
        raise ValueError("give the project path: dvos run-all PROJECT")
    res = run_all(
        args.project, cfg, progress=TerminalProgress(percent=True), cancel=cancel_on_sigint(), threads=args.threads
    )
    if res.comparison is not None:
        print("\nevery model on the test videos (frame-weighted; instability: lower is steadier):")
        print(res.comparison.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"models: {', '.join(f'{k} ({v})' for k, v in res.checkpoints.items())}")
    print(f"predicted: {', '.join(res.predicted) or 'nothing (no test video; --predict VIDEO)'}")
    if res.heads:
        counts = ", ".join(f"{v} {n}" for v, n in res.heads.items())
        print(f"different heads ({res.heads_model}'s predictions, each head counted once; dvos count-heads): {counts}")
    print(f"open it with `{napari_command(res.project)}` (Review step: worst frames first, correct, train again)")
    return 0
