"""The panel while the user does other things (run with xvfb-run): a job that ends after another project was opened
shows nothing over it (and a stopped training says where its model is), a removed or renamed masks layer never turns
into empty saved masks, a form box ticked while a job runs does not change what the step says of it, a delete that
another program's write refuses keeps the layers and their paint, and a step closed (its dock, or the panel) stops
reacting, unbinds its keys and stops its job, so closing and reopening it leaves one working step."""

from __future__ import annotations

import os
import time

import pytest
from napari_helpers import PANEL, dock, tiny_clip, wait_loaded

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


@pytest.fixture
def two_videos(tmp_project):
    frames, _ = tiny_clip(6)
    for vid in ("a", "b"):
        tmp_project.add_video_array(vid, frames, split="train")
    return tmp_project


def _wait_until_cancelled(progress=None, cancel=None):
    """A job that runs until it is cancelled (at most 60 s)."""
    from dvos_core.progress import Cancelled

    end = time.monotonic() + 60
    while time.monotonic() < end:
        if cancel is not None and cancel.cancelled:
            raise Cancelled("stopped")
        time.sleep(0.02)
    return "not cancelled"


def test_an_import_that_ends_after_another_project_was_opened_shows_nothing_over_it(
    make_napari_viewer, qtbot, tmp_path, tmp_project, video_mp4, notes
):
    from dvos_core.store import Project

    other = Project.create(tmp_path / "other.dvos")
    other.add_video_array("x", tiny_clip(4)[0], split="train")
    viewer = make_napari_viewer()
    pj = dock(viewer, "Project")
    state = pj.state
    state.set_project(tmp_project)
    job = pj.add_video(video_mp4, video_id="imported")
    state.open_project(other.path)  # the user moves on while the import runs
    qtbot.waitUntil(lambda: job.status is not None, timeout=60_000)
    assert job.status == "ok", job.message  # it was reported as failed: "other.dvos: no video 'imported'"
    assert tmp_project.video_ids() == ["imported"] and other.video_ids() == ["x"]
    assert state.video_id is None and not [layer for layer in viewer.layers if "imported" in layer.name]
    assert "no longer open" in pj.messages.text() and str(tmp_project.path) in pj.messages.text()
    assert not [n for n in notes if "failed" in str(n.message) or "could not" in str(n.message)]


def test_save_all_after_the_masks_layer_was_removed_stores_no_empty_masks(make_napari_viewer, qtbot, two_videos):
    viewer = make_napari_viewer()
    ann = dock(viewer, "Annotate")
    state = ann.state
    state.set_project(two_videos)
    state.select_video("a")
    wait_loaded(qtbot, state)
    layer = viewer.layers["a masks"]
    layer.paint((2, 30, 30), 1)
    assert state.dirty == {"a": {2}}
    viewer.layers.remove(layer)  # the paint goes with the layer
    assert not state.dirty.get("a")
    ann.guard(ann.save_all)  # brings the layer back from the store: nothing painted there to save
    wait_loaded(qtbot, state)
    assert ann.guard(ann.save_all) == []
    assert two_videos.video("a").provenance[:].tolist() == [0] * 6  # was frame 2 saved empty as 'manual'


def test_a_renamed_masks_layer_is_still_the_one_saved(make_napari_viewer, qtbot, two_videos):
    viewer = make_napari_viewer()
    ann = dock(viewer, "Annotate")
    state = ann.state
    state.set_project(two_videos)
    state.select_video("a")
    wait_loaded(qtbot, state)
    layer = viewer.layers["a masks"]
    layer.paint((2, 30, 30), 1)
    layer.name = "my heads"
    assert ann.guard(ann.save_all) == [2]
    saved = two_videos.video("a").mask(2)
    assert saved is not None and saved.sum() == (layer.data[2] > 0).sum() > 0  # not an empty frame of a new layer
    assert [x.name for x in viewer.layers if (x.metadata or {}).get("dvos_role") == "masks"] == ["my heads"]


