"""dvos-napari behaviour checks under a real viewer (run with xvfb-run): lazy reading of long videos and stores, a
first display that reads masks in the background, saving through napari's File > Save, the Annotate keys and unsaved
count, errors in the user's words (with details), the device line and machine defaults, tooltips, the themed plots,
paint mode after jumping to a worst frame, the Predict step's order and model boxes (its labelling models).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from napari_helpers import PANEL, GapMeter, dock, wait_loaded

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]

N_LONG = 1000


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
    wait_loaded(qtbot, ann.state)
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


def test_errors_are_in_user_words_with_details_and_the_device_is_shown(make_napari_viewer, qtbot, tmp_path, notes):
    from dvos_napari import _machine

    viewer = make_napari_viewer()
    ann, pr = dock(viewer, "Annotate"), dock(viewer, "Predict")
    ann.guard(ann.save_frame)  # what the Save frame button does, with no project open
    assert any("no dvos project is open" in str(n.message) for n in notes), notes
    assert "Project step" in ann.messages.text()

    qtbot.waitUntil(lambda: _machine.known() is not None, timeout=120_000)  # probed in a child process
    info = _machine.known()
    pr.device.setCurrentText("cpu")
    assert pr.device_label.text().startswith("will run on: CPU")
    pr.device.setCurrentText("cuda")
    if info["device"] == "cuda":
        assert pr.device_label.text().startswith("will run on: CUDA")
    else:
        assert pr.device_label.text().startswith("unavailable") and "CUDA" in pr.device_label.text()
        assert "choose 'auto' or 'cpu'" in pr.device_label.text()

    # an error inside a background job: a notification and the step's message name the file, in plain words;
    # the technical text (exception type, traceback) is behind the "details" toggle
    proj = dock(viewer, "Project")
    proj.create_project(tmp_path / "e.dvos")
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    job = proj.add_video(bad)
    qtbot.waitUntil(lambda: job.status is not None, timeout=60_000)
    assert job.status == "error" and proj.state.project.video_ids() == []
    assert any("failed" in str(n.message) and "broken.mp4" in str(n.message) for n in notes), [
        str(n.message) for n in notes
    ]
    box = proj.messages
    assert "broken.mp4" in box.text() and "Error:" not in box.text()
    assert not box.details_button.isHidden() and box.details.isHidden()
    box.details_button.click()
    assert not box.details.isHidden() and "Traceback" in box.details.toPlainText()
    assert proj.add_file_button.isEnabled()


def test_first_display_of_a_long_video_reads_its_masks_in_the_background(make_napari_viewer, qtbot, tmp_path):
    """Showing a 1000-frame store video with 250 masks returns at once; the masks arrive from a worker
    thread (the layer is read-only until then) while the event loop keeps running."""
    import time

    from dvos_core.store import Project

    p = Project.create(tmp_path / "big.dvos")
    small = p.add_video_array("small", np.zeros((3, 32, 32, 3), np.uint8), split="train")
    v = p.create_video("long", 64, 64, split="train")
    v.append_frames((np.zeros((64, 64, 3), np.uint8) for _ in range(N_LONG)), n_total=N_LONG, batch=250)
    mask = np.zeros((64, 64), np.uint8)
    mask[10:30, 10:40] = 1
    for t in range(0, N_LONG, 4):
        v.set_mask(t, mask, "manual")
    viewer = make_napari_viewer()
    state = dock(viewer, "Project").state
    state.set_project(p)
    state.select_video(small.name)  # napari's own first-layer set-up happens here
    wait_loaded(qtbot, state)
    meter = GapMeter()
    t0 = time.monotonic()
    state.select_video("long")
    shown = time.monotonic() - t0
    layer = viewer.layers["long masks"]
    assert not layer.editable and state.loading  # reading in the background
    wait_loaded(qtbot, state, timeout=120_000)
    meter.stop()
    gaps = meter.gaps(t0, time.monotonic())
    assert layer.editable and np.array_equal(layer.data[N_LONG - 4], mask) and layer.data[::4, 20, 20].all()
    assert "small" not in viewer.layers  # the layers of the saved video were re-used for this one
    assert shown < 1.0, shown
    assert np.percentile(gaps, 95) < 100, (np.percentile(gaps, 95), gaps.max())


def test_the_unsaved_count_follows_painting(make_napari_viewer, qtbot, tmp_path):
    from dvos_core.store import Project

    p = Project.create(tmp_path / "u.dvos")
    p.add_video_array("plot", np.zeros((10, 32, 32, 3), np.uint8), split="train")
    viewer = make_napari_viewer()
    ann = dock(viewer, "Annotate")
    ann.state.set_project(p)
    ann.state.select_video("plot")
    wait_loaded(qtbot, ann.state)
    assert "0 painted frame(s) not saved yet" in ann.info.text()
    layer = viewer.layers["plot masks"]
    layer.paint((2, 10, 10), 1)
    layer.paint((5, 10, 10), 1)
    assert "2 painted frame(s) not saved yet" in ann.info.text()
    ann.save_frame(2)
    assert "1 painted frame(s) not saved yet" in ann.info.text()


def test_a_video_is_deleted_from_the_project_step_after_asking(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    """Delete... asks first (what goes, unsaved paint included), then removes the video's layers and the video;
    the other videos stay."""
    from qtpy.QtWidgets import QMessageBox

    from dvos_core.store import Project

    p = Project.create(tmp_path / "d.dvos")
    keep = p.add_video_array("keep", np.zeros((4, 32, 32, 3), np.uint8), split="train")
    plot = p.add_video_array("plot", np.zeros((6, 32, 32, 3), np.uint8), split="train")
    plot.set_mask(1, np.eye(32, dtype=np.uint8), "manual")
    viewer = make_napari_viewer()
    proj = dock(viewer, "Project")
    proj.state.set_project(p)
    proj.state.select_video("plot")
    wait_loaded(qtbot, proj.state)
    viewer.layers["plot masks"].paint((3, 10, 10), 1)  # painted, not saved
    asked = []

    def question(parent, title, text, *args):
        asked.append(text)
        return answers.pop(0)

    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    monkeypatch.setattr(QMessageBox, "question", question)
    proj.table.selectRow([proj._row_id(r) for r in range(proj.table.rowCount())].index("plot"))
    proj._delete_dialog()  # answered No: nothing happens
    assert "plot" in p.video_ids() and "plot masks" in viewer.layers
    text = asked[0]
    assert "Delete video 'plot'" in text and "6 frames, masks (1 manual)" in text and "no undo" in text
    assert "1 painted frame(s) not saved yet are lost too" in text
    proj._delete_dialog()  # Yes
    assert p.video_ids() == ["keep"] and not (p.path / "videos" / "plot").exists()
    assert not any((layer.metadata or {}).get("dvos_video") == "plot" for layer in viewer.layers)
    assert proj.state.video_id is None and "plot" not in proj.state.dirty
    assert proj.table.rowCount() == 1 and keep.n_frames == 4
    half = p.create_video("half", 32, 32, import_complete=False)  # the leftover of a killed import
    half.append_frames(iter(np.zeros((2, 32, 32, 3), np.uint8)), n_total=4)
    proj.refresh()
    row = [proj._row_id(r) for r in range(proj.table.rowCount())].index("half")
    assert proj.table.item(row, 3).text().startswith("interrupted import")


def test_switching_back_while_masks_load_never_saves_a_blank_over_them(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """a -> b -> a quickly: the first read of a's masks ended and cleared 'loading' while the second was still
    running, and Save frame then stored an empty mask over a painted one. Each read now ends only its own key."""
    import time

    from dvos_core.store import Project
    from dvos_napari import _layers

    p = Project.create(tmp_path / "s.dvos")
    a = p.add_video_array("a", np.zeros((5, 32, 32, 3), np.uint8), split="train")
    eye = np.eye(32, dtype=np.uint8)
    a.set_mask(1, eye, "manual")
    p.add_video_array("b", np.zeros((5, 32, 32, 3), np.uint8), split="train").set_mask(2, eye, "manual")
    viewer = make_napari_viewer()
    ann = dock(viewer, "Annotate")
    ann.state.set_project(p)
    original, calls = _layers.fill_buffer, []

    def slow_fill(*args, **kw):
        calls.append(1)
        time.sleep(0.3 if len(calls) < 3 else 2.0)  # the third read (a again) is the slow one
        return original(*args, **kw)

    monkeypatch.setattr(_layers, "fill_buffer", slow_fill)
    for vid in ("a", "b", "a"):
        ann.state.select_video(vid)
    qtbot.wait(800)  # the first two reads are done, the third is not
    assert ann.state.loading  # still reading
    viewer.dims.set_current_step(0, 1)
    ann.guard(ann.save_frame, 1)  # refused while reading
    assert "still being read" in ann.status.text() and np.array_equal(a.mask(1), eye)
    wait_loaded(qtbot, ann.state)
    assert np.array_equal(viewer.layers["a masks"].data[1], eye) and viewer.layers["a masks"].editable


def test_a_damaged_or_interrupted_video_neither_breaks_the_panel_nor_is_shown(make_napari_viewer, qtbot, tmp_path):
    """A video whose metadata cannot be read: the reader opens the project on a readable video and every step
    opens (the Train step's every-step box read each video's split); the leftover of a killed import is not shown
    (work painted into it would go when it is replaced)."""
    from dvos_core.store import Project

    p = Project.create(tmp_path / "d.dvos")
    p.add_video_array("good", np.zeros((3, 32, 32, 3), np.uint8), split="train")
    p.add_video_array("bad", np.zeros((3, 32, 32, 3), np.uint8), split="train")
    half = p.create_video("half", 32, 32, import_complete=False)
    half.append_frames(iter(np.zeros((2, 32, 32, 3), np.uint8)), n_total=4)
    (p.path / "videos" / "bad" / "zarr.json").write_text('{"broken')
    viewer = make_napari_viewer()
    panel = dock(viewer, PANEL)
    viewer.open(str(p.path), plugin="dvos-napari")
    state = panel.state if hasattr(panel, "state") else dock(viewer, "Project").state
    qtbot.waitUntil(lambda: state.project is not None, timeout=10_000)  # a dropped project is read in a worker
    assert state.video_id == "good"
    for name in ("Train", "Predict", "Review", "Project"):
        panel.step_buttons[name].click()
    proj = dock(viewer, "Project")
    proj.guard(proj.select_video, "half")
    assert "interrupted import" in proj.status.text() and "half" not in viewer.layers and state.video_id == "good"


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


def test_train_form_becomes_the_training_config_with_machine_defaults(make_napari_viewer, qtbot):
    from qtpy.QtCore import QSize

    from dvos_core.machine import suggested_settings
    from dvos_napari import _machine

    viewer = make_napari_viewer()
    tr = dock(viewer, "Train")
    assert isinstance(tr.size(), QSize)  # no form field shadows QWidget.size()
    qtbot.waitUntil(lambda: _machine.known() is not None, timeout=120_000)
    info = _machine.known()
    from dvos_core.train.config import TrainConfig

    settings, why = suggested_settings(info, TrainConfig.phase)  # for the phase the form starts on
    cfg = tr.config()
    assert {k: getattr(cfg, k) for k in settings} == settings  # the defaults suit this computer ...
    assert why in tr.machine_label.text() and ("GPU" in why or "CPU" in why)  # ... and say so
    for phase in ("image", "real", "image"):  # the suggestion follows the phase (smaller video batches on a CPU)
        tr.form.set_values({"phase": phase})
        want, why_phase = suggested_settings(info, phase)
        assert {k: getattr(tr.config(), k) for k in want} == want and why_phase in tr.machine_label.text()
    image, real = suggested_settings(info, "image")[0], suggested_settings(info, "real")[0]
    assert info.get("gpu") or real["batch_size"] < image["batch_size"]
    tr.form.set_values({"batch_size": 6, "phase": "real"})  # a value the user chose stays
    assert tr.config().batch_size == 6
    tr.form.set_values({"phase": "real", "lr": 2e-3, "epochs": 3, "max_steps_per_epoch": None})
    cfg = tr.config()
    assert (cfg.phase, cfg.epochs, cfg.lr, cfg.max_steps_per_epoch) == ("real", 3, 2e-3, None)
    assert cfg.eta_min == pytest.approx(2e-4)  # the schedule's floor follows the learning rate
    tr.form.widgets["max_steps_per_epoch"].setValue(25)
    assert tr.config().max_steps_per_epoch == 25
    tr.form.set_values({"video_model": "context"})
    assert tr.config().image_lr_scale is None and tr.config().inherited_lr_scale() == 0.3  # automatic, as the core
    tr.form.set_values({"image_lr_scale": 0.5})
    assert tr.config().inherited_lr_scale() == 0.5
    from dvos_core.train.config import REAL_SHARE

    share = tr.form.widgets["real_share"]
    assert tr.config().real_share == REAL_SHARE  # the core's default
    share.setValue(share.minimum())  # the bottom of the range is "by weight": no share
    assert tr.config().real_share is None and share.text() == "by weight"
    tr.form.set_values({"real_share": 0.5})
    assert tr.config().real_share == 0.5
    # the context model's option to read its references' pixels: only for its phases, off unless ticked
    assert tr.ref_pixels.isEnabled() and not tr.ref_pixels.isChecked() and tr.config().model == {}
    tr.ref_pixels.setChecked(True)
    assert tr.config().model == {"input_fusion": True}
    tr.form.set_values({"video_model": "dvos"})
    assert not tr.ref_pixels.isEnabled() and tr.config().model == {}
    tr.form.set_values({"video_model": "context", "phase": "image"})
    assert not tr.ref_pixels.isEnabled() and tr.config().model == {}
    tr._set_busy(True)
    tr._set_busy(False)  # a finished job does not enable it for the image phase
    assert not tr.ref_pixels.isEnabled()
    tr.form.set_values({"phase": "real"})
    assert tr.ref_pixels.isEnabled() and tr.config().model == {"input_fusion": True}
    tr.ref_pixels.setChecked(False)
    assert tr.form.widgets["max_steps_per_epoch"].text() != "all data"
    tr.form.reset()
    assert {k: getattr(tr.config(), k) for k in settings} == settings
    with pytest.raises(ValueError, match="'crop size'"):
        tr.config(size=100)  # a config error names the field by its label
    phases = [tr.form.widgets["phase"].itemData(i) for i in range(tr.form.widgets["phase"].count())]
    from dvos_core.model import list_presets
    from dvos_core.train.config import PHASES

    assert tuple(phases) == PHASES  # choices come from the core
    presets = [tr.form.widgets["preset"].itemData(i) for i in range(tr.form.widgets["preset"].count())]
    assert presets == list(list_presets())


def test_every_field_of_every_step_has_a_tooltip_and_advanced_settings_are_collapsed(make_napari_viewer):
    from qtpy.QtWidgets import QAbstractSpinBox, QCheckBox, QComboBox, QLineEdit

    from dvos_napari._forms import ConfigForm
    from dvos_napari._steps import STEPS

    viewer = make_napari_viewer()
    panel = dock(viewer, PANEL)
    missing, n = [], 0
    for name in STEPS:
        page = panel.step(name)
        for form in page.findChildren(ConfigForm):
            assert not form.advanced.expanded and not form.advanced.content.isVisible()
        for w in page.findChildren((QAbstractSpinBox, QComboBox, QLineEdit, QCheckBox)):
            if isinstance(w, QLineEdit) and isinstance(w.parent(), (QAbstractSpinBox, QComboBox)):
                continue  # the text field inside a spin or combo box
            n += 1
            if not w.toolTip():
                missing.append(f"{name}: {type(w).__name__} {w.objectName()}")
    assert n > 60 and not missing, missing


def test_plots_follow_the_theme_and_have_a_useful_size(make_napari_viewer, qtbot):
    from matplotlib.colors import to_hex

    from dvos_napari._plots import theme_colors

    viewer = make_napari_viewer()
    panel = dock(viewer, PANEL)
    for page in (panel.step("Train"), panel.step("Review")):
        plot = page.plot
        assert plot.canvas.minimumHeight() >= 200
        for theme in ("light", "dark"):
            viewer.theme = theme
            c = theme_colors(viewer)
            assert to_hex(plot.figure.get_facecolor()) == c["background"]
            assert to_hex(plot.axes[0].get_facecolor()) == c["background"]
            assert to_hex(plot.axes[0].xaxis.label.get_color()) == c["text"]


def test_jump_to_a_worst_frame_selects_the_predicted_layer_in_paint_mode(make_napari_viewer, qtbot, tmp_project):
    # a training video: predictions of test videos are not corrected (their masks are the ground truth)
    v = tmp_project.add_video_array("plot", np.zeros((6, 16, 16, 3), np.uint8), split="train")
    pred_masks, _, pred_done = v.predictions.arrays(create=True)
    for t in range(6):
        pred_masks[t, 2:5, 2:5] = 1
        pred_done[t] = 1
    viewer = make_napari_viewer()
    rv = dock(viewer, "Review")
    rv.state.set_project(tmp_project)
    rv.jump_to("plot", 3)
    wait_loaded(qtbot, rv.state)
    layer = viewer.layers["plot predicted"]
    assert viewer.layers.selection.active is layer and layer.mode == "paint" and layer.selected_label == 1
    assert rv.state.current_frame() == 3 and layer.data[3, 3, 3] == 1


def test_predict_step_pseudo_labels_first_with_its_own_image_model_box(make_napari_viewer, tmp_project):
    viewer = make_napari_viewer()
    pr = dock(viewer, "Predict")
    pr.state.set_project(tmp_project)
    pr.show()
    pr.body.adjustSize()
    assert (
        pr.pseudo_button.mapTo(pr.body, pr.pseudo_button.rect().topLeft()).y()
        < pr.predict_button.mapTo(pr.body, pr.predict_button.rect().topLeft()).y()
    )
    pr.checkpoint.setCurrentText("some-video-model")  # a video model chosen for Predict is not used to pseudo-label
    with pytest.raises(ValueError, match="choose the labelling model first"):
        pr.pseudo_label()
    # the labelling models: image models first, then context models (to relabel for their second phase)
    for name, config in (("img", "phase: image\n"), ("ctx_synth", "phase: synthetic\nvideo_model: context\n")):
        (tmp_project.model_dir(name)).mkdir(parents=True)
        (tmp_project.model_dir(name) / "config.yaml").write_text(config)
        (tmp_project.model_dir(name) / "best.pt").write_bytes(b"x")
    (tmp_project.model_dir("dvos_synth")).mkdir(parents=True)  # the paper's model never labels
    (tmp_project.model_dir("dvos_synth") / "config.yaml").write_text("phase: synthetic\nvideo_model: dvos\n")
    (tmp_project.model_dir("dvos_synth") / "best.pt").write_bytes(b"x")
    tmp_project.add_video_array("plot", np.zeros((3, 32, 32, 3), np.uint8), split="train")
    pr.refresh()
    assert [pr.image_model.itemText(i) for i in range(pr.image_model.count())] == ["img", "ctx_synth"]
    jobs = []
    pr.run = lambda func, *args, **kwargs: jobs.append((func, args, kwargs))
    pr.pseudo_scope.setCurrentText("all training videos")
    pr.image_model.setCurrentText("ctx_synth")
    pr.relabel.setChecked(True)
    pr.pseudo_label()
    (func, (_, ids, checkpoint), kwargs) = jobs[-1]
    assert func == "dvos_core.infer:pseudo_label" and ids == ["plot"] and kwargs["overwrite"] is True
    assert checkpoint.endswith("ctx_synth/best.pt") and kwargs["blend_with"] == []
    # blending: only image models are offered
    assert [pr.blend_with.itemText(i) for i in range(pr.blend_with.count())] == ["(none)", "img"]
    pr.blend_with.setCurrentText("img")
    pr.pseudo_label()
    assert [Path(c).parent.name for c in jobs[-1][2]["blend_with"]] == ["img"]


def test_form_builder_reads_help_from_metadata_and_lists_new_fields(qtbot):
    """One form builder for every config: help from field metadata, choices from the core, unknown fields shown."""
    import dataclasses

    from dvos_napari._forms import OTHER_GROUP, ConfigForm, FieldView

    @dataclasses.dataclass
    class Cfg:
        phase: str = dataclasses.field(default="a", metadata={"doc": "which phase"})
        speed: float = dataclasses.field(default=1.5, metadata={"doc": "how fast"})
        steps: int | None = dataclasses.field(default=None, metadata={"doc": "cap"})
        span: tuple = dataclasses.field(default=(2, 5), metadata={"doc": "range"})
        new_setting: bool = dataclasses.field(default=False, metadata={"doc": "added later by the core"})

        def __post_init__(self):
            if self.speed > 10:
                raise ValueError("speed must be <= 10")

    form = ConfigForm(
        Cfg,
        {
            "phase": FieldView("what", choices=("a", "b")),
            "speed": FieldView("camera speed", "px per frame", "Motion", maximum=100),
            "steps": FieldView("steps", minimum=1, none_text="all"),
            "span": FieldView("span", "frames"),
        },
    )
    qtbot.addWidget(form)
    assert form.value() == Cfg()
    assert "how fast" in form.widgets["speed"].toolTip().lower() and "px per frame" in form.widgets["speed"].toolTip()
    assert "added later by the core" in form.widgets["new_setting"].toolTip().lower()
    assert OTHER_GROUP in form.group_forms and "Motion" in form.group_forms
    form.set_values({"phase": "b", "steps": 7, "span": (1, 9), "new_setting": True})
    assert form.value() == Cfg(phase="b", steps=7, span=(1, 9), new_setting=True)
    form.widgets["steps"].setValue(form.widgets["steps"].minimum())
    assert form.value().steps is None and form.widgets["steps"].text() == "all"
    with pytest.raises(ValueError, match="'camera speed' must be <= 10"):
        form.value(speed=20)
    form.reset()
    assert form.value() == Cfg()


def test_synthesize_matches_the_motion_of_the_footage(make_napari_viewer, qtbot, tmp_project):
    """The Synthesize step measures the camera of the project's videos in a child and sets its motion settings."""
    from napari_helpers import tiny_clip, wait_job

    big, _ = tiny_clip(12, size=160, seed=4)
    pan = np.stack([big[t, 20:116, 5 + 4 * t : 101 + 4 * t] for t in range(12)])  # a camera panning 4 px/frame
    tmp_project.add_video_array("pan", np.ascontiguousarray(pan), split="train")
    viewer = make_napari_viewer()
    syn = dock(viewer, "Synthesize")
    syn.state.set_project(tmp_project)
    assert syn.config().camera_speed == 1.5
    wait_job(qtbot, syn.match_motion())
    assert 3.0 < syn.config().camera_speed < 6.0 and syn.config().camera_speed_min > 2.0
    assert "footage" in syn.motion_table.toPlainText() and not syn.motion_table.isHidden()
    assert "camera speed" in syn.messages.text()


