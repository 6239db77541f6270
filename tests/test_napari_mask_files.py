"""The Annotate step's doors to import-masks and export-masks: Import masks... (a folder, a TIFF stack or a COCO
JSON file) and Export masks..., run as jobs with progress and Cancel; the masks layer shows what was imported, and
the core's errors and warnings come in the step's words."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest
from napari_helpers import dock, wait_job, wait_loaded

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]
T, H, W = 8, 24, 32


@pytest.fixture
def annotate(make_napari_viewer, qtbot, tmp_project):
    tmp_project.add_video_array("plot", np.zeros((T, H, W, 3), np.uint8), split="train")
    viewer = make_napari_viewer()
    ann = dock(viewer, "Annotate")
    ann.state.set_project(tmp_project)
    ann.state.select_video("plot")
    wait_loaded(qtbot, ann.state)
    return ann


def _coco(path, frames_boxes, w=W, h=H):
    """A COCO file with one image per (frame, box) and a polygon per box (x0, y0, x1, y1; pixel edges)."""
    images, anns = [], []
    for k, (t, b) in enumerate(frames_boxes, 1):
        images.append({"id": k, "file_name": f"frame_{t:06d}.jpg", "width": w, "height": h})
        if b is not None:
            x0, y0, x1, y1 = b
            seg = [[x0, y0, x1, y0, x1, y1, x0, y1]]
            anns.append({"id": k, "image_id": k, "category_id": 1, "segmentation": seg, "iscrowd": 0})
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "head"}]}))
    return path


def test_a_coco_file_imported_shows_in_the_masks_layer(annotate, qtbot, tmp_project, tmp_path):
    ann, video = annotate, tmp_project.video("plot")
    layer = ann.viewer.layers["plot masks"]
    video.set_mask(6, np.ones((H, W), np.uint8), "manual")  # saved by another program since the layer was read
    path = _coco(tmp_path / "heads.json", [(2, (3, 4, 10, 9)), (5, None)])
    assert not ann.job_bar.cancel_button.isVisibleTo(ann)
    job = ann.import_masks(path)
    assert ann.job_bar.cancel_button.isVisibleTo(ann) and not ann.import_button.isEnabled()
    wait_job(qtbot, job)
    wait_loaded(qtbot, ann.state)
    assert np.flatnonzero(video.provenance[:]).tolist() == [2, 6]  # frame 5, without annotations, left out
    want = np.zeros((H, W), np.uint8)
    want[4:9, 3:10] = 1
    assert np.array_equal(video.mask(2), want) and video.mask(5) is None
    assert np.array_equal(layer.data[2] > 0, want > 0) and layer.data[6].all()  # the layer shows the store
    text = ann.messages.text()
    assert "imported 1 mask(s) into plot (1 manual): frame(s) 2" in text, text
    assert "left out 1 of its 2 images, which have no annotation (frame_000005.jpg)" in text, text
    assert "tick 'store images without heads as empty masks' (Mask file options)" in text, text
    assert "--" not in text and "setting" not in text and "Python" not in text, text
    assert "2 manual" in ann.info.text()
    assert not ann.job_bar.cancel_button.isVisibleTo(ann) and ann.import_button.isEnabled()


def test_the_empty_images_tick_box_stores_images_without_annotations(annotate, qtbot, tmp_project, tmp_path):
    ann, video = annotate, tmp_project.video("plot")
    path = _coco(tmp_path / "task.json", [(1, (0, 0, 4, 4)), (3, None), (4, None)])
    assert ann.empty_images.text() == "store images without heads as empty masks"
    assert ann.empty_images.toolTip() and "setting" not in ann.empty_images.toolTip()
    ann.empty_images.setChecked(True)
    wait_job(qtbot, ann.import_masks(path))
    wait_loaded(qtbot, ann.state)
    assert np.flatnonzero(video.provenance[:]).tolist() == [1, 3, 4]
    assert video.mask(3).sum() == 0 and video.mask(4).sum() == 0 and video.mask(1).sum() == 16
    text = ann.messages.text()
    assert "imported 3 mask(s) into plot (3 manual): frame(s) 1, 3, 4" in text and "left out" not in text, text
    # a file of images without annotations only: an error unless the box is ticked
    video.clear_masks()
    ann.empty_images.setChecked(False)
    empty = _coco(tmp_path / "empty.json", [(2, None), (5, None)])
    job = ann.import_masks(empty)
    qtbot.waitUntil(lambda: job.status is not None, timeout=60_000)
    text = ann.messages.text()
    assert job.status == "error" and "none of its 2 images has an annotation" in text, text
    assert "tick 'store images without heads as empty masks' (Mask file options)" in text and "--" not in text
    assert not video.provenance[:].any()


def test_errors_and_warnings_name_the_steps_options(annotate, qtbot, tmp_project, tmp_path):
    from PIL import Image

    ann, video = annotate, tmp_project.video("plot")
    folder = tmp_path / "masks"
    folder.mkdir()
    for n in (1, T):  # counted from 1, as ffmpeg's %06d.png frames: the last one is past the video's end
        m = np.zeros((H, W), np.uint8)
        m[2:6, 2:6] = 255
        Image.fromarray(m).save(folder / f"{n:06d}.png")
    job = ann.import_masks(folder)
    qtbot.waitUntil(lambda: job.status is not None, timeout=60_000)
    assert job.status == "error"
    text = ann.messages.text()
    assert "'first mask number' 1 (Mask file options)" in text, text
    assert "--" not in text and "setting" not in text and "=" not in text, text
    assert not video.provenance[:].any()
    ann.first_number.setValue(1)
    wait_job(qtbot, ann.import_masks(folder))
    assert np.flatnonzero(video.provenance[:]).tolist() == [0, T - 1]
    # the same masks again, different: a person's masks are kept, with a note saying how to replace them
    for n in (1, T):
        Image.fromarray(np.full((H, W), 255, np.uint8)).save(folder / f"{n:06d}.png")
    wait_job(qtbot, ann.import_masks(folder))
    text = ann.messages.text()
    assert "imported no masks into plot" in text and "kept the masks they had" in text, text
    assert "tick 'replace saved masks' (Mask file options)" in text and "--" not in text and "setting" not in text
    assert video.mask(0).sum() == 16
    ann.overwrite.setChecked(True)
    wait_job(qtbot, ann.import_masks(folder))
    assert video.mask(0).all() and "inverted" in ann.messages.text()  # the whole frame marked: a note says so
    # several COCO categories: the class box picks one
    ann.first_number.setValue(0)
    doc = json.loads(_coco(tmp_path / "c.json", [(3, (0, 0, 4, 4))]).read_text())
    doc["categories"].append({"id": 2, "name": "leaf"})
    (tmp_path / "c.json").write_text(json.dumps(doc))
    job = ann.import_masks(tmp_path / "c.json")
    qtbot.waitUntil(lambda: job.status is not None, timeout=60_000)
    assert job.status == "error" and "'class of the heads' (Mask file options)" in ann.messages.text()
    ann.label_class.setText("head")
    wait_job(qtbot, ann.import_masks(tmp_path / "c.json"))
    assert video.mask(3).sum() == 16


def test_unsaved_paint_is_not_hidden_by_an_import(annotate, qtbot, tmp_project, tmp_path):
    ann, video = annotate, tmp_project.video("plot")
    layer = ann.viewer.layers["plot masks"]
    layer.paint((2, 10, 10), 1)
    path = _coco(tmp_path / "a.json", [(2, (0, 0, 4, 4))])
    assert ann.guard(ann.import_masks, path) is None
    assert "frames 2 of plot are painted but not saved" in ann.messages.text()
    assert ann.job is None and not video.provenance[:].any()
    assert ann.save_all() == [2]
    wait_job(qtbot, ann.import_masks(path))  # saved now: a person's mask, kept where the import differs
    assert video.mask(2)[10, 10] == 1 and video.mask(2)[0, 0] == 0
    assert "kept the masks they had (frames 2)" in ann.messages.text()


def test_export_png_and_coco_and_import_back(annotate, qtbot, tmp_project, tmp_path):
    ann, video = annotate, tmp_project.video("plot")
    assert ann.guard(ann.export_masks, tmp_path / "none") is None
    assert "no saved mask to export" in ann.messages.text()
    m = np.zeros((H, W), np.uint8)
    cv2.circle(m, (12, 10), 6, 1, -1)
    video.set_mask(1, m, "manual")
    video.set_mask(4, m[::-1].copy(), "pseudo")
    wait_job(qtbot, ann.export_masks(tmp_path / "png"))
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["masks.csv", "plot_000001.png", "plot_000004.png"]
    assert "exported 2 mask(s) of plot" in ann.messages.text()
    ann.export_format.setCurrentText("COCO JSON")
    wait_job(qtbot, ann.export_masks(tmp_path / "coco"))
    path = tmp_path / "coco" / "plot_coco.json"
    assert f"exported the masks of 2 frame(s) of plot to {path}" in ann.messages.text()
    video.clear_masks()
    wait_job(qtbot, ann.import_masks(path))
    wait_loaded(qtbot, ann.state)
    assert np.array_equal(video.mask(1), m) and np.array_equal(video.mask(4), m[::-1])
    assert video.provenance_counts()["pseudo"] == 1  # what the export wrote down
    assert np.array_equal(ann.viewer.layers["plot masks"].data[4], m[::-1])


def test_cancel_stops_an_import_part_way_and_the_layer_shows_what_it_wrote(annotate, qtbot, tmp_project, tmp_path):
    """Cancelled while writing: the frames written are kept, and the masks layer shows them (the step is opened alone,
    so no Project step watches the store for it)."""
    import tifffile

    n = 1000  # about 5 ms a frame: the cancel comes while it writes
    ann = annotate
    video = tmp_project.add_video_array("long", np.zeros((n, H, W, 3), np.uint8), split="train")
    ann.state.select_video("long")
    wait_loaded(qtbot, ann.state)
    layer = ann.viewer.layers["long masks"]
    stack = np.zeros((n, H, W), np.uint8)
    stack[:, 2:8, 2:8] = 255
    tifffile.imwrite(tmp_path / "stack.tif", stack)
    job = ann.import_masks(tmp_path / "stack.tif")
    done = []
    job.progressed.connect(lambda d, total, msg: done.append(d))
    qtbot.waitUntil(lambda: bool(done), timeout=60_000)  # progress is reported from the first frame written
    ann.job_bar.cancel_button.click()
    qtbot.waitUntil(lambda: job.status is not None, timeout=60_000)
    assert job.status == "cancelled" and "cancelled" in ann.messages.text()
    written = np.flatnonzero(video.provenance[:])
    assert 0 < len(written) < n
    wait_loaded(qtbot, ann.state)
    for t in written:
        assert np.array_equal(layer.data[t] > 0, video.mask(t) > 0), t
    assert not np.asarray(layer.data)[np.setdiff1d(np.arange(n), written)].any()


def _failed(qtbot, ann, source) -> str:
    job = ann.import_masks(source)
    qtbot.waitUntil(lambda: job.status is not None, timeout=60_000)
    assert job.status == "error"
    return ann.messages.text()


def test_the_panel_says_what_the_core_says_in_its_words(annotate, qtbot, tmp_project, tmp_path):
    """The resized-video note, the COCO file in a folder of masks and the note on model masks made manual come from
    the core (as on the command line), in the step's words."""
    from dvos_core.io import Preprocess, import_video

    ann, video = annotate, tmp_project.video("plot")
    frames = tmp_path / "frames"
    frames.mkdir()
    for n in range(3):
        cv2.imwrite(str(frames / f"{n:06d}.png"), np.full((2 * H, 2 * W, 3), 40 * n, np.uint8))
    import_video(tmp_project, frames, "small", preprocess=Preprocess(height=H))
    ann.state.select_video("small")
    wait_loaded(qtbot, ann.state)
    text = _failed(qtbot, ann, _coco(tmp_path / "big.json", [(1, (0, 0, 4, 4))], w=2 * W, h=2 * H))
    assert "small was resized when it was added (height 24 px)" in text, text
    assert "Delete... in the Project step" in text and "--" not in text and "`" not in text, text
    assert not tmp_project.video("small").provenance.any()
    ann.state.select_video("plot")
    wait_loaded(qtbot, ann.state)
    export = tmp_path / "cvat"
    (export / "annotations").mkdir(parents=True)
    json_file = _coco(export / "annotations" / "instances_default.json", [(2, (0, 0, 4, 4))])
    text = _failed(qtbot, ann, export)
    fix = f"it holds {json_file}, a COCO file: import that file (Import masks..., TIFF stack or COCO JSON file...)"
    assert fix in text, text
    video.set_mask(2, np.ones((H, W), np.uint8), "pseudo")  # a pseudo-label reviewed in CVAT, exported back
    wait_job(qtbot, ann.import_masks(json_file))
    text = ann.messages.text()
    assert "saved as manual" in text and "'made by': corrected (Mask file options)" in text, text
    assert "--" not in text and "=" not in text and "setting" not in text, text
    assert video.provenance_counts()["manual"] == 1
    ann.made_by.setCurrentText("a person's correction")
    wait_job(qtbot, ann.import_masks(json_file))
    assert video.provenance_counts()["corrected"] == 1 and "saved as manual" not in ann.messages.text()


