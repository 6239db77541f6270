"""A project open in napari while another program (the ``dvos`` command line) writes it.

File > Save of a masks layer writes only the frames painted in the viewer, never the frames another program
rewrote since the layer was read; saving into a video another program deleted says so; the Project step notices
other programs' writes once they have finished.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from napari_helpers import dock, tiny_clip, wait_loaded

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


def _project(tmp_path):
    from dvos_core.store import Project

    frames, masks = tiny_clip(6)
    p = Project.create(tmp_path / "field.dvos")
    v = p.add_video_array("plot1", frames, split="train")
    for t in (1, 4):
        v.set_mask(t, masks[t], "pseudo")
    return str(p.path), masks


def _shown(make_napari_viewer, qtbot, path):
    viewer = make_napari_viewer()
    prj = dock(viewer, "Project")
    prj.open_project(path)
    prj.select_video("plot1")
    wait_loaded(qtbot, prj.state)
    return viewer, prj


def test_file_save_of_a_stale_layer_keeps_what_another_program_wrote(make_napari_viewer, qtbot, tmp_path):
    from dvos_core.store import Project
    from dvos_napari._writer import write_labels

    path, masks = _project(tmp_path)
    viewer, prj = _shown(make_napari_viewer, qtbot, path)
    layer = viewer.layers["plot1 masks"]
    assert layer.data[1].any()  # the pseudo-label was read into the layer
    Project.open(path).video("plot1").clear_masks(["pseudo"])  # e.g. `dvos clear-masks --provenance pseudo`
    layer.data[2] = masks[2]  # the person paints frame 2
    prj.state.mark_dirty("plot1", [2])
    write_labels(path, layer.data, {"name": layer.name, "metadata": layer.metadata})
    v = Project.open(path).video("plot1")
    assert v.mask(1) is None and v.mask(4) is None  # not put back, and not as a human label
    np.testing.assert_array_equal(v.mask(2) > 0, masks[2] > 0)
    assert v.provenance_counts()["manual"] == 1
    assert not prj.state.dirty.get("plot1")


def test_file_save_of_a_tracked_layer_reads_only_its_painted_frames(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    """File > Save of a layer the panel tracks compares only the painted frames with the store (it read the stored
    mask of every frame first: seconds on a long video) and writes them."""
    from dvos_core.store import Project
    from dvos_napari import _writer

    path, masks = _project(tmp_path)
    viewer, prj = _shown(make_napari_viewer, qtbot, path)
    layer = viewer.layers["plot1 masks"]
    reads = []
    real = _writer._stored
    monkeypatch.setattr(_writer, "_stored", lambda video, t, *a, **k: reads.append(t) or real(video, t, *a, **k))
    layer.data[3] = masks[3]
    prj.state.mark_dirty("plot1", [3])
    _writer.write_labels(path, layer.data, {"name": layer.name, "metadata": layer.metadata})
    assert reads == [3]
    np.testing.assert_array_equal(Project.open(path).video("plot1").mask(3) > 0, masks[3] > 0)


def test_saving_into_a_video_another_program_deleted_says_so(make_napari_viewer, qtbot, tmp_path):
    from dvos_core.store import Project

    path, masks = _project(tmp_path)
    viewer, _prj = _shown(make_napari_viewer, qtbot, path)
    ann = dock(viewer, "Annotate")
    Project.open(path).delete("video", "plot1")  # e.g. `dvos delete PROJECT video plot1 --yes`
    viewer.layers["plot1 masks"].data[2] = masks[2]
    with pytest.raises(ValueError, match="no longer in the project") as e:
        ann.save_frame(2)
    assert "plot1" in str(e.value) and "deleted" in str(e.value)


def test_project_step_notices_other_programs_writes_once_they_finish(make_napari_viewer, qtbot, tmp_path):
    from dvos_core.store import Project

    path, _ = _project(tmp_path)
    _viewer, prj = _shown(make_napari_viewer, qtbot, path)

    def rows():
        return [prj.table.item(r, 0).text() for r in range(prj.table.rowCount())]

    prj.check_store()
    assert not prj.check_store()  # nothing written since the last look
    other = Project.open(path)
    frames, _ = tiny_clip(3, seed=7)
    other.add_video_array("plot2", frames, split="train")
    holder = os.path.join(path, ".dvos-writer.json")
    with open(holder, "w") as f:  # another process is still writing (its lock record)
        json.dump({"pid": 1, "host": "elsewhere", "command": "dvos add-video"}, f)
    assert not prj.check_store() and "plot2" not in rows()  # not while it still writes
    os.remove(holder)
    assert prj.check_store() and "plot2" in rows()
    other.delete("video", "plot1")
    os.utime(path)  # the lock's record coming and going marks the folder; make sure the clock moved
    assert prj.check_store() and "plot1" not in rows()


def test_a_video_deleted_while_its_masks_are_read_ends_the_read_quietly(make_napari_viewer, qtbot, tmp_path):
    """Another program deleted the video while a worker read its masks into the layer: the worker's KeyError was
    raised again in napari's event loop (an error dialog) beside the Project step's own note of the deletion."""
    from dvos_core.store import Project
    from dvos_napari import _layers

    path, _ = _project(tmp_path)
    viewer, prj = _shown(make_napari_viewer, qtbot, path)
    state = prj.state
    real = _layers.fill_buffer

    def deleted_first(*args, **kwargs):  # the other program's delete lands as the worker starts reading
        Project.open(path).delete("video", "plot1")
        return real(*args, **kwargs)

    errors = []
    state.report_error = lambda what, e: errors.append((what, e))
    video = state.project.video("plot1")
    layer = viewer.layers["plot1 masks"]
    _layers.fill_buffer = deleted_first
    try:
        _layers.load_masks(layer, video, "masks", state)
        wait_loaded(qtbot, state)
    finally:
        _layers.fill_buffer = real
    assert errors == [] and layer.editable
