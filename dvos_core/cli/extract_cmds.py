"""`dvos extract-objects`, `dvos extract-backgrounds`: the raw material for synthetic training clips."""

from __future__ import annotations

from dvos_core.cli._common import add_preprocess, add_project, add_threads, add_wait, preprocess_from_args
from dvos_core.object_format import HALO_PX
from dvos_core.shell import quote

# extract-backgrounds options that apply to only one of its two modes (for the checks in _extract_backgrounds)
ANNOTATED_ONLY = {
    "videos": "--videos",
    "frames": "--frames",
    "dilate": "--dilate",
    "inpaint": "--inpaint",
    "motion": "--motion",
    "camera_speed": "--camera-speed",
    "config": "--config",
    "seed": "--seed",
}
BARE_FIELD_ONLY = {
    "start": "--start",
    "stride": "--stride",
    "paper_preprocess": "--paper-preprocess",
    "no_preprocess": "--no-preprocess",
    "height": "--height",
    "crop": "--crop",
}


def register(sub) -> None:
    p = sub.add_parser(
        "extract-objects",
        help="cut wheat heads (and look-alike fakes) out of annotated frames",
        description="For every frame whose mask was painted or corrected by a person, cut out each wheat head "
        "(each separate blob of the mask) as a small image with a transparent surround, and make fake "
        "heads: the same outlines filled with leaves or soil from elsewhere in the frame. Synthetic "
        "training clips are built from these. Blobs smaller than --min-area pixels (noise, bits of "
        "heads at the border) are skipped and counted. Frames already extracted are skipped unless "
        "repainted since (then their objects are cut again) or --replace.",
        epilog="example: dvos extract-objects field.dvos --min-area 80 --fakes-per-head 5",
    )
    add_project(p)
    p.add_argument("--videos", nargs="+", metavar="ID", help="only these videos (default: all but the test videos)")
    p.add_argument(
        "--frames",
        nargs="+",
        type=int,
        metavar="T",
        help="only these frame numbers, of every video chosen (default: every frame with a painted/corrected "
        "mask; without --videos, videos with no painted frame are left out); a frame number past the end of a "
        "video, or one whose mask is a model's (pseudo-label, prediction), not painted or corrected, is an error",
    )
    p.add_argument("--min-area", type=int, default=50, help="smallest head kept, in pixels (default 50)")
    p.add_argument("--max-area", type=int, help="largest head kept, in pixels (default: no limit)")
    p.add_argument(
        "--fakes-per-head", type=int, default=10, help="fake heads made per real head (default 10; 0 = none)"
    )
    p.add_argument(
        "--halo-px",
        type=int,
        default=HALO_PX,
        help=f"keep this many pixels of each head's surroundings, pasted with it but never labelled: the edge "
        f"the head really has (default {HALO_PX}; 0 = the head alone)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed for where fake textures are taken (default 0)")
    p.add_argument(
        "--replace",
        action="store_true",
        help="cut every frame again, also the unchanged ones (say, with another --min-area): the objects extracted "
        "before are deleted once the new extraction has finished - with --videos only those videos' (with --frames "
        "too: those frames'), the other videos' objects are kept; without --videos every object in the bank; if it "
        "fails, is stopped or is killed, the old objects are kept",
    )
    add_wait(p)
    add_threads(p)
    p.set_defaults(func=_extract_objects)

    p = sub.add_parser(
        "extract-backgrounds",
        help="cut background clips from a video of bare field (or inpaint the heads out of annotated frames)",
        description="Cut runs of consecutive frames from a video that shows the field without wheat heads (soil, "
        "leaves, stems). Synthetic clips paste heads onto these backgrounds, so the camera motion in "
        "the training data is real. SOURCE is a video already in the project or a video file / TIFF / "
        "image folder. Without bare-field footage, --from-annotated makes one clip per painted frame: "
        "its heads (grown by --dilate pixels) are filled with the surrounding field, and the picture is "
        "filmed by the video's own measured camera motion (--motion).",
        epilog="examples:\n  dvos extract-backgrounds field.dvos bare_plot.mp4 --clips 20\n"
        "  dvos extract-backgrounds field.dvos --from-annotated --clip-length 60",
    )
    add_project(p)
    p.add_argument("source", metavar="SOURCE", nargs="?", help="video id in the project, or path of a bare-field video")
    p.add_argument("--clip-length", type=int, default=60, help="frames per clip (default 60, as in the paper)")
    p.add_argument(
        "--clips",
        type=int,
        help="at most this many clips (default: as many as fit; with --from-annotated one per annotated frame)",
    )
    p.add_argument("--start", type=int, help="first frame to use (default 0)")
    p.add_argument("--stride", type=int, help="frames between clip starts (default: the clip length, no overlap)")
    p.add_argument("--prefix", help="clip names are PREFIX_000, PREFIX_001, ... (default: SOURCE name + _bg)")
    add_preprocess(
        p,
        "clips",
        as_is="keep the frames of a SOURCE file as they are (without any of these options, clips from a file are "
        "resized / cropped as the project's videos were when they were added, so the heads keep their size)",
    )
    a = p.add_argument_group("backgrounds from annotated frames (no bare-field video)")
    a.add_argument(
        "--from-annotated",
        action="store_true",
        help="inpaint the painted heads out of annotated frames and make one clip per frame",
    )
    a.add_argument("--videos", nargs="+", metavar="ID", help="only these videos (default: all but the test videos)")
    a.add_argument(
        "--frames",
        nargs="+",
        type=int,
        metavar="T",
        help="only these frames, of every video chosen (default: every painted one; without --videos, videos "
        "with no painted frame are left out); a frame number past the end of a video, or one whose mask is a "
        "model's (pseudo-label, prediction), not painted or corrected, is an error",
    )
    a.add_argument(
        "--dilate",
        type=int,
        help="grow the heads by this many pixels first (default 6, at most 256); a frame they then cover "
        "whole is skipped with a warning",
    )
    a.add_argument(
        "--inpaint",
        choices=("texture", "telea", "ns"),
        help="fill: 'texture' (smooth fill plus field detail from a head-free spot, default), or OpenCV's "
        "'telea' / 'ns' smooth fills",
    )
    a.add_argument(
        "--motion",
        choices=("auto", "measured", "default", "none"),
        help="camera motion of the clips: 'measured' (the video's own, around the frame), 'default' (a "
        "synthetic camera, see --camera-speed / --config), 'none' (a still), 'auto' (measured when the "
        "video has more than one frame; default)",
    )
    a.add_argument("--camera-speed", type=float, help="pan speed in px/frame for --motion default (default 1.5)")
    a.add_argument("--config", help="synthesis YAML whose camera_* settings drive --motion default")
    a.add_argument(
        "--replace",
        action="store_true",
        help="make clips again for frames that already have one, also unchanged ones (a frame repainted since "
        "its clip was made gets a new clip without it); their old clips are deleted once the new ones are all made",
    )
    a.add_argument("--seed", type=int, help="random seed for the fill and the synthetic camera (default 0)")
    add_wait(p)
    add_threads(p)
    p.set_defaults(func=_extract_backgrounds)


