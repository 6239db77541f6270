"""Exporting masks again into a folder where someone edited the exported files (export, fix in another program,
import back, as the docs suggest) wrote over those edits in silence. Now a file whose mask is not the one masks.csv
(or the COCO dvos entries) lists, or a file of that name it does not list, is not written over unless asked."""

import json

import cv2
import numpy as np
import pytest

from dvos_core.cli import main
from dvos_core.io import export_masks, import_masks
from dvos_core.store.schema import MANUAL


@pytest.fixture
def video(tmp_project):
    video = tmp_project.add_video_array("plot1", np.zeros((6, 24, 32, 3), np.uint8))
    m = np.zeros((24, 32), np.uint8)
    m[4:10, 4:12] = 1
    for t in (1, 2, 4):
        video.set_mask(t, np.roll(m, t, axis=1), "manual")
    return video


def _edit(path):
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    img[15:20, 20:25] = 255
    cv2.imwrite(str(path), img)
    return img


def test_an_edited_mask_file_is_not_written_over(tmp_project, video, tmp_path, capsys):
    out = tmp_path / "out"
    export_masks(tmp_project, "plot1", out)
    export_masks(tmp_project, "plot1", out)  # as dvos wrote them: written again without a question
    edited = _edit(out / "plot1_000002.png")
    with pytest.raises(ValueError, match=r"plot1_000002\.png \(changed since it was exported\).*--overwrite"):
        export_masks(tmp_project, "plot1", out)
    assert np.array_equal(cv2.imread(str(out / "plot1_000002.png"), cv2.IMREAD_GRAYSCALE), edited)
    # a file of a frame with a mask that masks.csv does not list (made elsewhere) is kept too, by the command
    video.set_mask(3, video.mask(1), "manual")
    cv2.imwrite(str(out / "plot1_000003.png"), np.full((24, 32), 255, np.uint8))
    assert main(["export-masks", str(tmp_project.path), "plot1", str(out)]) == 2
    err = capsys.readouterr().err
    assert "plot1_000003.png (masks.csv does not list it)" in err and "dvos import-masks" in err, err
    assert (cv2.imread(str(out / "plot1_000003.png"), cv2.IMREAD_GRAYSCALE) == 255).all()
    # predictions exported into the folder are refused the same way
    p = np.zeros((24, 32), np.float32)
    p[2:8, 2:8] = 0.9
    video.predictions.set(2, p)
    with pytest.raises(ValueError, match=r"would write over 1 file\(s\).*plot1_000002"):
        export_masks(tmp_project, "plot1", out, which="predictions")
    # imported first, the edits are in the project: exporting again loses nothing
    assert import_masks(tmp_project, "plot1", out, overwrite=True) == [1, 2, 3, 4]
    assert video.provenance[2] == video.provenance[3] == MANUAL
    export_masks(tmp_project, "plot1", out)
    assert np.array_equal(cv2.imread(str(out / "plot1_000002.png"), cv2.IMREAD_GRAYSCALE), edited)
    # --overwrite replaces them
    _edit(out / "plot1_000004.png")
    with pytest.raises(ValueError, match=r"plot1_000004\.png \(changed"):
        export_masks(tmp_project, "plot1", out)
    assert main(["export-masks", str(tmp_project.path), "plot1", str(out), "--overwrite"]) == 0
    assert np.array_equal(cv2.imread(str(out / "plot1_000004.png"), cv2.IMREAD_GRAYSCALE), video.mask(4) * 255)


def test_an_edited_coco_export_is_not_written_over(tmp_project, video, tmp_path):
    (path,) = export_masks(tmp_project, "plot1", tmp_path, fmt="coco")
    export_masks(tmp_project, "plot1", tmp_path, fmt="coco")  # unchanged: written again
    doc = json.loads(path.read_text())
    image = doc["images"][0]["id"]
    doc["annotations"].append(
        {"id": 99, "image_id": image, "category_id": 1, "segmentation": [[20, 15, 25, 15, 25, 20, 20, 20]]}
    )
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"plot1_coco\.json \(image plot1_000001\.png changed since it was exported"):
        export_masks(tmp_project, "plot1", tmp_path, fmt="coco")
    assert len(json.loads(path.read_text())["annotations"]) == len(doc["annotations"])
    doc["annotations"].pop()  # that edit undone; an image added instead
    doc["images"].append({"id": 77, "file_name": "plot1_000005.png", "width": 32, "height": 24})
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"image plot1_000005\.png was added"):
        export_masks(tmp_project, "plot1", tmp_path, fmt="coco", overwrite=False)
    export_masks(tmp_project, "plot1", tmp_path, fmt="coco", overwrite=True)
    assert len(json.loads(path.read_text())["images"]) == 3


def test_predictions_are_not_exported_into_a_folder_of_stored_masks_they_do_not_replace(tmp_project, video, tmp_path):
    """The stored masks' files a predictions export left in the folder were named in a warning saying their frames had
    no mask (they had), masks.csv no longer listed them, and importing the folder took them for manual masks."""
    out = tmp_path / "out"
    export_masks(tmp_project, "plot1", out)
    p = np.zeros((24, 32), np.float32)
    p[2:8, 2:8] = 0.9
    video.predictions.set(2, p)
    with pytest.raises(ValueError, match=r"export of the stored masks of 'plot1' \(2 file\(s\) .*plot1_000001\.png"):
        export_masks(tmp_project, "plot1", out, which="predictions")
    assert sorted(q.name for q in out.iterdir()) == ["masks.csv", *(f"plot1_00000{t}.png" for t in (1, 2, 4))]
    video.predictions.set(5, p)
    pred = tmp_path / "pred"
    export_masks(tmp_project, "plot1", pred, which="predictions")  # frames 2 and 5
    with pytest.raises(ValueError, match=r"export of the predictions of 'plot1' \(1 file\(s\) .*: plot1_000005\.png\)"):
        export_masks(tmp_project, "plot1", pred)  # stored masks of frames 1, 2, 4
    # predictions of fewer frames than an earlier export of predictions: the warning says why, rightly
    video.predictions["other"].start({"kind": "test"}, None)
    video.predictions["other"].set(5, p)
    with pytest.warns(UserWarning, match=r"1 mask file\(s\) .*\(frames these predictions do not cover\): plot1_000002"):
        export_masks(tmp_project, "plot1", pred, which="predictions", model="other")
