"""``dvos count-heads``: how many different heads a video shows, its heads followed from frame to frame."""

from __future__ import annotations

from dvos_core.cli._common import add_project, add_threads


def register(sub) -> None:
    p = sub.add_parser(
        "count-heads",
        help="count the different heads of a video (heads followed from frame to frame)",
        epilog="example: dvos count-heads field.dvos plot3 --predictions --model context --out plot3_tracks.csv",
        description="A per-frame head count counts a head again in every frame that shows it. This follows each "
        "head from frame to frame (carried by the camera motion, matched by overlap; a head missed for up to "
        "--max-gap frames with a mask keeps its track) and counts the different heads seen in at least --min-frames "
        "frames: a model's predicted heads with --predictions (default the most recent set), else the stored masks. "
        "--out writes every counted head's position in every frame as CSV (track_id, frame, y, x, area; napari's "
        "Tracks layer reads the first four). Heads that touch count as one while they touch.",
    )
    add_project(p)
    p.add_argument("video_id", metavar="VIDEO_ID", help="the video whose heads to count")
    p.add_argument("--predictions", action="store_true", help="follow a model's predicted heads, not the stored masks")
    p.add_argument("--model", help="with --predictions: whose predictions (default: the most recent set)")
    p.add_argument("--out", metavar="CSV", help="write the tracks to this CSV file")
    p.add_argument("--min-area", type=int, default=16, help="smallest head, in pixels (default 16)")
    p.add_argument("--min-frames", type=int, default=2, help="frames a head must be seen in to count (default 2)")
    p.add_argument("--max-gap", type=int, default=2, help="frames a head may be missed and keep its track (default 2)")
    p.add_argument(
        "--min-overlap",
        type=float,
        default=0.2,
        help="shared pixels over the smaller of a head and a track's last place that link them (default 0.2)",
    )
    p.add_argument(
        "--grow-px", type=int, default=2, help="the tracks' last places are grown by this many pixels (default 2)"
    )
    add_threads(p)
    p.set_defaults(func=_count_heads)


def _count_heads(args) -> int:
    from dvos_core.cli._common import TerminalProgress, cancel_on_sigint, masks_choice
    from dvos_core.evaluate.head_tracks import describe_count, track_heads
    from dvos_core.io.output_paths import check_output_file
    from dvos_core.store import Project

    project = Project.open(args.project, mode="r")
    out = check_output_file(args.out, project) if args.out else None  # before the work
    tracks = track_heads(
        project,
        args.video_id,
        which=masks_choice(args, "follow"),
        model=args.model,
        min_area=args.min_area,
        min_overlap=args.min_overlap,
        max_gap=args.max_gap,
        min_frames=args.min_frames,
        grow_px=args.grow_px,
        progress=TerminalProgress(),
        cancel=cancel_on_sigint(),
        threads=args.threads,
    )
    s = tracks.summary()
    print(f"{args.video_id}: {describe_count(s)}")
    if out is not None:
        print(f"tracks written to {tracks.to_csv(out)}")
    return 0
