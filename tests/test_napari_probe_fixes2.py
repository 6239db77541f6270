"""Extract, Synthesize and Train under a real viewer (run with xvfb-run): a stopped training resumes from Start (its
automatic name is kept), its step bar stops spinning after a failure, closing the Train dock stops its jobs,
run-all refuses a synthetic set it cannot continue before it starts, the Synthesize step names the Extract step's
buttons for what is missing, the Extract step says why nothing new was cut and can make inpainted clips again."""

from __future__ import annotations

import os

import pytest
from napari_helpers import PANEL, dock, tiny_clip, wait_job

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]

TINY = {"phase": "image", "preset": "tiny", "batch_size": 2, "size": 64, "max_steps_per_epoch": 4}


@pytest.fixture
def painted(tmp_project):
    """A training video of 8 frames, 3 of them painted."""
    frames, gt = tiny_clip(8, seed=4)
    v = tmp_project.add_video_array("plot", frames, split="train")
    for t in (1, 4, 7):
        v.set_mask(t, gt[t], "manual")
    return tmp_project


def _train_dock(viewer, project):
    tr = dock(viewer, "Train")
    tr.state.set_project(project)
    tr.threads_box.setValue(1)
    return tr


def _ended(qtbot, job):
    qtbot.waitUntil(lambda: job.status is not None, timeout=240_000)
    return job.status


def test_a_stopped_run_with_an_automatic_name_resumes_from_start(make_napari_viewer, qtbot, painted):
    viewer = make_napari_viewer()
    tr = _train_dock(viewer, painted)
    tr.form.set_values({**TINY, "epochs": 500})
    assert tr.name.text() == ""  # automatic name
    job = tr.start(device="cpu", amp=False)
    first = tr.model_name
    qtbot.waitUntil(lambda: any(e["type"] == "batch" for e in tr.events), timeout=240_000)
    tr.start_button.click()  # Stop
    assert _ended(qtbot, job) == "cancelled"
    assert (painted.model_dir(first) / "last.pt").exists()
    assert tr.name.text() == first and "press Start training to resume" in tr.status.text()
    job = tr.start(device="cpu", amp=False)  # the next Start continues that run instead of making a new model
    assert tr.model_name == first
    tr.stop()
    _ended(qtbot, job)
    assert painted.model_names() == [first]


def test_the_step_bar_stops_spinning_after_a_failed_start(make_napari_viewer, qtbot, painted, tmp_path):
    junk = tmp_path / "junk.pt"  # a starting checkpoint that only the training process finds unreadable
    junk.write_bytes(b"not a checkpoint")
    viewer = make_napari_viewer()
    tr = _train_dock(viewer, painted)
    tr.form.set_values({**TINY, "epochs": 1})
    job = tr.start(device="cpu", amp=False, init_from=str(junk))
    assert tr.batch_bar.maximum() == 0  # busy until the first report
    assert _ended(qtbot, job) == "error"
    qtbot.waitUntil(lambda: tr.start_button.text() == "Start training", timeout=10_000)
    assert tr.batch_bar.maximum() > 0 and tr.batch_bar.value() <= 0


@pytest.mark.parametrize("where", ["dock", "panel"])
def test_closing_the_train_step_stops_its_training(make_napari_viewer, qtbot, painted, where):
    viewer = make_napari_viewer()
    if where == "dock":
        widget, tr = viewer.window.add_plugin_dock_widget("dvos-napari", "Train")
        tr.state.set_project(painted)
    else:
        widget = dock(viewer, PANEL)
        widget.state.set_project(painted)
        tr = widget.go("Train")
    tr.threads_box.setValue(1)
    tr.form.set_values({**TINY, "epochs": 5000})
    job = tr.start(device="cpu", amp=False)
    qtbot.waitUntil(lambda: any(e["type"] == "batch" for e in tr.events), timeout=240_000)
    viewer.window.remove_dock_widget(widget)
    qtbot.waitUntil(lambda: not job.is_alive(), timeout=60_000)  # it went on training, unseen and unstoppable
    assert job.join(5) == 0
    assert (painted.model_dir(tr.model_name) / "last.pt").exists()


