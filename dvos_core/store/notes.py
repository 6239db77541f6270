"""What a step that stopped part-way left in a project, and the command that finishes it (or the way to clear it):
the notes ``dvos info``, ``dvos check`` and the napari panel show. A rebuilt command gives the options the step ran
with, leaving out those at their defaults."""

from __future__ import annotations

from pathlib import Path

from dvos_core.prediction_options import REFERENCE_MASKS, SMOOTH_AFTER, SMOOTH_BEFORE, THRESHOLD
from dvos_core.store.fsops import own_model_file, same_checkpoint
from dvos_core.store.project import REPLACED
from dvos_core.store.schema import StoreError


def misnamed_model_note(folder) -> str:
    """What a folder under ``models/`` holding a checkpoint under a name dvos cannot use is, and how to rename it."""
    import shlex

    from dvos_core.store.schema import safe_id

    folder = Path(folder)
    better = folder.with_name(safe_id(folder.name))
    return (
        f"{folder} holds a checkpoint, but {folder.name!r} is no model name dvos can use (letters, digits, '_', '.', "
        f"'-', starting with a letter or digit), so no command sees it: rename the folder, e.g. "
        f"`mv {shlex.quote(str(folder))} {shlex.quote(str(better))}`"
    )


def predict_fix(project_path, model: str, videos: list) -> str:
    """How to get prediction set ``model`` of ``videos`` (ids), for an error that says they lack it: the `dvos
    predict` command when the project has a model of that name, else that it has no model (nor set) of that name,
    with its models and prediction sets to choose from (a predict command with that name would fail too)."""
    from dvos_core.shell import quote
    from dvos_core.store.project import Project

    ids = " ".join(map(quote, videos))
    command = f"`dvos predict {quote(project_path or 'PROJECT')} {quote(model)} --videos {ids}`"
    try:
        project = Project.open(project_path, "r")
        models = project.model_names()
        sets = sorted({m for v in project.videos() for m in v.predictions.models()})
    except (StoreError, OSError, ValueError, TypeError):  # no project to look in: the command to run
        return f"predict {'it' if len(videos) == 1 else 'them'} with that model: {command}"
    if model in models:
        return f"predict {'it' if len(videos) == 1 else 'them'} with that model: {command}"
    names = f"its models: {', '.join(models) or 'none'}; its prediction sets: {', '.join(sets) or 'none'}"
    if model in sets:
        return (
            f"the project has no model {model!r} to predict {'it' if len(videos) == 1 else 'them'} with ({names}): "
            f"choose one of those"
        )
    return f"the project has no model or prediction set named {model!r} ({names}): choose one of those"


def leftover_note(project_path, folder) -> str:
    """What a hidden folder left beside the project by a stopped ``dvos new`` is, and what to do with it."""
    import shlex

    q = shlex.quote(str(project_path))
    if f".{REPLACED}-" in Path(folder).name:
        what = f"holds the project that `dvos new {q} --overwrite` replaced (stopped before deleting it)"
    else:
        what = f"is the unfinished build of `dvos new {q}`, which was stopped"
    return (
        f"{folder} {what}; it is not part of the project: delete it (`rm -rf {shlex.quote(str(folder))}`) once you "
        f"know you do not need it"
    )


def stale_writer_note(project_path, record: dict) -> str:
    """What the writer ``record`` (:meth:`~dvos_core.store.lock.WriterLock.stale_record`) left in the project means,
    and what to do: resume the command it names, or, for a copy taken while it wrote, copy the project again."""
    from dvos_core.store.lock import HOLDER_NAME

    command = record.get("command") or "a dvos command"
    step = f", {record['operation']}" if record.get("operation") else ""
    pid, host, since = (record.get(k, "?") for k in ("pid", "host", "since"))
    who = f"`{command}` (process {pid} on {host}{step}, since {since})"
    return (
        f"{Path(project_path) / HOLDER_NAME} says {who} was writing the project, but no process writes it now: that "
        f"command was killed mid-write, or this project is a copy taken while it wrote (a copy can then mix old and "
        f"new data: copy the original again while no dvos command writes it); otherwise run that command again to "
        f"finish its work (a command that writes the project removes this file)"
    )