def test_a_renamed_predicted_layer_still_counts_as_unsaved_work(make_napari_viewer, qtbot, two_videos):
    from napari_helpers import prediction_set

    from dvos_napari._close_guard import unsaved_work

    _, gt = tiny_clip(6)
    prediction_set(two_videos.video("a"), "m", gt)
    viewer = make_napari_viewer()
    rv = dock(viewer, "Review")
    state = rv.state
    state.set_project(two_videos)
    state.select_video("a")
    wait_loaded(qtbot, state)
    layer = viewer.layers["a predicted"]
    layer.paint((1, 5, 5), 1)
    layer.name = "fixing"
    assert unsaved_work(viewer, state) == ["a: corrected frame 1"]  # the close guard would have let it go


def test_closing_and_reopening_the_panel_twice_leaves_one_working_panel(
    make_napari_viewer, qtbot, two_videos, monkeypatch
):
    from dvos_napari.docks.annotate import AnnotateDock
    from dvos_napari.docks.predict import PredictDock

    calls = {"annotate": 0, "predict": 0}
    on_video, refresh = AnnotateDock._on_video, PredictDock.refresh

    def counted_on_video(self):
        calls["annotate"] += 1
        on_video(self)

    def counted_refresh(self):
        calls["predict"] += 1
        refresh(self)

    monkeypatch.setattr(AnnotateDock, "_on_video", counted_on_video)
    monkeypatch.setattr(PredictDock, "refresh", counted_refresh)
    viewer = make_napari_viewer()
    closed = []
    for _ in range(2):  # open the panel from the Plugins menu, close it with its dock's close button
        dock_widget, panel = viewer.window.add_plugin_dock_widget("dvos-napari", PANEL)
        panel.state.set_project(two_videos)
        assert {"N", "S", "Shift+S"} <= {str(k) for k in viewer.keymap}
        dock_widget.destroyOnClose()
        closed.append(panel)
        assert not {"N", "S", "Shift+S"} & {str(k) for k in viewer.keymap}  # no key left on a closed panel
    assert not any(p.pages["Project"].watch_timer.isActive() for p in closed)
    _, panel = viewer.window.add_plugin_dock_widget("dvos-napari", PANEL)
    calls.update(annotate=0, predict=0)
    panel.state.select_video("a")
    panel.state.notify_store_changed()
    assert calls == {"annotate": 1, "predict": 1}  # each closed panel's steps reacted too (3 of each)
    wait_loaded(qtbot, panel.state)
    keys = {str(k): f for k, f in viewer.keymap.items()}
    viewer.dims.set_current_step(0, 0)
    keys["N"](viewer)  # the open panel's Annotate answers the key
    seeds = panel.pages["Annotate"].seeds
    assert seeds and viewer.dims.current_step[0] == seeds[1]


def test_closing_a_dock_stops_its_job_and_a_dock_put_back_listens_again(
    make_napari_viewer, qtbot, two_videos, notes, monkeypatch
):
    from dvos_napari.docks.predict import PredictDock

    refreshed = []
    refresh = PredictDock.refresh
    monkeypatch.setattr(PredictDock, "refresh", lambda self: refreshed.append(self) or refresh(self))
    viewer = make_napari_viewer()
    dock_widget, pr = viewer.window.add_plugin_dock_widget("dvos-napari", "Predict")
    pr.state.set_project(two_videos)
    job = pr.run(_wait_until_cancelled, label="a long job", process=False)
    assert not pr.predict_button.isEnabled()
    viewer.window.remove_dock_widget(dock_widget)
    qtbot.waitUntil(lambda: job.status is not None, timeout=10_000)
    assert job.status == "cancelled"  # it ran on unseen, and nobody could cancel it
    assert any("Predict step was closed" in str(n.message) for n in notes)
    assert pr.predict_button.isEnabled() and pr.job_bar.bar.value() == 0 and not pr.job_bar.cancel_button.isEnabled()
    refreshed.clear()
    pr.state.notify_store_changed()
    assert refreshed == []  # a closed step does not react

    viewer.window.add_dock_widget(pr, name="dvos predict again")  # the same widget put back: it reacts again
    assert pr.is_open and refreshed == [pr]  # catching up on what changed while it was closed
    pr.state.notify_store_changed()
    assert refreshed == [pr, pr]


