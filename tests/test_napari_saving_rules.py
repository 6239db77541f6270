"""What the panel saves, and where: another project's layers are never taken for the open project's (two projects
often hold videos of the same name); Save frame and Save all painted store only frames that differ from what the
project holds; Save correction asks before replacing a mask a person painted."""

import os

import numpy as np
import pytest
from napari_helpers import dock, prediction_set, tiny_clip, wait_loaded

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


def _project(path, frames, masks=None):
    from dvos_core.store import Project

    project = Project.create(path)
    v = project.add_video_array("plot", frames, split="train")
    for t, m in (masks or {}).items():
        v.set_mask(t, m, "manual")
    return project


@pytest.mark.parametrize("how", ["open", "new"])
def test_another_projects_layers_are_not_taken_for_the_open_projects(make_napari_viewer, qtbot, tmp_path, how):
    from dvos_core.store import Project

    frames_a, masks_a = tiny_clip(6, seed=3)
    a = _project(tmp_path / "a.dvos", frames_a, {2: masks_a[2]})
    frames_b, _ = tiny_clip(6, seed=5)
    if how == "open":
        b = _project(tmp_path / "b.dvos", frames_b)  # the same video id, nothing painted
    viewer = make_napari_viewer()
    ann = dock(viewer, "Annotate")
    state = ann.state
    state.set_project(a)
    state.select_video("plot")
    wait_loaded(qtbot, state)
    assert viewer.layers["plot masks"].data[2].any()
    if how == "open":
        state.set_project(Project.open(b.path))
    else:
        state.set_project(Project.create(tmp_path / "c.dvos"))
        state.project.add_video_array("plot", frames_b, split="train")
    assert not any((x.metadata or {}).get("dvos_project") == str(a.path) for x in viewer.layers)
    state.select_video("plot")
    wait_loaded(qtbot, state)
    layer = viewer.layers["plot masks"]
    assert layer.metadata["dvos_project"] == str(state.project.path)
    assert not layer.data[2].any()  # the new project's (empty) masks, not the other project's
    assert np.array_equal(np.asarray(viewer.layers["plot"].data[0]), frames_b[0])
    viewer.dims.set_current_step(0, 2)
    assert not ann.save_frame(2)  # nothing painted here: nothing saved
    assert state.project.video("plot").mask(2) is None
    assert a.video("plot").mask(2).any()  # the first project keeps its mask


def test_save_stores_only_frames_that_differ_from_the_project(make_napari_viewer, qtbot, tmp_project, monkeypatch):
    from qtpy.QtWidgets import QMessageBox

    from dvos_core.store.schema import CORRECTED, MANUAL, NONE

    frames, masks = tiny_clip(6)
    v = tmp_project.add_video_array("plot", frames, split="train")
    v.set_mask(3, masks[3], "manual")
    v.set_mask(4, masks[4], "pseudo")
    viewer = make_napari_viewer()
    ann = dock(viewer, "Annotate")
    state = ann.state
    state.set_project(tmp_project)
    state.select_video("plot")
    wait_loaded(qtbot, state)
    layer = viewer.layers["plot masks"]
    layer.paint((1, 30, 30), 1)
    layer.undo()  # painted, then undone: as the project holds it
    layer.paint((2, 30, 30), 1)
    layer.paint((3, 5, 5), 1)
    assert ann.save_all() == [2, 3]  # frame 1 is not saved as an empty painted mask
    assert v.provenance[1] == NONE and v.provenance[2] == MANUAL
    assert state.dirty.get("plot", set()) == set()
    assert not ann.save_frame(0)  # never painted, no mask: nothing saved
    assert v.provenance[0] == NONE
    assert not ann.save_frame(3)  # as saved
    assert ann.save_frame(4)  # a pseudo-label as it is: accepted
    assert v.provenance[4] == CORRECTED
    # S on a frame with nothing painted asks whether it is a frame without heads
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No)
    viewer.dims.set_current_step(0, 0)
    assert not ann.save_frame_asking() and v.provenance[0] == NONE and "without heads" in asked[-1]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert ann.save_frame_asking() and v.provenance[0] == MANUAL and not v.mask(0).any()


