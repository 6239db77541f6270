"""Evaluate writes a report, nothing else: showing it read the shown video's masks and predictions again on the
main thread (a stat of every mask file and the prediction set opened again: seconds on a long video, napari frozen).
Now what the layers show is compared with the store in a worker thread, and read again only when another program
changed it (run with xvfb-run)."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
from napari_helpers import prediction_set, shown_in, tiny_clip, wait_job, wait_loaded

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


def test_evaluate_reads_no_mask_nor_prediction_again_on_the_main_thread(
    make_napari_viewer, qtbot, tmp_project, monkeypatch
):
    from dvos_core.store import Project
    from dvos_napari import _layers

    frames, gt = tiny_clip(6, seed=4)
    v = tmp_project.add_video_array("field", frames, split="test")
    for t in range(6):
        v.set_mask(t, gt[t], "manual")
    prediction_set(v, "model", np.roll(gt, 2, axis=2))
    viewer = make_napari_viewer()
    rv = shown_in(viewer, qtbot, "Review", tmp_project, "field")
    state = rv.state
    on_main: list = []
    for name in ("masks_look", "mask_file_stamps", "show_predictions"):
        real = getattr(_layers, name)

        def seen(*a, _real=real, _name=name, **k):
            if threading.current_thread() is threading.main_thread():
                on_main.append(_name)
            return _real(*a, **k)

        monkeypatch.setattr(_layers, name, seen)
    rereads: list = []
    for name in ("reread_stored_masks", "_reread_predictions"):
        real = getattr(state, name)
        monkeypatch.setattr(state, name, lambda _name=name, _real=real: rereads.append(_name) or _real())
    rv.scope.setCurrentText("current video")
    wait_job(qtbot, rv.evaluate())
    qtbot.waitUntil(lambda: rv.report is not None and not state.workers, timeout=30_000)
    state.check_store()  # as the Project step's look, after the job
    qtbot.waitUntil(lambda: not state.workers, timeout=30_000)
    assert rv.report is not None and tmp_project.report_names()  # the report was saved: the project was written
    assert on_main == [] and rereads == []

    other = Project.open(tmp_project.path).video("field")  # another program writes a mask meanwhile
    other.set_mask(3, np.zeros_like(gt[3]), "manual")
    state.notify_store_changed(reports_only=True)
    qtbot.waitUntil(lambda: not state.workers, timeout=30_000)
    wait_loaded(qtbot, state)
    assert rereads == ["reread_stored_masks"]  # what changed is read again, nothing more
    assert not np.asarray(viewer.layers["field masks"].data[3]).any()
