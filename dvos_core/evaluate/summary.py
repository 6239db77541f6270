"""Evaluate stored predictions against stored ground truth, per frame, per video and overall (frame-weighted)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dvos_core.evaluate.metrics import check_tolerance, frame_scores, head_parts, weighted_overall
from dvos_core.evaluate.own_corrections import (
    own_corrections,
    own_pseudo_labels,
    warn_own_corrections,
    warn_own_pseudo_labels,
)
from dvos_core.progress import CancelToken, ProgressFn, check, report
from dvos_core.shell import quote
from dvos_core.threads import runs_with_threads
from dvos_core.user_warnings import warn_user

DEFAULT_GT_PROVENANCES = ("manual", "corrected", "pseudo")
FRAME_COLUMNS = [
    "video",
    "frame",
    "dice",
    "iou",
    "boundary_f",
    "count_pred",
    "count_gt",
    "count_error",
    "gt_provenance",
    "intersection",
    "pred_pixels",
    "gt_pixels",
]
HIGHER_IS_BETTER = ("dice", "iou", "boundary_f")  # the frame scores: a lower value is a worse frame
LOWER_IS_BETTER = ("count_error",)  # a larger value is a worse frame
VIDEO_COLUMNS = ["video", "n_frames", "dice", "iou", "boundary_f", "mean_count_error", "dice_pooled", "iou_pooled"]


@dataclass
class EvaluationReport:
    """Result of :func:`evaluate`: per-frame and per-video tables, frame-weighted overall scores."""

    frames: pandas.DataFrame  # noqa: F821
    videos: pandas.DataFrame  # noqa: F821
    overall: dict
    path: Path | None = None
    files: list = field(default_factory=list)

    def worst(self, k: int = 8, by: str = "dice"):
        """The k worst frames by ``by`` (all videos): the lowest scores of a higher-is-better column (dice, iou,
        boundary_f), the largest values of a lower-is-better one (``count_error``, see LOWER_IS_BETTER)."""
        if by not in HIGHER_IS_BETTER + LOWER_IS_BETTER:
            raise ValueError(
                f"worst(by={by!r}): rank the frames by a score, one of {', '.join(HIGHER_IS_BETTER + LOWER_IS_BETTER)}"
            )
        if by in LOWER_IS_BETTER:
            return self.frames.nlargest(k, by)
        return self.frames.nsmallest(k, by)

    def format_table(self) -> str:
        """A plain-text per-video table with the frame-weighted overall row (printed by `dvos evaluate`)."""
        o = self.overall
        rows = [
            [r.video, r.n_frames, r.dice, r.iou, r.boundary_f, r.mean_count_error] for r in self.videos.itertuples()
        ]
        rows.append(
            ["All (frame-weighted)", o["n_frames"], o["dice"], o["iou"], o["boundary_f"], o["mean_count_error"]]
        )
        return text_table(["video", "frames", "Dice", "IoU", "BF", "|dN|"], rows, ["", "d", ".3f", ".3f", ".3f", ".2f"])


def text_table(header: list, rows: list, formats: list, widths: Sequence = (24,), width: int = 8) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned, each value formatted with its
    column's ``formats`` entry. Each column is as wide as its ``widths`` entry (``width`` past them), or wider when a
    value needs it, so a long name or a huge number never runs into its neighbour: at least one space between."""
    cells = [list(map(str, header))] + [[format(v, f) for v, f in zip(row, formats)] for row in rows]
    sizes = [
        max([widths[j] if j < len(widths) else width] + [len(c[j]) + (j > 0) for c in cells])
        for j in range(len(header))
    ]
    return "\n".join(
        "".join(c.ljust(sizes[j]) if j == 0 else c.rjust(sizes[j]) for j, c in enumerate(line)) for line in cells
    )


def check_settings(gt_provenances, tolerance, min_area: int = 16) -> list:
    """The ground-truth provenances as a list of names, checked before any frame is scored (with the tolerance and
    ``min_area``): ``none`` is refused, since frames without a mask read as empty masks and would be scored as empty
    truth."""
    from dvos_core.store.schema import NONE, PROVENANCE_NAMES, provenance_code

    check_tolerance(tolerance)
    if isinstance(min_area, bool) or not isinstance(min_area, numbers.Integral) or min_area < 1:
        raise ValueError(f"min_area (--min-area) must be a whole number of at least 1 pixel, got {min_area!r}")
    names = [gt_provenances] if isinstance(gt_provenances, (str, int)) else list(gt_provenances)
    codes = [provenance_code(p) for p in names]  # an unknown name: a ValueError listing the known ones
    if NONE in codes:
        raise ValueError(
            "provenance 'none' (--gt) marks frames without a mask: they read as empty masks and are not ground "
            "truth; use manual, corrected, pseudo, synthetic or predicted"
        )
    return [PROVENANCE_NAMES[c] for c in codes]


