"""`dvos add-video`, `import-masks`, `export-masks`, `import-csv`, `export-csv`: getting data in and out."""

from __future__ import annotations

import argparse
import sys

from dvos_core.cli._common import add_preprocess, add_project, add_threads, add_wait, preprocess_from_args
from dvos_core.shell import quote


def _tag(text: str):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"tag {text!r} must look like key=value, e.g. variety=Arina")
    k, v = text.split("=", 1)
    if not k.strip():
        raise argparse.ArgumentTypeError(f"tag {text!r} has no key; it must look like key=value, e.g. variety=Arina")
    return k.strip(), v.strip()


def register(sub) -> None:
    from dvos_core.io.readers import VIDEO_SUFFIXES

    p = sub.add_parser(
        "add-video",
        help="import field videos into a project",
        description="Copy one or more field videos into the project so they can be annotated, used for training "
        f"and predicted. Accepts video files ({' '.join(VIDEO_SUFFIXES)}), multi-page TIFF files and folders of "
        "PNG/JPG images (one image per frame, in name order). By default frames are stored unchanged; "
        "--paper-preprocess resizes them to 1024 pixels high and keeps the central 1024x1024 square, as "
        "in the DVOS paper. If an import fails or is cancelled, nothing of that video is kept.",
        epilog="example: dvos add-video field.dvos plot1.mp4 --paper-preprocess",
    )
    add_project(p)
    p.add_argument("files", nargs="+", metavar="FILE", help="video file(s), TIFF stack(s) or image folder(s)")
    p.add_argument(
        "--id",
        help="name of the video in the project (default: the file name without extension); only with a single FILE",
    )
    add_preprocess(p)
    p.add_argument(
        "--split",
        default="unassigned",
        choices=("train", "val", "test", "unassigned"),
        help="use of the video: train, val (validation), test or unassigned (default)",
    )
    p.add_argument(
        "--tag",
        type=_tag,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="free label stored with the video, e.g. --tag variety=Arina --tag date=2023-06-14 (repeat)",
    )
    p.add_argument("--start", type=int, default=0, help="first frame to import (default 0)")
    p.add_argument("--stop", type=int, help="import up to (not including) this frame (default: to the end)")
    p.add_argument("--step", type=int, default=1, help="keep every STEP-th frame (default 1: all frames)")
    p.add_argument(
        "--fps",
        type=float,
        help="frame rate to record, 0.01 to 1000 (default: the video file's; image folders and TIFFs have none)",
    )
    p.add_argument(
        "--skip-existing",
        action="store_true",
        help="skip a FILE whose video id the project holds already, added from that same file (a script's retry of "
        "a file list); an id held by a video of another file is still refused",
    )
    add_wait(p)
    p.set_defaults(func=_add_video)

    p = sub.add_parser(
        "import-masks",
        help="load head masks painted in another program",
        epilog="example: dvos import-masks field.dvos plot1 plot1_masks/",
        description="Load masks for a video already in the project: a folder with one PNG/TIFF per frame (the frame "
        "number is the last number in the file name, e.g. plot1_000042.png -> frame 42), one multi-page TIFF (page k "
        "-> frame k) or a COCO JSON file (instance annotations as CVAT, Label Studio, Roboflow or makesense export "
        "them: polygons or RLE; each listed image goes to the frame numbered last in its file_name; an image without "
        "annotations, like an empty mask file, is left out, see --empty-images). Frame numbers count the frames "
        "stored in the project (0 = the first frame imported, whatever --start/--step the video was added with). "
        "Masks must have the frame's size "
        "with 0 = background and 1 or 255 = wheat head (colour masks: see --class and --labels). All files are "
        "checked before anything is written. Masks you painted yourself are never replaced by model output unless "
        "--overwrite.",
    )
    add_project(p)
    p.add_argument("video_id", metavar="VIDEO_ID", help="the video the masks belong to (see `dvos info`)")
    p.add_argument(
        "source", metavar="SOURCE", help="folder of mask images, a multi-page TIFF or a COCO JSON file (.json)"
    )
    p.add_argument(
        "--provenance",
        choices=("manual", "corrected", "pseudo", "predicted"),
        help="who made these masks: manual (painted by a person), corrected (a model's mask fixed by a person), "
        "pseudo or predicted (model output); default: what the masks.csv of dvos export-masks in SOURCE lists "
        "for each file, else manual",
    )
    p.add_argument(
        "--labels",
        action="store_true",
        help="the masks are instance label maps (one number per head, or one colour per head on black, as CVAT's "
        "SegmentationObject folder); every non-zero value (non-black colour) is a head",
    )
    p.add_argument("--overwrite", action="store_true", help="replace masks already in the project, even manual ones")
    p.add_argument(
        "--class",
        dest="label_class",
        metavar="NAME",
        help="colour masks from CVAT (Segmentation mask 1.1 export, read by the labelmap.txt beside their folder): "
        "the class that is the wheat heads, when labelmap.txt lists several (default: its only class besides "
        "background); for a COCO file, the heads' category (default: its only category besides background)",
    )
    p.add_argument(
        "--numbering",
        choices=("stored", "source"),
        help="what the numbers in the mask file names count: stored (the project's frames, 0 = the first frame "
        "imported; what export-masks writes) or source (the numbers of the video's image files or source frames, "
        "e.g. masks named like frames numbered from 1). Default stored; a video added from a folder whose file "
        "numbers differ from its stored ones asks which",
    )
    p.add_argument(
        "--first-number",
        type=int,
        default=0,
        metavar="N",
        help="the number the video's first frame's mask carries in the file names (default 0; 1 for masks named "
        "like frames that ffmpeg wrote as %%06d.png, or counted from 1 by hand)",
    )
    p.add_argument(
        "--empty-images",
        action="store_true",
        help="store empty mask files (or TIFF pages), and a COCO file's images without annotations, as frames with "
        "no heads (empty masks). Without it they are left out, with a note naming them: a mask for every frame (a "
        "labels layer saved whole, an export of every frame of a task, as CVAT's) holds blank ones where nobody "
        "painted. Masks exported by dvos always come back",
    )
    p.add_argument(
        "--from-video",
        metavar="ID",
        help="import the masks dvos export-masks wrote for video ID (listed so by its masks.csv, or named "
        "ID_<frame>) into VIDEO_ID: the same footage stored under another id. Without it, masks exported from "
        "another video are refused",
    )
    add_wait(p)
    p.set_defaults(func=_import_masks)

    p = sub.add_parser(
        "clear-masks",
        help="remove a video's masks of the given provenances (e.g. pseudo-labels)",
        epilog="example: dvos clear-masks field.dvos plot3 --provenance pseudo predicted --yes",
        description="Remove the masks of a video that have the given provenances, e.g. the pseudo-labels before "
        "making it a test video, or predicted masks copied into the labels. Frames keep their images; masks of "
        "other provenances stay. Without --yes it only says what would be cleared.",
    )
    add_project(p)
    p.add_argument("video_id", metavar="VIDEO_ID", help="the video whose masks to clear (see `dvos info`)")
    p.add_argument(
        "--provenance",
        nargs="+",
        required=True,
        choices=("manual", "corrected", "pseudo", "predicted", "synthetic"),
        metavar="PROVENANCE",
        help="which masks to clear, one or more of: manual, corrected, pseudo, predicted, synthetic",
    )
    p.add_argument("--yes", action="store_true", help="really clear them")
    add_wait(p)
    p.set_defaults(func=_clear_masks)

    p = sub.add_parser(
        "export-masks",
        help="save a video's masks as image files",
        epilog="example: dvos export-masks field.dvos plot3 plot3_masks/ --predictions --model context",
        description="Write the masks of one video as one image per frame (0 = background, 255 = head), named "
        "<video>_<frame>.png, plus masks.csv listing frame, file, who made each mask (the model, for predictions), "
        "its heads (parts of at least --min-area pixels), its pixels and the source frame it came from. --format "
        "coco writes one COCO JSON file, <video>_coco.json, instead: one annotation per 8-connected part (of any "
        "size), for annotation tools. A mask that cannot be read (a damaged or missing file of the store) is skipped "
        "with a warning, every other one written, and the command exits with status 1.",
    )
    add_project(p)
    p.add_argument("video_id", metavar="VIDEO_ID", help="the video whose masks to export")
    p.add_argument("out_dir", metavar="OUT_DIR", help="folder to write into (created if missing)")
    p.add_argument(
        "--format",
        dest="fmt",
        default="png",
        choices=("png", "tif", "coco"),
        help="png or tif images (default png), or coco: one COCO JSON file of polygons (RLE for a head with a hole)",
    )
    p.add_argument(
        "--predictions", action="store_true", help="export the model's predicted masks instead of the annotation masks"
    )
    p.add_argument("--model", help="with --predictions: whose predictions (default: the most recent set)")
    p.add_argument(
        "--min-area", type=int, default=16, help="smallest head counted in masks.csv, in pixels (default 16)"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace mask files of an earlier export in OUT_DIR even when they were edited since (or masks.csv does "
        "not list them); without it such an export is refused",
    )
    p.set_defaults(func=_export_masks)

    p = sub.add_parser(
        "export-video",
        help="save a video with its masks drawn on it (mp4/avi), for sharing",
        epilog="example: dvos export-video field.dvos plot3 plot3_heads.mp4 --predictions",
        description="Write one video as an .mp4 or .avi file with the outlines of its heads drawn on every frame and "
        "the frame's head count (parts of at least --min-area pixels, as dvos evaluate counts them) in its corner: "
        "a model's predictions with --predictions (default the most recent set), else the stored masks (painted, "
        "corrected, pseudo). Frames without a mask say so. The file appears only when it is whole.",
    )
    add_project(p)
    p.add_argument("video_id", metavar="VIDEO_ID", help="the video to write")
    p.add_argument("out", metavar="OUT", help="the video file to write: a name ending in .mp4 or .avi")
    p.add_argument("--predictions", action="store_true", help="draw a model's predictions instead of the stored masks")
    p.add_argument("--model", help="with --predictions: whose predictions (default: the most recent set)")
    p.add_argument("--fps", type=float, help="frames per second (default: the source video's, else 10)")
    p.add_argument(
        "--min-area", type=int, default=16, help="smallest head outlined and counted, in pixels (default 16)"
    )
    add_threads(p)
    p.set_defaults(func=_export_video)

    p = sub.add_parser(
        "export-csv",
        help="export frames and masks in the reference DVOS CSV layout",
        epilog="example: dvos export-csv field.dvos dvos_csv/ --videos plot1 plot2 --clip-length 5",
        description="Write frames and masks as PNG files plus a CSV with columns VID, FID, Image, Mask, Label, the "
        "layout read by the original DVOS training code. Runs of consecutive masked frames are cut into "
        "clips of --clip-length frames (one VID per clip, Label 1 on the clip's last frame).",
    )
    add_project(p)
    p.add_argument("out_dir", metavar="OUT_DIR", help="folder to write into (created if missing)")
    p.add_argument("--videos", nargs="+", metavar="ID", help="only these videos (default: all but the test videos)")
    p.add_argument(
        "--clip-length", type=int, default=5, help="frames per clip (default 5); 0 = whole runs, Label 1 on every frame"
    )
    p.add_argument("--absolute-paths", action="store_true", help="write absolute file paths in the CSV")
    p.set_defaults(func=_export_csv)

    p = sub.add_parser(
        "import-csv",
        help="import frames and masks listed in a reference DVOS CSV",
        epilog="example: dvos import-csv field.dvos dvos_csv/dataset.csv --prefix ref_",
        description="Read a CSV with columns VID, FID, Image, Mask, Label (the original DVOS layout): every VID "
        "becomes one video, frames ordered by FID, with masks where the Mask column is filled. Relative "
        "paths are taken from the CSV's folder.",
    )
    add_project(p)
    p.add_argument("csv", metavar="CSV", help="the CSV file")
    p.add_argument(
        "--provenance",
        default="manual",
        choices=("manual", "corrected", "pseudo", "predicted"),
        help="who made these masks (default manual)",
    )
    p.add_argument("--prefix", default="", help="text put in front of every VID to form the video ids")
    add_wait(p)
    p.set_defaults(func=_import_csv)


def _added_from(project, video_id: str, path) -> bool:
    """Whether video ``video_id`` was added from the file ``path`` (its ``source``: the resolved path)."""
    from dvos_core.shell import user_path

    return project.video(video_id).attrs.get("source") == str(user_path(path).resolve())


def _add_video(args) -> int:

    from dvos_core.cli._common import TerminalProgress, cancel_on_sigint
    from dvos_core.io import import_video
    from dvos_core.io.import_video import source_name
    from dvos_core.store import Project, safe_id
    from dvos_core.store.schema import id_made_up

    if args.id and len(args.files) > 1:
        raise ValueError("--id can only be used with a single FILE")
    project = Project.open(args.project)
    pre = preprocess_from_args(args)
    names = [source_name(f) for f in args.files]
    ids = [args.id or safe_id(name) for name in names]
    held = set(project.video_ids())
    # finished videos of these ids are taken (a leftover of a killed import gets replaced; a damaged one is named)
    existing = sorted({i for i in ids if i in held and project.video(i).import_complete})
    if existing and args.skip_existing:  # the same file added before: skipped; another file's id: refused below
        same = [
            k for k, (f, vid) in enumerate(zip(args.files, ids)) if vid in existing and _added_from(project, vid, f)
        ]
        for k in same:
            print(f"skipped {ids[k]}: added from {args.files[k]} already", file=sys.stderr)
        keep = [k for k in range(len(ids)) if k not in same]
        args.files, names, ids = ([x[k] for k in keep] for x in (args.files, names, ids))
        existing = [i for i in existing if i in ids]
        if not ids:
            return 0
    if existing:
        first = existing[0]
        again = [i for f, i in zip(args.files, ids) if i in existing and _added_from(project, i, f)]
        retry = (
            f" ({', '.join(again)} {'was' if len(again) == 1 else 'were'} added from the same file before: to go on "
            f"with the others, e.g. after an interrupted import, run it again with --skip-existing)"
            if again and not args.skip_existing
            else ""
        )
        raise ValueError(
            f"video id(s) {existing} already in {project.path}{retry}; import under another name with --id (one "
            f"FILE at a time), or delete the old video first (`dvos delete {quote(project.path)} video "
            f"{quote(first)} --yes`)"
        )
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:  # ids are made from the names: 'a.mp4' and 'a.avi', or '中文.mp4' and '日本.mp4' (both 'video')
        files = {i: [str(f) for f, j in zip(args.files, ids) if j == i] for i in twice}
        same = "; ".join(
            f"{' and '.join(fs)} {'both' if len(fs) == 2 else 'all'} give the video id {i!r}" for i, fs in files.items()
        )
        raise ValueError(
            f"{same} (a video's id is made from its file name, keeping letters, digits, '_', '.' and '-'); add "
            f"them one at a time and choose each one's id with --id (`dvos add-video {quote(project.path)} FILE "
            f"--id NAME`)"
        )
    from dvos_core.store import StoreError

    cancel = cancel_on_sigint()
    failed = []
    for f, vid, name in zip(args.files, ids, names):
        try:
            v = import_video(
                project,
                f,
                video_id=vid,
                preprocess=pre,
                split=args.split,
                tags=dict(args.tag),
                start=args.start,
                stop=args.stop,
                step=args.step,
                fps=args.fps,
                progress=TerminalProgress(),
                cancel=cancel,
            )
        except StoreError:  # the project itself (busy, read-only, damaged): the next files would fail the same way
            raise
        except (ValueError, OSError) as e:  # this file: say so and go on with the others
            if len(args.files) == 1:
                raise
            text = str(e)  # each error names its file (most do already; a size refusal did not)
            print(f"dvos add-video: error: {text if str(f) in text else f'{f}: {text}'}", file=sys.stderr)
            failed.append(str(f))
            continue
        made_up = (
            f" (id made up: {name!r} has no letter or digit an id can keep; choose one with --id)"
            if not args.id and id_made_up(name)
            else ""
        )
        print(f"added {v.name}: {len(v)} frames, {v.shape[1]}x{v.shape[2]} pixels, split={v.split}{made_up}")
    if failed:
        print(
            f"dvos add-video: added {len(args.files) - len(failed)} of {len(args.files)} videos; not added (errors "
            f"above): {', '.join(failed)}. Fix them and add just those again",
            file=sys.stderr,
        )
        return 2
    return 0


def _import_masks(args) -> int:
    from dvos_core.cli._common import TerminalProgress, cancel_on_sigint
    from dvos_core.io import import_masks
    from dvos_core.store import Project

    project = Project.open(args.project)
    written = import_masks(
        project,
        args.video_id,
        args.source,
        provenance=args.provenance,
        allow_labels=args.labels,
        overwrite=args.overwrite,
        progress=TerminalProgress(),
        cancel=cancel_on_sigint(),
        numbering=args.numbering,
        label_class=args.label_class,
        first_number=args.first_number,
        empty_images=args.empty_images,
        from_video=args.from_video,
    )
    from dvos_core.io.masks import written_kinds

    kinds = written_kinds(project.video(args.video_id), written)
    shown = ", ".join(f"{c} {k}" for k, c in sorted(kinds.items()))
    print(f"{args.video_id}: wrote {len(written)} masks" + (f" ({shown})" if shown else ""))
    return 0


def _clear_masks(args) -> int:
    from dvos_core.store import Project

    project = Project.open(args.project)
    video = project.video(args.video_id)
    counts = video.provenance_counts()
    listed = ", ".join(f"{counts.get(k, 0)} {k}" for k in args.provenance)
    if not args.yes:
        print(f"{args.video_id}: would clear {listed} mask(s); add --yes to clear them (there is no undo)")
        return 1  # a dry run: nothing done (as `dvos delete` without --yes)
    n = video.clear_masks(args.provenance)
    print(f"{args.video_id}: cleared {n} mask(s) ({listed})")
    return 0


def _export_masks(args) -> int:
    from dvos_core.cli._common import TerminalProgress, cancel_on_sigint, cancelled_exit, masks_choice
    from dvos_core.io import export_masks
    from dvos_core.progress import Cancelled
    from dvos_core.store import Project

    project = Project.open(args.project, mode="r")
    try:
        paths = export_masks(
            project,
            args.video_id,
            args.out_dir,
            fmt=args.fmt,
            which=masks_choice(args, "export"),
            progress=TerminalProgress(),
            cancel=cancel_on_sigint(),
            model=args.model,
            min_area=args.min_area,
            overwrite=args.overwrite,
        )
    except Cancelled:  # the generic word ("everything committed is kept") would promise the masks done so far
        return cancelled_exit(f"no mask was written to {args.out_dir} (the files there are as they were)")
    if args.fmt == "coco":
        print(f"{args.video_id}: wrote the masks as COCO annotations to {paths[0]}", end="")
    else:
        print(f"{args.video_id}: wrote {len(paths)} masks to {args.out_dir}", end="")
    if not paths.skipped:
        print()
        return 0
    print(  # the warning above named the frames, the first file and its fix
        f"; skipped {len(paths.skipped)} frame(s) whose masks could not be read (damaged or missing files of the "
        f"store, named above; `dvos check {quote(args.project)}` lists every one)"
    )
    return 1


def _export_video(args) -> int:
    from dvos_core.cli._common import TerminalProgress, cancel_on_sigint, cancelled_exit, masks_choice
    from dvos_core.io import write_overlay_video
    from dvos_core.progress import Cancelled
    from dvos_core.store import Project

    project = Project.open(args.project, mode="r")
    try:
        done = write_overlay_video(
            project,
            args.video_id,
            args.out,
            which=masks_choice(args, "draw"),
            model=args.model,
            fps=args.fps,
            min_area=args.min_area,
            progress=TerminalProgress(),
            cancel=cancel_on_sigint(),
            threads=args.threads,
        )
    except Cancelled:  # the generic word ("everything committed is kept") would promise a part of the video
        return cancelled_exit(f"no video was written to {args.out} (an earlier file of that name is as it was)")
    print(
        f"{args.video_id}: wrote {done['frames']} frames ({done['with_masks']} with {done['masks']}) at "
        f"{done['fps']:g} fps to {done['path']}"
    )
    return 0


def _export_csv(args) -> int:
    from dvos_core.cli._common import TerminalProgress, cancel_on_sigint, cancelled_exit
    from dvos_core.io import export_reference_csv
    from dvos_core.progress import Cancelled
    from dvos_core.store import Project

    project = Project.open(args.project, mode="r")
    try:  # its warnings (test videos left out, frames short of a clip) are said as they come, as every command's
        path = export_reference_csv(
            project,
            args.out_dir,
            video_ids=args.videos,
            clip_length=args.clip_length or None,
            absolute_paths=args.absolute_paths,
            progress=TerminalProgress(),
            cancel=cancel_on_sigint(),
        )
    except Cancelled:  # the generic word ("everything committed is kept") would promise the frames done so far
        return cancelled_exit(f"nothing was written to {args.out_dir} (the files there are as they were)")
    print(f"wrote {path}")
    return 0


def _import_csv(args) -> int:
    from dvos_core.cli._common import TerminalProgress, cancel_on_sigint
    from dvos_core.io import import_reference_csv
    from dvos_core.store import Project

    project = Project.open(args.project)
    videos = import_reference_csv(
        project,
        args.csv,
        provenance=args.provenance,
        id_prefix=args.prefix,
        progress=TerminalProgress(),
        cancel=cancel_on_sigint(),
    )
    print(f"imported {len(videos)} videos: {', '.join(v.name for v in videos)}")
    return 0
