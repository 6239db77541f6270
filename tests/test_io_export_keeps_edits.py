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


def _listed(out):
    import csv

    with open(out / "masks.csv", newline="") as f:
        return {r["file"]: r for r in csv.DictReader(f)}


def _truthful(out):
    """Every file masks.csv lists holds the mask (digest) and kind it says."""
    from dvos_core.io.masks import mask_digest

    for name, row in _listed(out).items():
        assert mask_digest(cv2.imread(str(out / name), cv2.IMREAD_GRAYSCALE)) == row["mask_digest"], name


def _with_predictions(tmp_project, n=12):
    video = tmp_project.add_video_array("plot2", np.zeros((n, 24, 32, 3), np.uint8))
    for t in range(n):
        m = np.zeros((24, 32), np.uint8)
        m[2:8, t : t + 6] = 1
        video.set_mask(t, m, "manual")
        p = np.zeros((24, 32), np.float32)
        p[12:20, t : t + 4] = 0.9
        video.predictions["m"].set(t, p)
    return video


def test_a_stopped_export_leaves_the_folder_as_its_masks_csv_says(tmp_project, tmp_path, capsys):
    """A stopped export (a cancel, Ctrl+C) wrote prediction masks over the first files while masks.csv still listed
    the stored masks there: the next export refused them as edited, with advice to import predictions as manual
    masks. Now a stopped export leaves the folder and its masks.csv as they were."""
    from dvos_core.progress import Cancelled, CancelToken

    _with_predictions(tmp_project)
    out = tmp_path / "exc"
    export_masks(tmp_project, "plot2", out)
    before = {q.name: q.read_bytes() for q in out.iterdir()}
    token = CancelToken()

    def progress(done, total, message):
        if done == 5:
            token.cancel()

    with pytest.raises(Cancelled):
        export_masks(tmp_project, "plot2", out, which="predictions", model="m", progress=progress, cancel=token)
    assert {q.name: q.read_bytes() for q in out.iterdir()} == before  # no temporary file left either
    _truthful(out)
    export_masks(tmp_project, "plot2", out)  # not refused as edited files

    # stopped by an error while the files get their names: the ones named are listed as what they now hold
    import dvos_core.io.masks as masks

    real, calls = masks.os.replace, []

    def replace(a, b):
        if str(b).endswith(".png"):
            calls.append(b)
            if len(calls) == 4:
                raise KeyboardInterrupt
        real(a, b)

    masks.os.replace = replace
    try:
        with pytest.raises(KeyboardInterrupt):
            export_masks(tmp_project, "plot2", out, which="predictions", model="m")
    finally:
        masks.os.replace = real
    _truthful(out)
    assert {r["provenance"] for r in _listed(out).values()} == {"predicted"} and len(_listed(out)) == 3
    assert not [q for q in out.iterdir() if q.name.startswith(".")]
    # the command: Ctrl+C (or SIGTERM) cancels it, and it says nothing was written
    import signal

    def stop(done, total, message):
        if done == 3:
            signal.raise_signal(signal.SIGINT)

    export_masks(tmp_project, "plot2", out, which="predictions", model="m", overwrite=True)
    before = {q.name: q.read_bytes() for q in out.iterdir()}
    from dvos_core.cli import _common

    real_progress = _common.TerminalProgress
    _common.TerminalProgress = lambda: stop
    try:
        rc = main(["export-masks", str(tmp_project.path), "plot2", str(out)])
    finally:
        _common.TerminalProgress = real_progress
    err = capsys.readouterr().err
    assert rc == 130 and "no mask was written" in err, err
    assert {q.name: q.read_bytes() for q in out.iterdir()} == before
