"""Write an evaluation report to the project: CSV tables, overall JSON, plots and overlays.

Plots use Matplotlib's object API (``matplotlib.figure.Figure``, drawn by its Agg canvas): no pyplot state and no
change of the process's backend, so reports can be written from worker threads of a GUI.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from dvos_core.io.image_files import write_image
from dvos_core.progress import CancelToken, check
from dvos_core.store.lock import writes_store
from dvos_core.store.schema import StoreError

GT_COLOUR = np.array([0, 200, 0], np.float32)  # ground truth only: green (missed)
PRED_COLOUR = np.array([230, 0, 200], np.float32)  # prediction only: magenta (false positive)
BOTH_COLOUR = np.array([255, 220, 0], np.float32)  # both: yellow


def overlay(frame: np.ndarray, pred, gt, alpha: float = 0.45) -> np.ndarray:
    """RGB uint8 overlay: GT-only pixels green, prediction-only magenta, agreement yellow, blended onto the frame."""
    out = np.asarray(frame, np.float32).copy()
    p, g = np.asarray(pred) != 0, np.asarray(gt) != 0
    for sel, colour in ((g & ~p, GT_COLOUR), (p & ~g, PRED_COLOUR), (p & g, BOTH_COLOUR)):
        out[sel] = (1 - alpha) * out[sel] + alpha * colour
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _figure(figsize):
    """A Matplotlib figure drawn off-screen (the object API: no pyplot state, no change of the process's backend)."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def plot_videos(videos_df, overall: dict, path: Path) -> None:
    """Per-video Dice and IoU bars with the frame-weighted overall as dashed lines."""
    n = len(videos_df)
    fig = _figure((max(4.0, 0.9 * n + 2), 3.6))
    ax = fig.subplots()
    x = np.arange(n)
    ax.bar(x - 0.2, videos_df["dice"], 0.4, label="Dice")
    ax.bar(x + 0.2, videos_df["iou"], 0.4, label="IoU")
    ax.axhline(overall["dice"], ls="--", c="C0", lw=1, label=f"All Dice {overall['dice']:.3f}")
    ax.axhline(overall["iou"], ls="--", c="C1", lw=1, label=f"All IoU {overall['iou']:.3f}")
    ax.set_xticks(x, [f"{v}\n({c} fr)" for v, c in zip(videos_df["video"], videos_df["n_frames"])], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("score")
    ax.set_title("Per-video scores (All = frame-weighted)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_frames(frames_df, path: Path) -> None:
    """Per-frame Dice against frame index, one curve per video."""
    fig = _figure((8, 3.6))
    ax = fig.subplots()
    for vid, g in frames_df.groupby("video", sort=False):
        g = g.sort_values("frame")
        ax.plot(g["frame"], g["dice"], marker="." if len(g) < 60 else None, lw=1, label=str(vid))
    ax.set_xlabel("frame")
    ax.set_ylabel("Dice")
    ax.set_ylim(0, 1.02)
    ax.set_title("Per-frame Dice")
    if frames_df["video"].nunique() <= 12:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def save_worst_overlays(report, project, folder: Path, k: int, cancel: CancelToken | None = None) -> list:
    """Save overlays of the ``k`` lowest-Dice frames as ``worst/<rank>_<video>_f<frame>_dice<d>.png``, each with the
    masks of the prediction set that was scored (``report.overall["prediction_sets"]``; else the video's most
    recent set)."""

    folder.mkdir(parents=True, exist_ok=True)
    files = []
    sets = report.overall.get("prediction_sets") or {}
    for rank, r in enumerate(report.worst(k).itertuples(), 1):
        check(cancel)
        video = project.video(r.video)
        t = int(r.frame)
        name = sets.get(r.video)
        preds = video.predictions[name] if name else video.predictions.latest()
        pred = preds.read("masks", t)
        img = overlay(video.frame(t), pred, video.read_masks(t, t + 1)[0])
        path = folder / f"{rank:02d}_{r.video}_f{t:06d}_dice{r.dice:.3f}.png"
        write_image(path, img[..., ::-1], "writing an image of the worst frames")
        files.append(path)
    return files


@writes_store
def write_report_folder(project, name: str, write) -> tuple[Path, list]:
    """Create ``reports/<name>`` whole: ``write(folder)`` fills a staging folder (returning the files it wrote),
    which is then moved into place. Returns (the final folder, its files).

    All or nothing: a cancel, a full disk or a kill never leaves half a report (leftovers are swept the next time the
    project is written). Reusing a name replaces that report; a ``reports/<name>`` that is a symbolic link is
    replaced by the new folder, never written through, so nothing is written outside the project. Holds the writer
    lock (``wait``).
    """
    from dvos_core.store.fsops import STAGING_PREFIX, discard, io_step

    final = project.report_dir(name)  # checks the name
    reports = final.parent
    if reports.is_symlink() or not reports.is_dir():
        what = f"a symbolic link (to {os.readlink(reports)})" if reports.is_symlink() else "missing"
        raise StoreError(f"{reports} is {what}; dvos writes reports only inside the project folder")
    stage = reports / f"{STAGING_PREFIX}{name}-{uuid.uuid4().hex[:8]}"
    try:
        with io_step(stage, f"writing report {name!r}", "No report was saved."):
            stage.mkdir()
            files = write(stage)
        with io_step(final, f"moving report {name!r} into place", "No report was saved."):
            if final.exists() or final.is_symlink():
                discard(final, project.path)
            os.rename(stage, final)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    return final, [final / f.relative_to(stage) for f in files]


def _timestamp() -> str:
    import datetime as _dt

    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def dated_report_name(project, prefix: str) -> str:
    """``<prefix>-<YYYYmmdd-HHMMSS>`` for a report saved without a name, with ``-2``, ``-3``... when a report of
    that name exists (two evaluations in one second, e.g. a loop over models, replaced each other unsaid)."""
    base = f"{prefix}-{_timestamp()}"
    name, k = base, 1
    while project.report_dir(name).exists():
        k += 1
        name = f"{base}-{k}"
    return name


def save_report(
    report, project, name: str, worst_k: int = 8, plots: bool = True, cancel: CancelToken | None = None, wait=None
) -> Path:
    """Write frames.csv, videos.csv, overall.json and (with ``plots``) videos.png, frames.png, worst/*.png into
    ``reports/<name>`` (see :func:`write_report_folder`); returns that folder."""
    report.path, report.files = write_report_folder(
        project, name, lambda folder: _write_files(report, project, folder, worst_k, plots, cancel), wait=wait
    )
    return report.path


def _write_files(report, project, folder: Path, worst_k: int, plots: bool, cancel) -> list[Path]:
    files = [folder / "frames.csv", folder / "videos.csv", folder / "overall.json"]
    report.frames.to_csv(files[0], index=False)
    report.videos.to_csv(files[1], index=False)
    files[2].write_text(json.dumps(report.overall, indent=2))
    if plots:
        plot_videos(report.videos, report.overall, folder / "videos.png")
        plot_frames(report.frames, folder / "frames.png")
        files += [folder / "videos.png", folder / "frames.png"]
        if worst_k > 0:
            files += save_worst_overlays(report, project, folder / "worst", worst_k, cancel)
    return files
