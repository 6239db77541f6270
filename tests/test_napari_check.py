"""Check project... in the Project step (``dvos check`` from the panel): it reads the project in a job of the step,
lists what is damaged or unfinished in the panel's words (commands the panel has no button for are kept, to type in a
terminal), says so when everything reads, and changes nothing."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


@pytest.fixture
def painted(tmp_project):
    """A 6-frame video with frames 1 and 4 painted."""
    rng = np.random.default_rng(0)
    v = tmp_project.add_video_array("plot", rng.integers(0, 255, (6, 32, 32, 3), dtype=np.uint8), split="train")
    mask = np.zeros((32, 32), np.uint8)
    mask[4:12, 4:12] = 1
    for t in (1, 4):
        v.set_mask(t, mask, "manual")
    return tmp_project


def _hashes(root):
    return {str(f): hashlib.md5(f.read_bytes()).hexdigest() for f in sorted(root.rglob("*")) if f.is_file()}


def _project_dock(viewer, project):
    from napari_helpers import dock

    pr = dock(viewer, "Project")
    pr.state.set_project(project)
    return pr


def test_a_deleted_mask_chunk_is_listed_with_its_file_and_the_panel_fix(make_napari_viewer, qtbot, painted):
    from napari_helpers import wait_job

    chunk = painted.path / "videos" / "plot" / "masks" / "c" / "4" / "0" / "0"
    chunk.unlink()  # a painted mask's file deleted by a sync tool
    before = _hashes(painted.path)
    pr = _project_dock(make_napari_viewer(), painted)
    job = pr.check_project(models=False)
    assert not pr.check_button.isEnabled()  # one job at a time: the step's job bar shows it, with Cancel
    assert pr.job_bar.cancel_button.isEnabled()
    assert wait_job(qtbot, job) == "ok"
    assert pr.check_button.isEnabled()
    assert [(f.kind, f.where) for f in pr.check_findings] == [("damaged", "video plot, masks of frames 1-4")]
    assert "1 damaged, 0 unfinished" in pr.status.text() and pr.check_window.isVisible()
    report = pr.check_text.toPlainText()
    assert str(chunk) in report and "video plot, masks of frames 1-4" in report
    assert "Delete... in the Project step" in report and "painted again (Annotate step)" in report
    assert "matching step" not in report and "the 'overwrite' setting" not in report
    assert "`dvos import-masks" in report and "--overwrite` in a terminal" in report  # no panel button for it
    assert _hashes(painted.path) == before  # only read


def test_a_sound_project_says_every_part_reads(make_napari_viewer, qtbot, painted):
    from napari_helpers import wait_job

    pr = _project_dock(make_napari_viewer(), painted)
    assert wait_job(qtbot, pr.check_project()) == "ok"
    assert pr.check_findings == []
    assert "every stored part of" in pr.status.text() and "no step was left unfinished" in pr.status.text()
    assert pr.check_window is None


def test_a_cancelled_check_says_nothing_was_changed(make_napari_viewer, qtbot, tmp_project):
    tmp_project.add_video_array("long", np.zeros((400, 16, 16, 3), np.uint8), split="train")  # 25 reads
    pr = _project_dock(make_napari_viewer(), tmp_project)
    job = pr.check_project()
    pr.job_bar.cancel_button.click()
    qtbot.waitUntil(lambda: job.status is not None, timeout=120_000)
    assert job.status == "cancelled"
    assert "cancelled before it read everything" in pr.status.text() and "was not changed" in pr.status.text()
    assert pr.check_findings is None and pr.check_button.isEnabled()


def test_check_without_a_project_names_the_button_that_opens_one(make_napari_viewer):
    from napari_helpers import dock

    pr = dock(make_napari_viewer(), "Project")
    pr.check_button.click()
    assert "no project is open yet" in pr.status.text() and "New..." in pr.status.text()
    assert pr.job is None


def test_unfinished_steps_read_in_panel_words(tmp_project):
    from dvos_core.store.check import check_project
    from dvos_napari.docks.project import check_report

    v = tmp_project.add_video_array("plot", np.zeros((6, 16, 16, 3), np.uint8), split="train")
    v.predictions["ctx"].start({"kind": "test"}, None)
    v.predictions["ctx"].set_many([0, 1], np.zeros((2, 16, 16), np.float32))
    report = check_report(str(tmp_project.path), check_project(tmp_project, models=False))
    assert "UNFINISHED: video plot, predictions ctx" in report
    assert "predict the video again with the model that made it to finish it" in report
    assert "the same the Predict step" not in report
    # deleting one video's predictions is a command-line job (the Review step deletes them from every video)
    assert f"`dvos delete {tmp_project.path} predictions ctx --videos plot --yes` in a terminal" in report


def test_commands_without_a_panel_button_are_kept_and_others_get_their_step():
    from dvos_napari._errors import plain_words

    cases = {
        "interrupted clip: run the same `dvos extract-backgrounds` again, or delete it (`dvos delete p.dvos "
        "background b1 --yes`)": (
            "run Extract backgrounds again (Extract step), or delete it (`dvos delete p.dvos background b1 --yes` in "
            "a terminal)"
        ),
        "3/5 clips made: run the same `dvos synth` again to finish it": (
            "run Generate again with the same set name (Synthesize step) to finish it"
        ),
        "3/5 clips made: run the command that made it again to finish it (`dvos synth`, or `dvos run-all`, or "
        "Generate in the Synthesize step: each resumes)": (
            "run Generate again with the same set name (Synthesize step) to finish it"
        ),
        "p3: only 4/32 frames predicted (unfinished); finish it with `dvos predict p.dvos img --videos v --name p3` "
        "(it resumes)": (
            "finish it: run Predict again with the same model, set name and options (Predict step; it resumes)"
        ),
        "2 heads and 0 fakes were cut from video 'gone', which is no longer in the project: remove them with "
        "`dvos delete p.dvos video gone --yes`": "remove them with `dvos delete p.dvos video gone --yes` in a terminal",
        "p.dvos uses store schema 1. Run `dvos migrate p.dvos` (back the folder up first)": (
            "Run `dvos migrate p.dvos` in a terminal (back the folder up first)"
        ),
        "Restore it from a backup of the project, or empty the object bank (Python: "
        "`Project.open('p.dvos').objects.clear()`) and cut the objects again (`dvos extract-objects p.dvos`)": (
            "(Python: `Project.open('p.dvos').objects.clear()`) and cut the objects again (Extract heads in the "
            "Extract step)"
        ),
        "or predict the video again (`dvos predict p.dvos m1 --videos plot`)": (
            "predict the video again (the Predict step)"
        ),
        "or delete these predictions (`dvos delete p.dvos predictions m1 --yes`)": (
            "(Delete ticked predictions... in the Review step)"
        ),
        "leftover of an interrupted `dvos new`: /x/.p.dvos.creating-1": "an interrupted New... (Project step)",
        # a path with a kind's word in it: still a video, which Delete... in the Project step deletes
        "or delete the video (`dvos delete /data/my model x.dvos video v --yes`)": "(Delete... in the Project step)",
    }
    for raw, expected in cases.items():
        text = plain_words(raw)
        assert expected in text, text
        assert "matching step" not in text and "setting" not in text, text


def test_options_and_python_arguments_read_as_panel_words():
    """A command-line option the rules do not know reads as an option (never a "setting"), and the Python
    arguments of the core's hints do not turn into nonsense ("pass another folder")."""
    from dvos_napari._errors import plain_words

    text = plain_words("a sway of 40 px is too large for --max-sway; lower it")
    assert "the 'max-sway' option" in text and "setting" not in text, text
    text = plain_words(
        "plot: 2 frame(s) kept the masks they had (frames 3, 4): masks painted or corrected by a person are not "
        "replaced by other masks; pass overwrite=True (--overwrite) to replace them"
    )
    assert "tick 'replace saved masks' to replace them" in text and "another folder" not in text, text
    text = plain_words(
        "run `dvos new p.dvos --overwrite` (Python: Project.create(path, overwrite=True)), which deletes the old one"
    )
    assert "another folder" not in text and "Python" not in text, text
