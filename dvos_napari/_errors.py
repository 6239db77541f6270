"""Errors in the user's words: the core speaks to command-line and Python users (``--device cpu``, ``dvos predict``,
``ValueError``); the panel names its own steps, fields and buttons instead, and keeps the original text and the
traceback as the technical details behind a "details" toggle."""

from __future__ import annotations

import re
import traceback as _traceback
import weakref
from dataclasses import dataclass

from dvos_napari import _mask_files as _mf

# commands the panel has no button for, and Python code: kept as written (to type in a terminal or a Python
# console) instead of being sent to "the matching step", which does not exist
KEEP: list[str] = [
    r"`dvos delete [^`]* (?:background|synthetic|model|report) [^ `]+(?: --yes)?`",
    r"`dvos delete [^`]* predictions [^`]*--videos [^`]*`",  # the Review step deletes a model's from every video
    r"(?<=is no longer in the project: remove them with )`dvos delete [^`]*`",  # a video the table no longer lists
    r"`dvos (?:import-masks(?! \.\.\. --numbering source`)|export-masks|migrate)\b[^`]*`",
    r"`dvos evaluate [^`]*--gt [^`]*`",  # the Review step scores every kind of mask: painted ones alone, a terminal
    r"`dvos evaluate [^`]*--min-area [^`]*`",  # the Review step counts heads of evaluate's default size
    r"`Project\.[^`]*`",
]
_KEPT = "\x00{}\x00"
# (pattern, replacement): specific phrases first, then the generic command and option rules
REWRITES: list[tuple[str, str]] = [
    (r"\(the --config file of `dvos synth`; the Synthesize step's settings\)", "(the Synthesize step's settings)"),
    (r"\s*\(or dvos_core\.[\w.]+\)", ""),
    # an image folder added with odd file numbers (the Project step): the Annotate step imports masks named so
    (
        r"`dvos import-masks \.\.\. --numbering source`",
        f"Import masks... in the Annotate step, with '{_mf.NUMBERING}' set to '{_mf.NUMBERING_CHOICES['source']}' "
        f"({_mf.OPTIONS})",
    ),
    # dvos check's findings (Check project... in the Project step): finish a step the way it was started
    (r"run the same `dvos predict` again", "run Predict again with the same model (Predict step)"),
    (
        r"finish it with `dvos predict [^`]*` \(it resumes\)",
        "finish it: run Predict again with the same model, set name and options (Predict step; it resumes)",
    ),
    (
        r"run the command that made it again to finish it \(`dvos synth`, or `dvos run-all`, or Generate in the "
        r"Synthesize step: each resumes\)",
        "run Generate again with the same set name (Synthesize step) to finish it",
    ),
    (r"run the same `dvos extract-backgrounds` again", "run Extract backgrounds again (Extract step)"),
    # extract_backgrounds on a video with labelled heads: the Extract step's choice of where the clips come from
    (
        r"\(--from-annotated; Python: backgrounds_from_annotated\)",
        "(Extract backgrounds with 'make the clips from' set to 'annotated frames (inpaint the heads)', Extract step)",
    ),
    (r"run the same `dvos synth` again", "run Generate again with the same set name (Synthesize step)"),
    (r"an interrupted `dvos new`", "an interrupted New... (Project step)"),
    (r"painted again in napari", "painted again (Annotate step)"),
    (r"`dvos delete [^`]* predictions [^`]*`", "Delete ticked predictions... in the Review step"),
    (r"`dvos predict [^`]*`", "the Predict step"),
    (r"smooth again \(`dvos smooth [^`]*`\)", "predict with 'smooth over time' again (Predict step)"),
    (r"`dvos extract-objects (?!--replace)[^`]*`", "Extract heads in the Extract step"),
    # Project.create on an existing project (New... in the Project step never replaces one)
    (r"or pass overwrite=True(?: \(--overwrite\))? to replace it", "or give the new project another name"),
    (r"\s*\(see dvos_core\.[\w.]+\)", ""),
    (r"\s*\(--labels on the command line\)", ""),
    (r"use --device cpu or auto(?: \(Python: device='cpu' or 'auto'\))?", "choose the device 'cpu' or 'auto'"),
    (r"use --device cuda:0, cuda or auto(?: \(Python: [^()]*\))?", "choose the device 'cuda:0', 'cuda' or 'auto'"),
    (r"pass --no-resume \(resume=False\) to start over, or choose another --name", "give the run another model name"),
    (r"pass --no-resume to start over", "give the run another model name"),
    # a finished run started again (Train step: the core's done note)
    (
        r"give a higher --epochs to train it further, or --no-resume to start over",
        "raise 'epochs' to train it further, or give the run another model name to start over",
    ),
    (r"train under a new --name \(e\.g\. --init-from [^)]*\) to use them", "train a new model from it to use them"),
    (r"`dvos train --phase image`", "the Train step with 'what to train' set to the image model"),
    (r"`dvos train`", "the Train step"),
    (r"run `dvos predict`", "run Predict (Predict step)"),
    (r"`dvos predict`", "the Predict step"),
    (r"`dvos pseudo-label`", "Pseudo-label (Predict step)"),
    (r"`dvos evaluate`", "Evaluate (Review step)"),
    (r"`dvos synth(?:/train)?(?: --config)?`", "the Synthesize step"),
    (r"`dvos extract-objects --replace`", "Extract heads with 'replace' ticked (Extract step)"),
    (r"`dvos extract-objects`", "the Extract step"),
    (r"`dvos extract-backgrounds`", "the Extract step"),
    (r"`dvos split`", "'set split' in the Project step"),
    (r"`dvos split [^`]*`", "'set split' in the Project step"),
    (r"\(--synthetic-set [^)]*\)", "(choose it under 'synthetic clips')"),
    (r"give the run a name \(--name\)", "give a run name"),
    # evaluate's smallest head counted (the Review step has no such setting), then the Extract step's
    (r"smaller than --min-area (\d+) px", r"smaller than \1 px (the smallest head counted)"),
    (r"--min-area", "'smallest head (px)'"),
    # the synthesis core's hints (Synthesize step)
    (r"dvos synth --match-motion", "the 'Match the motion of my videos' button"),
    # SynthConfig's too-fast camera and motion matching's fast-pan advice (the words before the commands may have
    # become the form's labels already)
    (r" \([^()]*: dvos synth --size, dvos run-all's synth_size\)", " ('clip height' and 'clip width')"),
    (
        r"\(dvos synth --size (\d+); dvos run-all: synth_size: \d+ in its --config file; the Synthesize dock: [^()]*\)",
        r"('clip height' and 'clip width' of \1 px or more)",
    ),
    (r"\s*\(allow_sparser / --allow-sparser matches them anyway\)", ""),
    (r"`dvos add-video`", "'Add a video' in the Project step"),
    # an import that may not fit on the disk (the Project step adds whole videos, resized by 'resize to (px)')
    (
        r"add part of the video \(--start/--stop/--step\) or smaller frames \(--height\)",
        "add the video with smaller frames ('resize to (px)')",
    ),
    (
        r"run `dvos add-video [^`]*--id ([\w.-]+)` again to replace it",
        r"add the video again under the id '\1' ('Add a video' in the Project step) to replace it",
    ),
    (r"`dvos delete [^`]* video [^`]*`", "Delete... in the Project step"),
    # commands named without backticks, in brackets: "add a video first (dvos add-video)"
    (r"\(dvos add-video\)", "('Add a video' in the Project step)"),
    (r"\(dvos extract-objects\)", "(Extract heads in the Extract step)"),
    (r"\(dvos extract-backgrounds\)", "(Extract backgrounds in the Extract step)"),
    (r"\(dvos delete\)", "(Delete... in the Project step)"),
    # the training data of a phase (dvos_core.data.clips): the Train step's words for the phase and the fix
    (r"no training samples for phase 'image'", "nothing to train the image model on"),
    (r"no training samples for phase 'synthetic'", "nothing to train the video model on synthetic clips"),
    (r"no training samples for phase 'real'", "nothing to train the video model on your videos"),
    (
        r"label or pseudo-label some frames first, or check the training config's video_ids and provenances",
        "paint and save a few frames of a training video first (Annotate step), or pseudo-label its frames "
        "(Predict step)",
    ),
    (r"assign one with 'set split' in the Project step or pass video ids \(--videos\)", "set one in the Project step"),
    (r"or leave it out \(--videos\)", "or choose other videos"),
    # evaluate() of each video's most recent predictions when they are not one model's (Review step)
    (
        r"name the model to score \(--model NAME, model=\) or compare the models side by side \(--models all, "
        r"compare_models\)",
        "choose the model to score in the Review step's 'model:' list, or press Compare models",
    ),
    (r"\s*\(--videos\)", ""),
    (r"\s*\(--overwrite\)", ""),
    (r"\(--id\)", ""),
    (r"\(--size\)", ""),
    (r"\(--prefix\)", ""),
    (r"choose another --name", "choose another name"),
    (r"under a new --name", "under a new 'set name'"),  # a synthetic set made again (the Synthesize step's field)
    (r"a shorter --clip-length", "a shorter clip length"),
    (r"a smaller --size", "a smaller size"),
    (r"Project\.open", "Open... in the Project step"),
    (r"\s*\(Python: Project\.create\(path, overwrite=True\)\)", ""),
    (r"pass overwrite=True to replace them", "tick 'replace saved masks' to replace them"),
    # a prediction set made by another checkpoint or with other settings (dvos_core.infer.PredictionSetReplaced)
    (
        r"pass --replace \(replace=True\) to replace them, or another name \(--name\) to keep both sets",
        "press Predict again and answer Yes to replace them, or type another name under 'save predictions as' to "
        "keep both sets",
    ),
    (r"--([a-z][a-z0-9-]*)", r"the '\1' option"),
    (r"`dvos [^`]*`", "the matching step of the dvos panel"),
    (r"dvos_core\.[\w.]+", "dvos"),
]
_BUSY = re.compile(  # dvos_core.store.lock's StoreBusyError
    r"^(?P<root>.+?) is being written by (?P<who>.+?)(?P<waited> after waiting [\d.]+ s)?\. Let it finish"
)
# the writer lock's refusal inside a longer text (a job's warning, an error wrapped around it): who, and its advice
_BUSY_ADVICE = re.compile(
    r" is being written by (?P<who>.+?)(?P<waited> after waiting [\d.]+ s)?\. Let it finish, then run this again, or "
    r"queue behind it with --wait \(Python: wait=True\)(?:; reading the project is not blocked)?"
)
# the holder as dvos_core.store.lock.describe_record words it; a job of a dvos step records its step's name
# (STEP_COMMAND), or `dvos-job TARGET` for one started so by an older dvos
_HOLDER = re.compile(
    r"^process (?P<pid>\d+) on (?P<host>\S+) \(`(?P<command>[^`]*)`(?:, [^()]*?)?, since (?P<since>[^()]*)\)$"
)
STEP_CHILDREN: weakref.WeakSet = weakref.WeakSet()  # the jobs (dvos_napari._workers.Job) run in a child process here
# what the steps' jobs that write the project do, by their child's target (dvos_napari._workers.Job runs them named
# so: the lock records that name as the holder's command line)
# what a step's job in a child process is called there (its command line, dvos_core.jobs' process_name), in place of
# `dvos-job TARGET`: the writer lock records it, so a `dvos` command refused meanwhile names the panel's step
STEP_COMMAND = "napari (dvos panel: {})"
STEP_JOBS: dict[str, str] = {
    "dvos_core.synth:generate": "the Synthesize step's Generate",
    "dvos_napari._tasks:generate_checked": "the Synthesize step's Generate",
    "dvos_core.extract:extract_heads": "the Extract step's Extract heads",
    "dvos_napari._tasks:extract_painted_heads": "the Extract step's Extract heads",
    "dvos_core.extract:extract_backgrounds": "the Extract step's Extract backgrounds",
    "dvos_napari._tasks:extract_backgrounds_counted": "the Extract step's Extract backgrounds",
    "dvos_core.extract:backgrounds_from_annotated": "the Extract step's Extract backgrounds",
    "dvos_core.train.subprocess:run_training": "the Train step's training",
    "dvos_core.run_all:run_all": "the Train step's 'Run every step'",
    "dvos_napari._tasks:predict_videos": "the Predict step's Predict",
    "dvos_core.infer:pseudo_label": "the Predict step's Pseudo-label",
    "dvos_core.io:import_video": "the Project step's 'Add a video'",
    "dvos_napari._mask_files:import_mask_files": "the Annotate step's mask import",
    "dvos_core.evaluate:evaluate": "the Review step's Evaluate",
    "dvos_core.evaluate:compare_models": "the Review step's Compare models",
    "dvos_napari._tasks:evaluate_shown": "the Review step's Evaluate",
    "dvos_napari._tasks:compare_shown": "the Review step's Compare models",
}
_TYPE_PREFIX = re.compile(r"^\s*(?:[A-Za-z_][\w.]*(?:Error|Exception|Cancelled|Exit)):\s*")
# exception types that mean a bug or an unexpected state rather than bad input
_INTERNAL = {"AttributeError", "TypeError", "AssertionError", "NameError", "UnboundLocalError", "ZeroDivisionError"}


