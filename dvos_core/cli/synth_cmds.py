"""`dvos synth`: render synthetic training clips (heads pasted on bare-field clips) into a project."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser(
        "synth",
        help="make synthetic training clips from extracted heads and bare-field clips",
        description="Paste the project's extracted wheat heads (and fake heads, which teach the model what is NOT a "
        "head) onto its bare-field background clips, with gentle camera and wind motion, and store the "
        "clips with exact head masks as a synthetic set for training. Interrupted runs resume where "
        "they stopped when you repeat the same command. Try --preview first to check the look.",
        epilog="examples:\n  dvos synth field.dvos --preview check.png\n"
        "  dvos synth field.dvos --name synth1 --clips 600 --workers 4\n"
        "  dvos synth --write-config synth.yaml   (edit it, then pass --config synth.yaml)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("project", nargs="?", help="path of the project store (a folder ending in .dvos)")
    p.add_argument("--name", help="name of the synthetic set to create or resume, e.g. synth1")
    p.add_argument("--clips", type=int, help="number of clips in the set (the paper used 260-600 of 60 frames)")
    p.add_argument("--frames", type=int, default=None, help="frames per clip (default 60, or the config file's)")
    p.add_argument(
        "--size",
        type=int,
        default=None,
        help="clip width and height in pixels (default 512, or the config file's); background clips "
        "must be at least this large",
    )
    p.add_argument("--workers", type=int, default=1, help="processes to run in parallel (about one per CPU core)")
    p.add_argument(
        "--backend",
        choices=("process", "serial", "dask"),
        default="process",
        help="'process' (this machine), 'serial', or 'dask' (a running Dask cluster; needs "
        "pip install 'dvos-napari[dask]')",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same clips")
    p.add_argument("--split", default="train", help="split recorded on the set (default train)")
    p.add_argument("--config", help="YAML file with synthesis parameters (see --write-config)")
    p.add_argument(
        "--preview",
        metavar="FILE",
        help="only render one short clip and save it as FILE (.png picture grid or .mp4 video) with the "
        "head mask in pink; nothing is stored in the project",
    )
    p.add_argument(
        "--write-config",
        metavar="FILE",
        help="write every synthesis parameter with its default and meaning to FILE (YAML) and exit",
    )
    from dvos_core.cli._common import add_threads

    add_threads(p)
    p.set_defaults(func=_synth)


def _synth(args) -> int:
    from dvos_core.cli._common import TerminalProgress, cancel_on_sigint
    from dvos_core.synth.config import SynthConfig

    cfg = SynthConfig.from_yaml(args.config) if args.config else SynthConfig()
    if args.write_config:
        cfg.to_yaml(args.write_config)
        print(f"wrote {args.write_config}; edit it and pass --config {args.write_config}")
        return 0
    if not args.project:
        raise ValueError("give the project folder, e.g. dvos synth field.dvos --preview check.png")
    changes = {}
    if args.frames is not None:
        changes["n_frames"] = args.frames
    if args.size is not None:
        changes.update(height=args.size, width=args.size)
    cfg = cfg.replace(**changes) if changes else cfg
    progress, cancel = TerminalProgress(), cancel_on_sigint()
    if args.preview:
        from dvos_core.synth.preview import check_preview_path, preview, save_preview

        check_preview_path(args.preview)  # before minutes of rendering, not after
        n = args.frames if args.frames is not None else 16
        frames, masks = preview(
            args.project, cfg, seed=args.seed, n_frames=n, size=cfg.height, progress=progress, cancel=cancel
        )
        print(
            f"wrote {save_preview(args.preview, frames, masks)} ({len(frames)} frames, "
            f"{100 * masks.mean():.1f}% head pixels)"
        )
        return 0
    if not args.name or not args.clips:
        raise ValueError("give --name NAME and --clips N to make a synthetic set (or --preview FILE to look first)")
    from dvos_core.synth.generate import generate

    s = generate(
        args.project,
        args.name,
        args.clips,
        cfg,
        seed=args.seed,
        workers=args.workers,
        backend=args.backend,
        split=args.split,
        progress=progress,
        cancel=cancel,
        threads=args.threads,
    )
    print(
        f"synthetic set {args.name}: {len(s.done())}/{s.n_clips} clips of {cfg.n_frames} frames at "
        f"{cfg.height}x{cfg.width}"
    )
    return 0