def test_save_correction_asks_before_replacing_a_painted_mask(make_napari_viewer, qtbot, tmp_project, monkeypatch):
    from qtpy.QtWidgets import QMessageBox

    from dvos_core.store.schema import CORRECTED, MANUAL

    frames, masks = tiny_clip(6)
    v = tmp_project.add_video_array("plot", frames, split="val")
    v.set_mask(2, masks[2], "manual")
    pred = np.zeros_like(masks)
    pred[:, 10:30, 10:30] = 1
    prediction_set(v, "m", pred)
    viewer = make_napari_viewer()
    rv = dock(viewer, "Review")
    state = rv.state
    state.set_project(tmp_project)
    state.select_video("plot")
    wait_loaded(qtbot, state)
    viewer.dims.set_current_step(0, 2)
    painted = v.mask(2).copy()
    with pytest.raises(ValueError, match="painted by a person"):
        rv.save_correction()
    answers = []

    def answer(reply):
        def ask(*args, **kwargs):
            answers.append(args[2])
            return reply

        return ask

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    assert not rv.save_correction_asking()
    assert "painted by a person" in answers[-1]
    assert v.provenance[2] == MANUAL and np.array_equal(v.mask(2), painted)
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    assert rv.save_correction_asking()
    assert v.provenance[2] == CORRECTED and np.array_equal(v.mask(2) > 0, pred[2] > 0)
    n = len(answers)
    viewer.dims.set_current_step(0, 4)
    assert rv.save_correction_asking()  # no painted mask there: saved without a question
    assert len(answers) == n and v.provenance[4] == CORRECTED
    # a test video takes no corrections: refused before any question (Yes then failed)
    from dvos_core.store.schema import StoreError

    exam = tmp_project.add_video_array("exam", frames, split="test")
    exam.set_mask(2, masks[2], "manual")
    prediction_set(exam, "m", pred)
    state.select_video("exam")
    wait_loaded(qtbot, state)
    viewer.dims.set_current_step(0, 2)
    with pytest.raises(StoreError, match="test video"):
        rv.save_correction_asking()
    assert len(answers) == n and exam.provenance[2] == MANUAL


def test_s_asks_before_storing_a_saved_frame_erased_to_nothing(make_napari_viewer, qtbot, tmp_project, monkeypatch):
    """Erasing every head of a saved mask and pressing S stored the empty mask as manual ground truth unasked."""
    from qtpy.QtWidgets import QMessageBox

    from dvos_core.store.schema import MANUAL

    frames, masks = tiny_clip(6)
    v = tmp_project.add_video_array("plot", frames, split="train")
    v.set_mask(3, masks[3], "manual")
    viewer = make_napari_viewer()
    ann = dock(viewer, "Annotate")
    ann.state.set_project(tmp_project)
    ann.state.select_video("plot")
    wait_loaded(qtbot, ann.state)
    layer = viewer.layers["plot masks"]
    layer.data[3] = 0  # every head erased
    viewer.dims.set_current_step(0, 3)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No)
    assert not ann.save_frame_asking()
    assert "Every head of frame 3" in asked[-1] and "manual" in asked[-1]
    assert np.array_equal(v.mask(3) > 0, masks[3] > 0)  # answered no: the saved mask stays
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert ann.save_frame_asking() and v.provenance[3] == MANUAL and not v.mask(3).any()
    n = len(asked)
    assert not ann.save_frame_asking() and len(asked) == n  # stored as a frame without heads: nothing to ask


def test_shift_s_asks_once_before_storing_saved_frames_erased_to_nothing(
    make_napari_viewer, qtbot, tmp_project, monkeypatch
):
    """Paint, S, Ctrl+Z (every head of the saved mask gone), Shift+S: the empty mask was saved as manual ground truth
    unasked, where S asks. Shift+S (Save all painted) asks once, naming the frames; no saves the others only."""
    from qtpy.QtWidgets import QMessageBox

    from dvos_core.store.schema import MANUAL

    frames, _ = tiny_clip(6)
    v = tmp_project.add_video_array("plot", frames, split="train")
    viewer = make_napari_viewer()
    ann = dock(viewer, "Annotate")
    ann.state.set_project(tmp_project)
    ann.state.select_video("plot")
    wait_loaded(qtbot, ann.state)
    layer = viewer.layers["plot masks"]
    for t in (2, 4):
        layer.paint((t, 30, 30), 1)
        viewer.dims.set_current_step(0, t)
        assert ann.save_frame_asking()
    layer.undo()
    layer.undo()  # both saved masks erased
    layer.paint((5, 30, 30), 1)
    assert ann.state.dirty == {"plot": {2, 4, 5}}
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No)
    assert ann.save_all_asking() == [5]
    assert len(asked) == 1 and "Every head of frames 2, 4 of plot was erased" in asked[0]
    assert v.mask(2).any() and v.mask(4).any() and ann.state.dirty == {"plot": {2, 4}}  # kept, still unsaved
    assert "frames 2, 4 of plot not saved" in ann.status.text()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Yes)
    assert ann.save_all_asking() == [2, 4] and len(asked) == 2
    assert v.provenance[2] == MANUAL and not v.mask(2).any() and not v.mask(4).any()
    assert ann._keys and ann._key_actions["Shift-S"] == ann.save_all_asking  # the key asks too


