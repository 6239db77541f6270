"""evaluate(): per-frame / per-video / overall values on a real store, report files, clear errors."""

import json

import numpy as np
import pandas as pd
import pytest

from dvos_core.evaluate import evaluate
from dvos_core.store import Project


def _squares(n, h=40, w=48, shift=0):
    masks = np.zeros((n, h, w), np.uint8)
    for t in range(n):
        masks[t, 5 + t : 15 + t, 5:15] = 1
        masks[t, 25:35, 20 + shift : 32 + shift] = 1
    return masks


@pytest.fixture()
def project(tmp_path):
    p = Project.create(tmp_path / "e.dvos")
    rng = np.random.default_rng(0)
    spec = {"a": (5, 0), "b": (3, 2)}  # video: (frames, prediction shift of the second square)
    for vid, (n, shift) in spec.items():  # val videos: a test video would refuse the pseudo masks
        v = p.add_video_array(vid, rng.integers(0, 255, (n, 40, 48, 3), dtype=np.uint8), split="val")
        gt, pred = _squares(n), _squares(n, shift=shift)
        for t in range(n):
            v.set_mask(t, gt[t], "manual" if t % 2 == 0 else "pseudo")
            v.predictions.set(t, pred[t].astype(np.float32) * 0.9)
    return p


def test_values_tables_and_files(project):
    rep = evaluate(project, split="val", name="r1", worst_k=3, min_area=1)
    f = rep.frames
    assert len(f) == 8 and set(f["video"]) == {"a", "b"}
    assert np.allclose(f[f.video == "a"]["dice"], 1.0)
    # video b: squares of 100 and 120 px, second one shifted by 2 columns -> |P∩G| = 100 + 100
    exp = (2 * 200 + 1) / (220 + 220 + 1)
    assert np.allclose(f[f.video == "b"]["dice"], exp)
    assert np.allclose(f[f.video == "b"]["iou"], (200 + 1) / (240 + 1))
    assert (f["count_gt"] == 2).all() and (f["count_error"] == 0).all()
    assert set(f["gt_provenance"]) == {"manual", "pseudo"}
    v = rep.videos.set_index("video")
    assert v.loc["a", "n_frames"] == 5 and v.loc["b", "n_frames"] == 3
    assert rep.overall["dice"] == pytest.approx(f["dice"].mean())  # frame-weighted = mean over frames
    assert rep.overall["dice"] != pytest.approx(v["dice"].mean())
    assert rep.worst(2)["video"].tolist() == ["b", "b"]
    folder = project.report_dir("r1")
    for name in ("frames.csv", "videos.csv", "overall.json", "videos.png", "frames.png"):
        assert (folder / name).stat().st_size > 0
    assert len(list((folder / "worst").glob("*.png"))) == 3
    assert len(pd.read_csv(folder / "frames.csv")) == 8
    assert json.loads((folder / "overall.json").read_text())["n_frames"] == 8
    assert "All (frame-weighted)" in rep.format_table()


def test_same_name_replaces_the_report(project):
    evaluate(project, split="val", name="r", worst_k=3, min_area=1)
    folder = project.report_dir("r")
    old = {f.name for f in (folder / "worst").glob("*.png")}
    rep = evaluate(project, video_ids=["a"], name="r", worst_k=2, min_area=1)
    new = {f.name for f in (folder / "worst").glob("*.png")}
    assert len(new) == 2 and all("_a_" in n for n in new) and old - new  # no overlay of video b is left over
    assert set(pd.read_csv(folder / "frames.csv")["video"]) == {"a"} and len(rep.frames) == 5
    evaluate(project, video_ids=["a"], name="r", plots=False)
    assert not (folder / "videos.png").exists() and not list((folder / "worst").glob("*.png"))


def test_gt_provenance_filter(project):
    rep = evaluate(project, video_ids=["a"], gt_provenances=["manual"], save=False)
    assert rep.frames["frame"].tolist() == [0, 2, 4]


def test_clear_errors(project, tmp_path):
    v = project.add_video_array("c", np.zeros((2, 40, 48, 3), np.uint8), split="test")
    with pytest.raises(ValueError, match="'c' has no predictions"):
        evaluate(project, save=False)
    v.predictions.set(0, np.zeros((40, 48), np.float32))
    with pytest.raises(ValueError, match="'c' has no ground-truth"):
        evaluate(project, save=False)
    with pytest.raises(ValueError, match="no videos with split 'train'.*`dvos split .*e.dvos train VIDEO_ID`"):
        evaluate(project, split="train", save=False)
    with pytest.raises(KeyError):
        evaluate(project, video_ids=["nope"], save=False)


def test_cancel_writes_no_report(project):
    from dvos_core.progress import Cancelled, CancelToken

    token = CancelToken()

    def progress(done, total, msg):
        assert total == 8
        if done == 3:
            token.cancel()

    with pytest.raises(Cancelled):
        evaluate(project, split="val", name="stopped", progress=progress, cancel=token)
    assert not (project.path / "reports" / "stopped").exists()


def test_overlay_colours():
    from dvos_core.evaluate.report import BOTH_COLOUR, GT_COLOUR, PRED_COLOUR, overlay

    frame = np.zeros((2, 2, 3), np.uint8)
    pred = np.array([[1, 1], [0, 0]])
    gt = np.array([[1, 0], [1, 0]])
    out = overlay(frame, pred, gt, alpha=1.0)
    assert (out[0, 0] == BOTH_COLOUR).all() and (out[0, 1] == PRED_COLOUR).all()
    assert (out[1, 0] == GT_COLOUR).all() and (out[1, 1] == 0).all()


