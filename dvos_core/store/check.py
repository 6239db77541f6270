"""Read a whole project once and list what cannot be read or was left unfinished (``dvos check``).

Everyday commands read only what they need, so a damaged chunk of a frame nobody looked at for weeks (a sync tool's
half-copied file, a failing disk) stays hidden until a training run or an export meets it. :func:`check_project`
reads every committed frame, quality score, painted mask, prediction, background clip, synthetic clip, object and
checkpoint, and returns one :class:`Finding` per problem, each naming the file and the fix (the messages of
:class:`~dvos_core.store.schema.DamagedStoreError`). It only reads: nothing is repaired or written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dvos_core.progress import CancelToken, ProgressFn, check, report
from dvos_core.shell import quote
from dvos_core.store.notes import (
    leftover_note,
    misnamed_model_note,
    stale_writer_note,
    stopped_pseudo_note,
    stopped_training_note,
    unfinished_note,
)
from dvos_core.store.schema import StoreError

BATCH = 16  # frames read at a time (one chunk per frame: memory stays at a few frames of the largest video)


@dataclass(frozen=True)
class Finding:
    """One problem: ``kind`` is ``"damaged"`` (data cannot be read) or ``"unfinished"`` (a step stopped half-way:
    everything stored reads, but the step should be finished or undone); ``where`` names the part of the project."""

    kind: str
    where: str
    message: str

    def line(self) -> str:
        """The finding as ``dvos check`` prints it: ``kind: where: message``."""
        return f"{self.kind}: {self.where}: {self.message}"


def tally(found: list[Finding]) -> str:
    """ "N damaged, M unfinished" of ``found``."""
    damaged = sum(f.kind == "damaged" for f in found)
    return f"{damaged} damaged, {len(found) - damaged} unfinished"


def _unfinished(summary: dict, project_path: str) -> list[Finding]:
    """The half-finished steps :meth:`Project.summary` already lists."""
    out = []
    for v in summary["videos"]:
        if not v["complete"]:
            src = str(v.get("source") or "")
            again = (
                f"run the same `dvos import-csv {quote(project_path)} {quote(src)}` again (it keeps the videos it "
                f"finished and replaces this one)"
                if src.lower().endswith(".csv")
                else "add the video again to replace it"
            )
            out.append(Finding("unfinished", f"video {v['id']}", f"interrupted import: {again}"))
        stopped = v.get("pseudo_label_stopped")
        if stopped:
            out.append(
                Finding(
                    "unfinished",
                    f"video {v['id']}, pseudo-labels",
                    stopped_pseudo_note(project_path, v["id"], stopped),
                )
            )
        for model, d in (v.get("predictions_unfinished") or {}).items():
            note = unfinished_note(project_path, v["id"], model, d, delete=True).split(": ", 1)[1]
            out.append(Finding("unfinished", f"video {v['id']}, predictions {model}", note))
    for vid, counts in (summary.get("orphaned_objects") or {}).items():
        out.append(
            Finding(
                "unfinished",
                "objects",
                f"{counts.get('head', 0)} heads and {counts.get('fake', 0)} fakes were cut from video {vid!r}, which "
                f"is no longer in the project: remove them with `dvos delete {quote(project_path)} video {quote(vid)} "
                f"--yes`",
            )
        )
    for b in summary.get("backgrounds_interrupted") or []:
        out.append(
            Finding(
                "unfinished",
                f"background {b}",
                "interrupted clip: run the same `dvos extract-backgrounds` again, or delete it "
                f"(`dvos delete {quote(project_path)} background {quote(b)} --yes`)",
            )
        )
    for name, s in (summary.get("synthetic") or {}).items():
        if "unreadable" not in s and s.get("clips_done", 0) < s.get("clips", 0):
            out.append(
                Finding(
                    "unfinished",
                    f"synthetic set {name}",
                    f"{s['clips_done']}/{s['clips']} clips made: run the command that made it again to finish "
                    f"it (`dvos synth`, or `dvos run-all`, or Generate in the Synthesize step: each resumes)",
                )
            )
    for p in summary.get("hidden_leftovers") or []:
        out.append(Finding("unfinished", "beside the project", leftover_note(project_path, p)))
    if summary.get("stale_writer"):  # killed mid-write, or the project copied while it wrote
        out.append(Finding("unfinished", "writer record", stale_writer_note(project_path, summary["stale_writer"])))
    for p in summary.get("misnamed_models") or []:
        out.append(Finding("unfinished", f"model folder {Path(p).name!r}", misnamed_model_note(p)))  # to rename
    return out


@dataclass(frozen=True)
class _Miscount:
    where: str
    message: str
    unreadable: str | None  # the summary's message of the video the count made unreadable


def _count_findings(project, summary: dict) -> list[_Miscount]:
    """A finding for each finished video and background clip whose ``committed_frames`` was edited away from the
    frames it holds (see :meth:`~dvos_core.store.sequence.FrameSequence.count_damage`)."""
    out = []
    for kind, ids, rows in (
        ("video", [v["id"] for v in summary["videos"]], {v["id"]: v for v in summary["videos"]}),
        ("background", _listed(project.background_ids), {}),
    ):
        for name in ids:
            try:
                why = (project.video if kind == "video" else project.background)(name).count_damage()
            except (StoreError, OSError, ValueError):  # a damaged zarr.json: named by the summary
                continue
            if why:
                out.append(_Miscount(f"{kind} {name}", why, rows.get(name, {}).get("unreadable")))
    return out


def _listed(ids: Callable[[], list[str]]) -> list[str]:
    try:
        return ids()
    except (StoreError, OSError):  # a damaged backgrounds/ folder: named by the summary
        return []


def _batches(n: int) -> Iterator[tuple[int, int]]:
    for lo in range(0, n, BATCH):
        yield lo, min(n, lo + BATCH)


Reads = Iterator[tuple[str, Callable[[], object]]]


def _guarded(where: str, section: Callable[[], Reads], found: list[Finding]) -> Reads:
    """The reads ``section()`` lists; an error met while listing them (a damaged file read to list them: a set's
    flags, a video's provenance, a clip's metadata) is recorded in ``found`` under ``where``, and the listing of the
    other parts goes on: one damaged part never hides the others."""
    try:
        yield from section()
    except (StoreError, OSError, ValueError) as e:  # CheckpointError is a ValueError
        if all(f.message != str(e) for f in found):  # a damaged clip's metadata is named by the summary already
            found.append(Finding("damaged", where, str(e)))


def _video_reads(video, where: str, found: list[Finding]) -> Reads:
    """(what, read) for every stored part of ``video``: frames, quality scores, painted masks, each prediction set;
    an error met while listing a part is recorded in ``found`` (see :func:`_guarded`)."""

    def frames():
        for lo, hi in _batches(video.n_frames):
            yield f"{where}, frames {lo}-{hi - 1}", lambda lo=lo, hi=hi: video.read_frames(lo, hi)
        yield f"{where}, quality scores", lambda: video.quality  # one float per frame: read whole

    def masks():
        import numpy as np

        labelled = [int(t) for t in np.flatnonzero(video.provenance[: video.n_frames])]
        for k in range(0, len(labelled), BATCH):
            ts = labelled[k : k + BATCH]
            # read together, the batch's damaged mask files are all named in one message (as frames' are)
            yield f"{where}, masks of frames {ts[0]}-{ts[-1]}", lambda ts=ts: video._read("masks", ts, "mask", ts)

    def prediction_set(model):
        s = video.predictions[model]
        done = [int(t) for t in s.frames()]

        def read(key, ts):
            return s.masks(ts) if key == "masks" else s.read(key, ts)

        for k in range(0, len(done), BATCH):
            ts = done[k : k + BATCH]
            # masks and probabilities read apart: a damaged mask file hides no damaged probability file
            for key, part in (("masks", "masks"), ("probability", "probabilities")):
                yield (
                    f"{where}, predictions {model}, {part} of frames {ts[0]}-{ts[-1]}",
                    lambda key=key, ts=ts: read(key, ts),
                )

    def predictions():
        for model in video.predictions.models():  # a set whose own zarr.json is damaged: named by the summary
            yield from _guarded(f"{where}, predictions {model}", lambda model=model: prediction_set(model), found)

    yield from _guarded(where, frames, found)
    yield from _guarded(f"{where}, masks", masks, found)
    yield from _guarded(f"{where}, predictions", predictions, found)


def _clip_reads(project, found: list[Finding], skip: set[str] = frozenset()) -> Reads:
    """(what, read) for the background clips, the synthetic sets' finished clips and the object bank; an error met
    while listing a part is recorded in ``found`` (see :func:`_guarded`). Clips named in ``skip`` (``background B``)
    are not read."""

    def background(b):
        clip = project.background(b)
        for lo, hi in _batches(clip.n_frames):
            yield f"background {b}, frames {lo}-{hi - 1}", lambda lo=lo, hi=hi: clip.read_frames(lo, hi)

    def backgrounds():
        for b in (b for b in project.background_ids() if f"background {b}" not in skip):
            yield from _guarded(f"background {b}", lambda b=b: background(b), found)

    def synthetic_set(name):
        sset = project.synthetic(name)
        for i in sset.done():  # the indices of the finished clips
            yield f"synthetic set {name}, clip {int(i)}", lambda i=int(i): sset.read_clip(i)

    def synthetic():
        for name in project.synthetic_ids():
            yield from _guarded(f"synthetic set {name}", lambda name=name: synthetic_set(name), found)

    yield from _guarded("backgrounds", backgrounds, found)
    yield from _guarded("synthetic sets", synthetic, found)
    yield "objects", lambda: project.objects.load()


def _model_reads(project, unfinished: list[Finding]) -> Iterator[tuple[str, Callable[[], object]]]:
    """Reads of every model's checkpoints; a ``last.pt`` of a training run that stopped before its last epoch adds
    an unfinished finding to ``unfinished``."""
    from dvos_core.model.checkpoint import load_checkpoint
    from dvos_core.store.fsops import CHECKPOINTS

    def load(path) -> dict:  # the model built and its weights loaded: a file that reads but cannot predict is named
        return load_checkpoint(path)[1]

    def read_last(path, name):
        info = load(path)
        state = info.get("train_state") or {}
        if state and not state.get("finished", True):
            saved = info.get("train_config") or {}
            unfinished.append(
                Finding(
                    "unfinished", f"model {name}", stopped_training_note(project, name, state, saved, info.get("init"))
                )
            )

    for name in project.model_names():
        for f in CHECKPOINTS:
            path = project.model_dir(name) / f
            if path.is_file():
                read = (lambda path=path, name=name: read_last(path, name)) if f == "last.pt" else None
                yield f"model {name}, {f}", read or (lambda path=path: load(path))


def check_project(
    project, models: bool = True, progress: ProgressFn | None = None, cancel: CancelToken | None = None
) -> list[Finding]:
    """Every problem of ``project`` (see the module docstring), damaged parts first; an empty list means every
    stored chunk decoded and no step was left half-way. ``models``: also read each model's checkpoints."""
    summary = project.summary()
    sets = {}  # the message of a prediction set whose own zarr.json is damaged -> that set
    for v in summary["videos"]:
        sets.update({m: f"video {v['id']}, predictions {name}" for name, m in v.get("predictions_damaged", {}).items()})
    found = [Finding("damaged", sets.get(m, "project"), m) for m in summary["unreadable"]]
    unfinished = _unfinished(summary, str(project.path))
    if summary.get("writer"):  # the run may still be going: say so rather than call its work interrupted
        still = f" (or still being made: {summary['writer']} is writing the project now; look again once it ends)"
        unfinished = [Finding(f.kind, f.where, f.message + still) for f in unfinished]
    miscounted = _count_findings(project, summary)
    for f in miscounted:  # what a raised count made unreadable is named by the count's finding (its fix loses no frame)
        found = [g for g in found if g.message != f.unreadable]
    found += [Finding("damaged", f.where, f.message) for f in miscounted]
    skip = {f.where for f in miscounted}  # read again once the count is set back
    readable = [
        v["id"] for v in summary["videos"] if "unreadable" not in v and v["complete"] and f"video {v['id']}" not in skip
    ]

    def parts():
        for vid in readable:
            yield from _guarded(
                f"video {vid}", lambda vid=vid: _video_reads(project.video(vid), f"video {vid}", found), found
            )
        yield from _clip_reads(project, found, skip)
        if models:
            yield from _guarded("models", lambda: _model_reads(project, unfinished), found)

    reads = list(parts())
    for k, (where, read) in enumerate(reads):
        check(cancel)
        report(progress, k, len(reads), f"reading {where}")
        try:
            read()
        except (StoreError, OSError, ValueError) as e:  # CheckpointError is a ValueError
            found.append(Finding("damaged", where, str(e)))
    report(progress, len(reads), len(reads), "done")
    return found + unfinished
