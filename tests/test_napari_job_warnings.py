"""Warnings of the panel's background jobs reach the user: a job in a child process sent them to the terminal
only (stderr), so e.g. 12-bit footage stored almost black was imported without a word in napari; frames stored
from an image layer were not checked at all."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile

pytest.importorskip("napari")


def _dim_stack(path):
    g = np.random.default_rng(0).integers(0, 4096, (4, 40, 50)).astype(np.uint16)  # 12-bit camera data
    tifffile.imwrite(path, g, photometric="minisblack")
    return g


def test_frames_of_a_dark_16bit_layer_warn(tmp_path):
    from dvos_core.store import Project
    from dvos_napari.docks.project import add_layer_frames

    p = Project.create(tmp_path / "p.dvos")
    g = _dim_stack(tmp_path / "d.tif")
    with pytest.warns(UserWarning, match=r"layer 'cam': 16-bit frames no brighter than 409\d of 65535"):
        add_layer_frames(p, "cam", g, False, "cam", "train", {})


@pytest.mark.gui
@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run")
def test_a_child_jobs_warning_is_shown_in_napari_once(qtbot, tmp_path):
    from napari.utils.notifications import notification_manager

    from dvos_core.store import Project
    from dvos_napari._workers import Job

    p = Project.create(tmp_path / "p.dvos")
    _dim_stack(tmp_path / "d.tif")
    got = []
    notification_manager.notification_ready.connect(got.append)
    try:
        job = Job("dvos_core.io:import_video", p, str(tmp_path / "d.tif"), label="add d.tif").start()
        qtbot.waitUntil(lambda: job.status is not None, timeout=60_000)
    finally:
        notification_manager.notification_ready.disconnect(got.append)
    assert job.status == "ok"
    said = [str(n.message) for n in got if "16-bit frames" in str(n.message)]
    assert len(said) == 1 and said[0].startswith("add d.tif: ") and "almost black" in said[0]
    assert job.warnings == [said[0].removeprefix("add d.tif: ")]