def test_report_folder_symlink_never_sends_files_outside(project, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not dvos's")
    (project.path / "reports" / "linked").symlink_to(outside, target_is_directory=True)
    rep = evaluate(project, split="val", name="linked", worst_k=1, min_area=1)
    folder = project.path / "reports" / "linked"
    assert not folder.is_symlink() and (folder / "frames.csv").is_file() and rep.path == folder
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]  # nothing written through the link
    assert (outside / "keep.txt").read_text() == "not dvos's"


def test_reports_folder_that_is_a_symlink_is_refused(project, tmp_path):
    import shutil

    from dvos_core.store import StoreError

    outside = tmp_path / "elsewhere"
    shutil.move(project.path / "reports", outside)
    (project.path / "reports").symlink_to(outside, target_is_directory=True)
    with pytest.raises(StoreError, match="reports is a symbolic link.*only inside the project"):
        evaluate(project, split="val", name="r", plots=False)
    assert list(outside.iterdir()) == []


def test_failed_report_leaves_no_half_report_and_keeps_the_old_one(project, monkeypatch):
    import errno

    from dvos_core.evaluate import report as report_mod
    from dvos_core.store import StoreError

    evaluate(project, split="val", name="r", plots=False)
    old = (project.report_dir("r") / "frames.csv").read_text()

    def full_disk(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report_mod, "plot_frames", full_disk)
    with pytest.raises(StoreError, match="report 'r' failed: the disk is full.*No report was saved"):
        evaluate(project, video_ids=["a"], name="r", worst_k=0, min_area=1)
    assert (project.report_dir("r") / "frames.csv").read_text() == old
    assert sorted(p.name for p in (project.path / "reports").iterdir()) == ["r"]  # no staging folder left


def test_plots_leave_the_matplotlib_backend_and_pyplot_alone(project):
    import subprocess
    import sys

    script = (
        "import sys, matplotlib\n"
        "matplotlib.use('svg')\n"
        "from dvos_core.store import Project\n"
        "from dvos_core.evaluate import evaluate\n"
        "evaluate(Project.open(sys.argv[1]), split='val', name='bk', worst_k=1, min_area=1)\n"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
    )
    r = subprocess.run([sys.executable, "-c", script, str(project.path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (project.report_dir("bk") / "videos.png").stat().st_size > 0


def test_an_empty_video_list_is_refused_and_worst_ranks_count_error_from_the_largest(project):
    """evaluate(video_ids=[]) scored the whole split, and worst(by="count_error") listed the best frames."""
    from dvos_core.evaluate import compare_models
    from dvos_core.evaluate.summary import EvaluationReport

    for run in (evaluate, compare_models):
        with pytest.raises(ValueError, match="video_ids is an empty list: name the videos to score"):
            run(project, video_ids=[], split="val", save=False)
    frames = pd.DataFrame({"video": "a", "frame": [0, 1, 2], "dice": [0.9, 0.2, 0.5], "count_error": [0, 3, 1]})
    rep = EvaluationReport(frames, pd.DataFrame(), {})
    assert rep.worst(2)["frame"].tolist() == [1, 2]
    assert rep.worst(2, by="count_error")["frame"].tolist() == [1, 2]
    with pytest.raises(ValueError, match="rank the frames by a score, one of dice, iou, boundary_f, count_error"):
        rep.worst(2, by="gt_pixels")


def test_table_columns_never_run_together():
    """|dN| >= 10000 ran into BF ('0.88911837.00'): the columns had fixed widths of 8."""
    from dvos_core.evaluate.summary import EvaluationReport

    videos = pd.DataFrame(
        [
            ["a", 3, 0.91, 0.85, 0.889, 11837.0],
            ["a_video_name_longer_than_24_chars", 123456789, 1.0, 1.0, 1.0, 0.5],
        ],
        columns=["video", "n_frames", "dice", "iou", "boundary_f", "mean_count_error"],
    )
    overall = {"n_frames": 123456792, "dice": 0.9, "iou": 0.8, "boundary_f": 0.95, "mean_count_error": 1234567.25}
    lines = EvaluationReport(pd.DataFrame(), videos, overall).format_table().splitlines()
    assert lines[0].split() == ["video", "frames", "Dice", "IoU", "BF", "|dN|"]
    assert lines[1].split() == ["a", "3", "0.910", "0.850", "0.889", "11837.00"]
    assert lines[2].split() == ["a_video_name_longer_than_24_chars", "123456789", "1.000", "1.000", "1.000", "0.50"]
    assert lines[3].split()[2:] == ["123456792", "0.900", "0.800", "0.950", "1234567.25"]
    assert len({len(line) for line in lines}) == 1  # still a table: the columns line up
    # values that fit keep the table as it was
    small = (
        EvaluationReport(
            pd.DataFrame(), videos[:1].assign(mean_count_error=1.5), {**overall, "n_frames": 3, "mean_count_error": 1.5}
        )
        .format_table()
        .splitlines()
    )
    assert small[1] == f"{'a':<24}{3:>8d}{0.91:>8.3f}{0.85:>8.3f}{0.889:>8.3f}{1.5:>8.2f}"