def test_run_all_refuses_a_synthetic_set_it_cannot_continue_before_it_starts(make_napari_viewer, tmp_project):
    from dvos_core.run_all import RunAllConfig
    from dvos_core.run_all import _check_own_set as check_own_set

    frames, gt = tiny_clip(8, seed=4)
    v = tmp_project.add_video_array("plot", frames, split="train")
    v.set_mask(1, gt[1], "manual")
    tmp_project.create_synthetic("synthetic", 2, 4, 32, 32)  # the Synthesize step's default name
    viewer = make_napari_viewer()
    tr = _train_dock(viewer, tmp_project)
    box = tr.all_steps
    assert box.start(synth_clips=3, synth_frames=4, device="cpu") is None
    text = box.job_bar.messages.text()
    assert "synthetic set 'synthetic'" in text and "run name" in text and "'synthetic clips'" in text
    assert tmp_project.objects.count("head") == 0 and box.start_button.text() == "Run every step"
    check_own_set(tmp_project, RunAllConfig(name="v2", synth_clips=3))  # its own name: no clash
    check_own_set(tmp_project, RunAllConfig(synthetic_set="synthetic"))  # training on that set: fine


@pytest.fixture
def banked(painted):
    from dvos_core.extract import extract_heads

    extract_heads(painted, min_area=5, fakes_per_head=1)
    return painted


def test_synthesize_names_the_extract_steps_buttons_for_what_is_missing(make_napari_viewer, painted):
    viewer = make_napari_viewer()
    syn = dock(viewer, "Synthesize")
    syn.state.set_project(painted)
    for action in (syn.preview, syn.generate, syn.match_density):
        assert syn.guard(action) is None
        assert "'Extract heads' in the Extract step" in syn.status.text(), syn.status.text()
        assert "dock" not in syn.status.text()


def test_synthesize_says_which_size_fits_the_background_clips(make_napari_viewer, qtbot, banked):
    """Said by the job (it opens every clip: too slow for napari's main thread with hundreds of them)."""
    from dvos_core.extract import extract_backgrounds

    viewer = make_napari_viewer()
    syn = dock(viewer, "Synthesize")
    syn.state.set_project(banked)

    def refused(action) -> str:
        job = syn.guard(action)
        qtbot.waitUntil(lambda: job.status is not None, timeout=60_000)
        assert job.status == "error", syn.status.text()
        return syn.status.text()

    assert "'Extract backgrounds' in the Extract step" in refused(syn.generate)
    extract_backgrounds(banked, "plot", clip_length=4)  # 64x64 clips; the form's clips are larger
    text = refused(syn.generate)
    assert "the largest is 64x64 px" in text and "'clip height'" in text, text
    assert "'preview size'" in refused(syn.preview)
    assert banked.synthetic_ids() == []


def test_synthesize_speaks_of_its_own_button_instead_of_a_command(make_napari_viewer, banked):
    viewer = make_napari_viewer()
    syn = dock(viewer, "Synthesize")
    syn.state.set_project(banked)
    syn.form.set_values({"height": 64, "width": 64, "camera_speed": 500.0})
    assert syn.guard(syn.generate) is None
    text = syn.status.text()
    assert "'camera speed'" in text and "Match the motion of my videos" in text and "dvos synth" not in text


def test_extract_heads_says_why_nothing_new_was_cut(make_napari_viewer, qtbot, painted):
    viewer = make_napari_viewer()
    ext = dock(viewer, "Extract")
    ext.state.set_project(painted)
    ext.min_area.setValue(5)
    wait_job(qtbot, ext.extract_heads())
    assert "extracted" in ext.messages.text() and "heads" in ext.messages.text()
    ext.replace.setChecked(False)
    wait_job(qtbot, ext.extract_heads())
    text = ext.messages.text()
    assert "no new objects" in text and "3 painted frame(s) were extracted before" in text and "replace" in text


