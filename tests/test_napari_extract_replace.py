"""The Extract step's 'replace objects extracted before' was ticked by default and, with 'only the current video',
deleted every other video's objects; it is unticked by default now (a repainted frame is cut again without it), and
ticked it replaces the current video's objects alone. Run with xvfb-run."""

from __future__ import annotations

import os

import numpy as np
import pytest
from napari_helpers import dock, tiny_clip, wait_job

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


def test_extracting_the_current_video_keeps_the_other_videos_objects(make_napari_viewer, qtbot, tmp_project):
    for k, name in enumerate(("a", "b")):
        frames, gt = tiny_clip(4, seed=4 + k)
        v = tmp_project.add_video_array(name, frames, split="train")
        for t in (1, 3):
            v.set_mask(t, gt[t], "manual")
    viewer = make_napari_viewer()
    ext = dock(viewer, "Extract")
    ext.state.set_project(tmp_project)
    assert not ext.replace.isChecked()  # the default
    ext.min_area.setValue(5)
    wait_job(qtbot, ext.extract_heads())
    table = tmp_project.objects.table()
    b_ids = set(table[table.video == "b"]["id"])
    assert b_ids and set(table[table.video == "a"]["id"])
    mask = np.zeros(tmp_project.video("a").shape[1:3], np.uint8)
    mask[10:20, 10:20] = 1
    tmp_project.video("a").set_mask(1, mask, "manual")  # repainted: one square head
    ext.all_videos.setChecked(False)
    ext.state.video_id = "a"
    wait_job(qtbot, ext.extract_heads())  # the defaults: the repainted frame is cut again
    table = tmp_project.objects.table()
    assert sorted(table[(table.video == "a") & (table.frame == 1) & (table.kind == "head")]["area"]) == [100]
    assert set(table[table.video == "b"]["id"]) == b_ids
    ext.replace.setChecked(True)
    wait_job(qtbot, ext.extract_heads())  # replace, only the current video: b's objects are kept
    table = tmp_project.objects.table()
    assert set(table[table.video == "b"]["id"]) == b_ids and len(table[table.video == "a"])
