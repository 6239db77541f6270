"""The steps' checks before a job, their messages in the panel's words, and what a closed window leaves behind."""

from __future__ import annotations

import os
import time

import pytest
from napari_helpers import PANEL, dock, tiny_clip

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


def _project(path, provenance="manual", bare=False):
    """A project with one training video 'plot' whose frames 0, 3, 6 hold masks of ``provenance``; with ``bare``, a
    bare-field video 'bare' too."""
    from dvos_core.store import Project

    frames, gt = tiny_clip(8)
    p = Project.create(path)
    v = p.add_video_array("plot", frames, split="train")
    for t in (0, 3, 6):
        v.set_mask(t, gt[t], provenance)
    if bare:
        b, _ = tiny_clip(8, seed=5, heads=False)
        p.add_video_array("bare", b, split="unassigned")
    return p


def _state(pid: int) -> str:
    """The state letter of process ``pid`` (Z: a zombie, never waited for), "" once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return ""


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_a_training_child_that_does_not_stop_is_ended_and_reaped_after_the_window_closes(
    make_napari_viewer, qtbot, tmp_path
):
    p = _project(tmp_path / "t.dvos")
    viewer = make_napari_viewer()
    panel = dock(viewer, PANEL)
    panel.state.set_project(p)
    tr = panel.go("Train")
    tr.form.set_values({"phase": "image", "epochs": 100, "batch_size": 2, "size": 64})
    tr.threads_box.setValue(1)
    tr.stop_grace_s = 1.0
    job = tr.start(preset="tiny", device="cpu", amp=False)
    job.cancel = lambda: None  # a child that never sees the Stop request (stuck in I/O, say)
    qtbot.waitUntil(lambda: any(e["type"] == "batch" for e in tr.events), timeout=120_000)
    pid = job.pid
    viewer.close()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _state(pid):
            time.sleep(0.1)  # no Qt event loop: the window and its step's timers are gone
        assert _state(pid) == "", f"the training child is still there (state {_state(pid)})"
    finally:
        job.kill()
        job.join(10)