def test_nothing_to_save_says_no_mask_only_for_frames_without_one(make_napari_viewer, qtbot, tmp_project, notes):
    """S again on a frame just saved said "(no mask: nothing painted)" though the project holds its mask."""
    frames, _ = tiny_clip(6)
    tmp_project.add_video_array("plot", frames, split="train")
    viewer = make_napari_viewer()
    ann = dock(viewer, "Annotate")
    ann.state.set_project(tmp_project)
    ann.state.select_video("plot")
    wait_loaded(qtbot, ann.state)
    viewer.layers["plot masks"].paint((2, 30, 30), 1)
    viewer.dims.set_current_step(0, 2)
    assert ann.save_frame_asking()
    notes.clear()
    assert not ann.save_frame_asking()  # S again
    said = [str(n.message) for n in notes]
    assert "nothing to save: frame 2 of plot is as the project holds" in said
    notes.clear()
    assert not ann.save_frame(0)  # no mask, nothing painted
    assert [str(n.message) for n in notes] == [
        "nothing to save: frame 0 of plot is as the project holds (no mask: nothing painted)"
    ]


@pytest.mark.parametrize("save", ["save_frame_asking", "save_all_asking"])
def test_a_save_after_every_layer_was_deleted_says_they_were_shown_again(
    make_napari_viewer, qtbot, tmp_project, notes, save
):
    """Select all layers, delete, S: the video came back and the save was refused with "the saved masks are still
    being read into the layer; try again in a moment", as if the layers had never left."""
    from dvos_core.store.schema import MANUAL

    frames, masks = tiny_clip(6)
    v = tmp_project.add_video_array("plot", frames, split="train")
    v.set_mask(1, masks[1], "manual")
    viewer = make_napari_viewer()
    ann = dock(viewer, "Annotate")
    ann.state.set_project(tmp_project)
    ann.state.select_video("plot")
    wait_loaded(qtbot, ann.state)
    viewer.layers["plot masks"].paint((2, 30, 30), 1)
    viewer.layers.select_all()
    viewer.layers.remove_selected()
    notes.clear()
    assert not ann.guard(getattr(ann, save))
    said = [str(n.message) for n in notes]
    assert said == [
        "dvos: nothing saved: the masks layer of plot had been removed, with any paint not saved in it; it is shown "
        "again with the saved masks of plot"
    ]
    wait_loaded(qtbot, ann.state)
    layer = viewer.layers["plot masks"]
    assert layer.data[1].any() and not layer.data[2].any() and v.provenance[:].tolist() == [0, MANUAL, 0, 0, 0, 0]


def test_paint_on_a_dropped_project_before_the_panel_opened_is_saved(make_napari_viewer, qtbot, tmp_path):
    """A project dropped on napari, painted, then the panel opened: the paint was never tracked (napari clears a
    layer's undo history when dvos made it read-only while the project opened), so Save all, File > Save and the
    close guard all missed it."""
    from dvos_core.store.schema import MANUAL
    from dvos_napari._state import get_state

    frames, masks = tiny_clip(6)
    project = _project(tmp_path / "d.dvos", frames, {1: masks[1]})
    viewer = make_napari_viewer()
    viewer.open(str(project.path), plugin="dvos-napari")
    layer = viewer.layers["plot masks"]
    layer.selected_label, layer.brush_size = 1, 6
    layer.paint((4, 20, 20), 1)  # no dvos panel yet
    ann = dock(viewer, "Annotate")
    state = get_state(viewer)
    qtbot.waitUntil(lambda: state.project is not None and not state.loading, timeout=30_000)
    assert state.dirty.get("plot") == {4}
    assert ann.save_all() == [4]
    assert project.video("plot").provenance[4] == MANUAL and project.video("plot").mask(4).any()


