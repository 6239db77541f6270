"""The Predict step moves its model and its labelling model to a model just trained (listed, but left unchosen,
before), and keeps a choice the user made when nothing new arrived; the optional blend stays off."""

import os
import time

import pytest
from napari_helpers import dock

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


def _model(project, name, phase="image"):
    d = project.model_dir(name, create=True)
    (d / "config.yaml").write_text(f"phase: {phase}\n")
    (d / "best.pt").write_bytes(b"weights")
    later = time.time() + len(project.model_names())  # newest last, whatever the clock's resolution
    os.utime(d / "best.pt", (later, later))


def test_a_model_just_trained_is_chosen(make_napari_viewer, tmp_project):
    import numpy as np

    tmp_project.add_video_array("plot", np.zeros((4, 32, 32, 3), np.uint8), split="train")
    _model(tmp_project, "image")
    viewer = make_napari_viewer()
    pr = dock(viewer, "Predict")
    pr.state.set_project(tmp_project)
    assert pr.image_model.currentText() == "image" and pr.checkpoint.currentText() == "image"
    blend = pr.blend_with.currentText()
    _model(tmp_project, "image_v2")  # a training run ends
    pr.state.notify_store_changed()
    pr.refresh()
    assert pr.image_model.currentText() == "image_v2" and pr.checkpoint.currentText() == "image_v2"
    assert pr.blend_with.currentText() == blend  # an option the user turns on, not a model to follow
    pr.image_model.setCurrentText("image")  # the user goes back to the older one
    pr.refresh()
    assert pr.image_model.currentText() == "image"
    from dvos_core.train.loop import training_lock

    with training_lock(tmp_project, "image_v3"):  # its first epoch wrote best.pt; it is still training
        _model(tmp_project, "image_v3")
        pr.refresh()
        assert pr.image_model.currentText() == "image"
    pr.refresh()  # its training ended
    assert pr.image_model.currentText() == "image_v3"


def test_the_pseudo_label_summary_says_why_frames_were_not_labelled():
    """A run that skipped every frame (they had pseudo-labels) said "pseudo-labelled 0 frames; frames with human
    masks were left alone"."""
    import pandas as pd

    from dvos_core.infer.pseudo import COLUMNS
    from dvos_napari.docks.predict import pseudo_label_summary

    rows = [("v", t, 0.9, 0, 0, False, "kept", False) for t in range(3)] + [
        ("v", 3, 1, 0, 0, False, "protected", False)
    ]
    text = pseudo_label_summary(pd.DataFrame(rows, columns=COLUMNS))
    assert text.startswith("pseudo-labelled 0 frames; 3 kept the pseudo-label they had (tick 'relabel")
    assert text.endswith("; 1 with human masks left alone")
    rows = [("v", 0, 0.2, 0, 0, True, "predict", True), ("v", 1, 0.9, 0, 0, True, "predict", False)]
    assert (
        pseudo_label_summary(pd.DataFrame(rows, columns=COLUMNS))
        == "pseudo-labelled 2 frames (1 below the minimum quality)"
    )


def test_review_says_what_the_project_holds_and_forgets_another_projects_scores(make_napari_viewer, tmp_path):
    """It said "no evaluation yet" beside a step header counting the project's saved evaluations, and kept showing
    the scores of the project open before."""
    import numpy as np

    from dvos_core.store import Project

    a = Project.create(tmp_path / "a.dvos")
    (a.path / "reports" / "run-all").mkdir(parents=True)
    b = Project.create(tmp_path / "b.dvos")
    viewer = make_napari_viewer()
    rv = dock(viewer, "Review")
    rv.state.set_project(a)
    assert rv.overall.text().startswith("1 evaluation(s) saved in the project (reports/: run-all)")
    rv.videos_table.setRowCount(2)  # scores shown for project a
    rv.report = object()
    rv.plot.axes[0].plot([0, 1], [0.5, 0.9])  # its per-frame curve drawn
    rv._plotted = True
    rv.state.set_project(b)
    assert rv.report is None and rv.videos_table.rowCount() == 0
    assert rv.overall.text().startswith("no evaluation yet")
    assert np.all([rv.worst_table.rowCount() == 0, rv.compare_table.rowCount() == 0])
    assert not rv.plot.axes[0].lines  # the curve of project a is gone
    redrawn = []
    rv._empty_plot = lambda: redrawn.append(1)
    rv.state.set_project(a)  # an empty plot is not drawn again (it held the window ~50 ms on each open)
    assert redrawn == []


def test_review_forgets_the_report_of_the_model_chosen_before(make_napari_viewer, qtbot, tmp_project):
    """After Evaluate of m1, choosing m2 kept m1's score line, tables, plot and worst frames, and W jumped to m1's
    worst frame while the layer showed m2's masks."""
    import numpy as np
    from napari_helpers import prediction_set, tiny_clip, wait_job, wait_loaded

    frames, gt = tiny_clip(4, seed=4)
    v = tmp_project.add_video_array("plot", frames, split="test")
    for t in range(len(gt)):
        v.set_mask(t, gt[t], "manual")
    prediction_set(v, "m1", np.roll(gt, 7, axis=2))
    prediction_set(v, "m2", gt)
    viewer = make_napari_viewer()
    rv = dock(viewer, "Review")
    rv.state.set_project(tmp_project)
    rv.scope.setCurrentText("test")
    rv.model.setCurrentText("m1")
    wait_loaded(qtbot, rv.state)
    wait_job(qtbot, rv.evaluate())
    assert rv.overall.text().startswith("m1: all 1 videos") and rv.worst_table.rowCount() == 4
    rv.model.setCurrentText("m2")
    wait_loaded(qtbot, rv.state)
    assert rv.report is None
    assert rv.overall.text().startswith("m2 chosen: press Evaluate to score its predictions")
    assert rv.videos_table.rowCount() == 0 and rv.worst_table.rowCount() == 0 and not rv.plot.axes[0].lines
    with pytest.raises(ValueError, match="press Evaluate"):
        rv.next_worst()
    wait_job(qtbot, rv.evaluate())
    assert rv.overall.text().startswith("m2: all 1 videos") and rv.report.overall["dice"] == pytest.approx(1.0)
    job = rv.evaluate()  # m1 chosen again while m2's evaluation runs: its result is not shown as m1's
    rv.model.setCurrentText("m1")
    wait_job(qtbot, job)
    assert rv.report is None and rv.worst_table.rowCount() == 0
    assert "press Evaluate" in rv.overall.text()
