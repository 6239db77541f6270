"""Exports into folders of frames a video was imported from are refused before anything is written."""

import cv2
import numpy as np
import pytest

from dvos_core.io import import_video
from dvos_core.io.csv_layout import export_reference_csv
from dvos_core.io.masks import export_masks


def _frames_folder(folder, name, n=3):
    folder.mkdir(parents=True)
    for k in range(n):
        cv2.imwrite(str(folder / f"{name}_{k:06d}.png"), np.full((32, 48, 3), 100 + 20 * k, np.uint8))
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _with_mask(project, vid):
    m = np.zeros((32, 48), np.uint8)
    m[5:15, 5:15] = 1
    for t in range(3):
        project.video(vid).set_mask(t, m, provenance="manual")


def test_export_masks_into_the_footage_folder_is_refused(tmp_project, tmp_path):
    """export-masks writes ``<video>_<frame>.png``: into the folder the video came from it replaced the frames of
    the same names (the names export-csv gives them) and mixed masks into the footage."""
    folder = tmp_path / "plotA"
    before = _frames_folder(folder, "plotA")
    import_video(tmp_project, folder, "plotA")
    _with_mask(tmp_project, "plotA")
    with pytest.raises(ValueError, match="holds the frames video 'plotA' was imported from"):
        export_masks(tmp_project, "plotA", folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert export_masks(tmp_project, "plotA", tmp_path / "out")  # another folder is fine, also beside the footage
    assert export_masks(tmp_project, "plotA", tmp_path)


def test_export_csv_over_footage_below_its_folder_is_refused(tmp_project, tmp_path):
    """export-csv writes under ``frames/`` and ``masks/``: a video imported from a folder of an earlier export would
    be written over."""
    out = tmp_path / "exported"
    before = _frames_folder(out / "frames" / "plotA-000000", "plotA")
    import_video(tmp_project, out / "frames" / "plotA-000000", "plotA")
    _with_mask(tmp_project, "plotA")
    with pytest.raises(ValueError, match="holds the frames video 'plotA' was imported from"):
        export_reference_csv(tmp_project, out, clip_length=3)
    assert {p.name: p.read_bytes() for p in (out / "frames" / "plotA-000000").iterdir()} == before
    assert not (out / "dataset.csv").exists()
    assert export_reference_csv(tmp_project, tmp_path / "elsewhere", clip_length=3).exists()


def test_export_csv_over_the_csv_a_video_came_from_is_refused(tmp_project, tmp_path):
    """A video imported from a reference CSV records the CSV as its source: exporting into that CSV's folder
    replaced it."""
    from dvos_core.io.csv_layout import import_reference_csv
    from dvos_core.store import Project

    src = Project.create(tmp_path / "first.dvos")
    src.add_video_array("plotA", np.full((3, 32, 48, 3), 90, np.uint8))
    _with_mask(src, "plotA")
    csv = export_reference_csv(src, tmp_path / "shared", clip_length=3)
    before = csv.read_bytes()
    import_reference_csv(tmp_project, csv)
    with pytest.raises(ValueError, match="dataset.csv: is the file video .* was imported from"):
        export_reference_csv(tmp_project, tmp_path / "shared", clip_length=3)
    assert csv.read_bytes() == before
