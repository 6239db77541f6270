"""`dvos demo`: run the whole loop on the embedded sample clips and print the per-video Dice table."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "demo", help="run the whole DVOS loop on built-in sample clips (CPU, a few minutes)",
        description="Build a small project from built-in procedural wheat-field clips (3 painted seed frames, a "
                    "bare-field clip, an unlabelled field video and a test video with ground truth), then run "
                    "extraction, synthesis, image-model training, pseudo-labelling, two-phase DVOS training, "
                    "prediction and evaluation, and print the per-video Dice table.")
    p.add_argument("--out", default="dvos_demo", help="output folder (default: ./dvos_demo)")
    p.add_argument("--quick", action="store_true", help="shortened run with the tiny preset (about a minute)")
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda, cuda:1, mps")
    p.add_argument("--napari", action="store_true", help="open the result in napari with the dvos docks")
    p.add_argument("--project-only", action="store_true",
                   help="only build the sample project (OUT/demo.dvos), to run the steps yourself in napari "
                        "(docs/tutorial.md)")
    p.set_defaults(func=_demo)


def _demo(args) -> int:
    import json

    from dvos_core.cli._common import TerminalProgress, cancel_on_sigint
    from dvos_core.demo.pipeline import DemoConfig, run_demo

    if args.project_only:
        from pathlib import Path

        from dvos_core.demo.pipeline import build_demo_project

        p = build_demo_project(Path(args.out) / "demo.dvos")
        print(f"built {p.path}: videos {', '.join(p.video_ids())}. Open it with `napari {p.path}`")
        if args.napari:
            return _open_in_napari(p.path)
        return 0
    cfg = DemoConfig.quick() if args.quick else DemoConfig()
    cfg.device = args.device
    res = run_demo(args.out, cfg, progress=TerminalProgress(), cancel=cancel_on_sigint())
    cols = [c for c in ("video", "n_frames", "dice", "iou", "boundary_f") if c in res.videos.columns]
    print("\nper-video scores on the held-out test clip:")
    print(res.videos[cols].to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print("overall (frame-weighted): " + ", ".join(f"{k} {v:.3f}" for k, v in res.overall.items()
                                                    if isinstance(v, float)))
    print(f"baselines: all-background Dice {res.baselines['all_background']:.3f}, "
          f"all-foreground Dice {res.baselines['all_foreground']:.3f}")
    print(f"timings (s): {json.dumps(res.timings)}")
    print(f"project: {res.project}  (open it with `napari {res.project}`)")
    if args.napari:
        return _open_in_napari(res.project)
    return 0


def _open_in_napari(path) -> int:
    """Run the plugin's launcher as its own program (the core never imports the GUI)."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("napari") is None:
        print("dvos: napari is not installed; install it with pip install 'dvos-napari[napari]'", file=sys.stderr)
        return 2
    return subprocess.call([sys.executable, "-m", "dvos_napari.launch", str(path)])