def test_the_import_menu_asks_for_a_file_or_a_folder(annotate, qtbot, tmp_project, tmp_path, monkeypatch):
    from dvos_napari.docks import annotate as module

    ann, video = annotate, tmp_project.video("plot")
    path = _coco(tmp_path / "a.json", [(3, (0, 0, 2, 2))])
    asked = []
    monkeypatch.setattr(module.QFileDialog, "getOpenFileName", lambda *a: (asked.append(a[1]) or str(path), ""))
    monkeypatch.setattr(module.QFileDialog, "getExistingDirectory", lambda *a: asked.append(a[1]) or "")
    folder_action, file_action = ann.import_button.menu().actions()
    folder_action.trigger()  # a folder asked for, none chosen: nothing runs
    assert ann.job is None
    file_action.trigger()
    assert "COCO JSON" in asked[-1] and "folder of mask images" in asked[0]
    wait_job(qtbot, ann.job)
    assert video.mask(3).sum() == 4


def test_the_mask_file_options_have_tips_and_start_collapsed(annotate):
    ann = annotate
    assert not ann.file_options.expanded
    assert [a.text() for a in ann.import_button.menu().actions()] == [
        "Folder of mask images...",
        "TIFF stack or COCO JSON file...",
    ]
    assert ann.import_options() == {
        "label_class": None,
        "allow_labels": False,
        "overwrite": False,
        "first_number": 0,
        "numbering": None,
        "provenance": None,
        "empty_images": False,
    }
    ann.numbering.setCurrentIndex(2)
    ann.made_by.setCurrentIndex(2)
    assert ann.import_options()["numbering"] == "source" and ann.import_options()["provenance"] == "corrected"


