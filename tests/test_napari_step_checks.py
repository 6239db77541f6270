"""The steps' checks before a job, their messages in the panel's words, and what a closed window leaves behind."""

from __future__ import annotations

import os
import time

import pytest
from napari_helpers import PANEL, dock, tiny_clip, wait_job

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


def test_extract_heads_from_pseudo_labels_only_says_none_are_painted(make_napari_viewer, qtbot, tmp_path):
    """The core cuts heads from painted and corrected frames only: a project whose masks are all pseudo-labels is
    told so, not 'extracted 0 objects'."""
    p = _project(tmp_path / "p.dvos", provenance="pseudo")
    viewer = make_napari_viewer()
    ext = dock(viewer, "Extract")
    ext.state.set_project(p)
    job = ext.guard(ext.extract_heads)
    qtbot.waitUntil(lambda: job.status is not None, timeout=120_000)
    text = ext.messages.text()
    assert job.status == "error", text
    assert "no training video has any painted or corrected frames (pseudo-labels are not cut into heads)" in text
    assert "Annotate step" in text and p.objects.count("head") == 0


def test_a_bare_video_or_model_deleted_from_a_terminal_is_named_and_left_out_of_the_lists(make_napari_viewer, tmp_path):
    p = _project(tmp_path / "p.dvos", bare=True)
    folder = p.model_dir("old")
    folder.mkdir(parents=True)
    (folder / "best.pt").write_bytes(b"weights")
    (folder / "config.yaml").write_text("phase: image\n")
    viewer = make_napari_viewer()
    ext, tr = dock(viewer, "Extract"), dock(viewer, "Train")
    ext.state.set_project(p)
    ext.bg_source.setCurrentText("bare")
    tr.init_from.setCurrentText("old")
    assert ext.bg_source.currentText() == "bare" and tr.init_from.currentText() == "old"
    p.delete_video("bare")  # as `dvos delete` does: no signal reaches the panel
    import shutil

    shutil.rmtree(folder)

    assert ext.guard(ext.extract_backgrounds) is None and ext.job is None
    text = ext.messages.text()
    assert "the video 'bare' is no longer in the project (it was deleted)" in text, text
    assert "bare" not in [ext.bg_source.itemText(i) for i in range(ext.bg_source.count())]

    assert tr.guard(tr.start, device="cpu") is None and tr.process is None
    text = tr.messages.text()
    assert "the model 'old' is no longer in the project (it was deleted)" in text and "start from" in text, text
    assert "`" not in text and "--" not in text, text
    assert "old" not in [tr.init_from.itemText(i) for i in range(tr.init_from.count())]


def test_a_stopped_runs_name_written_into_model_name_goes_when_another_model_is_chosen(make_napari_viewer, tmp_path):
    """After Stop, 'model name' holds the run's automatic name so that Start resumes it; choosing another thing to
    train makes the name automatic again (a run of other settings under that name would be refused)."""
    p = _project(tmp_path / "p.dvos")
    viewer = make_napari_viewer()
    tr = dock(viewer, "Train")
    tr.state.set_project(p)
    tr.form.set_values({"phase": "image"})
    tr.name.clear()
    tr.model_name = "image-20250101-120000"  # as a run stopped part-way leaves it
    tr._run_choice = tr._model_choice()
    tr._resume_text()
    assert tr.name.text() == "image-20250101-120000"
    phase = tr.form.widgets["phase"]
    phase.activated.emit(phase.currentIndex())  # the same choice again: the name stays
    assert tr.name.text() == "image-20250101-120000"
    i = phase.findData("synthetic")
    phase.setCurrentIndex(i)
    phase.activated.emit(i)  # the user picks another phase
    assert tr.name.text() == "", tr.name.text()
    assert "'model name' is automatic again" in tr.messages.text()

    tr.name.setText("mine")  # a name the user typed is theirs
    tr._filled_name = ("image-20250101-120000", tr._model_choice())
    i = phase.findData("image")
    phase.setCurrentIndex(i)
    phase.activated.emit(i)
    assert tr.name.text() == "mine"