def _video_ids(project, video_ids, split) -> list[str]:
    """The videos to score: ``video_ids`` (each must exist and be a finished import; an empty list is refused, not
    read as "the whole split"), else (None) the finished videos of ``split`` (leftovers of interrupted imports in it
    are left out, with a warning naming them)."""
    from dvos_core.store.schema import id_list

    if video_ids is not None:
        ids = list(dict.fromkeys(id_list(video_ids)))
        if not ids:
            raise ValueError(
                f"video_ids is an empty list: name the videos to score (--videos), or pass None to score the "
                f"videos of split {split!r}"
            )  # a video named twice is scored once (else it would weigh double)
        for v in ids:
            project.video(v).require_complete()  # a KeyError naming the known videos, or the interrupted import
        return ids
    from dvos_core.store.schema import SPLITS

    if split is not None and split not in SPLITS:  # else the advice below names a split `dvos split` refuses
        raise ValueError(
            f"unknown split {split!r} (--split): use one of {', '.join(SPLITS)}, or pass video ids (--videos)"
        )
    ids = [v.name for v in project.videos(split)]
    left_out = [v.name for v in project.videos(split, include_incomplete=True) if not v.import_complete]
    if left_out:
        warn_user(
            f"{project.path}: left out the interrupted import(s) {left_out} of split {split!r} (only part of their "
            f"frames were written; `dvos info {quote(project.path)}` lists them)",
        )
    if not ids:
        raise ValueError(
            f"{project.path}: no videos with split {split!r}; assign one with "
            f"`dvos split {quote(project.path)} {split} VIDEO_ID` or pass video ids (--videos)"
        )
    return ids


class UncountedTruth:
    """Watches the ground-truth masks scored for heads all under ``min_area``: masks that hold heads while no part
    of any is counted leave every count column at 0 (see :meth:`warn`)."""

    def __init__(self, min_area: int):
        self.min_area, self.counted, self.largest = min_area, False, 0

    def add(self, gt, scores: dict) -> None:
        """One frame's ground truth ``gt`` and its :func:`frame_scores`."""
        if scores["count_gt"]:
            self.counted = True
        elif scores["gt_pixels"] and not self.counted:
            self.largest = max(self.largest, int(head_parts(gt)[1][:, 0].max()))

    def warn(self, project_path, options: str = "") -> None:
        """Once: the ground truth holds heads but every part is under ``min_area``, and the fix. ``options``: the
        command-line options that chose what was scored (:func:`scoring_options`), kept in the command named."""
        if self.counted or not self.largest:
            return
        warn_user(
            f"{project_path}: the ground-truth masks scored hold heads, but every part of them is smaller than "
            f"--min-area {self.min_area} px (the largest is {self.largest} px), so no head is counted and the head "
            f"counts (count_gt, count_pred, count_error) mean nothing; if your heads are that small, score again with "
            f"a lower one (`dvos evaluate {quote(project_path)}{options} --min-area {self.largest}`; Python: "
            f"min_area={self.largest})"
        )


def scoring_options(video_ids, split: str, gt_provenances, tolerance: float, model=None, models=()) -> str:
    """The `dvos evaluate` options (each after a space) that choose the videos, models and ground truth scored and
    the boundary tolerance, where they differ from the defaults: a command that advises scoring again keeps them."""
    from dvos_core.store.schema import id_list

    parts = []
    if video_ids:
        parts.append("--videos " + " ".join(quote(str(v)) for v in dict.fromkeys(id_list(video_ids))))
    elif split != "test":
        parts.append(f"--split {quote(split)}")
    if models:
        parts.append("--models " + " ".join(quote(str(m)) for m in id_list(models)))
    elif model:
        parts.append(f"--model {quote(str(model))}")
    if set(gt_provenances) != set(DEFAULT_GT_PROVENANCES):
        parts.append("--gt " + " ".join(gt_provenances))
    if float(tolerance) != 2.0:
        parts.append(f"--tolerance {tolerance:g}")
    return "".join(f" {p}" for p in parts)