def test_dropping_the_open_project_again_keeps_one_layer_per_role(make_napari_viewer, qtbot, tmp_project):
    """The open project dropped again added a second masks layer whose paint Save all read from the first one,
    found unchanged and forgot."""
    frames, _ = tiny_clip(6)
    tmp_project.add_video_array("plot", frames, split="train")
    viewer = make_napari_viewer()
    ann = dock(viewer, "Annotate")
    state = ann.state
    state.set_project(tmp_project)
    state.select_video("plot")
    wait_loaded(qtbot, state)
    layer = viewer.layers["plot masks"]
    layer.paint((2, 20, 20), 1)
    viewer.open(str(tmp_project.path), plugin="dvos-napari")
    qtbot.waitUntil(lambda: len(viewer.layers) == 2, timeout=10_000)
    assert [x for x in viewer.layers if (x.metadata or {}).get("dvos_role") == "masks"] == [layer]
    assert ann.save_all() == [2]


def test_dropping_the_open_project_again_keeps_the_video_shown(make_napari_viewer, qtbot, tmp_project):
    """The open project dropped again while its second video was shown: the reader's layers (its first video) made
    that video the current one, beside the shown video's layers. They leave now; the shown video stays current."""
    frames, _ = tiny_clip(6)
    for vid in ("first", "second"):
        tmp_project.add_video_array(vid, frames, split="train")
    viewer = make_napari_viewer()
    ann = dock(viewer, "Annotate")
    state = ann.state
    state.set_project(tmp_project)
    state.select_video("second")
    wait_loaded(qtbot, state)
    layers = list(viewer.layers)
    layer = viewer.layers["second masks"]
    layer.paint((2, 20, 20), 1)
    switched = []
    state.video_changed.connect(switched.append)
    viewer.open(str(tmp_project.path), plugin="dvos-napari")
    qtbot.waitUntil(lambda: len(viewer.layers) == len(layers), timeout=10_000)
    qtbot.wait(50)
    assert list(viewer.layers) == layers and state.video_id == "second" and switched == []
    assert ann.save_all() == [2] and tmp_project.video("second").mask(2).any()


def test_a_users_layer_of_the_videos_name_is_not_shown_as_the_stored_video(make_napari_viewer, qtbot, tmp_project):
    """A video file opened in napari under the name the stored (resized) video takes was shown as that video: the
    masks were painted over the file's frames, of another size."""
    frames, _ = tiny_clip(4, size=64)
    viewer = make_napari_viewer()
    theirs = viewer.add_image(np.zeros((4, 96, 128, 3), np.uint8), name="plot", rgb=True)  # the file, unresized
    ann = dock(viewer, "Annotate")
    state = ann.state
    state.set_project(tmp_project)
    tmp_project.add_video_array("plot", frames, split="train")
    state.select_video("plot")
    wait_loaded(qtbot, state)
    shown = [x for x in viewer.layers if (x.metadata or {}).get("dvos_role") == "image"]
    assert len(shown) == 1 and shown[0] is not theirs and shown[0].data.shape == frames.shape
    assert theirs.data.shape == (4, 96, 128, 3) and not (theirs.metadata or {}).get("dvos_role")  # left as it was


def test_a_second_video_of_the_same_file_name_is_stored_under_an_id_the_user_picks(
    make_napari_viewer, qtbot, tmp_project, tmp_path, monkeypatch
):
    """Cameras name their files alike in every plot folder (GOPR0001.MP4): the Project step refused the second one
    ("pick another id") and had no field for an id."""
    from conftest import write_video
    from napari_helpers import wait_job
    from qtpy.QtWidgets import QFileDialog, QInputDialog

    for plot in ("plotA", "plotB"):
        (tmp_path / plot).mkdir()
        write_video(tmp_path / plot / "GOPR0001.avi", 4, "MJPG")
    viewer = make_napari_viewer()
    prj = dock(viewer, "Project")
    prj.state.set_project(tmp_project)
    asked, jobs = [], []
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: asked.append((a[2], k["text"])) or ("", False))
    monkeypatch.setattr(prj, "run", lambda *a, **k: jobs.append(type(prj).run(prj, *a, **k)) or jobs[-1])
    for plot in ("plotA", "plotB"):
        chosen = str(tmp_path / plot / "GOPR0001.avi")
        monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, chosen=chosen, **k: (chosen, ""))
        prj._add_file_dialog()
        if jobs:
            wait_job(qtbot, jobs.pop())
    assert tmp_project.video_ids() == ["GOPR0001"]  # the second one: asked, cancelled, nothing added
    question = "A video 'GOPR0001' is already in the project. Store GOPR0001.avi under the id:"
    assert asked == [(question, "plotB_GOPR0001")]
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: (k["text"], True))
    prj._add_file_dialog()
    wait_job(qtbot, jobs.pop())
    assert sorted(tmp_project.video_ids()) == ["GOPR0001", "plotB_GOPR0001"]