def test_panel_words_leave_no_command_line_option():
    from dvos_napari._errors import plain_words
    from dvos_napari._mask_files import panel_words

    core = [
        "x.json: lists 2 categories besides the background (head, leaf); say which category is the wheat heads with "
        "--class NAME (Python: label_class='NAME')",
        "f.png: give --class NAME (label_class=) for the heads' class, or import the SegmentationObject folder of "
        "that export with --labels",
        "m: --class stem (label_class) picks a class of the labelmap.txt",
        "give --first-number 1 (first_number=1; mask 1 is frame 0), or, for a video added from a folder of frames "
        "numbered from 1, --numbering source (numbering='source') to name masks like the frame files",
        "Say which: --numbering source (masks named like the frame files) or --numbering stored (masks numbered "
        "0..9, as export-masks writes them); from Python, numbering='source' or 'stored'",
        "first_number (--first-number) must be a whole number, 0 or more, got -1",
        "m: 3 frame(s) kept the masks they had: pass overwrite=True (--overwrite) to replace them",
        "expected a binary mask. For an instance label map pass allow_labels=True (--labels on the command line)",
        "source frames 10, 15, ... (--start 10 --step 5), so source frame s is stored frame (s - 10) / 5",
        "masks a person checked go into a test video with --provenance manual, provenance='manual')",
        "f.png: cannot tell which frame (or, from Python, pass the frame indices: import_masks(..., frames=[...]))",
        "a.json: none of its 5 images has an annotation. If someone looked at these frames and found no heads, give "
        "--empty-images (Python: empty_images=True) to store them as frames without heads",
        "d: its masks.csv lists the masks export-masks wrote for videos a, b, not for 'x'; import them into those "
        "videos, or give --from-video ID (from_video='ID') to take the masks of one of them into 'x'",
    ]
    for text in core:
        said = plain_words(panel_words(text))
        assert "--" not in said and "setting" not in said and "=" not in said and "Python" not in said, said