@dataclass(frozen=True)
class UserMessage:
    """``text`` for the user (what happened and the fix); ``details`` for a bug report (original text, traceback)."""

    text: str
    details: str = ""


def plain_words(message: str) -> str:
    """A core message rewritten with the panel's names for commands and options, without Python type prefixes."""
    text = _TYPE_PREFIX.sub("", str(message))
    text = re.sub(r"^\s*\w*Error:\s*", "", text)
    kept: list[str] = []

    def keep(m: re.Match) -> str:
        kept.append(f"{m.group(0)} in a terminal" if m.group(0).startswith("`dvos") else m.group(0))
        return _KEPT.format(len(kept) - 1)

    def busy(m: re.Match) -> str:  # the lock's advice is the command line's (--wait): the panel's instead
        kept.append(
            f" is being written by {_holding_step(m['who']) or m['who']}{m['waited'] or ''}. Wait until it "
            f"finishes (or stop it), then try again"
        )
        return _KEPT.format(len(kept) - 1)

    text = _BUSY_ADVICE.sub(busy, text)
    for pattern in KEEP:
        text = re.sub(pattern, keep, text)
    for pattern, repl in REWRITES:
        text = re.sub(pattern, repl, text)
    text = re.sub(_KEPT.format(r"(\d+)"), lambda m: kept[int(m.group(1))], text)
    return re.sub(r"\s{2,}", " ", text).strip()