def test_ticking_replace_while_backgrounds_are_made_does_not_change_what_the_step_says(
    make_napari_viewer, qtbot, tmp_project
):
    from napari_helpers import wait_job

    frames, gt = tiny_clip(8, seed=4)
    v = tmp_project.add_video_array("plot", frames, split="train")
    v.set_mask(3, gt[3], "manual")
    viewer = make_napari_viewer()
    ext = dock(viewer, "Extract")
    ext.state.set_project(tmp_project)
    ext.bg_mode.setCurrentIndex(1)  # from annotated frames
    ext.clip_length.setValue(3)
    ext.motion.setCurrentIndex(ext.motion.findData("none"))
    wait_job(qtbot, ext.extract_backgrounds())
    job = ext.extract_backgrounds()  # the frame has its clip: nothing new
    ext.bg_replace.setChecked(True)  # the user ticks the box while it runs
    wait_job(qtbot, job)
    assert "no new clips" in ext.messages.text(), ext.messages.text()  # said "no annotated frame could be used"


def test_training_stopped_after_another_project_was_opened_says_its_model_is_kept(
    make_napari_viewer, qtbot, tmp_path, tmp_project
):
    from dvos_core.store import Project

    frames, gt = tiny_clip(8, seed=4)
    v = tmp_project.add_video_array("plot", frames, split="train")
    for t in (1, 4, 7):
        v.set_mask(t, gt[t], "manual")
    other = Project.create(tmp_path / "other.dvos")
    viewer = make_napari_viewer()
    tr = dock(viewer, "Train")
    tr.state.set_project(tmp_project)
    tr.threads_box.setValue(1)
    tr.form.set_values({"phase": "image", "preset": "tiny", "batch_size": 2, "size": 64, "max_steps_per_epoch": 2})
    tr.form.set_values({"epochs": 500})
    job = tr.start(device="cpu", amp=False)
    qtbot.waitUntil(lambda: any(e["type"] == "epoch" for e in tr.events), timeout=240_000)
    tr.state.open_project(other.path)  # the user looks at another project while it trains
    tr.stop()
    qtbot.waitUntil(lambda: job.status is not None, timeout=120_000)
    assert (tmp_project.model_dir(tr.model_name) / "best.pt").exists()
    text = tr.messages.text()
    assert "keeps its best weights" in text, text  # said "no epoch finished yet"
    assert f"open {tmp_project.path} again, press Start training to resume" in text  # Start would train in 'other'


def test_deleting_a_video_while_another_program_writes_keeps_its_layers_and_paint(
    make_napari_viewer, qtbot, two_videos
):
    import subprocess
    import sys

    viewer = make_napari_viewer()
    pj = dock(viewer, "Project")
    state = pj.state
    state.set_project(two_videos)
    state.select_video("a")
    wait_loaded(qtbot, state)
    viewer.layers["a masks"].paint((2, 30, 30), 1)
    holder = subprocess.Popen(  # another program (e.g. the dvos command line) writing the project
        [
            sys.executable,
            "-c",
            "import sys, time; from dvos_core.store.lock import writer_lock\n"
            "with writer_lock(sys.argv[1]).hold(False, 'a long write'):\n"
            "    print('held', flush=True); time.sleep(60)",
            str(two_videos.path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert pj.guard(pj.delete_video, "a") is None
        assert "a long write" in pj.messages.text() or str(holder.pid) in pj.messages.text(), pj.messages.text()
    finally:
        holder.kill()
        holder.wait()
    assert "a" in two_videos.video_ids() and state.video_id == "a"
    assert "a masks" in viewer.layers and state.dirty == {"a": {2}}  # it used to drop them, then fail to delete
