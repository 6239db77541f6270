"""`dvos new`, `dvos info`, `dvos check`, `dvos migrate`, `dvos split`, `dvos delete` (and `dvos add-video`, see
io_cmds) — project store commands."""

from __future__ import annotations

import json

from dvos_core.cli._common import TerminalProgress, add_project, add_wait
from dvos_core.shell import quote

DELETE_KINDS = ("video", "background", "synthetic", "model", "report")


def register(sub) -> None:
    p = sub.add_parser(
        "new",
        help="create an empty project store",
        description="Create an empty dvos project store (a folder, e.g. field.dvos) that will hold "
        "videos, masks, extracted heads, synthetic clips, models and reports. Next step: "
        "`dvos add-video`.",
        epilog="example: dvos new field.dvos",
    )
    add_project(p, "folder to create, e.g. field.dvos")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dvos project at that path")
    add_wait(p)
    p.set_defaults(func=_new)

    p = sub.add_parser(
        "info",
        help="summarise a project store",
        description="List the videos (frames, split, tags, masks per provenance), extracted objects, "
        "background clips, synthetic sets, models and reports of a project.",
        epilog="example: dvos info field.dvos",
    )
    add_project(p)
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=_info)

    p = sub.add_parser(
        "check",
        help="read the whole project once and list what is damaged or unfinished",
        description="Read every committed frame, painted mask, prediction, background clip, synthetic clip, "
        "object and model checkpoint of a project, and list each part that cannot be read (a damaged or "
        "missing file, named with the fix) or that a stopped command left unfinished (with the command "
        "that finishes it). Only reads: nothing is changed. Exit status 0 when nothing is found, 1 when "
        "something is. Worth running after copying or syncing a project, or before a long training run.",
        epilog="example: dvos check field.dvos",
    )
    add_project(p)
    p.add_argument("--no-models", action="store_true", help="do not read the models' checkpoints")
    p.add_argument("--json", action="store_true", help="print the findings as machine-readable JSON")
    p.set_defaults(func=_check)

    p = sub.add_parser(
        "migrate",
        help="upgrade a project written by an older dvos to this dvos's store schema",
        description="Convert a project store, in place, from the schema an older dvos wrote to the "
        "schema this dvos reads (`dvos` refuses to open an old store and names this "
        "command). Back the folder up first (copy it): the conversion rewrites parts of "
        "the store. A project that is already current is left unchanged; a store of an "
        "unknown or newer schema is refused. A migration stopped half-way can simply be "
        "run again.",
        epilog="example: cp -r field.dvos field-backup.dvos && dvos migrate field.dvos",
    )
    add_project(p, "the project store to upgrade in place (back it up first)")
    add_wait(p)
    p.set_defaults(func=_migrate)

    p = sub.add_parser(
        "split",
        help="set what a video is used for: train, val, test or unassigned",
        description="Set the split of one or more videos. Training uses train (and unassigned) videos and "
        "validates on val videos; `dvos evaluate` scores the test videos. A test video's masks are its "
        "ground truth, so a video holding pseudo-labels, predicted or corrected masks cannot become a test "
        "video, and test videos never get such masks. The split may also come after the video ids.",
        epilog="example: dvos split field.dvos test plot3 plot4",
    )
    add_project(p)
    p.add_argument("split", metavar="{" + ",".join(SPLITS) + "}", help="the new split")
    p.add_argument("videos", nargs="+", metavar="VIDEO_ID", help="the videos to change (see `dvos info`)")
    add_wait(p)
    p.set_defaults(func=_split)

    p = sub.add_parser(
        "delete",
        help="delete a video, background clip, synthetic set, model, report or a model's predictions",
        description="Delete one item from the project, for good (there is no undo: back the folder up if "
        "unsure). Also removes leftovers of runs that failed or were killed (an interrupted import or "
        "synthetic set, a model folder without a checkpoint). `predictions MODEL` deletes that model's "
        "predictions from every video (or --videos), keeping the model and its reports: prediction sets of "
        "long videos take much of a project's disk. Without --yes it only says what would be deleted.",
        epilog="examples: dvos delete field.dvos synthetic synth_v1 --yes; "
        "dvos delete field.dvos predictions ctx_old --videos plot2 --yes",
    )
    add_project(p)
    p.add_argument("kind", choices=(*DELETE_KINDS, "predictions"), help="what to delete")
    p.add_argument("name", metavar="NAME", help="its id or name (see `dvos info`); for predictions, the model's")
    p.add_argument(
        "--videos", nargs="+", metavar="ID", help="predictions only: delete them from these videos (default: all)"
    )
    p.add_argument("--yes", action="store_true", help="really delete it")
    add_wait(p)
    p.set_defaults(func=_delete)


def _new(args) -> int:
    from dvos_core.store import Project, StoreError
    from dvos_core.store.schema import ProjectExistsError

    try:
        p = Project.create(args.project, overwrite=args.overwrite)
    except ProjectExistsError as e:  # the command's own fix first
        q = quote(str(e.path))
        raise StoreError(
            f"{e.path} already exists; use it as it is (e.g. `dvos info {q}`), or replace it with an empty project: "
            f"`dvos new {q} --overwrite` (Python: Project.open(path), or Project.create(path, overwrite=True))"
        ) from None
    print(f"created {p.path} (schema {p.attrs['schema_version']})")
    return 0


