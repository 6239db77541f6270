"""`dvos demo`: run the whole loop on the embedded sample clips and print the per-video Dice table."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole DVOS loop on built-in sample clips (CPU, a few minutes)",
        epilog="examples:\n  dvos demo --quick --out dvos_demo\n"
        "  dvos demo --project-only --out my_demo   (then follow docs/tutorial.md)",
        description="Build a small project from built-in procedural wheat-field clips (3 painted seed frames, a "
        "bare-field clip, an unlabelled field video and a test video with ground truth), then run "
        "extraction, synthesis, image-model training, pseudo-labelling, two-phase video-model training (the "
        "context-aware model unless --video-model says otherwise), "
        "prediction and evaluation, and print the per-video Dice table.",
    )
    p.add_argument(
        "--out",
        default="dvos_demo",
        help="output folder (default: ./dvos_demo); an earlier demo project in it (OUT/demo.dvos) is replaced, any "
        "other project there never is",
    )
    p.add_argument(
        "--quick", action="store_true", help="shortened run with the tiny preset (a few minutes on 2 CPU cores)"
    )
    from dvos_core.cli import DEVICE_HELP
    from dvos_core.cli._common import device_option

    p.add_argument("--device", type=device_option, default="auto", help=f"{DEVICE_HELP} (default auto)")
    p.add_argument(
        "--num-workers",
        type=int,
        default=None,
        metavar="N",
        help="data-loader worker processes of the training (default: automatic, none on a CPU or MPS, up to 4 on a "
        "CUDA GPU)",
    )
    p.add_argument(
        "--video-model",
        choices=("context", "dvos", "both"),
        default="context",
        help="video model to train next to the image model: 'context' (dvos's context-aware model, default), 'dvos' "
        "(the paper's), or 'both' (longer; all compared in one table)",
    )
    p.add_argument("--napari", action="store_true", help="open the result in napari with the dvos docks")
    p.add_argument(
        "--project-only",
        action="store_true",
        help="only build the sample project (OUT/demo.dvos) and write the demo's settings to OUT/synth.yaml "
        "and OUT/train.yaml, to run the steps yourself (docs/tutorial.md)",
    )
    from dvos_core.cli._common import add_threads

    add_threads(p)
    p.set_defaults(func=_demo)


def _demo(args) -> int:
    import sys
    from dataclasses import replace

    from dvos_core.cli._common import TerminalProgress, cancel_on_sigint, napari_command
    from dvos_core.demo.pipeline import DemoConfig, run_demo

    if args.napari:  # said before minutes of work, not after
        if _napari_missing(Path(args.out) / "demo.dvos", built=False):
            return 2
        if missing_display(Path(args.out) / "demo.dvos") is not None:
            print(
                "dvos: no display to open napari on (DISPLAY is not set): run the demo without --napari and open its "
                "project on a machine with a display, or run it under xvfb-run",
                file=sys.stderr,
            )
            return 2
    from dvos_core.model import select_device

    select_device(args.device)  # a device this machine lacks is refused before the sample project is built
    models = ["context", "dvos"] if args.video_model == "both" else [args.video_model]
    cfg = replace(
        DemoConfig.quick() if args.quick else DemoConfig(),  # replace() checks the options as DemoConfig() does
        device=args.device,
        num_workers=args.num_workers,
        video_models=models,
    )
    if args.project_only:
        from dvos_core.demo.pipeline import build_demo_project, demo_project_path

        path, replacing = demo_project_path(args.out)  # refused before anything is written
        p = build_demo_project(path, size=cfg.size)
        synth_yaml, train_yaml = cfg.write_configs(args.out)
        print(
            f"built {p.path}{' (the earlier demo project there replaced)' if replacing else ''}: videos "
            f"{', '.join(p.video_ids())}; the demo's settings are in {synth_yaml} and {train_yaml}. Open it with "
            f"`{napari_command(p.path)}`"
        )
        if args.napari:
            return _open_in_napari(p.path)
        return 0
    res = run_demo(
        args.out, cfg, progress=TerminalProgress(percent=True), cancel=cancel_on_sigint(), threads=args.threads
    )
    print(format_result(res))
    print(f"project: {res.project}  (open it with `{napari_command(res.project)}`)")
    if args.napari:
        return _open_in_napari(res.project)
    return 0


def format_result(res) -> str:
    """The per-video Dice table of the test clip, the overall scores, the baselines and the timings, as text."""
    import json

    cols = [c for c in ("video", "n_frames", "dice", "iou", "boundary_f") if c in res.videos.columns]
    overall = ", ".join(
        f"{k} {res.overall[k]:.3f}" for k in ("dice", "iou", "boundary_f") if isinstance(res.overall.get(k), float)
    )
    if isinstance(res.overall.get("mean_count_error"), float):  # absolute, not the table's relative count_error
        overall += f", heads miscounted per frame {res.overall['mean_count_error']:.2f}"
    lines = []
    if res.comparison is not None:
        lines += [
            "\nevery model on the held-out test clip (frame-weighted; instability: lower is steadier):",
            res.comparison.to_string(index=False, float_format=lambda x: f"{x:.3f}"),
        ]
    return "\n".join(
        [
            *lines,
            f"\nper-video scores of the {res.model} model on the held-out test clip:",
            res.videos[cols].to_string(index=False, float_format=lambda x: f"{x:.3f}"),
            f"overall (frame-weighted): {overall}",
            f"baselines: all-background Dice {res.baselines['all_background']:.3f}, "
            f"all-foreground Dice {res.baselines['all_foreground']:.3f}",
            f"for reference: image model alone on the test clip Dice {res.references['image_model_test']:.3f} "
            f"(it sees the frame itself); pseudo-labels of field_train against its true masks Dice "
            f"{res.references['pseudo_labels_field_train']:.3f}",
            f"timings (s): {json.dumps(res.timings)}",
        ]
    )


def _napari_missing(path, built: bool = True) -> bool:
    """Whether napari or a Qt binding is missing (then said, with how to install them and, for the project at
    ``path``, how to open it afterwards; ``built=False``: before the project is built, how to run the demo again)."""
    import sys

    from dvos_core.cli._common import missing_gui_packages, napari_command

    missing = missing_gui_packages()
    if not missing:
        return False
    then = f"run `{napari_command(path)}`" if built else "run the same `dvos demo --napari` command again"
    print(
        f"dvos: {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed; install the napari "
        f'extra with pip install "dvos-napari[napari]" (in a clone of dvos: pip install -e ".[napari]"; it brings '
        f"napari with PyQt6), then {then}",
        file=sys.stderr,
    )
    return True


def missing_display(path) -> str | None:
    """Why napari cannot open a window here, with where the project ``path`` is and how to open it elsewhere: on
    Linux, neither DISPLAY nor WAYLAND_DISPLAY set (Qt would abort the program) and no display-less Qt platform
    chosen (QT_QPA_PLATFORM offscreen, ...); None where a window can open."""
    import os
    import sys

    from dvos_core.cli._common import napari_command

    if not sys.platform.startswith("linux") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0]
    if platform and platform not in ("xcb", "wayland"):  # offscreen, vnc, eglfs, ...: Qt needs no display then
        return None
    return (
        f"dvos: no display to open napari on (DISPLAY is not set); the project is at {path}: open it with "
        f"`{napari_command(path)}` on a machine with a display (or run it under xvfb-run)"
    )


def _open_in_napari(path) -> int:
    """Run the plugin's launcher as its own program (the core never imports the GUI)."""
    import subprocess
    import sys

    if _napari_missing(path):
        return 2
    if (why := missing_display(path)) is not None:  # said here: Qt would abort the launcher without a word
        print(why, file=sys.stderr)
        return 2
    return subprocess.call([sys.executable, "-m", "dvos_napari.launch", str(path)])