def test_inpainted_backgrounds_can_be_made_again_with_new_settings(make_napari_viewer, qtbot, painted):
    viewer = make_napari_viewer()
    ext = dock(viewer, "Extract")
    ext.state.set_project(painted)
    ext.bg_mode.setCurrentIndex(1)
    assert ext.bg_form.isRowVisible(ext.bg_replace) and not ext.bg_replace.isChecked()
    ext.clip_length.setValue(3)
    ext.motion.setCurrentIndex(ext.motion.findData("none"))
    wait_job(qtbot, ext.extract_backgrounds())
    assert sorted(len(painted.background(b)) for b in painted.background_ids()) == [3, 3, 3]
    ext.clip_length.setValue(5)
    wait_job(qtbot, ext.extract_backgrounds())
    assert "no new clips" in ext.messages.text() and "make the clips of frames done before again" in ext.messages.text()
    ext.bg_replace.setChecked(True)
    wait_job(qtbot, ext.extract_backgrounds())
    assert sorted(len(painted.background(b)) for b in painted.background_ids()) == [5, 5, 5]  # the old ones replaced
    ext.bg_mode.setCurrentIndex(0)
    assert not ext.bg_form.isRowVisible(ext.bg_replace)


def test_cutting_a_bare_video_again_keeps_its_clips_or_says_its_frames_are_twice_in_the_bank(
    make_napari_viewer, qtbot, tmp_project
):
    bare, _ = tiny_clip(8, seed=5, heads=False)
    tmp_project.add_video_array("bare", bare, split="unassigned")
    viewer = make_napari_viewer()
    ext = dock(viewer, "Extract")
    ext.state.set_project(tmp_project)
    ext.bg_source.setCurrentText("bare")
    ext.clip_length.setValue(4)
    wait_job(qtbot, ext.extract_backgrounds())
    assert "cut 2 background clip(s) from 'bare'" in ext.messages.text() and "before" not in ext.messages.text()
    wait_job(qtbot, ext.extract_backgrounds())  # the same settings: the clips are kept, not cut twice
    assert "no new clips from 'bare'; 2 clip(s) cut before with these settings were kept" in ext.messages.text()
    assert len(tmp_project.background_ids()) == 2
    ext.clip_length.setValue(3)  # other settings: new clips, and the frames are in the bank twice
    wait_job(qtbot, ext.extract_backgrounds())
    assert "it had given 2 clip(s) with other settings before" in ext.messages.text()


def test_the_train_step_starts_on_what_the_project_trains_next(make_napari_viewer, painted):
    from dvos_core.store import Project
    from dvos_core.train import TrainConfig

    def add_model(name, **cfg):
        d = painted.model_dir(name, create=True)
        (d / "best.pt").write_bytes(b"weights")  # the step lists models by their best.pt and config.yaml
        TrainConfig(**cfg).to_yaml(d / "config.yaml")

    viewer = make_napari_viewer()
    tr = _train_dock(viewer, painted)
    assert tr.config().phase == "image" and tr.init_from.currentText() == "(none)"  # a new project: the image model
    add_model("img", phase="image")
    tr.state.set_project(Project.open(painted.path))
    assert tr.config().phase == "synthetic" and tr.init_from.currentText() == "img"
    add_model("ctx_syn", phase="synthetic", video_model="context")
    tr.state.set_project(Project.open(painted.path))
    cfg = tr.config()
    assert (cfg.phase, cfg.video_model, tr.init_from.currentText()) == ("real", "context", "ctx_syn")

    tr.form.widgets["phase"].activated.emit(0)  # the user picks what to train: kept from then on
    tr.form.set_values({"phase": "image"})
    tr.state.set_project(Project.open(painted.path))
    assert tr.config().phase == "image"


def test_the_fast_pan_advice_names_the_synthesize_steps_fields(make_napari_viewer):
    """Motion matching's fast-pan warning names the command-line ways to larger synthetic frames; the Synthesize
    step shows its own fields instead (no 'dvos synth --size', no '--config'), as its match-motion notes do."""
    from dvos_core.motion.matching import fast_pan_warning
    from dvos_core.synth import SynthConfig
    from dvos_napari._errors import plain_words

    syn = dock(make_napari_viewer(), "Synthesize")
    base = SynthConfig(height=512, width=512)
    measured = {"pan_px": {"min": 600.0, "median": 600.0, "max": 600.0}}
    warning = fast_pan_warning(measured, base, base.replace(camera_speed=256.0, camera_speed_min=200.0))
    text = plain_words(syn.form.in_labels(warning))
    assert "('clip height' and 'clip width' of 1392 px or more)" in text
    assert "dvos" not in text and "--" not in text and "option" not in text