def test_the_steps_buttons_read_no_clip_nor_sample_on_naparis_main_thread(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """With hundreds of background clips, reading each one (its settings, its size) or every video's samples froze
    napari for seconds at each click: the jobs read them (their checks say the same in the step's words)."""
    import threading

    import dvos_core.data.clips as clips
    from dvos_core.extract import extract_backgrounds, extract_heads
    from dvos_core.store import Project
    from dvos_core.store.sequence import Video

    p = _project(tmp_path / "p.dvos", bare=True)
    extract_heads(p, fakes_per_head=0)
    extract_backgrounds(p, "bare", clip_length=2)
    viewer = make_napari_viewer()
    ext, syn, tr = dock(viewer, "Extract"), dock(viewer, "Synthesize"), dock(viewer, "Train")
    ext.state.set_project(p)
    qtbot.waitUntil(lambda: not ext.gallery_loading, timeout=30_000)
    on_main: list[str] = []  # what the clicks read on the main thread (the refreshes after a job are not watched)
    clicking = False

    def watch(owner, name):
        real = getattr(owner, name)

        def watched(*args, **kwargs):
            if clicking and threading.current_thread() is threading.main_thread():
                on_main.append(name)
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, watched)

    watch(Project, "background")
    watch(Video, "labelled_frames")
    watch(clips, "config_samples")
    ext.bg_source.setCurrentText("bare")
    syn.form.set_values({"n_frames": 2, "height": 32, "width": 32})
    syn.preview_size.setValue(32)
    tr.form.set_values({"phase": "image"})
    for step, action in (
        (ext, ext.extract_heads),
        (ext, ext.extract_backgrounds),
        (syn, syn.preview),
        (syn, syn.generate),
    ):
        clicking = True
        job = step.guard(action)
        clicking = False
        assert job is not None, step.messages.text()
        job.kill()
        qtbot.waitUntil(lambda job=job: job.status is not None, timeout=60_000)
    clicking = True
    job = tr.guard(tr.start, device="cpu", preset="tiny")
    clicking = False
    assert job is not None, tr.messages.text()
    job.kill()
    qtbot.waitUntil(lambda: job.status is not None, timeout=60_000)
    assert on_main == []


def test_backgrounds_too_small_for_the_clips_are_said_by_the_job_in_the_steps_words(
    make_napari_viewer, qtbot, tmp_path
):
    from dvos_core.extract import extract_backgrounds, extract_heads

    p = _project(tmp_path / "p.dvos", bare=True)
    extract_heads(p, fakes_per_head=0)
    extract_backgrounds(p, "bare", clip_length=2)
    viewer = make_napari_viewer()
    syn = dock(viewer, "Synthesize")
    syn.state.set_project(p)
    syn.form.set_values({"n_frames": 2, "height": 512, "width": 512})
    job = syn.guard(syn.generate)
    qtbot.waitUntil(lambda: job.status is not None, timeout=60_000)
    text = syn.messages.text()
    assert job.status == "error" and "no background clip is 512x512 px or larger" in text, text
    assert "lower 'clip height' and 'clip width'" in text and "synthetic" not in p.synthetic_ids(), text
    syn.preview_size.setValue(512)
    job = syn.guard(syn.preview)
    qtbot.waitUntil(lambda: job.status is not None, timeout=60_000)
    assert "lower 'preview size' to fit it" in syn.messages.text(), syn.messages.text()


def test_the_preview_window_follows_the_main_window(make_napari_viewer, qtbot, tmp_path):
    """A main viewer never shown (a script's) gets a preview window never shown; closing the main window closes the
    preview's too (it outlived it)."""
    from dvos_core.extract import extract_backgrounds, extract_heads

    p = _project(tmp_path / "p.dvos", bare=True)
    extract_heads(p, fakes_per_head=0)
    extract_backgrounds(p, "bare", clip_length=2)
    viewer = make_napari_viewer()
    syn = dock(viewer, "Synthesize")
    syn.state.set_project(p)
    syn.preview_frames.setValue(2)
    syn.preview_size.setValue(32)
    assert not viewer.window._qt_window.isVisible()
    job = syn.guard(syn.preview)
    wait_job(qtbot, job)
    preview = syn.preview_viewer
    assert preview is not None and "synthetic preview" in preview.layers
    assert not preview.window._qt_window.isVisible()
    wait_job(qtbot, syn.guard(syn.preview))
    assert syn.preview_viewer is preview  # the same (hidden) window again, not one more
    viewer.close()
    qtbot.waitUntil(lambda: syn.preview_viewer is None, timeout=10_000)
