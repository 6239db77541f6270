"""`dvos synth`: render synthetic training clips (heads pasted on bare-field clips) into a project."""

from __future__ import annotations

import os
import sys

from dvos_core.cli._common import add_wait


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
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="processes to run in parallel (about one per CPU core; default 1)",
    )
    p.add_argument(
        "--backend",
        choices=("process", "serial", "dask"),
        default="process",
        help="'process' (this machine), 'serial', or 'dask' (a running Dask cluster; needs "
        "pip install 'dvos-napari[dask]')",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="random seed; the same seed and --name give the same clips (default 0)"
    )
    p.add_argument(
        "--split",
        default="train",
        choices=("train", "val", "test"),
        help="what the set is for: train (default), val (checks the training) or test (never trained on); given "
        "again for an existing set, it changes its split",
    )
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
        help="write every synthesis parameter with its default and meaning to FILE (YAML) and exit "
        "(with --match-motion or --match-density: the matched parameters)",
    )
    m = p.add_mutually_exclusive_group()
    m.add_argument(
        "--match-motion",
        nargs="+",
        metavar="VIDEO",
        help="measure the camera and local motion of these real videos (ids in the project or video files) "
        "and set the synthesis motion ranges (camera_speed, shake, rotation, zoom, sway) to match; prints "
        "measured vs synthetic motion",
    )
    m.add_argument(
        "--compare-motion",
        nargs="+",
        metavar="VIDEO",
        help="only compare the motion of these real videos with the synthesis settings and warn when they "
        "are far apart (nothing is changed)",
    )
    p.add_argument(
        "--match-density",
        nargs="*",
        metavar="VIDEO",
        help="raise the heads per frame (n_heads, and n_fakes in proportion) so the synthetic clips cover as much "
        "of the frame with heads as the painted frames of these videos (ids in the project; none given: every "
        "video but the test videos); prints painted vs synthetic cover",
    )
    p.add_argument(
        "--allow-sparser",
        action="store_true",
        help="with --match-density: also lower the heads per frame when the painted frames are sparser than the "
        "settings (by default they are only raised: more heads per clip teach more per step)",
    )
    p.add_argument(
        "--motion-pairs",
        type=int,
        default=300,
        help="frame pairs measured per video for --match-motion / --compare-motion (default 300)",
    )
    p.add_argument(
        "--no-motion-check",
        action="store_true",
        help="do not compare the synthesis motion with the project's videos before making a set",
    )
    add_wait(p)
    from dvos_core.cli._common import add_threads

    add_threads(p)
    p.set_defaults(func=_synth)


def _synth(args) -> int:
    from dvos_core.cli._common import TerminalProgress, cancel_on_sigint
    from dvos_core.shell import quote, user_path
    from dvos_core.synth.config import SynthConfig

    if args.write_config:  # `~` taken as the other output options take it; a missing folder said before any work
        args.write_config = str(user_path(args.write_config))
        if not os.path.isdir(os.path.dirname(os.path.abspath(args.write_config))):
            raise ValueError(
                f"--write-config {quote(args.write_config)}: its folder does not exist; create it first or give "
                f"another path"
            )
    cfg = SynthConfig.from_yaml(args.config) if args.config else SynthConfig()
    motion_videos = args.match_motion or args.compare_motion
    matching = args.match_motion or args.match_density is not None
    if args.allow_sparser and args.match_density is None:
        raise ValueError("--allow-sparser only changes --match-density; add --match-density [VIDEO ...]")
    if args.write_config and not matching:
        cfg.to_yaml(args.write_config)
        print(f"wrote {args.write_config}; edit it and pass --config {quote(args.write_config)}")
        return 0
    if not args.project and not motion_videos:
        raise ValueError("give the project folder, e.g. dvos synth field.dvos --preview check.png")
    changes = {}
    if args.frames is not None:
        changes["n_frames"] = args.frames
    if args.size is not None:
        changes.update(height=args.size, width=args.size)
    cfg = cfg.replace(**changes) if changes else cfg
    progress, cancel = TerminalProgress(), cancel_on_sigint()
    renders = args.project and not args.write_config and (args.preview or (args.name and args.clips))
    if renders and (motion_videos or args.match_density is not None):
        from dvos_core.store import Project
        from dvos_core.synth.generate import usable_backgrounds

        usable_backgrounds(Project.open(args.project, mode="r"), cfg)  # before the measuring, not after it
    if args.match_density is not None:
        cfg = _density_step(args, cfg, progress, cancel)
    if motion_videos or args.match_density is not None:
        if motion_videos:
            cfg = _motion_step(args, cfg, progress, cancel)
        if args.write_config:
            cfg.to_yaml(args.write_config)
            print(f"wrote the matched settings to {args.write_config}; pass --config {quote(args.write_config)}")
            return 0
        if not args.preview and not (args.name and args.clips):
            return 0
        if not args.project:
            raise ValueError("give the project folder to render clips with these settings")
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
    if args.clips is not None and args.clips < 1:
        raise ValueError(f"--clips must be at least 1, got {args.clips}")
    if not args.name or not args.clips:
        raise ValueError("give --name NAME and --clips N to make a synthetic set (or --preview FILE to look first)")
    from dvos_core.synth.generate import generate

    if not motion_videos and not args.no_motion_check:
        _warn_motion(args.project, cfg)
    # recorded in the set: its motion matched to these videos, or not matched ([]); unknown (None) for settings read
    # from --config, which may hold motion matched by an earlier --match-motion --write-config
    matched_to = list(args.match_motion) if args.match_motion else (None if args.config else [])
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
        motion_matched_to=matched_to,
    )
    print(
        f"synthetic set {args.name}: {len(s.done())}/{s.n_clips} clips of {cfg.n_frames} frames at "
        f"{cfg.height}x{cfg.width}"
    )
    return 0