def warn_partial(name: str, where: dict, project_path, compared: bool = False) -> None:
    """Warn that ``name`` (plural: "the predictions of 'img'") were scored on fewer ground-truth frames than there
    are: ``where`` is {video: [frames scored, ground-truth frames]}; ``compared``: their row sits beside others'. When
    another process is writing the project now (predicting them, perhaps), it is named."""
    from dvos_core.store.lock import writer_lock

    counts = ", ".join(f"{k} of {n} in video {v!r}" for v, (k, n) in where.items())
    unpredicted = [v for v, (k, _n) in where.items() if k == 0]
    lock = writer_lock(project_path) if project_path else None
    busy = lock is not None and not lock.held and lock.writing()
    now = f"the project is being written now by {lock.describe_holder()}: score again once it ends; or " if busy else ""
    warn_user(
        f"{name} were scored on fewer ground-truth frames than there are ({counts}): they do not cover them "
        f"({now}`dvos predict` stopped half-way, or was run on some frames only"
        + (f"; none in {', '.join(map(repr, unpredicted))}" if unpredicted else "")
        + ")"
        + (", so their row is not comparable with the others'" if compared else ", so their score says nothing of them")
        + f"; `dvos info {quote(project_path)}` names the command that finishes an unfinished set"
        + (
            f"; predict {', '.join(unpredicted)} with the model that made them (`dvos predict --videos`) to "
            f"score them on every video"
            if unpredicted
            else ""
        ),
    )


def warn_outdated(sets) -> None:
    """Warn, once per set name and reason, when prediction sets about to be scored are out of date: made by a
    checkpoint file that has changed since (the model trained again under the same name), or smoothed from a set
    made again since (``store.project.outdated_record``): their scores are of what was there before."""
    from dvos_core.store.notes import outdated_warning
    from dvos_core.store.project import outdated_record

    found: dict = {}
    for s in sets:
        d = outdated_record(s)
        if d:
            found.setdefault((s.model, d["why"]), (d, []))[1].append(s)
    for (model, _why), (d, held) in found.items():
        smoothed = d.get("kind") == "smoothed"
        effect = "they score an earlier set smoothed" if smoothed else "they score that earlier model"
        aim = "to score the current one" if smoothed else "to score the model as it is"
        warn_user(outdated_warning(held[0].video.path, model, d, [s.video.name for s in held], effect, aim))


def warn_trained_on(sets) -> None:
    """Warn when a prediction set about to be scored is of a test video the model that made it trained on (its
    checkpoint's data summary lists the video: it was a training video then): its score is not a test score. The
    header of each model's checkpoint is read once (no weight is loaded); a set whose checkpoint is gone or is no
    dvos checkpoint is passed over."""
    from dvos_core.checkpoint_header import checkpoint_data_videos
    from dvos_core.store.predictions import recorded_checkpoint

    seen: dict = {}
    found: dict = {}
    for s in sets:
        if s.video.split != "test":
            continue
        path = recorded_checkpoint(s.video.path, s.attrs)
        if path not in seen:
            seen[path] = (checkpoint_data_videos(path, ("train",)) if path else None) or set()
        if s.video.name in seen[path]:
            found.setdefault(s.model, []).append(s.video.name)
    for model, videos in found.items():
        warn_user(
            f"{model!r} was trained on the test video(s) {', '.join(videos)} (its checkpoint's training data lists "
            f"them: they were training videos then): its score there is not a test score; train it again without "
            f"them (they are left out of training now that they are test videos) and predict again"
        )


def ground_truth_frames(video, gt_provenances: Sequence = DEFAULT_GT_PROVENANCES) -> np.ndarray:
    """The frames of ``video`` holding a ground-truth mask (provenance in ``gt_provenances``); a clear error when it
    has none, so that a video left unpainted is not silently left out of a score."""
    labelled = video.labelled_frames(gt_provenances)
    if labelled.size == 0:
        raise ValueError(
            f"video {video.name!r} has no ground-truth masks with provenance {list(gt_provenances)}; "
            f"paint or import masks, or pseudo-label it, choose which masks count as the truth (--gt), or leave it "
            f"out (--videos)"
        )
    return labelled


