"""The panel through a user's afternoon (run with xvfb-run): closing the napari window while a job runs stops it
(a training in its child process, a job in a thread) and leaves the project sound; the training plot follows a theme
change; form tooltips speak the panel's words and give each number box's range; every button has a tooltip; Enter
and the arrow keys work in the Annotate step; a mask saved in another napari window is shown before this one paints
over it."""

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

TINY = {"phase": "image", "preset": "tiny", "batch_size": 2, "size": 64, "max_steps_per_epoch": 4}


@pytest.fixture
def painted(tmp_project):
    """A training video of 8 frames, 3 of them painted."""
    frames, gt = tiny_clip(8, seed=4)
    v = tmp_project.add_video_array("plot", frames, split="train")
    for t in (1, 4, 7):
        v.set_mask(t, gt[t], "manual")
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


def test_closing_the_window_stops_a_training_and_keeps_its_model(make_napari_viewer, qtbot, painted):
    from dvos_core.store.check import check_project

    viewer = make_napari_viewer(show=True)
    panel = dock(viewer, PANEL)
    panel.state.set_project(painted)
    tr = panel.go("Train")
    tr.threads_box.setValue(1)
    tr.form.set_values({**TINY, "epochs": 5000})
    job = tr.start(device="cpu", amp=False)
    qtbot.waitUntil(lambda: any(e["type"] == "batch" for e in tr.events), timeout=240_000)
    viewer.close()  # the window goes; napari (another viewer, a notebook) goes on
    deadline = time.monotonic() + 60
    while job.is_alive() and time.monotonic() < deadline:  # it trained on unseen, with nothing left to stop it
        qtbot.wait(50)
    assert not job.is_alive() and job.join(5) == 0
    assert (painted.model_dir(tr.model_name) / "last.pt").exists()
    found = check_project(painted)  # every part reads; the stopped run is what is left to finish, with its command
    assert [(f.kind, f.where) for f in found] == [("unfinished", f"model {tr.model_name}")]
    assert f"--name {tr.model_name} --config" in found[0].message


def test_closing_the_window_stops_a_job_in_a_thread(make_napari_viewer, qtbot, painted):
    viewer = make_napari_viewer(show=True)
    panel = dock(viewer, PANEL)
    panel.state.set_project(painted)
    pr = panel.go("Predict")
    qtbot.waitUntil(lambda: panel.state.close_guard is not None)
    job = pr.run(_wait_until_cancelled, label="a long job", process=False)
    viewer.close()
    deadline = time.monotonic() + 10
    while job.worker.is_running and time.monotonic() < deadline:
        qtbot.wait(20)
    assert not job.worker.is_running  # it would have run on for a minute


def test_a_close_that_napari_refuses_leaves_the_jobs_running(make_napari_viewer, qtbot, painted):
    from qtpy.QtGui import QCloseEvent
    from qtpy.QtWidgets import QApplication

    viewer = make_napari_viewer(show=True)
    panel = dock(viewer, PANEL)
    panel.state.set_project(painted)
    pr = panel.go("Predict")
    qtbot.waitUntil(lambda: panel.state.close_guard is not None)
    job = pr.run(_wait_until_cancelled, label="a long job", process=False)
    event = QCloseEvent()
    event.ignore()
    window = pr.window()
    QApplication.sendEvent(window, event)  # a close event the window does not follow: it stays, and so does the job
    qtbot.wait(100)
    window.hide()  # a later hide (not a close) stops nothing
    qtbot.wait(100)
    assert job.running and not job._token.cancelled
    pr.job.cancel()
    qtbot.waitUntil(lambda: job.status is not None, timeout=10_000)


def test_the_training_plot_draws_its_lines_again_in_a_new_themes_colours(make_napari_viewer):
    from matplotlib.colors import to_hex

    viewer = make_napari_viewer()
    tr = dock(viewer, PANEL).step("Train")
    tr._losses = [(0.5 * i, 1 / (1 + i)) for i in range(8)]
    tr._dice = [(1, 0.4), (2, 0.6)]
    tr._draw()
    for theme in ("light", "dark", "light"):
        viewer.theme = theme
        loss_c, dice_c = tr.plot.series(0), tr.plot.series(1)
        (loss_line,), (dice_line,) = tr.ax_loss.get_lines(), tr.ax_dice.get_lines()
        # a light theme's darkened lines stayed on the dark background (dim), and the axis labels lost their colours
        assert to_hex(loss_line.get_color()) == loss_c and to_hex(dice_line.get_color()) == dice_c, theme
        assert to_hex(tr.ax_loss.yaxis.label.get_color()) == loss_c
        assert to_hex(tr.ax_dice.yaxis.label.get_color()) == dice_c