def stopped_pseudo_note(project_path, video: str, stopped: dict) -> str:
    """What a stopped pseudo-labelling left (``stopped``: the summary's ``pseudo_label_stopped``) and the command
    that finishes it."""
    import shlex

    q = shlex.quote
    made_by = stopped.get("checkpoint")
    model = checkpoint_argument(project_path, made_by, stopped.get("checkpoint_in_project")) if made_by else "MODEL"
    opts = stopped.get("options", "")
    command = f"dvos pseudo-label {q(str(project_path))} {q(str(model))} --videos {q(video)}{opts}"
    reached = stopped.get("relabelled_through")
    if stopped.get("overwrite") and isinstance(reached, int) and reached > 0:
        return (
            f"relabelling by {model} stopped at frame {reached} (or is still running): the frames after it keep what "
            f"they held before it (another model's labels, or none); finish it with `{command} --overwrite` (it "
            f"keeps the frames relabelled)"
        )
    if stopped.get("overwrite"):
        return (
            f"relabelling by {model} stopped (or is still running): the frames it did not reach keep what they held "
            f"before it (another model's labels, or none); relabel every frame with `{command} --overwrite`"
        )
    return (
        f"pseudo-labelling by {model} stopped (or is still running) before every frame was labelled: finish it with "
        f"`{command}` (it keeps the labels made)"
    )


def unfinished_note(project_path, video: str, model: str, d: dict, delete: bool = False) -> str:
    """What an unfinished prediction set (``d``: an entry of the summary's ``predictions_unfinished``) is and the
    command that finishes it: ``dvos predict`` with the checkpoint that made it, or ``dvos smooth`` with the
    settings that made a smoothed set (both resume; a smoothed set whose source was predicted again since is
    started over). ``delete``: name the command that deletes the set too (it is
    named anyway for a set no command makes again)."""
    drop = _delete_set(project_path, model, video)
    head = (
        f"{model}: only {d['done']}/{d['frames']} frames predicted (unfinished: interrupted, or run on some frames "
        f"only)"
    )
    if not d.get("checkpoint") and not d.get("kind"):  # nothing records what made it
        if d["done"]:  # frames written from Python (predictions[NAME].set), with no record of a model
            return (
                f"{model}: {d['done']}/{d['frames']} frames predicted, written without a record of the model that "
                f"made them (from Python, e.g. predictions[{model!r}].set), so no command finishes it: write the "
                f"other frames the same way, or delete the set ({drop})"
            )
        # a run killed as it began, before it recorded what makes it
        return (
            f"{head}; it holds nothing yet: run the command that made it again (it takes the set over), or delete it "
            f"({drop})"
        )
    predicted = d.get("kind") != "smoothed"
    older = predicted and d.get("resumable") is False  # from a schema-2 store: not fingerprinted
    retrained = predicted and d.get("why")  # its checkpoint trained again since: its frames cannot be resumed
    command = set_command(project_path, [video], model, d, replace=bool(older or retrained))
    if command is None:  # made from Python with a model in memory
        note = f"{head}; predict the video again with the model that made it to finish it"
    elif not predicted and d.get("why"):  # its source changed since: what was smoothed cannot be resumed
        note = f"{head}, {d['why']}; " + _smooth_over(project_path, video, d, command)
    elif retrained:
        note = f"{head}, {d['why']}; make it again with `{command}` (every frame is predicted again)"
    elif older:
        note = f"{head}; finish it with `{command}` (a set from an older store: every frame is predicted again)"
    else:
        note = f"{head}; finish it with `{command}` (it resumes)"
    return f"{note}, or delete the set ({drop})" if delete else note


