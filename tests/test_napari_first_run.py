"""The first minutes of a new user with the dvos panel: clicking around with no project or an empty one says what to
do first, in the panel's words, before any file dialog opens; the step bar says which step comes next.

GUI tests run under xvfb-run (never QT_QPA_PLATFORM=offscreen); the message tests need no display.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from napari_helpers import PANEL, dock, tiny_clip, wait_job


@pytest.fixture
def dialogs(monkeypatch):
    """Record every file dialog the steps open (each answers 'cancelled')."""
    from qtpy.QtWidgets import QFileDialog

    calls: list[str] = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: calls.append("file") or ("", "")))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: calls.append("dir") or ""))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: calls.append("save") or ("", "")))
    return calls


def test_core_messages_name_the_panel_steps_not_command_lines(tmp_path):
    """Real core errors a first click can raise: no `dvos add-video` / `dvos extract-objects`, no phase names or
    config attributes (video_ids, provenances) in what the panel shows."""
    from dvos_core.data.clips import _no_training_samples
    from dvos_core.motion.summary import resolve_sources
    from dvos_core.store import Project
    from dvos_napari._errors import user_message

    p = Project.create(tmp_path / "e.dvos")
    with pytest.raises(ValueError) as e:
        resolve_sources(p)
    text = user_message(e.value).text
    assert "dvos add-video" not in text and "'Add a video' in the Project step" in text

    text = user_message(_no_training_samples(p, "image", {})).text
    for word in ("phase", "video_ids", "provenances", "config"):
        assert word not in text, text
    assert "image model" in text and "Annotate step" in text

    text = user_message(ValueError("no real heads to paste; extract heads first (dvos extract-objects)")).text
    assert "dvos extract-objects" not in text and "Extract step" in text


@pytest.mark.gui
@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run")
@pytest.mark.parametrize("which", ["add_file_button", "add_folder_button"])
def test_adding_a_video_with_no_project_says_so_before_the_file_dialog(make_napari_viewer, dialogs, which):
    viewer = make_napari_viewer()
    w = dock(viewer, "Project")
    getattr(w, which).click()
    assert dialogs == []  # the user is not sent looking for a video that cannot be added yet
    assert "New..." in w.messages.text() and "no project" in w.messages.text()


@pytest.mark.gui
@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run")
def test_predict_with_no_project_asks_for_a_project_first(make_napari_viewer, dialogs):
    viewer = make_napari_viewer()
    w = dock(viewer, "Predict")
    w.export_button.click()
    assert dialogs == [] and "no dvos project is open" in w.messages.text()
    w.messages.clear()
    w.guard(w.pseudo_label)
    assert "no dvos project is open" in w.messages.text()  # not "choose the labelling model"


@pytest.mark.gui
@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run")
def test_match_motion_of_an_empty_project_says_what_to_add_without_a_job(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    w = dock(viewer, "Synthesize")
    w.state.create_project(tmp_path / "e.dvos")
    assert w.guard(w.match_motion) is None  # no job started only to fail
    assert w.job is None and "Add a video" in w.messages.text() and "dvos add-video" not in w.messages.text()


@pytest.mark.gui
@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run")
def test_from_selected_layer_after_the_sample_names_the_clip_to_select(make_napari_viewer, qtbot, tmp_path):
    """Open Sample selects the (hidden) ground-truth layer; From selected layer names the image layer to click."""
    viewer = make_napari_viewer()
    panel = dock(viewer, PANEL)
    w = panel.step("Project")
    w.create_project(tmp_path / "demo.dvos")
    frames, _ = tiny_clip(4)
    w.state.project.add_video_array("plot1", frames, split="train")
    w.state.select_video("plot1")  # a project video's layer: not one to add again
    viewer.open_sample("dvos-napari", "wheat_demo")
    assert viewer.layers.selection.active.name == "wheat demo ground truth"
    w.add_layer_button.click()
    text = w.messages.text()
    assert "'wheat demo'" in text and "wheat demo ground truth" in text and "plot1" not in text
    viewer.layers.selection.active = viewer.layers["wheat demo"]
    wait_job(qtbot, w.add_layer())
    assert w.state.project.video_ids() == ["plot1", "wheat_demo"]
    assert panel.step_buttons["Project"].text().startswith("✓")


@pytest.mark.gui
@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run")
def test_a_new_project_clears_the_steps_no_project_messages(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    panel = dock(viewer, PANEL)
    pages = [panel.step(n) for n in ("Project", "Extract", "Annotate")]
    pages[0].add_layer_button.click()
    pages[1].heads_button.click()
    pages[2].guard(pages[2].state.require_project)
    assert all("project" in p.messages.text() for p in pages)
    panel.step("Project").create_project(tmp_path / "a.dvos")
    assert [p.messages.text() for p in pages] == ["", "", ""]  # nothing says "no project" under an open project


@pytest.mark.gui
@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run")
def test_the_step_bar_says_what_to_do_next_from_any_step(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    panel = dock(viewer, PANEL)
    panel.step("Project").create_project(tmp_path / "a.dvos")
    assert "From file..." in panel.note.text()  # an empty project: how to add the first video
    frames, _ = tiny_clip(4)
    panel.state.project.add_video_array("plot1", frames, split="train")
    panel.state.notify_store_changed()
    panel.go("Review")
    note = panel.note.text()
    assert note.startswith("not done yet") and "next to do: step 2, Annotate" in note
    panel.go("Project")
    assert panel.note.text().startswith("done") and "step 2, Annotate" in panel.note.text()
    panel.go("Annotate")
    assert "next to do" not in panel.note.text() and "paint the heads" in panel.note.text()
    assert panel.step_buttons["Annotate"].text().startswith("→")


@pytest.mark.gui
@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run")
def test_the_empty_video_table_shows_its_column_names_without_scrolling(make_napari_viewer):
    viewer = make_napari_viewer()
    t = dock(viewer, "Project").table
    fixed = [t.columnWidth(c) for c in range(t.columnCount() - 1)]  # the last column stretches to fill the rest
    assert sum(fixed) < len(fixed) * t.horizontalHeader().defaultSectionSize(), fixed  # sized to their names


@pytest.mark.gui
@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run")
def test_from_selected_layer_with_no_video_in_napari_says_how_to_get_one(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    w = dock(viewer, "Project")
    w.create_project(tmp_path / "a.dvos")
    w.add_layer_button.click()
    assert "From file..." in w.messages.text() and "Open Sample" in w.messages.text()


@pytest.mark.gui
@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run")
def test_new_on_an_existing_project_says_open_it_or_pick_another_name(make_napari_viewer, monkeypatch, tmp_path):
    from qtpy.QtWidgets import QFileDialog

    from dvos_core.store import Project

    Project.create(tmp_path / "field.dvos").add_video_array("v", np.zeros((2, 16, 16, 3), np.uint8))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(tmp_path / "field"), "")))
    viewer = make_napari_viewer()
    w = dock(viewer, "Project")
    w.new_button.click()
    text = w.messages.text()
    assert "Open..." in text and "another name" in text and "pass" not in text and "overwrite" not in text, text
    assert Project.open(tmp_path / "field.dvos").video_ids() == ["v"]  # the saved project is untouched


@pytest.mark.gui
@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run")
def test_the_project_dock_on_its_own_forgets_no_project_once_one_is_open(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    w = dock(viewer, "Project")  # Plugins > dvos > Project, without the panel
    w.add_layer_button.click()
    assert "no project" in w.messages.text()
    w.create_project(tmp_path / "a.dvos")
    assert w.messages.text() == ""


def _one_training_video(tmp_path, n: int):
    """(a project holding one training video 'plot' of ``n`` frames and no mask, the clip's true masks)."""
    from dvos_core.store import Project

    frames, masks = tiny_clip(n)
    p = Project.create(tmp_path / "e.dvos")
    p.add_video_array("plot", frames, split="train")
    return p, masks


@pytest.mark.gui
@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run")
def test_start_training_with_nothing_to_train_on_says_what_to_label_and_leaves_no_model(
    make_napari_viewer, qtbot, tmp_path
):
    """Start training on a project with a video but no painted frame: the Train step says what to paint (the training
    process says it before it makes the model's folder: reading every video's samples on napari's main thread
    froze it on a big project)."""
    p, _ = _one_training_video(tmp_path, 6)
    viewer = make_napari_viewer()
    tr = dock(viewer, "Train")
    tr.state.set_project(p)
    job = tr.guard(tr.start, phase="image", preset="tiny", device="cpu")
    qtbot.waitUntil(lambda: job.status is not None, timeout=120_000)
    text = tr.status.text()
    assert job.status == "error" and "nothing to train the image model on" in text and "Annotate step" in text, text
    assert p.model_names() == [] and not any((p.path / "models").iterdir())


@pytest.mark.gui
@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run")
def test_evaluate_with_no_test_video_says_so_without_a_job(make_napari_viewer, tmp_path):
    p, _ = _one_training_video(tmp_path, 4)
    viewer = make_napari_viewer()
    rv = dock(viewer, "Review")
    rv.state.set_project(p)
    rv.scope.setCurrentText("test")
    assert rv.guard(rv.evaluate) is None and rv.job is None
    assert "no videos with split 'test'; set one in the Project step" in rv.status.text()