def user_message(error, details: str = "", error_type: str = "") -> UserMessage:
    """The :class:`UserMessage` of an exception (or of a message string with its ``error_type`` and ``details``)."""
    if isinstance(error, BaseException):
        error_type = error_type or type(error).__name__
        raw = str(error) or error_type
        if isinstance(error, KeyError) and len(error.args) == 1:
            raw = str(error.args[0])  # str(KeyError) adds quotes
        if not details and error.__traceback__ is not None:
            details = "".join(_traceback.format_exception(type(error), error, error.__traceback__))
        details = details or getattr(error, "details", "")
        error_type = getattr(error, "error_type", "") or error_type
    else:
        raw = str(error)
    busy = _BUSY.match(raw)
    text = _busy_text(busy, _saving_paint(error)) if busy else plain_words(raw)
    low = raw.lower()
    if "out of memory" in low or error_type == "MemoryError":
        text = f"the computer ran out of memory ({text}); lower the batch size or the crop/preview size and try again"
    elif error_type == "ImportError" or error_type == "ModuleNotFoundError":
        text = f"a part of dvos is not installed ({text}); reinstall dvos with its napari extra"
    elif error_type == "ProcessExit":
        text = f"{text}; it may have run out of memory: lower the batch size and try again (see details)"
    elif error_type in _INTERNAL and error_type:
        text = f"dvos hit an unexpected problem: {text} (please report it with the details below)"
    tech = f"{error_type}: {raw}" if error_type else raw
    return UserMessage(text, f"{tech}\n\n{details}".strip() if details else tech)