@pytest.mark.parametrize("answer", ["Yes", "No"])
def test_masks_of_another_video_are_imported_anyway_when_the_user_says_so(
    annotate, qtbot, tmp_project, tmp_path, monkeypatch, answer
):
    """Another video's export was refused with a message naming --from-video, which the panel has no control for:
    the step now asks, naming the video the masks belong to, and on Yes imports them with from_video."""
    from dvos_core.io import export_masks
    from dvos_napari.docks import annotate as annotate_module

    QMessageBox = annotate_module.QMessageBox
    ann, video = annotate, tmp_project.video("plot")
    other = tmp_project.add_video_array("field_b", np.zeros((T, H, W, 3), np.uint8), split="train")
    m = np.zeros((H, W), np.uint8)
    m[3:9, 4:12] = 1
    other.set_mask(2, m, "manual")
    export_masks(tmp_project, "field_b", tmp_path / "b")
    asked = []
    reply = getattr(QMessageBox.StandardButton, answer)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or reply)
    first = ann.import_masks(tmp_path / "b")
    wait_job(qtbot, first)
    assert len(asked) == 1 and "exported from video field_b, not from plot" in asked[0], asked
    assert "Import them anyway into plot" in asked[0]
    if answer == "No":
        assert ann.job is first and video.mask(2) is None
        text = ann.messages.text()
        assert "masks not imported" in text and "choose video field_b in the Project step" in text, text
        return
    assert ann.job is not first
    wait_job(qtbot, ann.job)
    wait_loaded(qtbot, ann.state)
    assert np.array_equal(video.mask(2), m) and len(asked) == 1
    assert np.array_equal(ann.viewer.layers["plot masks"].data[2] > 0, m > 0)
    assert "imported 1 mask(s) into plot (1 manual): frame(s) 2" in ann.messages.text()