def test_form_tooltips_speak_the_panels_words_and_give_each_number_boxs_range(make_napari_viewer):
    import re

    from qtpy.QtWidgets import QAbstractSpinBox

    from dvos_napari._forms import ConfigForm

    # words of the config file and the command line, which the panel shows under other names
    jargon = re.compile(
        r"\bnull\b|\b[a-z]+_[a-z_]+\b|--|`|ValueError|DataLoader|autocast|FrameNet|DVOSNet|\bdvos [a-z]"
    )
    viewer = make_napari_viewer()
    panel = dock(viewer, PANEL)
    found, boxes = [], 0
    for step in ("Synthesize", "Train"):
        for form in panel.step(step).findChildren(ConfigForm):
            for name, w in form.widgets.items():
                tip = w.toolTip()
                found += [f"{step} {name}: {m.group(0)!r} in {tip!r}" for m in jargon.finditer(tip)]
                spins = [w] if isinstance(w, QAbstractSpinBox) else w.findChildren(QAbstractSpinBox)
                for box in spins:
                    boxes += 1
                    lo = re.search(r"(?:From|At least) ([-0-9.e]+)", box.toolTip())
                    assert lo, f"{step} {name}: the tooltip gives no range: {box.toolTip()!r}"
                    shown_lo = box.minimum() + (box.singleStep() if box.specialValueText() else 0)
                    assert abs(float(lo.group(1)) - shown_lo) < 1e-9, (name, lo.group(1), shown_lo)
    assert boxes > 30 and not found, found
    ref_pixels = panel.step("Train").ref_pixels.toolTip()  # a tick box beside the form: no config file syntax either
    assert not jargon.search(ref_pixels) and "{" not in ref_pixels, ref_pixels


def test_annotate_suggests_on_enter_and_its_seed_list_jumps_from_the_keyboard(make_napari_viewer, qtbot, painted):
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QLineEdit

    viewer = make_napari_viewer()
    panel = dock(viewer, PANEL)
    panel.state.set_project(painted)
    panel.state.select_video("plot")
    wait_loaded(qtbot, panel.state)
    an = panel.go("Annotate")
    an.n_seeds.setValue(3)
    qtbot.keyClick(an.n_seeds.findChild(QLineEdit), Qt.Key.Key_Return)  # typed a count, pressed Enter
    assert len(an.seeds) == 3 and an.seed_list.count() == 3  # not the 5 suggested when the video was shown
    an.seed_list.setFocus()
    an.seed_list.setCurrentRow(2)  # picked with the arrow keys
    qtbot.keyClick(an.seed_list, Qt.Key.Key_Return)
    assert viewer.dims.current_step[0] == an.seeds[2] != 0


def test_every_button_of_every_step_says_what_it_does(make_napari_viewer):
    from qtpy.QtWidgets import QAbstractButton, QAbstractScrollArea, QAbstractSpinBox, QComboBox

    from dvos_napari._steps import STEPS

    viewer = make_napari_viewer()
    panel = dock(viewer, PANEL)
    missing, n = [], 0
    for name in STEPS:
        for b in panel.step(name).findChildren(QAbstractButton):
            if isinstance(b.parent(), (QAbstractSpinBox, QComboBox)) or (
                isinstance(b.parent(), QAbstractScrollArea) and not b.text()  # a table's corner, a scroll arrow
            ):
                continue
            n += 1
            if not b.toolTip():
                missing.append(f"{name}: {type(b).__name__} {b.text()!r}")
    assert n > 40 and not missing, missing