def scored_frames(video, gt_provenances: Sequence = DEFAULT_GT_PROVENANCES, model: str | None = None) -> np.ndarray:
    """Frames of ``video`` that have both a prediction (of ``model``, default the most recent) and a ground-truth
    mask; clear errors when either is missing."""
    chosen = video.predictions[model] if model else video.predictions.latest()
    predicted = chosen.frames() if chosen.exists() else np.zeros(0, np.int64)
    if predicted.size == 0:
        video.predictions.raise_damaged(model)  # a set whose own zarr.json is damaged: named, not "no predictions"
        sets = video.predictions.models()
        if model and sets:
            from dvos_core.store.notes import predict_fix

            raise ValueError(
                f"video {video.name!r} has no predictions of {model!r} (it has predictions of {sets}); "
                f"{predict_fix(video.path, model, [video.name])}, or leave the video out (--videos)"
            )
        raise ValueError(
            f"video {video.name!r} has no predictions; run `dvos predict` (or dvos_core.infer."
            f"predict_video) on it first"
        )
    labelled = ground_truth_frames(video, gt_provenances)
    both = np.intersect1d(predicted, labelled)
    if both.size == 0:
        raise ValueError(
            f"video {video.name!r}: none of its {labelled.size} ground-truth frames is predicted "
            f"({predicted.size} predicted frames); predict those frames first"
        )
    return both


@runs_with_threads(torch=False)
def evaluate(
    project,
    video_ids=None,
    split: str = "test",
    which: str = "predictions",
    name: str | None = None,
    worst_k: int = 8,
    gt_provenances: Sequence = DEFAULT_GT_PROVENANCES,
    tolerance: float = 2.0,
    min_area: int = 16,
    save: bool = True,
    plots: bool = True,
    model: str | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    threads: int | None = None,
) -> EvaluationReport:
    """Score stored predictions against ground truth for the chosen videos and save a report.

    Ground truth: frames whose mask provenance is in ``gt_provenances``; prediction: the masks of ``model`` (a
    prediction set; default each video's most recent one, refused when that is not the same model in every video;
    :func:`~dvos_core.evaluate.compare.compare_models` scores several side by side).
    Per frame: Dice, IoU (+1 smoothing), boundary F at ``tolerance`` px, head counts
    (connected components of at least ``min_area`` px). Overall scores are frame-weighted (the paper's "All" column).
    With ``save``, writes frames.csv, videos.csv, overall.json, plots and worst-frame overlays to
    ``project.report_dir(name)`` (name defaults to ``eval-<timestamp>``). ``threads``: OpenCV threads for the
    overlays (see :mod:`dvos_core.threads`).
    """
    import pandas as pd

    from dvos_core.store import Project
    from dvos_core.store.schema import PROVENANCE_NAMES

    if which != "predictions":
        raise ValueError(f"which={which!r}: only 'predictions' (stored pred_masks) can be evaluated")
    if isinstance(worst_k, bool) or not isinstance(worst_k, numbers.Integral) or worst_k < 0:
        raise ValueError(f"worst_k (--worst) must be 0 or more (0: no worst-frame overlays), got {worst_k!r}")
    gt_provenances = check_settings(gt_provenances, tolerance, min_area)
    project = Project.of(project)
    ids = _video_ids(project, video_ids, split)
    if save:
        project.check_writable("evaluate")  # before scoring every frame, not after
    plan, partial = {}, {}
    for vid in ids:
        plan[vid] = scored_frames(project.video(vid), gt_provenances, model)
        labelled = len(project.video(vid).labelled_frames(gt_provenances))
        if len(plan[vid]) < labelled:  # ground-truth frames without a prediction: left out of the score
            partial[vid] = [len(plan[vid]), labelled]
    # the set scored in each video: ``model``'s, or the video's most recent (chosen once: each look reads its flags)
    chosen = {v: project.video(v).predictions[model] if model else project.video(v).predictions.latest() for v in ids}
    if model is None:  # each video's most recent set: one overall score must not mix several models (refused
        # before the partial sets are warned about: nothing is scored)
        latest = {vid: s.model for vid, s in chosen.items()}
        if len(set(latest.values())) > 1:
            which_set = ", ".join(f"{v}: {m}" for v, m in latest.items())
            raise ValueError(
                f"the videos were last predicted by different models ({which_set}); one overall score would mix "
                f"them: name the model to score (--model NAME, model=) or compare the models side by side "
                f"(--models all, compare_models)"
            )
    if partial:
        warn_partial(
            f"the predictions of {model!r}" if model else "each video's latest predictions", partial, project.path
        )
    warn_outdated(chosen[v] for v in plan)
    warn_trained_on(chosen[v] for v in plan)
    total = int(sum(len(f) for f in plan.values()))
    own = own_corrections((chosen[v], plan[v]) for v in plan)
    warn_own_corrections(chosen[ids[0]].model, own, total)
    own_labels = own_pseudo_labels((chosen[v], plan[v]) for v in plan)
    warn_own_pseudo_labels(chosen[ids[0]].model, own_labels, total)
    rows, done = [], 0
    uncounted = UncountedTruth(min_area)
    sets = {}  # video -> the prediction set scored (recorded, and what the worst-frame overlays draw)
    for vid, frames in plan.items():
        video = project.video(vid)
        preds = chosen[vid]
        sets[vid] = preds.model
        codes = video.provenance
        for t in frames:
            check(cancel)
            gt = video.read_masks(int(t), int(t) + 1)[0]
            scores = frame_scores(preds.read("masks", int(t)), gt, tolerance, min_area)
            uncounted.add(gt, scores)
            rows.append(
                {
                    "video": vid,
                    "frame": int(t),
                    **scores,
                    "count_error": abs(scores["count_pred"] - scores["count_gt"]),
                    "gt_provenance": PROVENANCE_NAMES[int(codes[t])],
                }
            )
            done += 1
            report(progress, done, total, f"{vid}: frame {int(t)}")
    uncounted.warn(project.path, scoring_options(video_ids, split, gt_provenances, tolerance, model))
    frames_df = pd.DataFrame(rows, columns=FRAME_COLUMNS)
    videos_df = summarise_videos(frames_df)
    overall = summarise_overall(frames_df, videos_df)
    overall.update(
        {
            "tolerance_px": tolerance,
            "min_area_px": min_area,
            "gt_provenances": list(gt_provenances),
            "videos": ids,
            "prediction_sets": sets,
            "partial": partial,  # {video: [frames scored, ground-truth frames]} where predictions cover fewer
            "own_corrections": own,  # {video: frames} whose ground truth corrects the scored set's own predictions
            "own_pseudo_labels": own_labels,  # {video: frames} whose ground truth is the scored checkpoint's label
        }
    )
    rep = EvaluationReport(frames_df, videos_df, overall)
    if save:
        from dvos_core.evaluate.report import dated_report_name, save_report

        name = name or dated_report_name(project, "eval")
        save_report(rep, project, name, worst_k=worst_k, plots=plots, cancel=cancel)
    return rep


