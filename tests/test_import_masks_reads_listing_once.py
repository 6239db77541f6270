"""`dvos import-masks` of a folder export-masks wrote read its masks.csv three times (the videos it lists, their
source frames, their provenances); it is read once and its rows passed along, with the same result."""

import builtins
import io
import os

import numpy as np
import pytest

from dvos_core.cli import main
from dvos_core.io import export_masks


@pytest.fixture
def exported(tmp_project, tmp_path):
    rng = np.random.default_rng(0)
    v = tmp_project.add_video_array("plot", rng.integers(0, 256, (6, 24, 32, 3), dtype=np.uint8), split="train")
    masks = (rng.random((6, 24, 32)) > 0.6).astype(np.uint8)
    v.set_mask(1, masks[1], "manual")
    v.set_mask(3, masks[3], "pseudo")
    export_masks(tmp_project, "plot", tmp_path / "out")
    v.clear_masks(["manual", "pseudo"])
    return v, masks, tmp_path / "out"


@pytest.fixture
def listing_opens(monkeypatch):
    """The opens of a file named masks.csv, counted."""
    opened = []
    real = builtins.open

    def counting(file, *a, **k):
        if isinstance(file, (str, os.PathLike)) and os.fspath(file).endswith("masks.csv"):
            opened.append(os.fspath(file))
        return real(file, *a, **k)

    monkeypatch.setattr(builtins, "open", counting)
    monkeypatch.setattr(io, "open", counting)
    return opened


def test_import_masks_reads_the_folders_masks_csv_once(tmp_project, exported, listing_opens, capsys):
    video, masks, out = exported
    assert main(["import-masks", str(tmp_project.path), "plot", str(out)]) == 0
    assert listing_opens == [str(out / "masks.csv")]
    assert "wrote 2 masks (1 manual, 1 pseudo)" in capsys.readouterr().out  # the provenances it lists, as before
    assert np.array_equal(video.mask(1), masks[1]) and np.array_equal(video.mask(3), masks[3])


def test_a_listing_refused_for_the_video_is_still_said_after_one_read(tmp_project, exported, listing_opens, capsys):
    video, _masks, out = exported
    tmp_project.set_split("plot", "test")  # a test video takes manual masks only; the list says one is pseudo
    assert main(["import-masks", str(tmp_project.path), "plot", str(out)]) == 2
    err = capsys.readouterr().err
    assert "'pseudo': what" in err and "masks.csv lists" in err, err
    assert listing_opens == [str(out / "masks.csv")]
    assert video.provenance_counts().get("manual", 0) == 0