def test_starting_a_finished_run_again_says_there_is_nothing_to_do(make_napari_viewer, qtbot, painted):
    """The Train step dropped the core's last word: a finished run started again under its name trained nothing,
    and the step said "finished: model saved" as if it had."""
    viewer = make_napari_viewer()
    tr = _train_dock(viewer, painted)
    tr.form.set_values({**TINY, "epochs": 1, "max_steps_per_epoch": 1})
    tr.name.setText("img")
    assert _ended(qtbot, tr.start(device="cpu", amp=False)) == "ok"
    assert "saved; use it in the Predict step" in tr.status.text()
    assert _ended(qtbot, tr.start(device="cpu", amp=False)) == "ok"
    said = tr.status.text()
    assert "nothing to do" in said and "raise 'epochs' to train it further" in said and "--" not in said


def test_a_run_stopped_in_an_earlier_session_is_offered_for_resuming(make_napari_viewer, qtbot, painted):
    """Training stopped (napari closed after an epoch), napari opened again: the Train step moved on to the video
    model's synthetic phase starting from the stopped run, and with the image phase set back, Start was refused
    ("an unfinished run with different settings: init_from None when it began, now .../A/best.pt")."""
    viewer = make_napari_viewer()
    tr = _train_dock(viewer, painted)
    tr.form.set_values({**TINY, "epochs": 50, "max_steps_per_epoch": 1})
    tr.name.setText("A")
    job = tr.start(device="cpu", amp=False)
    qtbot.waitUntil(lambda: any(e["type"] == "epoch" for e in tr.events), timeout=240_000)
    tr.stop()
    assert _ended(qtbot, job) == "cancelled"
    again = _train_dock(make_napari_viewer(), painted)  # a new session on the same project
    values = again.form.values()
    assert again.name.text() == "A" and values["phase"] == "image" and values["epochs"] == 50
    assert again.init_from.currentText() == "(none)"
    assert "Start training resumes it" in again.status.text()
    job = again.start(device="cpu", amp=False)
    qtbot.waitUntil(lambda: any(e["type"] == "start" for e in again.events), timeout=240_000)
    assert next(e for e in again.events if e["type"] == "start")["resumed"]
    again.stop()
    assert _ended(qtbot, job) == "cancelled"


def test_a_run_that_finishes_after_another_project_was_opened_names_its_project(
    make_napari_viewer, qtbot, painted, tmp_path
):
    """It said "use it in the Predict step", where the project open had no such model."""
    from dvos_core.store import Project

    viewer = make_napari_viewer()
    tr = _train_dock(viewer, painted)
    tr.form.set_values({**TINY, "epochs": 1, "max_steps_per_epoch": 1})
    tr.name.setText("m")
    job = tr.start(device="cpu", amp=False)
    tr.state.set_project(Project.create(tmp_path / "other.dvos"))
    assert _ended(qtbot, job) == "ok"
    assert f"saved in {painted.path} (open it again to use it)" in tr.status.text()


def test_closing_a_viewer_never_shown_stops_its_training(make_napari_viewer, qtbot, painted):
    """napari.Viewer(show=False) (scripts, notebooks): viewer.close() left the training child running, unstoppable
    (the window's guard was installed when the step was first shown, which never happened)."""
    viewer = make_napari_viewer(show=False)
    tr = _train_dock(viewer, painted)
    tr.form.set_values({**TINY, "epochs": 5000})
    job = tr.start(device="cpu", amp=False)
    qtbot.waitUntil(lambda: any(e["type"] == "batch" for e in tr.events), timeout=240_000)
    assert not viewer.window._qt_window.isVisible()
    assert tr.state.close_guard is not None
    viewer.close()
    qtbot.waitUntil(lambda: not job.is_alive(), timeout=60_000)
    assert (painted.model_dir(tr.model_name) / "last.pt").exists()
