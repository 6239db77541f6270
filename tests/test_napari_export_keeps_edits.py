"""The Annotate step's Export masks... into a folder whose exported files someone edited: the core refuses to write
over them (see test_io_export_keeps_edits.py), and the panel shows that refusal as an error."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from napari_helpers import dock, wait_job, wait_loaded

from dvos_core.io import export_masks

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


@pytest.fixture
def video(tmp_project):
    video = tmp_project.add_video_array("plot1", np.zeros((6, 24, 32, 3), np.uint8))
    m = np.zeros((24, 32), np.uint8)
    m[4:10, 4:12] = 1
    video.set_mask(1, m, "manual")
    return video


def test_the_annotate_steps_export_shows_the_refusal(make_napari_viewer, qtbot, tmp_project, video, tmp_path):
    """The Annotate step's Export masks... runs the core's export: it gets the same refusal, shown as an error."""
    out = tmp_path / "out"
    export_masks(tmp_project, "plot1", out)
    edited = cv2.imread(str(out / "plot1_000001.png"), cv2.IMREAD_GRAYSCALE)
    edited[15:20, 20:25] = 255
    cv2.imwrite(str(out / "plot1_000001.png"), edited)
    ann = dock(make_napari_viewer(), "Annotate")
    ann.state.set_project(tmp_project)
    ann.state.select_video("plot1")
    wait_loaded(qtbot, ann.state)
    job = ann.export_masks(out)
    qtbot.waitUntil(lambda: job.status is not None, timeout=60_000)
    assert job.status == "error"
    said = ann.messages.text()
    assert "plot1_000001.png (changed since it was exported)" in said, said
    assert "move those files out of the folder first" in said and "replace saved masks" not in said, said
    assert np.array_equal(cv2.imread(str(out / "plot1_000001.png"), cv2.IMREAD_GRAYSCALE), edited)
    wait_job(qtbot, ann.export_masks(tmp_path / "elsewhere"))
    assert (tmp_path / "elsewhere" / "plot1_000001.png").is_file()
