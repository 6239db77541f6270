"""`dvos demo --napari` opens the demo project in the dvos panel with a test video shown; the project's videos are
read in a worker thread (the window does not freeze on a big project)."""

import os
import threading

import numpy as np
import pytest

pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


def _project(path):
    from napari_helpers import age_files

    from dvos_core.store import Project

    p = Project.create(path)
    p.add_video_array("train_clip", np.zeros((3, 32, 32, 3), np.uint8), split="train")
    v = p.add_video_array("test_clip", np.full((3, 32, 32, 3), 90, np.uint8), split="test")
    v.set_mask(1, np.eye(32, dtype=np.uint8), "manual")
    age_files(p.path)  # settled, as the next day (files written in the last seconds are read again)
    return p


def test_show_project_reads_in_a_worker_then_shows_the_panel_and_a_test_video(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    from dvos_core.store import project as core
    from dvos_napari._state import get_state
    from dvos_napari.launch import show_project

    p = _project(tmp_path / "x.dvos")
    on_main, real = [], core._video_summary

    def counted(v):
        on_main.append(threading.current_thread() is threading.main_thread())
        return real(v)

    monkeypatch.setattr(core, "_video_summary", counted)
    viewer = make_napari_viewer()
    panel = show_project(viewer, p.path, step="Review")
    state = get_state(viewer)
    assert state.project is None and state.opening is not None  # napari goes on while the videos are read
    assert panel.step("Project").reading_label.text() == "reading 2 video(s)..."
    qtbot.waitUntil(lambda: state.video_id == "test_clip", timeout=10_000)
    assert str(state.project.path) == str(p.path) and state.opening is None
    assert on_main and not any(on_main)  # every video was read in the worker, none on the main thread
    assert "test_clip" in [layer.name for layer in viewer.layers]
    assert type(panel).__name__ == "DvosPanel" and panel.current == "Review"
    assert len(viewer.window.dock_widgets) == 1  # one panel, not a column of docks


def test_show_project_waiting_skips_an_interrupted_test_video(make_napari_viewer, tmp_path):
    """``wait=True`` (scripts) shows the project at once; a test video whose import was killed is not the one shown
    (it could not be: nothing painted into it would be kept)."""
    from dvos_napari._state import get_state
    from dvos_napari.launch import show_project

    p = _project(tmp_path / "x.dvos")
    half = p.create_video("a_half_test", 32, 32, split="test", import_complete=False)
    half.append_frames(iter(np.zeros((2, 32, 32, 3), np.uint8)), n_total=4)
    viewer = make_napari_viewer()
    panel = show_project(viewer, p.path, wait=True)
    assert get_state(viewer).video_id == "test_clip" and "a_half_test" not in viewer.layers
    assert panel.current == panel.suggested_step() != "Project"  # the first step not done yet


def test_launcher_without_napari_names_the_extra(monkeypatch):
    """`python -m dvos_napari.launch` (what `dvos demo --napari` runs) on an install without the napari extra says
    what to install instead of a ModuleNotFoundError."""
    import importlib.util

    from dvos_napari.launch import missing_gui

    assert missing_gui() is None  # the test environment has the extra
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "napari" else real(name, *a))
    why = missing_gui()
    assert why.startswith("napari not installed") and 'pip install "dvos-napari[napari]"' in why
