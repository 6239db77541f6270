"""A job that cannot start (no memory for its process) leaves its step usable: the error is shown, the buttons are
enabled, the bar is not busy and Cancel is off (they stayed disabled for good)."""

import os

import numpy as np
import pytest
from napari_helpers import PANEL, dock, tiny_clip, wait_loaded

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


def test_a_job_that_fails_to_start_leaves_the_step_usable(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    import dvos_core.jobs as jobs
    from dvos_core.store import Project

    frames, gt = tiny_clip(6)
    p = Project.create(tmp_path / "s.dvos")
    v = p.add_video_array("plot1", frames, split="train")
    v.set_mask(0, gt[0], "manual")
    viewer = make_napari_viewer()
    panel = dock(viewer, PANEL)
    panel.state.set_project(p)
    panel.state.select_video("plot1")
    wait_loaded(qtbot, panel.state)

    def no_memory(*a, **k):
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(jobs, "_take_spare", lambda roots: None)
    monkeypatch.setattr(jobs, "_Child", no_memory)
    ext = panel.go("Extract")
    ext.heads_button.click()
    assert "memory" in ext.status.text().lower(), ext.status.text()
    assert ext.heads_button.isEnabled() and ext.bg_button.isEnabled()
    assert not ext.job_bar.cancel_button.isEnabled()
    assert (ext.job_bar.bar.minimum(), ext.job_bar.bar.maximum()) == (0, 1)  # not busy
    assert ext.job is None

    tr = panel.go("Train")  # the same in the Train step, its bars included
    tr.start_button.click()
    assert "memory" in tr.status.text().lower(), tr.status.text()
    assert tr.start_button.text() == "Start training" and tr.start_button.isEnabled() and not tr.running
    assert tr.batch_bar.maximum() != 0 and not tr.job_bar.cancel_button.isEnabled()
    assert np.flatnonzero(v.provenance).tolist() == [0]


def test_a_cancel_while_the_job_starts_acts_at_once(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    """Cancel pressed while a job's child still imports its modules (seconds for torch) ends it then, and the step
    says nothing changed (it waited for the imports, ran the job, and said what the job keeps)."""
    import time

    from conftest import slow_to_import
    from napari_helpers import wait_job

    import dvos_core.jobs as jobs
    from dvos_core.store import Project

    target = slow_to_import(tmp_path, "slow_to_import_gui", monkeypatch)
    monkeypatch.setattr(jobs, "_take_spare", lambda roots: None)  # the warm spare would not see the new module
    viewer = make_napari_viewer()
    panel = dock(viewer, PANEL)
    panel.state.set_project(Project.create(tmp_path / "s.dvos"))
    pr = panel.go("Predict")
    out = tmp_path / "ran.txt"
    job = pr.run(target, str(out), label="A slow job")
    qtbot.wait(300)
    t0 = time.monotonic()
    pr.job_bar.cancel_button.click()
    assert wait_job(qtbot, job) == "cancelled"
    assert time.monotonic() - t0 < 4
    assert "nothing changed" in pr.status.text(), pr.status.text()
    assert not out.exists()