def _delete_set(project_path, model: str, video: str) -> str:
    """The command (in backticks) that deletes prediction set ``model`` of ``video``."""
    import shlex

    q = shlex.quote
    return f"`dvos delete {q(str(project_path))} predictions {q(model)} --videos {q(video)} --yes`"


def _smooth_over(project_path, video: str, d: dict, command: str) -> str:
    """How to make again an unfinished smoothed set whose source changed since (``d["source_change"]``, see
    ``ModelPredictions.source_change``): ``dvos smooth`` starts it over (with a warning) once the source was predicted
    again; a source deleted, or made by a model trained again and not predicted again, is predicted again first
    (smoothing would fail, or resume from its out-of-date masks)."""
    over = (
        f"make it again with `{command}` (it starts over, not resumes: the frames smoothed so far came from the "
        f"earlier {d.get('source')!r}, so every frame is smoothed again)"
    )
    first = _source_first(project_path, [video], d)
    return f"{first}, then {over}" if first else over


def _source_first(project_path, videos: list, d: dict) -> str:
    """For a smoothed set whose source changed since (``d``: its ``outdated_record``): what must be done to the source
    before ``dvos smooth`` can make the set again - "" when the source was predicted again; a source deleted is
    predicted again first (``dvos smooth`` refuses a set with no predictions), with the checkpoint that made it when
    the set records it, and a source made by a model trained again is predicted again with the model as it is."""
    import shlex

    source, change = d.get("source"), d.get("source_change")
    if change == "predicted":
        return ""
    if change == "retrained":  # the source set itself is named as out of date, with its command
        return f"predict {source!r} again first, with the model as it is (`dvos info` names the command)"
    q = shlex.quote
    ckpt = d.get("checkpoint")
    known = ckpt and not str(ckpt).startswith("<")  # (not a model in memory)
    ckpt = checkpoint_argument(project_path, str(ckpt), d.get("checkpoint_in_project")) if known else "CHECKPOINT"
    name = "" if ckpt == source else f" --name {q(str(source))}"
    vids = " ".join(q(v) for v in videos)
    return f"predict {source!r} again first (`dvos predict {q(str(project_path))} {q(ckpt)} --videos {vids}{name}`)"


def outdated_note(project_path, video: str, model: str, d: dict) -> str:
    """What an out-of-date prediction set (``d``: an entry of the summary's ``predictions_outdated``) holds and the
    command that makes it again (for a smoothed set whose source was deleted or made by a model trained again: the
    source is predicted again first)."""
    command = set_command(project_path, [video], model, d, replace=True)
    redo = f"make it again with `{command}`" if command else "predict the video again with the model as it is"
    first = _source_first(project_path, [video], d) if d.get("kind") == "smoothed" and command else ""
    if first:
        redo = f"{first}, then {redo}, or delete the set ({_delete_set(project_path, model, video)})"
    return f"{model}: {d['why']}, so its masks are not what it stands for now; {redo}"


def outdated_warning(project_path, model: str, d: dict, videos: list, effect: str, aim: str) -> str:
    """The warning for prediction set(s) ``model`` of ``videos`` out of date (``d``: its ``set_record`` plus
    ``why``, see ``store.project.outdated_record``): what it means for the caller (``effect``) and the command that
    makes it again, ``aim`` said after it (e.g. "to score the model as it is")."""
    command = set_command(project_path, videos, model, d, replace=True)
    vids = ", ".join(videos)
    if d.get("kind") == "smoothed":
        redo = f"smooth again (`{command}`)" if command else "smooth again"
        first = _source_first(project_path, videos, d) if command else ""
        redo = f"{first}, then {redo}" if first else redo
        head = f"the smoothed predictions {model!r} in {vids} no longer match their source"
        return f"{head}: {d['why']}, so {effect}; {redo} {aim}"
    redo = f"predict again (`{command}`)" if command else "predict again with the model as it is"
    return f"the predictions of {model!r} in {vids} were {d['why']}: {effect}; {redo} {aim}"