def test_a_mask_saved_in_another_window_is_shown_before_this_one_paints_over_it(make_napari_viewer, qtbot, painted):
    import numpy as np

    from dvos_napari._layers import video_layer

    a, b = make_napari_viewer(), make_napari_viewer()
    pa, pb = dock(a, PANEL), dock(b, PANEL)
    for p in (pa, pb):
        p.state.open_project(painted.path)
        p.state.select_video("plot")
        wait_loaded(qtbot, p.state)
    mask_a, mask_b = video_layer(a, "plot", "masks"), video_layer(b, "plot", "masks")
    mask_a.data[0, 10:20, 10:20] = 1  # painted and saved in window A
    pa.state.mark_dirty("plot", [0])
    assert pa.step("Annotate").save_frame(0)
    mask_b.data[3, 40:42, 40:42] = 1  # painted in window B, not saved yet
    pb.state.mark_dirty("plot", [3])
    assert pb.state.check_store()  # B's Project step looks at the store every few seconds
    wait_loaded(qtbot, pb.state)
    assert (np.asarray(mask_b.data[0]) != 0).sum() == 100  # A's mask, not the empty frame B had read before
    assert (np.asarray(mask_b.data[3]) != 0).sum() == 4  # B's unsaved paint stays
    mask_b.data[0, 40:42, 40:42] = 1  # B paints a stroke on frame 0 and saves it: A's mask is kept
    pb.state.mark_dirty("plot", [0])
    assert pb.step("Annotate").save_frame(0)
    assert painted.video("plot").mask(0).sum() == 104
    assert pa.state.check_store()  # and A, whose frame 0 was saved already (a painted frame saved over again)
    wait_loaded(qtbot, pa.state)
    assert (np.asarray(mask_a.data[0]) != 0).sum() == 104


def test_the_review_plot_draws_its_curves_again_in_a_new_themes_colours(make_napari_viewer):
    from types import SimpleNamespace

    import pandas as pd
    from matplotlib.colors import to_hex

    viewer = make_napari_viewer()
    rv = dock(viewer, PANEL).step("Review")
    frames = pd.DataFrame({"video": ["a"] * 3 + ["b"] * 3, "frame": [0, 1, 2] * 2, "dice": [0.9, 0.8, 0.7] * 2})
    rv.report = SimpleNamespace(frames=frames)
    rv._plot_frames("b")
    for theme in ("light", "dark"):
        viewer.theme = theme
        lines = rv.plot.axes[0].get_lines()
        assert [to_hex(ln.get_color()) for ln in lines] == [rv.plot.series(0), rv.plot.series(1)], theme
        assert lines[1].get_linewidth() == 2  # still the highlighted video


def _write_outside(path, t: int, box: tuple, kind: str = "pseudo") -> None:
    """Another program writes frame ``t``'s mask (a square ``box`` = (y0, y1, x0, x1)) of video 'plot'."""
    import subprocess
    import sys

    code = (
        "import numpy as np\nfrom dvos_core.store import Project\n"
        f"v = Project.open({str(path)!r}).video('plot')\nm = np.zeros((64, 64), np.uint8)\n"
        f"m[{box[0]}:{box[1]}, {box[2]}:{box[3]}] = 1\n"
        + (f"v.set_mask({t}, m, {kind!r})" if kind else f"v.clear_mask({t})")
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_mask_rewritten_elsewhere_with_the_same_provenance_or_cleared_is_shown(make_napari_viewer, qtbot, tmp_path):
    """Only frames whose kind of mask changed were read again: a pseudo-label rewritten by the command line (still
    'pseudo') kept its old pixels in the layer, and painting there and saving put the stale mask back."""
    import numpy as np

    from dvos_core.store import Project
    from dvos_napari._layers import video_layer

    p = Project.create(tmp_path / "p.dvos")
    rng = np.random.default_rng(0)
    v = p.add_video_array("plot", rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8), split="train")
    old = np.zeros((64, 64), np.uint8)
    old[5:15, 5:15] = 1
    for t in range(4):
        v.set_mask(t, old, "pseudo")
    viewer = make_napari_viewer()
    panel = dock(viewer, PANEL)
    panel.state.open_project(p.path)
    panel.state.select_video("plot")
    wait_loaded(qtbot, panel.state)
    layer = video_layer(viewer, "plot", "masks")
    for t, box, kind in ((3, (5, 15, 5, 15), "pseudo"), (1, (30, 50, 30, 50), "pseudo"), (2, (0, 1, 0, 1), None)):
        time.sleep(0.05)
        _write_outside(p.path, t, box, kind)
        assert panel.state.check_store()
        wait_loaded(qtbot, panel.state)
        stored = p.video("plot").mask(t)
        want = np.zeros((64, 64), np.uint8) if stored is None else stored
        assert np.array_equal(np.asarray(layer.data[t]) != 0, want != 0), (t, kind)
