"""dvos-napari under a real viewer (run with xvfb-run; never QT_QPA_PLATFORM=offscreen).

Docks come from the manifest; the full loop runs every step through the docks' own actions on a 64x64 clip with a
tiny model; jobs are awaited with qtbot.waitUntil while the Qt event loop keeps running.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]

DOCKS = {
    "Project": "ProjectDock",
    "Annotate": "AnnotateDock",
    "Extract": "ExtractDock",
    "Synthesize": "SynthesizeDock",
    "Pseudo-label and Predict": "PredictDock",
    "Train": "TrainDock",
    "Review": "ReviewDock",
}


def dock(viewer, name):
    return viewer.window.add_plugin_dock_widget("dvos-napari", name)[1]


def wait_job(qtbot, job, timeout=60_000) -> str:
    assert job is not None, "the dock refused to start the job (see notifications)"
    qtbot.waitUntil(lambda: job.status is not None, timeout=timeout)
    assert job.status != "error", f"{job.label} failed: {job.error!r}"
    return job.status


def tiny_clip(n_frames=12, size=64, seed=3):
    from dvos_core.demo import FieldSpec, render_field

    return render_field(
        FieldSpec(
            n_frames=n_frames, height=size, width=size, n_heads=8, head_length=(12, 18), head_width=(5, 7), n_leaves=10
        ),
        seed=seed,
    )


def test_every_dock_opens_from_the_manifest_and_shares_one_state(make_napari_viewer, tmp_path):
    from dvos_napari._state import get_state

    viewer = make_napari_viewer()
    widgets = {name: dock(viewer, name) for name in DOCKS}
    for name, w in widgets.items():
        assert type(w).__name__ == DOCKS[name]
        assert w.state is get_state(viewer)
    # one state per viewer: opening a project in one dock updates the others
    widgets["Project"].create_project(tmp_path / "a.dvos")
    assert widgets["Review"].state.project.path == tmp_path / "a.dvos"
    assert "no project" not in widgets["Project"].path_label.text()


def test_sample_data_and_reader_open_a_project(make_napari_viewer, tmp_path):
    from dvos_core.store import Project
    from dvos_napari._state import get_state

    viewer = make_napari_viewer()
    viewer.open_sample("dvos-napari", "wheat_demo")
    assert viewer.layers["wheat demo"].data.shape[-1] == 3 and viewer.layers["wheat demo"].data.ndim == 4

    frames, masks = tiny_clip(6)
    p = Project.create(tmp_path / "field.dvos")
    v = p.add_video_array("plot1", frames, split="train")
    v.set_mask(2, masks[2], "manual")
    viewer.open(str(tmp_path / "field.dvos"), plugin="dvos-napari")
    assert type(viewer.layers["plot1"].data).__name__ == "LazyFrames"
    np.testing.assert_array_equal(viewer.layers["plot1 masks"].data[2], masks[2])
    state = get_state(viewer)
    assert state.project is not None and state.video_id == "plot1"


def test_cancel_keeps_the_store_consistent_and_the_gui_responsive(make_napari_viewer, qtbot, tmp_path):
    from conftest import write_video
    from qtpy.QtCore import QTimer

    viewer = make_napari_viewer()
    w = dock(viewer, "Project")
    w.create_project(tmp_path / "c.dvos")
    path = write_video(tmp_path / "long.avi", 240, "MJPG", hw=(192, 256))

    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(20)
    job = w.add_video(path, video_id="whole")
    t0 = time.monotonic()
    wait_job(qtbot, job)
    elapsed = time.monotonic() - t0
    timer.stop()
    assert w.state.project.video("whole").n_frames == 240
    # the event loop kept running while the import ran on the worker thread
    assert len(ticks) >= max(3, 0.3 * elapsed / 0.02), (len(ticks), elapsed)

    job = w.add_video(path, video_id="cut")
    qtbot.waitUntil(lambda: w.job_bar.cancel_button.isEnabled(), timeout=5000)
    w.job_bar.cancel_button.click()
    assert wait_job(qtbot, job) == "cancelled"
    assert "cut" not in w.state.project.video_ids()  # an import is all or nothing
    assert w.state.project.video_ids() == ["whole"]
    assert w.add_file_button.isEnabled()  # the dock is usable again


def test_full_loop_through_the_docks(make_napari_viewer, qtbot, tmp_path):
    pytest.importorskip("dvos_core.train", reason="dvos_core.train not available")
    from dvos_core.data import ClipIndex
    from dvos_core.store.schema import CORRECTED, MANUAL

    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    viewer = make_napari_viewer()
    d = {name: dock(viewer, name) for name in DOCKS}
    state = d["Project"].state
    frames, gt = tiny_clip(12)

    # 1. project + video from an image layer
    d["Project"].create_project(tmp_path / "loop.dvos")
    layer = viewer.add_image(frames, name="plot1", rgb=True)
    wait_job(qtbot, d["Project"].add_layer(layer, split="train"))
    assert state.video_id == "plot1" and "plot1 masks" in viewer.layers
    project = state.project

    # 2. paint three seed frames (Labels edits emit paint events) and save them
    masks_layer = viewer.layers["plot1 masks"]
    for t in d["Annotate"].suggest_seeds(3):
        idx = np.nonzero(gt[t])
        masks_layer.data_setitem((np.full(idx[0].shape, t),) + idx, 1)
    saved = d["Annotate"].save_all()
    assert saved == [0, 6, 11]
    assert list(project.video("plot1").labelled_frames()) == saved
    assert (project.video("plot1").provenance[saved] == MANUAL).all()

    # 3. extract heads
    d["Extract"].min_area.setValue(20)
    d["Extract"].fakes.setValue(2)
    wait_job(qtbot, d["Extract"].extract_heads())
    assert project.objects.count("head") > 0 and d["Extract"].gallery.count > 0

    # 4. background clips from a bare-field video, then a synthetic preview as a time-series layer
    from dvos_core.demo import FieldSpec, render_field

    bare, _ = render_field(FieldSpec(n_frames=10, height=64, width=64, heads=False, n_leaves=10), seed=5)
    wait_job(qtbot, d["Project"].add_layer(viewer.add_image(bare, name="bare", rgb=True), split="unassigned"))
    d["Project"].select_video("plot1")
    d["Extract"].bg_source.setCurrentText("bare")
    d["Extract"].clip_length.setValue(8)
    wait_job(qtbot, d["Extract"].extract_backgrounds())
    assert len(project.background_ids()) == 1
    syn = d["Synthesize"]
    syn.preview_frames.setValue(6)
    syn.preview_size.setValue(64)
    wait_job(qtbot, syn.preview())
    prev = viewer.layers["synthetic preview"]
    assert prev.data.shape == (6, 64, 64, 3) and viewer.layers["synthetic preview masks"].data.any()

    # 5. train a tiny image model for two steps in a child process
    tr = d["Train"]
    tr.phase.setCurrentText("image")
    tr.epochs.setValue(1)
    tr.batch_size.setValue(2)
    tr.size.setValue(64)
    tr.name.setText("img")
    tr.start(preset="tiny", max_steps_per_epoch=2, device="cpu", amp=False)
    qtbot.waitUntil(lambda: not tr.running, timeout=120_000)
    kinds = [e["type"] for e in tr.events]
    assert "done" in kinds, tr.events
    assert "batch" in kinds and not tr.process.is_alive()
    assert (project.model_dir("img") / "best.pt").exists()

    # 6. pseudo-label the unpainted frames, then predict the current video
    pr = d["Pseudo-label and Predict"]
    pr.refresh()
    pr.checkpoint.setCurrentText("img")
    pr.device.setCurrentText("cpu")
    pr.passes.setValue(1)
    wait_job(qtbot, pr.pseudo_label(), timeout=120_000)
    counts = project.video("plot1").provenance_counts()
    assert counts["manual"] == 3 and counts["pseudo"] == 9  # painted frames are protected
    shown = viewer.layers["plot1 masks"].data
    np.testing.assert_array_equal(shown[5], project.video("plot1").mask(5))
    wait_job(qtbot, pr.predict(), timeout=120_000)
    assert len(project.video("plot1").predicted_frames()) == 12
    assert "plot1 predicted" in viewer.layers and "plot1 probability" in viewer.layers

    # 7. correct a predicted frame in the Review dock
    rv = d["Review"]
    rv.jump_to("plot1", 4)
    pred_layer = viewer.layers["plot1 predicted"]
    assert viewer.layers.selection.active is pred_layer
    fixed = gt[4].astype(np.uint8)
    pred_layer.data[4] = fixed
    assert rv.save_correction()
    v = project.video("plot1")
    assert v.provenance[4] == CORRECTED
    np.testing.assert_array_equal(v.mask(4), fixed)
    np.testing.assert_array_equal(viewer.layers["plot1 masks"].data[4], fixed)

    # ... and the corrected frame is in the training set the trainer builds next
    idx = ClipIndex.from_project(project, tau=2, delta=1, phase="real", split="train", val_fraction=0.0)
    assert any(s.source == "plot1" and s.t == 4 and s.provenance == CORRECTED for s in idx.samples)


def test_train_stop_really_stops(long_training_dock, qtbot):
    tr = long_training_dock
    tr.start(preset="tiny", device="cpu", amp=False)
    qtbot.waitUntil(lambda: any(e["type"] == "batch" for e in tr.events), timeout=60_000)
    tr.start_button.click()  # the Start button is now Stop
    assert tr.start_button.text() == "Stopping..."
    qtbot.waitUntil(lambda: not tr.running, timeout=60_000)
    assert not tr.process.is_alive()
    assert tr.events[-1]["type"] == "cancelled", tr.events[-3:]
    assert tr.start_button.text() == "Start training" and tr.start_button.isEnabled()
