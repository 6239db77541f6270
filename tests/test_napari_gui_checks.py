"""dvos-napari behaviour checks under a real viewer (run with xvfb-run): lazy reading of long videos and stores,
saving through napari's File > Save, the Annotate keys, errors as notifications, the device line, and a Stop that
ends a child which does not stop by itself.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]

N_LONG = 1000


def dock(viewer, name):
    return viewer.window.add_plugin_dock_widget("dvos-napari", name)[1]


@pytest.fixture
def fetched(monkeypatch):
    """Frame indices read through any LazyFrames (cache misses only), in order."""
    from dvos_napari._lazy import LazyFrames

    seen: list[int] = []
    original = LazyFrames.frame

    def frame(self, t):
        t = int(t) % self.shape[0]
        if t not in self._cache:
            seen.append(t)
        return original(self, t)

    monkeypatch.setattr(LazyFrames, "frame", frame)
    return seen


def scrub(qtbot, viewer, steps, fetched):
    """Step through ``steps``; each step must read exactly its own frame, once."""
    for t in steps:
        before = len(fetched)
        viewer.dims.set_current_step(0, t)
        qtbot.wait(10)
        assert fetched[before:].count(t) == 1 and len(set(fetched[before:])) == 1, (t, fetched[before:])


def test_a_1000_frame_video_opens_lazily_and_scrubs_frame_by_frame(make_napari_viewer, qtbot, tmp_path, fetched):
    from conftest import decode_frame_code, write_video

    path = write_video(tmp_path / "long.avi", N_LONG, "MJPG")
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin="dvos-napari")
    qtbot.wait(10)
    layer = viewer.layers["long"]
    assert layer.data.shape[0] == N_LONG
    assert len(set(fetched)) <= 2, f"opening decoded {len(set(fetched))} frames"  # first + displayed frame
    scrub(qtbot, viewer, [500, 501, 502, 900, 3], fetched)
    assert decode_frame_code(layer.data[900]) == 900  # the frame shown is the frame asked for


def test_a_1000_frame_store_opens_lazily_with_disk_backed_masks(
    make_napari_viewer, qtbot, tmp_path, fetched, monkeypatch
):
    from dvos_core.store import Project
    from dvos_napari import _layers

    p = Project.create(tmp_path / "long.dvos")
    v = p.create_video("plot", 32, 48, split="train")
    frame = np.zeros((32, 48, 3), np.uint8)
    v.append_frames((frame for _ in range(N_LONG)), n_total=N_LONG, batch=250)
    mask = np.zeros((32, 48), np.uint8)
    mask[4:9, 4:20] = 1
    v.set_mask(700, mask, "manual")
    monkeypatch.setattr(_layers, "MEMMAP_BYTES", 1000)  # stand-in for a 1024² video: masks go to a disk file
    viewer = make_napari_viewer()
    viewer.open(str(p.path), plugin="dvos-napari")
    qtbot.wait(10)
    masks = viewer.layers["plot masks"].data
    assert isinstance(masks, np.memmap) and masks.shape == (N_LONG, 32, 48)
    np.testing.assert_array_equal(masks[700], mask)
    assert len(set(fetched)) <= 2, f"opening read {len(set(fetched))} frames"
    scrub(qtbot, viewer, [10, 11, 999], fetched)


def test_file_save_of_a_masks_layer_writes_manual_masks(make_napari_viewer, tmp_path):
    from dvos_core.store import Project

    p = Project.create(tmp_path / "s.dvos")
    v = p.add_video_array("plot", np.zeros((4, 16, 16, 3), np.uint8), split="train")
    viewer = make_napari_viewer()
    viewer.open(str(p.path), plugin="dvos-napari")
    layer = viewer.layers["plot masks"]
    layer.data[2, 4:9, 4:9] = 1
    viewer.layers.selection = {layer}
    assert viewer.layers.save(str(p.path), selected=True, plugin="dvos-napari") == [str(p.path)]
    assert v.provenance.tolist() == [0, 0, 1, 0]
    np.testing.assert_array_equal(v.mask(2), layer.data[2])


def test_annotate_keys_jump_and_save(make_napari_viewer, qtbot, tmp_path):
    from qtpy.QtCore import Qt

    from dvos_core.store import Project

    p = Project.create(tmp_path / "k.dvos")
    v = p.add_video_array("plot", np.zeros((20, 32, 32, 3), np.uint8), split="train")
    viewer = make_napari_viewer(show=True)
    ann = dock(viewer, "Annotate")
    ann.state.open_project(p.path)
    ann.state.select_video("plot")
    assert ann.suggest_seeds(4) == [0, 6, 13, 19]
    ann.start_painting()  # keys must work while the Labels layer is active in paint mode
    canvas = viewer.window._qt_viewer.canvas.native
    canvas.setFocus()
    viewer.dims.set_current_step(0, 7)
    qtbot.keyClick(canvas, Qt.Key.Key_N)
    assert viewer.dims.current_step[0] == 13
    layer = viewer.layers["plot masks"]
    layer.data[13, 5:10, 5:10] = 1
    qtbot.keyClick(canvas, Qt.Key.Key_S)
    assert v.provenance[13] == 1
    qtbot.keyClick(canvas, Qt.Key.Key_N)
    assert viewer.dims.current_step[0] == 19
    layer.paint((19, 20, 20), 1)  # a brush stroke: recorded as painted, saved by Shift+S
    layer.paint((6, 20, 20), 1)
    qtbot.keyClick(canvas, Qt.Key.Key_S, Qt.KeyboardModifier.ShiftModifier)
    assert np.flatnonzero(v.provenance).tolist() == [6, 13, 19]


@pytest.fixture
def notifications():
    from napari.utils.notifications import notification_manager

    got = []
    notification_manager.notification_ready.connect(got.append)
    yield got
    notification_manager.notification_ready.disconnect(got.append)


def test_errors_become_notifications_and_the_device_is_shown(make_napari_viewer, qtbot, tmp_path, notifications):
    import torch

    viewer = make_napari_viewer()
    ann, pr = dock(viewer, "Annotate"), dock(viewer, "Pseudo-label and Predict")
    ann.guard(ann.save_frame)  # what the Save frame button does, with no project open
    assert any("no dvos project is open" in str(n.message) for n in notifications), notifications

    pr.device.setCurrentText("cpu")
    assert pr.device_label.text().startswith("will run on: CPU")
    pr.device.setCurrentText("cuda")
    if torch.cuda.is_available():
        assert pr.device_label.text().startswith("will run on: CUDA")
    else:
        assert pr.device_label.text().startswith("unavailable") and "CUDA" in pr.device_label.text()

    # an error inside a background job arrives as a notification too, naming the file
    proj = dock(viewer, "Project")
    proj.create_project(tmp_path / "e.dvos")
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    job = proj.add_video(bad)
    qtbot.waitUntil(lambda: job.status is not None, timeout=30_000)
    assert job.status == "error" and proj.state.project.video_ids() == []
    assert any("failed" in str(n.message) and "broken.mp4" in str(n.message) for n in notifications), [
        str(n.message) for n in notifications
    ]
    assert proj.add_file_button.isEnabled()


def test_stop_ends_a_training_child_that_does_not_stop(long_training_dock, qtbot, notifications):
    tr = long_training_dock
    tr.stop_grace_s = 1.0
    proc = tr.start(preset="tiny", device="cpu", amp=False)
    proc.stop = lambda: None  # a child that never sees the Stop request (stuck in I/O, say)
    qtbot.waitUntil(lambda: any(e["type"] == "batch" for e in tr.events), timeout=60_000)
    tr.start_button.click()
    qtbot.waitUntil(lambda: not tr.running, timeout=30_000)
    assert not proc.is_alive() and proc.join(1) != 0
    assert "was ended" in tr.status.text()
    assert tr.start_button.text() == "Start training" and tr.start_button.isEnabled()
    assert not any("training failed" in str(n.message) for n in notifications)


def test_annotate_keys_are_unbound_when_the_dock_is_removed(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    dock_widget, _ann = viewer.window.add_plugin_dock_widget("dvos-napari", "Annotate")
    assert {"N", "S", "Shift+S"} <= {str(k) for k in viewer.keymap}
    mine = lambda _viewer: None  # noqa: E731 - another tool binds S after the dock opened
    viewer.bind_key("s", mine, overwrite=True)
    viewer.window.remove_dock_widget(dock_widget)
    keys = {str(k): f for k, f in viewer.keymap.items()}
    assert "N" not in keys and "Shift+S" not in keys
    assert keys.get("S") is mine


def test_train_form_becomes_the_training_config(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    tr = dock(viewer, "Train")
    tr.phase.setCurrentText("real")
    tr.lr.setText("2e-3")
    tr.epochs.setValue(3)
    assert tr.config().max_steps_per_epoch is None  # default: one pass over the data
    tr.steps.setValue(25)
    cfg = tr.config()
    assert (cfg.phase, cfg.epochs, cfg.lr, cfg.max_steps_per_epoch) == ("real", 3, 2e-3, 25)
    assert cfg.eta_min == pytest.approx(2e-4)
    tr.lr.setText("fast")
    with pytest.raises(ValueError, match="'fast' is not a number"):
        tr.config()