def summarise_videos(frames_df):
    """Per-video table: mean per-frame scores, pooled (video-level) Dice/IoU and the mean absolute count error."""
    import pandas as pd

    out = []
    for vid, g in frames_df.groupby("video", sort=False):
        inter, p, t = g["intersection"].sum(), g["pred_pixels"].sum(), g["gt_pixels"].sum()
        out.append(
            {
                "video": vid,
                "n_frames": int(len(g)),
                "dice": float(g["dice"].mean()),
                "iou": float(g["iou"].mean()),
                "boundary_f": float(g["boundary_f"].mean()),
                "mean_count_error": float(g["count_error"].mean()),
                "dice_pooled": float((2 * inter + 1) / (p + t + 1)),
                "iou_pooled": float((inter + 1) / (p + t - inter + 1)),
            }
        )
    return pd.DataFrame(out, columns=VIDEO_COLUMNS)


def summarise_overall(frames_df, videos_df) -> dict:
    """Frame-weighted overall scores (computed from the per-video table) plus the unweighted video mean."""
    w = videos_df["n_frames"].to_numpy()
    overall = {"n_frames": int(w.sum()), "n_videos": int(len(videos_df))}
    for key in ("dice", "iou", "boundary_f", "mean_count_error"):
        overall[key] = weighted_overall(videos_df[key].to_numpy(), w)
    overall["video_mean_dice"] = float(videos_df["dice"].mean())
    overall["video_mean_iou"] = float(videos_df["iou"].mean())
    return overall
