"""The GUI door of `dvos run-all` (run with xvfb-run): the Train step's "every step at once" box runs the whole loop
in a child process, keeps the Train step's own Start from writing beside it, stops on Stop with the finished stages
kept, and says what to paint before starting anything."""

from __future__ import annotations

import os

import pytest
from napari_helpers import dock, wait_job

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]

TINY = {"preset": "tiny", "epochs": 1, "max_steps_per_epoch": 2, "batch_size": 2, "size": 64, "device": "cpu"}
QUICK = {"synth_clips": 3, "synth_frames": 6, "train": TINY, "pseudo_passes": 1, "device": "cpu"}


@pytest.fixture
def demo_project(tmp_path):
    from dvos_core.demo.pipeline import build_demo_project

    return build_demo_project(tmp_path / "p.dvos", size=96)


def test_every_step_at_once_from_the_train_step(make_napari_viewer, qtbot, demo_project):
    from dvos_core.store import Project

    viewer = make_napari_viewer()
    tr = dock(viewer, "Train")
    tr.state.set_project(demo_project)
    box = tr.all_steps
    assert "Every step at once" in tr.all_steps_section.title
    backgrounds = [box.backgrounds.itemText(i) for i in range(box.backgrounds.count())]
    assert backgrounds == ["inpainted from the painted frames", "bare_field"]  # unassigned videos only
    box.backgrounds.setCurrentText("bare_field")
    box.name.setText("gui")
    changed = []
    tr.state.store_changed.connect(lambda: changed.append(1))
    job = box.start(**QUICK)
    assert box.start_button.text() == "Stop" and not tr.start_button.isEnabled()  # one writer at a time
    assert wait_job(qtbot, job, timeout=300_000) == "ok"
    assert box.start_button.text() == "Run every step" and tr.start_button.isEnabled()
    p = Project.open(demo_project.path)
    assert {"gui_image", "gui_context_synthetic", "gui_context"} <= set(p.model_names())
    assert all(p.background(b).attrs.get("source") == "bare_field" for b in p.background_ids())
    assert set(box.result.checkpoints) == {"gui_image", "gui_context"}
    text = box.job_bar.messages.text()
    assert "Dice on the test videos" in text and "gui_context" in text
    assert f"different heads: field_test {box.result.heads['field_test']}" in text
    assert changed  # the other steps re-read the store
    assert any(line.startswith("[8/8]") for line in box.log_lines)
    assert any("gui_context" in tr.init_from.itemText(i) for i in range(tr.init_from.count()))  # Train lists it
    # a second run under another name trains on the first run's synthetic clips when asked
    assert [box.synthetic.itemText(i) for i in range(box.synthetic.count())] == ["make the run's own", "gui_synthetic"]
    box.synthetic.setCurrentText("gui_synthetic")
    box.name.setText("again")
    assert box.config().synthetic_set == "gui_synthetic" and box.config().name == "again"
    box.length.setCurrentIndex(1)  # a quick look: the tiny model, named "quick" unless a name is given
    assert box.config().train["preset"] == "tiny" and box.config().name == "again"
    box.name.setText("")
    assert box.config().name == "quick"


def test_stop_keeps_the_finished_stages(make_napari_viewer, qtbot, demo_project):
    from dvos_core.store import Project

    viewer = make_napari_viewer()
    tr = dock(viewer, "Train")
    tr.state.set_project(demo_project)
    box = tr.all_steps
    job = box.start(**QUICK)
    qtbot.waitUntil(lambda: any(line.startswith("[3/8]") for line in box.log_lines), timeout=120_000)
    box.toggle()  # Stop
    assert wait_job(qtbot, job, timeout=120_000) == "cancelled"
    assert box.start_button.text() == "Run every step"
    p = Project.open(demo_project.path)
    assert p.objects.count("head") > 0 and p.synthetic_ids() == ["synthetic"]  # the first stages stay


def test_refuses_before_starting_when_nothing_is_painted(make_napari_viewer, demo_project):
    for t in (0, 2, 4):
        demo_project.video("seed").clear_mask(t)
    viewer = make_napari_viewer()
    tr = dock(viewer, "Train")
    tr.state.set_project(demo_project)
    assert tr.all_steps.start(**QUICK) is None
    assert "no painted frames" in tr.all_steps.job_bar.messages.text()
    assert tr.all_steps.start_button.text() == "Run every step" and tr.start_button.isEnabled()