def retrained_note(project, model_file) -> str:
    """After ``model_file`` (a checkpoint of ``project``) was trained again: its prediction sets that now hold the
    earlier version's masks, and the commands that make them again ("" when none). A video or set that cannot be
    read is passed over (a note; ``dvos info`` and ``dvos check`` name the damage)."""
    from dvos_core.store.predictions import recorded_checkpoint
    from dvos_core.store.project import outdated_record

    def sets(vid):
        try:
            video = project.video(vid)
            return [(name, video.predictions[name]) for name in video.predictions.models()]
        except (StoreError, OSError, ValueError):  # a damaged video or predictions folder
            return []

    target = Path(model_file).resolve()
    held: dict = {}  # set name -> (its record, [videos])
    try:
        ids = project.video_ids()
    except (StoreError, OSError, ValueError):  # a damaged videos/zarr.json
        ids = []
    for vid in ids:
        for name, mp in sets(vid):
            try:
                a = mp.attrs
                recorded = recorded_checkpoint(project.path, a)
                if a.get("kind") == "smoothed" or not recorded or Path(recorded).resolve() != target:
                    continue
            except (StoreError, OSError, ValueError):
                continue
            d = outdated_record(mp, a)
            if d:
                held.setdefault(name, (d, []))[1].append(vid)
    parts = []
    for name, (d, videos) in held.items():
        command = set_command(project.path, videos, name, d, replace=True)
        parts.append(f"{name!r} in {', '.join(videos)}" + (f" (`{command}`)" if command else ""))
    if not parts:
        return ""
    return (
        f"these predictions were made by the earlier version of {model_file} and now say what that model did, not "
        f"this one: {'; '.join(parts)}; predict them again to use the model as it is"
    )


def set_command(project_path, videos: list, model: str, d: dict, replace: bool = False) -> str | None:
    """The command that makes prediction set ``model`` of ``videos`` again with the settings ``d`` records
    (``store.project.set_record``): ``dvos smooth`` for a smoothed set, else ``dvos predict`` with the checkpoint
    that made it (None when that was a model in memory, or is not recorded). ``replace``: the set's frames are not
    resumed but made again (its checkpoint trained again since, or a set from an older store), which `dvos predict`
    does only with ``--replace``; a smoothed set is made again by ``dvos smooth`` as it is."""
    import shlex

    q = shlex.quote
    vids = " ".join(q(v) for v in videos)
    if d.get("kind") == "smoothed":
        if not d.get("source"):
            return None
        opts = f" --before {d.get('before', SMOOTH_BEFORE)} --after {d.get('after', SMOOTH_AFTER)}"
        opts += " --camera-only" if d.get("follow_sway") is False else ""
        opts += " --only-outliers" if d.get("only_outliers") else ""
        opts += f" --threshold {d['threshold']:g}" if isinstance(d.get("threshold"), (int, float)) else ""
        return f"dvos smooth {q(str(project_path))} {q(d['source'])} --videos {vids} --name {q(model)}{opts}"
    ckpt = d.get("checkpoint")
    if not ckpt or str(ckpt).startswith("<"):
        return None
    ckpt = checkpoint_argument(project_path, str(ckpt), d.get("checkpoint_in_project"))
    opts = "" if ckpt == model else f" --name {q(model)}"
    image = d.get("image_checkpoint")
    if image and not str(image).startswith("<"):  # the paper's model's first frames
        first = checkpoint_argument(project_path, str(image), d.get("image_checkpoint_in_project"))
        opts += f" --image-model {q(first)}"
    threshold = d.get("threshold")
    opts += f" --threshold {threshold:g}" if isinstance(threshold, (int, float)) and threshold != THRESHOLD else ""
    opts += " --passes 2" if d.get("passes") == 2 else ""
    opts += (
        f" --reference-masks {q(d['reference_masks'])}"
        if d.get("reference_masks") not in (None, REFERENCE_MASKS[0])
        else ""
    )
    scales = d.get("scales")  # recorded from 0.2.0 (a set made before at other scales is predicted again)
    opts += f" --scales {q(scales)}" if isinstance(scales, str) and scales != "auto" else ""
    # another tiling or number format starts the set over: repeated as recorded (a default tile size is the model's,
    # and "auto" precision resolves by machine, so neither can be left to the defaults of the command given here)
    for option, key in (("--tile-size", "tile_size"), ("--overlap", "overlap")):
        value = d.get(key)
        opts += f" {option} {value}" if isinstance(value, int) and not isinstance(value, bool) else ""
    precision = d.get("precision")
    opts += f" --precision {q(precision)}" if precision in ("fp32", "bf16") else ""
    opts += " --replace" if replace else ""
    return f"dvos predict {q(str(project_path))} {q(ckpt)} --videos {vids}{opts}"