SPLITS = ("train", "val", "test", "unassigned")


def _split_words(split: str, videos: list[str]) -> tuple[str, list[str]]:
    """(split, video ids) from the command's words: the split first, or else last (``dvos split P plot1 test``
    reads as meant); anything else is a ValueError naming the choices and the usage."""
    if split in SPLITS:
        return split, videos
    if videos[-1] in SPLITS:
        return videos[-1], [split, *videos[:-1]]
    raise ValueError(
        f"no split named among {[split, *videos]}: name one of {', '.join(SPLITS)} before the video ids, "
        f"e.g. `dvos split PROJECT test {quote(split)}`"
    )


def _split(args) -> int:
    from dvos_core.store import Project

    args.split, args.videos = _split_words(args.split, args.videos)
    Project.open(args.project).set_split(args.videos, args.split)  # one refused leaves every video as it was
    print(f"split={args.split}: {', '.join(args.videos)}")
    return 0


def _delete(args) -> int:
    from dvos_core.store import Project
    from dvos_core.store.project import KINDS

    project = Project.open(args.project)
    if args.kind == "predictions":
        return _delete_predictions(project, args)
    if args.videos:
        raise ValueError(
            f"--videos is for `dvos delete {quote(args.project)} predictions MODEL`, not for a {args.kind}"
        )
    if not args.yes:
        folder = project.path / KINDS[args.kind][0] / args.name
        exists = folder.exists() or folder.is_symlink()
        made = _made_from(project.derived_from(args.name)) if args.kind == "video" else ""
        if not exists and made:  # a delete killed after its folder went: what was made from it is left
            print(
                f"video {args.name!r} is gone ({folder} does not exist), but what was made from it is still in the "
                f"project: {made}; run again with --yes to delete it"
            )
            return 1
        print(
            f"would delete {args.kind} {args.name!r} ({folder}, {'exists' if exists else 'does not exist'})"
            f"{made and ', with ' + made}; run again with --yes to delete it{_kept_predictions(project, args)}"
        )
        return 1
    folder = project.path / KINDS[args.kind][0] / args.name
    gone = args.kind == "video" and not (folder.exists() or folder.is_symlink())
    made = _made_from(project.delete(args.kind, args.name) or {})
    if gone:  # only leftovers of an earlier delete were there
        print(f"deleted what was left of video {args.name!r} in {project.path}: {made}")
    else:
        print(
            f"deleted {args.kind} {args.name!r} from {project.path}{made and ', with ' + made}"
            f"{_kept_predictions(project, args)}"
        )
    return 0


def _kept_predictions(project, args) -> str:
    """For a model: '; its predictions of videos ... stay ...' (a model's prediction sets are not deleted with
    it), else ''."""
    if args.kind != "model":
        return ""
    having = project.predicted_by(args.name)
    if not having:
        return ""
    return (
        f"; the predictions it made of {', '.join(having)} stay (delete them with `dvos delete {quote(project.path)} "
        f"predictions {quote(args.name)} --yes`)"
    )


def _delete_predictions(project, args) -> int:
    """``dvos delete P predictions MODEL [--videos ...]``: what would go (without --yes), or delete it."""
    ids = args.videos or project.video_ids()
    having = project.predicted_by(args.name, ids)  # unknown ids refused first
    if not args.yes:
        if not having:
            print(f"no video of {ids} has predictions of {args.name!r}; nothing to delete")
            return 1
        print(
            f"would delete the predictions of {args.name!r} from {len(having)} video(s): {', '.join(having)} (the "
            f"model and its reports stay); run again with --yes to delete them"
        )
        return 1
    gone = project.delete_predictions(args.name, args.videos, wait=args.wait)
    print(f"deleted the predictions of {args.name!r} from {', '.join(gone)} ({project.path})")
    return 0


def _made_from(made: dict) -> str:
    """'the 52 heads and 520 fakes cut from it and the background clip seed_inp_000 inpainted from it', or ''."""
    parts = []
    if made.get("heads") or made.get("fakes"):
        parts.append(f"the {made.get('heads', 0)} heads and {made.get('fakes', 0)} fakes cut from it")
    clips = made.get("backgrounds") or []
    if clips:
        parts.append(f"the background clip{'s' if len(clips) > 1 else ''} {', '.join(clips)} inpainted from it")
    return " and ".join(parts)


def _migrate(args) -> int:
    from dvos_core.store import SCHEMA_VERSION, Project

    steps = Project.migrate(args.project, progress=TerminalProgress())
    if not steps:
        print(f"{args.project} already uses store schema {SCHEMA_VERSION}; nothing to migrate")
    else:
        print(f"migrated {args.project}: store schema {' -> '.join(str(v) for v in steps)}")
    return 0