def _extract_objects(args) -> int:
    from dvos_core.cli._common import TerminalProgress, cancel_on_sigint
    from dvos_core.extract import extract_heads
    from dvos_core.extract.fakes import no_fakes_warning
    from dvos_core.extract.heads import withdrawn_note
    from dvos_core.store import Project

    project = Project.open(args.project)
    df = extract_heads(
        project,
        video_ids=args.videos,
        frames=args.frames,
        min_area=args.min_area,
        max_area=args.max_area,
        fakes_per_head=args.fakes_per_head,
        halo_px=args.halo_px,
        seed=args.seed,
        replace=args.replace,
        progress=TerminalProgress(),
        cancel=cancel_on_sigint(),
        threads=args.threads,
    )
    s = df.attrs
    old = s.get("unfingerprinted_frames")
    print(
        f"{s['heads']} heads and {s['fakes']} fakes from {s['frames']} frames; skipped {s['too_small']} blobs "
        f"under {args.min_area} px"
        + (f", {s['too_large']} over {args.max_area} px" if args.max_area else "")
        + (f"; {s['fakes_failed']} fakes found no head-free spot" if s["fakes_failed"] else "")
        + (f"; {s['recut_frames']} repainted frames cut again" if s.get("recut_frames") else "")
        + (f"; {withdrawn_note(s['withdrawn'])}" if s.get("withdrawn") else "")
        + (
            f"; {s['skipped_frames']} frames extracted before{'' if old else ' and unchanged'}, skipped (--replace "
            f"cuts them again)"
            if s["skipped_frames"]
            else ""
        )
    )
    legacy = no_fakes_warning(project)
    if legacy:  # skipped frames are not cut again: their heads stay without fakes
        print(legacy)
    if old:
        print(
            f"{old} of the frames skipped were cut before dvos recorded the mask they were cut from, so a repaint of "
            f"them is not seen; to cut them from their masks as painted now: dvos extract-objects "
            f"{quote(args.project)} --replace{' --videos ' + ' '.join(map(quote, args.videos)) if args.videos else ''}"
        )
    return 0