def checkpoint_argument(project_path, checkpoint: str, inside: bool | None = None) -> str:
    """How a command given to the user names a recorded checkpoint: this project's model NAME for its
    ``models/NAME/best.pt`` (what ``dvos predict PROJECT NAME`` uses, wherever the project has moved), else the path
    as recorded. ``inside``: the record's ``checkpoint_in_project``; a record without it (an older dvos) holds the
    path as typed, relative to the folder the command ran in or the original's path in a copy of the project, and a
    model of this project it names is found by :func:`~dvos_core.store.fsops.same_checkpoint`."""
    p = Path(checkpoint)
    if inside is not None:
        own = own_model_file(project_path, checkpoint, True) if inside else None
        if own is None:
            return checkpoint
        return own.parent.name if own.name == "best.pt" else str(own)
    own = Path(project_path) / "models" / p.parent.name / "best.pt"
    try:
        mine = p.name == "best.pt" and (p.resolve() == own.resolve() or (own.is_file() and same_checkpoint(p, own)))
    except OSError:
        mine = False
    return p.parent.name if mine else checkpoint


def training_progress(state: dict, saved: dict) -> str:
    """How far a training run got (``state``: its last.pt's train_state; ``saved``: its training config), as
    "after 3 of 10 epoch(s) and 40 step(s)"."""
    done, step, planned = int(state.get("epoch", 0)), int(state.get("step", 0)), (saved or {}).get("epochs")
    return f"after {done}{f' of {planned}' if planned else ''} epoch(s)" + (f" and {step} step(s)" if step else "")


def stopped_training_note(project, name: str, state: dict, saved: dict, init: dict | None = None) -> str:
    """What a training run stopped part-way left (``state``: its last.pt's train_state; ``saved``: its training
    config; ``init``: its record of the checkpoint it started from) and how to finish it. A run whose starting
    checkpoint is no longer where it recorded it (moved or deleted) is told to give the file's new place with
    --init-from: its config.yaml names the old one, which the command would refuse."""
    import shlex

    from dvos_core.store.fsops import checkpoint_now

    q = shlex.quote
    folder = project.model_dir(name)
    extra = " --real-share off" if saved and "real_share" not in saved else ""  # begun before the setting existed
    began = (saved or {}).get("init_from")
    if began and checkpoint_now(began, (init or {}).get("in_project"), project.path) is None:
        extra += " --init-from NEW_PLACE"
        gone = (
            f"; it began from {began}, which is not there now (moved or deleted?): give where that file lies now, or a "
            f"copy of it, as NEW_PLACE (it is known by its bytes)"
        )
    else:
        gone = ""
    where = training_progress(state, saved)
    keep = (
        "; or keep it as it is: best.pt, its best epoch so far, predicts"
        if (folder / "best.pt").is_file()
        else " (no best.pt yet: it cannot predict)"
    )
    return (
        f"training stopped {where} (or is still running): continue it with `dvos train {q(str(project.path))} "
        f"--name {q(name)} --config {q(str(folder / 'config.yaml'))}{extra}` (it resumes from last.pt with the "
        f"settings it was started with), or delete it (`dvos delete {q(str(project.path))} model {q(name)} "
        f"--yes`){keep}{gone}"
    )