def _check(args) -> int:
    from dataclasses import asdict

    from dvos_core.cli._common import cancel_on_sigint
    from dvos_core.store import Project
    from dvos_core.store.check import check_project, tally

    project = Project.open(args.project, mode="r")
    found = check_project(project, models=not args.no_models, progress=TerminalProgress(), cancel=cancel_on_sigint())
    if args.json:
        print(json.dumps([asdict(f) for f in found], indent=2))
        return 1 if found else 0
    for f in found:
        print(f.line())
    if not found:
        unread = " (models not read: --no-models; a stopped training run is found by reading them)"
        unread = unread if args.no_models else ""
        print(f"{project.path}: every stored part reads, and no step was left unfinished{unread}")
    else:
        print(f"{project.path}: {tally(found)} (above)")
    return 1 if found else 0


def _info(args) -> int:
    from dvos_core.checkpoint_header import project_model_settings, settings_line
    from dvos_core.store import Project
    from dvos_core.store.notes import (
        leftover_note,
        misnamed_model_note,
        outdated_note,
        stale_writer_note,
        stopped_pseudo_note,
        unfinished_note,
    )

    s = Project.open(args.project, mode="r").summary()
    s["model_settings"] = project_model_settings(s["path"], s["models"])
    if args.json:
        print(json.dumps(s, indent=2))
        return 0
    print(f"project {s['path']} (schema {s['schema_version']})")
    if s.get("writer"):
        print(f"being written now by {s['writer']}: what it is making may look unfinished below until it ends")
    if s.get("stale_writer"):  # killed mid-write, or copied while it wrote
        print(
            f"warning: {stale_writer_note(s['path'], s['stale_writer'])}; `dvos check {quote(s['path'])}` names "
            "what it left damaged or unfinished"
        )
    print(f"videos: {len(s['videos'])}")
    for v in s["videos"]:
        prov = ", ".join(f"{k} {n}" for k, n in v["provenance"].items()) or "no masks"
        tags = " ".join(f"{k}={val}" for k, val in v["tags"].items())
        print(
            f"  {v['id']:<20} {v['frames']:>6} frames {v['size'][0]}x{v['size'][1]}  split={v['split']:<10} "
            f"{prov}  {tags}"
        )
        if v["predicted_by"]:
            print(f"  {'':<20} predicted by {', '.join(v['predicted_by'])}")
            for m, ckpt in (v.get("predicted_by_other_projects") or {}).items():  # not one of this project's models
                print(f"  {'':<20} {m}: made by {ckpt} (a model of another project)")
            unfinished = v.get("predictions_unfinished") or {}
            for m, d in unfinished.items():  # a predict stopped half-way: say so
                print(f"  {'':<20} {unfinished_note(s['path'], v['id'], m, d)}")
            for m, d in (v.get("predictions_outdated") or {}).items():  # trained again, or its source made again
                if not (unfinished.get(m) or {}).get("why"):  # (the unfinished note says it, with the command)
                    print(f"  {'':<20} {outdated_note(s['path'], v['id'], m, d)}")
        if v.get("pseudo_label_stopped"):
            print(f"  {'':<20} {stopped_pseudo_note(s['path'], v['id'], v['pseudo_label_stopped'])}")
        if not v["complete"]:
            running = " (or an import still running: see the writer above)" if s.get("writer") else ""
            print(f"  {'':<20} interrupted import{running}: add the video again to replace it")
    print(f"objects: {s['objects']['head']} heads, {s['objects']['fake']} fakes")
    for vid, counts in (s.get("orphaned_objects") or {}).items():
        print(
            f"  {counts.get('head', 0)} heads and {counts.get('fake', 0)} fakes were cut from video {vid!r}, which "
            f"is no longer in the project (a delete stopped half-way, or its folder was removed by hand): remove "
            f"them with `dvos delete {quote(s['path'])} video {quote(vid)} --yes`"
        )
    print("backgrounds: " + (", ".join(f"{k} ({n} frames)" for k, n in s["backgrounds"].items()) or "none"))
    if s["backgrounds_interrupted"]:
        print(
            f"  interrupted background clips (not used): {', '.join(s['backgrounds_interrupted'])}; cut them again "
            f"or `dvos delete {quote(s['path'])} background NAME --yes`"
        )
    note = ", interrupted while being created: `dvos delete` it or run `dvos synth` again"
    sets = [
        f"{k} ({d['clips_done']}/{d['clips']} clips{note if d.get('interrupted') else ''})"
        for k, d in s["synthetic"].items()
    ]
    print("synthetic: " + (", ".join(sets) or "none"))
    print(f"models: {', '.join(s['models']) or 'none'}")
    for name, settings in s["model_settings"].items():
        print(f"  {name}: {settings_line(settings)}")
    for folder in s.get("misnamed_models", []):  # a checkpoint in a folder whose name no command takes
        print(f"  {misnamed_model_note(folder)}")
    print(f"reports: {', '.join(s['reports']) or 'none'}")
    for message in s.get("unreadable", []):  # a damaged video, clip or set: the file and the fix
        print(f"unreadable: {message}")
    for folder in s.get("hidden_leftovers", []):  # left beside the project by a `dvos new` that was stopped
        print(f"leftover: {leftover_note(s['path'], folder)}")
    return 0
