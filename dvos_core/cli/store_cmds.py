"""`dvos new`, `dvos info`, `dvos migrate` (and `dvos add-video`, see io_cmds) — project store commands."""

from __future__ import annotations

import json

from dvos_core.cli._common import TerminalProgress, add_project


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
    p.set_defaults(func=_migrate)


def _new(args) -> int:
    from dvos_core.store import Project

    p = Project.create(args.project, overwrite=args.overwrite)
    print(f"created {p.path} (schema {p.attrs['schema_version']})")
    return 0


def _migrate(args) -> int:
    from dvos_core.store import SCHEMA_VERSION, Project

    steps = Project.migrate(args.project, progress=TerminalProgress())
    if not steps:
        print(f"{args.project} already uses store schema {SCHEMA_VERSION}; nothing to migrate")
    else:
        print(f"migrated {args.project}: store schema {' -> '.join(str(v) for v in steps)}")
    return 0


def _info(args) -> int:
    from dvos_core.store import Project

    s = Project.open(args.project, mode="r").summary()
    if args.json:
        print(json.dumps(s, indent=2))
        return 0
    print(f"project {s['path']} (schema {s['schema_version']})")
    print(f"videos: {len(s['videos'])}")
    for v in s["videos"]:
        prov = ", ".join(f"{k} {n}" for k, n in v["provenance"].items()) or "no masks"
        tags = " ".join(f"{k}={val}" for k, val in v["tags"].items())
        print(
            f"  {v['id']:<20} {v['frames']:>6} frames {v['size'][0]}x{v['size'][1]}  split={v['split']:<10} "
            f"{prov}  {tags}"
        )
        if not v["complete"]:
            print(f"  {'':<20} interrupted import: add the video again to replace it")
    print(f"objects: {s['objects']['head']} heads, {s['objects']['fake']} fakes")
    print("backgrounds: " + (", ".join(f"{k} ({n} frames)" for k, n in s["backgrounds"].items()) or "none"))
    print(
        "synthetic: "
        + (", ".join(f"{k} ({d['clips_done']}/{d['clips']} clips)" for k, d in s["synthetic"].items()) or "none")
    )
    print(f"models: {', '.join(s['models']) or 'none'}")
    print(f"reports: {', '.join(s['reports']) or 'none'}")
    return 0