@pytest.mark.parametrize("pick", ["field_c", None])
def test_a_folder_with_the_masks_of_several_videos_asks_which_videos_masks_to_import(
    annotate, qtbot, tmp_project, tmp_path, monkeypatch, pick
):
    """export-masks of two videos into one folder, imported into a third: the step asked nothing (the core's refusal
    named --from-video); it now lists both videos to pick one, and imports the masks of the one picked."""
    from dvos_core.io import export_masks
    from dvos_napari import _widgets

    ann, video = annotate, tmp_project.video("plot")
    masks = {}
    for k, vid in enumerate(("field_b", "field_c")):
        v = tmp_project.add_video_array(vid, np.zeros((T, H, W, 3), np.uint8), split="train")
        m = np.zeros((H, W), np.uint8)
        m[3 + k : 9, 4:12] = 1
        v.set_mask(2, m, "manual")
        masks[vid] = m
        export_masks(tmp_project, vid, tmp_path / "both")
    asked = []
    monkeypatch.setattr(
        _widgets.QInputDialog, "getItem", lambda *a, **k: asked.append((a[2], a[3])) or (pick or "", pick is not None)
    )
    first = ann.import_masks(tmp_path / "both")
    wait_job(qtbot, first)
    assert len(asked) == 1 and asked[0][1] == ["field_b", "field_c"], asked
    assert "exported from videos field_b, field_c, none from plot" in asked[0][0]
    if pick is None:
        assert ann.job is first and video.mask(2) is None
        text = ann.messages.text()
        assert "masks not imported" in text and "choose video field_b or field_c in the Project step" in text, text
        return
    wait_job(qtbot, ann.job)
    assert np.array_equal(video.mask(2), masks["field_c"])