def _motion_step(args, cfg, progress, cancel):
    """--match-motion / --compare-motion: measure the videos, print measured vs synthetic motion; the config to
    use next (matched, or unchanged)."""
    from dvos_core.motion.matching import check_config_motion, fmt, match_motion

    source = args.project
    if source is not None:
        from dvos_core.store import Project

        source = Project.open(source, mode="r")
    videos = args.match_motion or args.compare_motion
    src, ids = (source, videos) if source is not None else (videos, None)
    if args.compare_motion:
        rep = check_config_motion(src, cfg, ids, max_pairs=args.motion_pairs, progress=progress, cancel=cancel)
        m = rep["measured"]
        print(f"{'quantity':<34}{'footage':>9}{'settings':>10}")
        for r in rep["rows"]:
            flag = "  <- far apart" if r["far"] else ""
            print(f"{r['quantity'] + ' (' + r['unit'] + ')':<34}{fmt(r['measured']):>9}{fmt(r['synthetic']):>10}{flag}")
        for w in rep["warnings"]:
            print(f"warning: {w}", file=sys.stderr)
        if not rep["warnings"]:
            print(f"the synthesis motion matches the footage ({m['pairs']} frame pairs measured)")
        return cfg
    mm = match_motion(
        src,
        ids,
        base=cfg,
        max_pairs=args.motion_pairs,
        render_project=source,
        render_clips=1 if source is not None and _can_render(source, cfg) else 0,
        seed=args.seed,
        progress=progress,
        cancel=cancel,
    )
    for name, st in mm.measured["videos"].items():
        sh = st["shift_px"]
        print(
            f"{name}: {st['pairs']} frame pairs, shift {fmt(sh['median'])} px/frame "
            f"({fmt(sh['p10'])}-{fmt(sh['p90'])}), "
            f"rotation p90 {fmt(st['rotation_deg']['p90'])} deg, zoom p90 {fmt(100 * (st['zoom']['p90'] or 0))} %"
            + (f", unreliable pairs {100 * st['unreliable_share']:.0f} %" if st["unreliable_share"] else "")
        )
    print(mm.table())
    for w in mm.warnings:
        print(f"warning (the settings before matching): {w}", file=sys.stderr)
    for w in mm.warnings_after:
        print(f"warning (after matching): {w}", file=sys.stderr)
    print("matched settings: " + ", ".join(f"{k} {v}" for k, v in mm.overrides.items()))
    return mm.config


def _density_step(args, cfg, progress, cancel):
    """--match-density: heads per frame from the painted frames' cover; prints painted vs synthetic cover."""
    from dvos_core.synth.density import match_density

    if not args.project:
        raise ValueError("--match-density needs the project folder (its painted frames and extracted heads)")
    dm = match_density(
        args.project,
        args.match_density or None,
        cfg,
        allow_sparser=args.allow_sparser,
        seed=args.seed,
        progress=progress,
        cancel=cancel,
    )
    print(dm.table())
    for w in dm.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print("matched settings: " + (", ".join(f"{k} {v}" for k, v in dm.overrides.items()) or "unchanged"))
    return dm.config


def _can_render(project, cfg) -> bool:
    """Whether a preview clip of ``cfg`` can be rendered from the project (heads and a large enough background)."""
    from dvos_core.synth.generate import usable_backgrounds

    if project.objects.count("head") == 0:
        return False
    try:
        usable_backgrounds(project, cfg)
    except ValueError:
        return False
    return True


def _warn_motion(project_path, cfg) -> None:
    """A quick comparison of the settings' motion with the project's videos (the first 4 that are not test videos,
    40 frame pairs each); prints warnings on stderr when they are far apart. Never stops the run."""
    import sys

    from dvos_core.motion.matching import check_config_motion
    from dvos_core.store import Project

    try:
        project = Project.open(project_path, mode="r")
        ids = [v.name for v in project.videos() if v.split != "test" and v.n_frames > 1][:4]
        if not ids:
            return
        rep = check_config_motion(project, cfg, ids, max_pairs=40, head_sway=False)  # quick: camera motion only
    except Exception as e:  # a failed check must not stop the synthesis
        print(f"dvos synth: note: could not compare the motion with the videos ({e})", file=sys.stderr)
        return
    for w in rep["warnings"]:
        print(f"dvos synth: warning: {w} (skip this check with --no-motion-check)", file=sys.stderr)
