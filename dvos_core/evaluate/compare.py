"""Several models' predictions of the same videos, scored side by side with two baselines.

For each model (a prediction set of the videos, see :mod:`dvos_core.store.predictions`) the frames that have both its
prediction and a ground-truth mask are scored: Dice, IoU, boundary F, relative count error (frame-weighted over the
videos, the paper's "All" column) and the temporal instability (mean 1 - IoU of consecutive predictions, the earlier
one aligned onto the later by the frames' camera motion: lower is steadier; the motion is measured once per video and
shared by every model). Baselines: the previous frame's true mask (on frames whose previous frame has ground truth)
and an all-foreground mask. The ground truth's own instability is the floor a perfect model would show.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from dvos_core.evaluate.metrics import frame_scores
from dvos_core.evaluate.own_corrections import (
    own_corrections,
    own_pseudo_labels,
    warn_own_corrections,
    warn_own_pseudo_labels,
)
from dvos_core.progress import CancelToken, ProgressFn, check, report
from dvos_core.store.predictions import RESERVED_NAMES
from dvos_core.threads import runs_with_threads

COLUMNS = ["model", "n_frames", "dice", "iou", "boundary_f", "count_error", "instability"]
BASELINES = ("previous_true_mask", "all_foreground")  # with "ground_truth": the names no set may take
SCORES = ("dice", "iou", "boundary_f", "count_error", "instability")
LOWER_IS_BETTER = ("count_error", "instability")  # a model with less of these is better


@dataclass
class ModelComparison:
    """Result of :func:`compare_models`: one row per model and baseline, and the per-frame scores behind it."""

    table: object  # pandas DataFrame, COLUMNS
    frames: object  # pandas DataFrame: model, video, frame, dice, iou, boundary_f, count_pred, count_gt
    info: dict = field(default_factory=dict)
    path: object = None

    def format_table(self) -> str:
        from dvos_core.evaluate.summary import text_table

        columns = ("model", "n_frames", "dice", "iou", "boundary_f", "count_error", "instability")
        rows = [[getattr(r, c) for c in columns] for r in self.table.itertuples()]
        header = ["model", "frames", "Dice", "IoU", "BF", "count", "unsteady"]
        table = text_table(header, rows, ["", "d"] + [".3f"] * 5, widths=(22, 8, 8, 8, 8, 8, 10))
        return f"{table}\n({self.instability_note()}; count = relative count error)"

    def instability_note(self) -> str:
        """What to read the instability (unsteady) column against: the ground truth's own value, the floor; or,
        when there is none (sparse ground truth: no two consecutive frames scored), why the column has no values."""
        floor = self.info.get("ground_truth_instability")
        if floor is not None and floor == floor:
            return f"the ground truth's own instability is {floor:.3f}: the floor"
        return (
            "unsteady is not measured: no two consecutive frames scored have ground truth, and instability compares "
            "each frame with the one before it; paint or correct a run of consecutive frames (and predict them) to "
            "measure it"
        )

    def best(self, by: str = "dice") -> str:
        """The model (no baseline) with the best ``by``: the highest Dice, IoU or boundary F, the lowest count error
        or instability. Models without a value there (e.g. instability of sparse labels) come last."""
        if by not in SCORES:
            raise ValueError(f"best(by={by!r}): rank the models by a score, one of {', '.join(SCORES)}")
        models = self.table[~self.table["model"].isin(BASELINES)]
        ranked = models.sort_values(by, ascending=by in LOWER_IS_BETTER, na_position="last")
        return str(ranked.iloc[0]["model"])


def _pair_motion(video, frames: np.ndarray, cancel) -> dict:
    """{t: matrix t-1 -> t} for every consecutive pair inside ``frames`` (measured once, shared by the models;
    the frames are read one at a time)."""
    from dvos_core.motion import estimate_global_motion
    from dvos_core.runs import contiguous_runs

    out = {}
    for start, stop in contiguous_runs(frames):
        if stop - start < 2:
            continue
        gm = estimate_global_motion(video.frame_run(start, stop), cancel=cancel)
        for k, m in enumerate(gm.matrices):
            out[start + k + 1] = np.asarray(m)
    return out


class _Unsteady:
    """Running sum of 1 - aligned IoU over the consecutive frames one entry (a model, a baseline, the truth) has,
    fed frame by frame in order: only the previous mask is held."""

    def __init__(self):
        self.total, self.n, self.prev_t, self.prev = 0.0, 0, None, None

    def add(self, t: int, mask: np.ndarray, motion: dict) -> None:
        from dvos_core.motion import instability_per_pair

        if self.prev_t == t - 1:
            v = instability_per_pair([self.prev, mask], matrices=motion[t][None])
            self.total, self.n = self.total + float(v.sum()), self.n + len(v)
        self.prev_t, self.prev = t, mask


def _row(name: str, rows: list, unsteady: tuple) -> dict:
    """One table row, frame-weighted over all scored frames of all videos."""
    if not rows:
        return {"model": name, "n_frames": 0, **dict.fromkeys(COLUMNS[2:], float("nan"))}
    r = {k: float(np.mean([x[k] for x in rows])) for k in ("dice", "iou", "boundary_f")}
    counts = np.array([[x["count_pred"], x["count_gt"]] for x in rows], np.float64)
    r["count_error"] = float(np.mean(np.abs(counts[:, 0] - counts[:, 1]) / np.maximum(counts[:, 1], 1)))
    r["instability"] = unsteady[0] / unsteady[1] if unsteady[1] else float("nan")
    return {"model": name, "n_frames": len(rows), **r}


@runs_with_threads(torch=False)
def compare_models(
    project,
    models: Sequence[str] | None = None,
    video_ids=None,
    split: str = "test",
    name: str | None = None,
    gt_provenances: Sequence = ("manual", "corrected", "pseudo"),
    tolerance: float = 2.0,
    min_area: int = 16,
    save: bool = True,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    threads: int | None = None,
) -> ModelComparison:
    """Score ``models`` (default: every model with predictions of the chosen videos) side by side.

    Each model is scored on the frames it predicted that have ground truth; the table says how many. With
    ``save``, writes ``comparison.csv``, ``comparison.json`` and ``frames.csv`` to ``reports/<name>``
    (default ``compare-<timestamp>``). ``threads``: OpenCV threads for the camera motion and the aligned masks
    (see :mod:`dvos_core.threads`).
    """
    import pandas as pd

    from dvos_core.evaluate.summary import (
        UncountedTruth,
        _video_ids,
        check_settings,
        ground_truth_frames,
        scoring_options,
        warn_outdated,
        warn_partial,
        warn_trained_on,
    )
    from dvos_core.store import Project

    gt_provenances = check_settings(gt_provenances, tolerance, min_area)  # before any frame is read
    project = Project.of(project)
    ids = _video_ids(project, video_ids, split)
    videos = [project.video(v) for v in ids]
    available = sorted({m for v in videos for m in v.predictions.models()})
    if isinstance(models, str):  # one model's name, not its letters
        models = [models]
    models = list(dict.fromkeys(models)) if models else available  # a model named twice is scored once
    if not models:
        raise ValueError(f"{project.path}: no predictions for {ids}; run `dvos predict` first")
    missing = [m for m in models if m not in available]
    if missing:
        raise ValueError(f"no predictions of {missing} for videos {ids}; models with predictions: {available}")
    clash = [m for m in models if m in RESERVED_NAMES]  # sets made before dvos refused these names
    if clash:  # its row would be the baseline's (or the truth's) masks, not the model's
        raise ValueError(
            f"the prediction set(s) {clash} have the name of a row the comparison adds itself; score them alone "
            f"(`dvos evaluate PROJECT --model {clash[0]}`), or make the set again under another name (`dvos predict "
            f"PROJECT CKPT --name NAME`; a smoothed set: `dvos smooth PROJECT SOURCE --name NAME`) and delete the old "
            f"set (`dvos delete PROJECT predictions {clash[0]}`)"
        )
    warn_outdated(v.predictions[m] for v in videos for m in models if m in v.predictions)
    warn_trained_on(v.predictions[m] for v in videos for m in models if m in v.predictions)
    if save:
        project.check_writable("compare models")  # before scoring every frame, not after
    entries = (*models, *BASELINES, "ground_truth")
    rows: dict = {m: [] for m in entries}
    unsteady: dict = dict.fromkeys(entries, (0.0, 0))
    labelled_of = [ground_truth_frames(video, gt_provenances) for video in videos]  # a video without: refused
    partial: dict = {}  # model -> {video: [frames scored, ground-truth frames]} where it predicted fewer
    own: dict = {}  # model -> {video: frames} whose ground truth corrects its own predictions
    own_labels: dict = {}  # model -> {video: frames} whose ground truth is a pseudo-label of its own checkpoint
    uncounted = UncountedTruth(min_area)
    total, step = sum(1 + len(f) for f in labelled_of), 0  # a step per video (the motion), then one per frame
    for video, labelled in zip(videos, labelled_of):
        # streamed frame by frame: memory holds one frame's masks per entry (and the previous one), not the video
        sets = {m: video.predictions[m] for m in models}
        predicted_frames = {  # (a model that did not predict this video: none)
            m: set(np.intersect1d(s.frames(), labelled).tolist()) if s.exists() else set() for m, s in sets.items()
        }
        for m in models:  # a set stopped half-way, or none in this video: fewer frames scored than the others
            if len(predicted_frames[m]) < len(labelled):
                partial.setdefault(m, {})[video.name] = [len(predicted_frames[m]), len(labelled)]
            own.setdefault(m, {}).update(own_corrections([(sets[m], sorted(predicted_frames[m]))]))
            own_labels.setdefault(m, {}).update(own_pseudo_labels([(sets[m], sorted(predicted_frames[m]))]))
        motion = _pair_motion(video, labelled, cancel)
        step += 1
        report(progress, step, total, f"{video.name}: ground truth and camera motion")
        acc = {m: _Unsteady() for m in entries}
        prev_gt, prev_t = None, None
        for t in (int(x) for x in labelled):
            check(cancel)
            gt = video.read_masks(t, t + 1)[0]
            masks = {m: sets[m].masks([t])[0] for m in models if t in predicted_frames[m]}
            if prev_t == t - 1:
                masks["previous_true_mask"] = prev_gt
            masks["all_foreground"] = np.ones_like(gt)
            for m, p in masks.items():
                rows[m].append({"video": video.name, "frame": t, **frame_scores(p, gt, tolerance, min_area)})
            uncounted.add(gt, rows["all_foreground"][-1])  # (the baseline scored on every frame)
            masks["ground_truth"] = gt
            for m, p in masks.items():
                acc[m].add(t, p, motion)
            prev_gt, prev_t = gt, t
            step += 1
            report(progress, step, total, f"{video.name}: frame {t}")
        for m in entries:
            unsteady[m] = (unsteady[m][0] + acc[m].total, unsteady[m][1] + acc[m].n)
    if not any(rows[m] for m in models):
        raise ValueError(
            f"{project.path}: nothing to score: no predicted frame of {ids} has a ground-truth mask with provenance "
            f"{list(gt_provenances)}; paint or correct some frames, import masks (`dvos import-masks`), or choose "
            f"which masks count as the truth (--gt)"
        )
    uncounted.warn(project.path, scoring_options(video_ids, split, gt_provenances, tolerance, models=models))
    for m, where in partial.items():
        warn_partial(f"the predictions of {m!r}", where, project.path, compared=True)
    for m in models:
        warn_own_corrections(m, own[m], len(rows[m]))
        warn_own_pseudo_labels(m, own_labels.get(m, {}), len(rows[m]))
    floor = unsteady["ground_truth"]
    table = pd.DataFrame([_row(m, rows[m], unsteady[m]) for m in (*models, *BASELINES)], columns=COLUMNS)
    frames_df = pd.DataFrame(
        [{"model": m, **r} for m in (*models, *BASELINES) for r in rows[m]],
        columns=["model", "video", "frame", "dice", "iou", "boundary_f", "count_pred", "count_gt"],
    )
    info = {
        "videos": ids,
        "models": models,
        "ground_truth_instability": floor[0] / floor[1] if floor[1] else None,
        "tolerance_px": tolerance,
        "min_area_px": min_area,
        "gt_provenances": list(gt_provenances),
        "partial": partial,
        "own_corrections": {m: f for m, f in own.items() if f},
        "own_pseudo_labels": {m: f for m, f in own_labels.items() if f},
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    result = ModelComparison(table, frames_df, info)
    if save:
        from dvos_core.evaluate.report import dated_report_name

        result.path = _save(project, result, name or dated_report_name(project, "compare"))
    return result


def _save(project, result: ModelComparison, name: str):
    """Write the comparison into reports/<name> whole (staged, then moved in; see evaluate.report.save_report)."""
    from dvos_core.evaluate.report import write_report_folder

    def write(folder):
        files = [folder / "comparison.csv", folder / "comparison.json", folder / "frames.csv"]
        result.table.to_csv(files[0], index=False)
        payload = {"table": json.loads(result.table.to_json(orient="records", double_precision=15)), **result.info}
        files[1].write_text(json.dumps(payload, indent=2))
        result.frames.to_csv(files[2], index=False)
        return files

    return write_report_folder(project, name, write)[0]
