"""`dvos demo --napari` opens the demo project in the dvos panel with a test video shown."""

import os

import numpy as np
import pytest

pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


def test_show_project_adds_the_panel_and_a_test_video(make_napari_viewer, tmp_path):
    from dvos_core.store import Project
    from dvos_napari._state import get_state
    from dvos_napari.launch import show_project

    p = Project.create(tmp_path / "x.dvos")
    p.add_video_array("train_clip", np.zeros((3, 32, 32, 3), np.uint8), split="train")
    v = p.add_video_array("test_clip", np.full((3, 32, 32, 3), 90, np.uint8), split="test")
    v.set_mask(1, np.eye(32, dtype=np.uint8), "manual")
    viewer = make_napari_viewer()
    panel = show_project(viewer, p.path, step="Review")
    assert get_state(viewer).video_id == "test_clip"
    assert "test_clip" in [layer.name for layer in viewer.layers]
    assert type(panel).__name__ == "DvosPanel" and panel.current == "Review"
    assert len(viewer.window.dock_widgets) == 1  # one panel, not a column of docks


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