def _extract_backgrounds(args) -> int:
    from dvos_core.cli._common import TerminalProgress, cancel_on_sigint
    from dvos_core.extract import extract_backgrounds
    from dvos_core.extract.backgrounds import preprocess_options
    from dvos_core.store import Project

    if args.from_annotated:
        given = [
            opt
            for key, opt in BARE_FIELD_ONLY.items()
            if getattr(args, key) is not None and getattr(args, key) is not False
        ]
        if given:
            raise ValueError(
                f"{', '.join(given)} {'apply' if len(given) > 1 else 'applies'} only to clips cut from a bare-field "
                f"SOURCE, not to --from-annotated "
                f"(its clips keep the painted frames' size and take no start frame); leave {', '.join(given)} out"
            )
        return _backgrounds_from_annotated(args)
    given = [opt for key, opt in ANNOTATED_ONLY.items() if getattr(args, key) is not None]
    given += ["--replace"] if args.replace else []
    if given:
        raise ValueError(
            f"{', '.join(given)} {'apply' if len(given) > 1 else 'applies'} only to --from-annotated (clips inpainted "
            f"from painted frames); add "
            f"--from-annotated, or leave {', '.join(given)} out to cut clips from SOURCE"
        )
    if not args.source:
        raise ValueError("give SOURCE (a bare-field video) or --from-annotated to inpaint annotated frames")
    chosen = args.paper_preprocess or args.no_preprocess or args.height is not None or args.crop is not None
    project = Project.open(args.project)
    clips = extract_backgrounds(
        project,
        args.source,
        clip_length=args.clip_length,
        n_clips=args.clips,
        start=0 if args.start is None else args.start,
        stride=args.stride,
        bg_prefix=args.prefix,
        preprocess=preprocess_from_args(args) if chosen else None,
        progress=TerminalProgress(),
        cancel=cancel_on_sigint(),
        threads=args.threads,
    )
    if _took_videos_preprocessing(clips):
        (h0, w0), (h, w) = clips.source_size, clips[0].shape[1:3]
        print(
            f"no preprocessing given: the clips of {args.source} are resized / cropped from {h0}x{w0} to {h}x{w} "
            f"pixels as the project's videos were when they were added ({preprocess_options(clips.preprocessing)}), "
            f"so the heads keep their size on them (--no-preprocess keeps the file's frames as they are)"
        )
    kept = getattr(clips, "kept", [])
    if clips or not kept:
        print(
            f"added {len(clips)} background clip{'s' if len(clips) != 1 else ''} of {args.clip_length} frames: "
            f"{', '.join(c.name for c in clips)}"
        )
    if kept:
        print(
            f"{'no new clips: ' if not clips else ''}{len(kept)} clip{'s' if len(kept) != 1 else ''} of "
            f"{args.source} with these settings {'were' if len(kept) != 1 else 'was'} cut before and kept, not cut "
            f"again ({', '.join(kept)}); to cut them anew, delete them first (`dvos delete {quote(args.project)} "
            f"background ID --yes`), or choose other frames (--start, --stride)"
        )
    return 0


def _took_videos_preprocessing(clips) -> bool:
    """Whether to say that the clips cut from a file took the project's videos' preprocessing (none was given): only
    when this run cut clips (a rerun that finds them all cut before says so, not how they were cut) and the
    preprocessing changed the file's frames (a file already of the videos' size keeps its frames as they are)."""
    if not clips.from_videos or not clips:
        return False
    return tuple(clips[0].shape[1:3]) != tuple(clips.source_size)


def _backgrounds_from_annotated(args) -> int:
    from dvos_core.cli._common import TerminalProgress, cancel_on_sigint
    from dvos_core.extract import backgrounds_from_annotated
    from dvos_core.store import Project
    from dvos_core.synth.config import SynthConfig

    if args.source:
        raise ValueError("--from-annotated makes clips from the project's painted frames; leave out SOURCE")
    camera = SynthConfig.from_yaml(args.config) if args.config else SynthConfig()
    if args.camera_speed is not None:
        camera = camera.replace(camera_speed=args.camera_speed, camera_speed_min=0.0)
    project = Project.open(args.project)
    clips = backgrounds_from_annotated(
        project,
        video_ids=args.videos,
        frames=args.frames,
        clip_length=args.clip_length,
        n_clips=args.clips,
        dilate_px=6 if args.dilate is None else args.dilate,
        method=args.inpaint or "texture",
        motion=args.motion or "auto",
        camera=camera,
        bg_prefix=args.prefix,
        replace=args.replace,
        seed=0 if args.seed is None else args.seed,
        progress=TerminalProgress(),
        cancel=cancel_on_sigint(),
        threads=args.threads,
    )
    dropped = getattr(clips, "dropped", [])
    if not clips:
        print(
            f"no new clips; {len(dropped)} old clip(s) of repainted or cleared frames deleted (named above)"
            if dropped
            else "no new clips: every annotated frame already has one, of its mask as painted now (use --replace to "
            "make them again)"
        )
        return 0
    for c in clips:
        a = c.attrs
        print(
            f"{c.name}: {a['source']} frame {a['frame']}, {a['inpaint']['heads']} heads filled, "
            f"{a['motion']['kind']} motion ({a['motion']['median_shift_px']:.1f} px/frame)"
        )
    print(f"added {len(clips)} background clip{'s' if len(clips) != 1 else ''} of {args.clip_length} frames")
    if dropped:
        print(f"{len(dropped)} old clip(s) of repainted or cleared frames deleted (named above)")
    remade = getattr(clips, "remade", {})
    if remade:  # named by frame and the id each clip has now: a new clip may take the id an old one left free
        again = [c for c in clips if c.name in remade]
        print(
            f"{len(again)} of them made again for frames repainted since their clips were made (their old clips "
            f"deleted): "
            + ", ".join(f"video {c.attrs['source']!r} frame {c.attrs['frame']} (now {c.name})" for c in again)
        )
    return 0