def test_synthesize_matches_the_density_of_the_painted_frames(make_napari_viewer, qtbot, tmp_project):
    """The Synthesize step measures how much of the painted frames the heads cover, in a child, and sets the heads
    (and fakes) per frame from it."""
    from napari_helpers import wait_job
    from test_synth_density import discs, painted_project

    painted_project(tmp_project, [discs(14, 12, 2), discs(16, 12, 3)])
    viewer = make_napari_viewer()
    syn = dock(viewer, "Synthesize")
    syn.state.set_project(tmp_project)
    syn.form.set_values({"height": 128, "width": 128, "n_heads": (1, 2), "n_fakes": (1, 2)})
    wait_job(qtbot, syn.match_density())
    lo, hi = syn.config().n_heads
    assert 2 < lo <= hi < 100 and syn.config().n_fakes[1] > 2
    assert "painted frames" in syn.motion_table.toPlainText() and not syn.motion_table.isHidden()
    assert "heads per frame" in syn.messages.text()


def test_a_cancelled_extraction_says_what_it_kept_and_how_to_go_on(make_napari_viewer, qtbot, tmp_project):
    """Every step said "everything finished before the cancel is kept", true or not, and never what or how to go on."""
    from napari_helpers import tiny_clip

    frames, gt = tiny_clip(6)
    v = tmp_project.add_video_array("plot", frames, split="train")
    v.set_mask(0, (gt[0] > 0).astype(np.uint8), "manual")
    viewer = make_napari_viewer()
    ext = dock(viewer, "Extract")
    ext.state.set_project(tmp_project)
    job = ext.extract_heads()
    assert "skips those frames" in job.cancel_keeps
    job.cancel()
    qtbot.waitUntil(lambda: job.status is not None, timeout=60_000)
    assert job.status == "cancelled"  # at once: its child process had not started (or had only just)
    said = ("Extract heads again skips those frames", "it had not started, so nothing changed")
    assert any(s in ext.status.text() for s in said), ext.status.text()