def _busy_text(busy: re.Match, paint: bool) -> str:
    """The writer lock's refusal in the panel's words: the step whose job holds the lock (its child's command line
    means nothing to the user), else the holder as it recorded itself; the fix the panel has (it has no 'wait'
    setting); with ``paint`` (a save of painted frames was refused), that the paint is still in its layer."""
    root, waited = busy["root"], busy["waited"] or ""
    step = _holding_step(busy["who"])
    if step is not None:
        text = f"{step} is writing {root}{waited}: wait until it finishes (or cancel it), then try again"
    else:
        text = f"{root} is being written by {busy['who']}{waited}. Wait until it finishes (or stop it), then try again"
    return text + ("; what you painted stays unsaved in its layer, nothing is lost" if paint else "")


def _holding_step(who: str) -> str | None:
    """The dvos step whose job holds the writer lock (described as ``who``): "the Synthesize step's Generate", or
    "... of another napari window (process ...)" when it is no child of this napari; None for another holder (a
    command in a terminal, a script)."""
    import socket

    m = _HOLDER.match(who)
    if m is None:
        return None
    command, (before, after) = m["command"], STEP_COMMAND.split("{}")
    if command.startswith(before) and command.endswith(after) and len(command) > len(before) + len(after):
        step = command[len(before) : len(command) - len(after)]  # a job run named after its step
    else:
        words = command.split()
        step = STEP_JOBS.get(words[1]) if len(words) == 2 and words[0] == "dvos-job" else None
    if step is None:
        return None
    ours = {job.pid for job in list(STEP_CHILDREN) if job.is_alive()}
    if m["host"] == socket.gethostname() and int(m["pid"]) in ours:
        return step
    return f"{step} of another napari window (process {m['pid']} on {m['host']}, since {m['since']})"


def _saving_paint(error) -> bool:
    """Whether ``error`` was raised while saving painted frames (the one writer of a layer's paint,
    :func:`dvos_napari._writer.save_frames`, is on its traceback): the paint is then still unsaved in its layer."""
    tb = getattr(error, "__traceback__", None)
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name == "save_frames" and code.co_filename.replace("\\", "/").endswith("dvos_napari/_writer.py"):
            return True
        tb = tb.tb_next
    return False