def test_a_users_own_layers_named_like_dvos_layers_are_never_removed_written_or_saved(
    make_napari_viewer, qtbot, tmp_project
):
    """A user's labels layers named 'plot predicted' / 'plot masks' (no dvos metadata) were taken for the video's:
    removed with their data when a video without predictions was shown, overwritten with the stored masks after a
    correction or another program's write, and saved into the project as manual ground truth by Save frame."""
    from napari_helpers import prediction_set

    from dvos_core.store.schema import CORRECTED, NONE

    frames, truth = tiny_clip(6, seed=4)
    mine = np.full((6, 64, 64), 3, np.uint8)
    v = tmp_project.add_video_array("plot", frames, split="train")
    viewer = make_napari_viewer()
    for name in ("plot predicted", "plot probability", "plot masks"):
        viewer.add_labels(mine.copy(), name=name)
    rv, ann = dock(viewer, "Review"), dock(viewer, "Annotate")
    state = rv.state
    state.set_project(tmp_project)
    state.select_video("plot")  # no predictions yet: nothing of the user's goes
    wait_loaded(qtbot, state)
    assert all(n in viewer.layers for n in ("plot predicted", "plot probability", "plot masks"))
    prediction_set(v, "m1", truth)
    state.set_prediction_model("m1")
    wait_loaded(qtbot, state)
    ours = [x for x in viewer.layers if (x.metadata or {}).get("dvos_role") == "masks"]
    assert len(ours) == 1 and ours[0] is not viewer.layers["plot masks"]
    viewer.layers.remove(ours[0])  # the user closes dvos's masks layer and keeps their own
    viewer.dims.set_current_step(0, 2)
    predicted = next(x for x in viewer.layers if (x.metadata or {}).get("dvos_role") == "predicted")
    predicted.paint((2, 10, 10), 1)
    rv.save_correction()
    assert v.provenance[2] == CORRECTED
    state.reread_stored_masks()  # as after another program's write
    for name in ("plot predicted", "plot probability", "plot masks"):
        assert (viewer.layers[name].data == 3).all(), name  # untouched
    viewer.dims.set_current_step(0, 1)
    try:
        ann.save_frame()  # its masks layer is dvos's own again (shown anew), never the user's
    except ValueError as e:
        assert "still being read" in str(e)
    assert v.provenance[1] == NONE


def test_save_correction_asks_before_saving_a_frame_the_model_left_empty(
    make_napari_viewer, qtbot, tmp_project, monkeypatch
):
    """An unpainted frame whose prediction is empty was stored as 'no heads here' (ground truth) unasked, where the
    Annotate step asks before it stores an empty mask."""
    from qtpy.QtWidgets import QMessageBox

    from dvos_core.store.schema import CORRECTED

    frames, _masks = tiny_clip(4)
    v = tmp_project.add_video_array("plot", frames, split="val")
    pred = np.zeros((4, *frames.shape[1:3]), np.float32)
    pred[1, 10:30, 10:30] = 1  # frame 0 predicted empty
    prediction_set(v, "m", pred)
    viewer = make_napari_viewer()
    rv = dock(viewer, "Review")
    rv.state.set_project(tmp_project)
    rv.state.select_video("plot")
    wait_loaded(qtbot, rv.state)
    asked = []
    reply = QMessageBox.StandardButton.No
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or reply)
    viewer.dims.set_current_step(0, 0)
    assert not rv.save_correction_asking() and v.provenance[0] == 0
    assert "found no heads on frame 0" in asked[-1]
    reply = QMessageBox.StandardButton.Yes
    assert rv.save_correction_asking() and v.provenance[0] == CORRECTED and not v.mask(0).any()
    viewer.dims.set_current_step(0, 1)
    n = len(asked)
    assert rv.save_correction_asking() and v.provenance[1] == CORRECTED and len(asked) == n  # heads: no question
