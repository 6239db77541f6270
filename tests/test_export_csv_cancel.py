"""`dvos export-csv` cancelled part-way (Ctrl-C, the cancel token) left the frame and mask PNGs it had written beside
a CSV that did not list them (or no CSV): files a user could not tell from a finished export. They are now written
under hidden partial names and renamed at the end, so a cancelled export leaves the folder as it was."""

import numpy as np
import pytest

from dvos_core.cli import main
from dvos_core.io import export_reference_csv
from dvos_core.progress import Cancelled, CancelToken


@pytest.fixture
def masked(tmp_project):
    rng = np.random.default_rng(0)
    v = tmp_project.add_video_array("plot1", rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8), split="train")
    for t in range(6):
        v.set_mask(t, (rng.random((16, 16)) > 0.5).astype(np.uint8), "manual")
    return v


def _files(folder):
    """{path below ``folder``: its bytes (None for a folder)}, hidden files included."""
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in folder.rglob("*")}


def _cancelled_after_the_first_frame():
    token = CancelToken()

    def progress(done, total, message=""):
        if done >= 1:
            token.cancel()

    return token, progress


def test_a_cancelled_csv_export_leaves_the_folder_as_it_was(tmp_project, masked, tmp_path):
    out = tmp_path / "export"
    token, progress = _cancelled_after_the_first_frame()
    with pytest.raises(Cancelled):  # a new folder: nothing at all is left
        export_reference_csv(tmp_project, out, clip_length=3, progress=progress, cancel=token)
    assert not out.exists()

    export_reference_csv(tmp_project, out, clip_length=2)  # an earlier export: three clips of two frames
    masked.set_mask(0, np.ones((16, 16), np.uint8), "manual")  # its first mask, changed since
    before = _files(out)
    token, progress = _cancelled_after_the_first_frame()
    with pytest.raises(Cancelled):
        export_reference_csv(tmp_project, out, clip_length=3, progress=progress, cancel=token)
    assert _files(out) == before  # no new clip folder, no hidden partial, the earlier files untouched

    csv = export_reference_csv(tmp_project, out, clip_length=3)  # run to the end, it replaces them
    assert (out / "masks" / "plot1-000000" / "plot1_000000.png").is_file() and csv.is_file()
    assert not list(out.rglob(".*"))


def test_export_csv_cancelled_says_nothing_was_written(tmp_project, masked, tmp_path, monkeypatch, capsys):
    from dvos_core.cli import _common

    token, progress = _cancelled_after_the_first_frame()
    monkeypatch.setattr(_common, "cancel_on_sigint", lambda: token)
    monkeypatch.setattr(_common, "TerminalProgress", lambda: progress)
    tmp_project.add_video_array("t", np.zeros((2, 16, 16, 3), np.uint8), split="test")
    out = tmp_path / "export"
    assert main(["export-csv", str(tmp_project.path), str(out), "--clip-length", "3"]) == 130
    err = capsys.readouterr().err
    assert f"nothing was written to {out}" in err and "committed" not in err
    assert "dvos export-csv: warning: left out the test video(s) ['t']" in err  # said before the cancel too
    assert not out.exists()
    monkeypatch.undo()
    assert main(["export-csv", str(tmp_project.path), str(out), "--clip-length", "4"]) == 0
    assert "warning: 2 masked frame(s) were not exported" in capsys.readouterr().err


def test_a_csv_of_absolute_paths_into_a_latin1_folder_is_refused_before_anything_is_written(
    tmp_project, masked, tmp_path
):
    """`export-csv --absolute-paths` into a folder named in Latin-1 bytes wrote every PNG, then failed on the CSV
    with "'utf-8' codec can't encode character '\\udce9'", leaving the PNGs without a CSV. It is refused by name
    first; relative paths (the default) export there."""
    import os

    out = tmp_path / os.fsdecode(b"sortie\xe9")
    with pytest.raises(ValueError, match=r"sortie\\xe9: the folder's name holds bytes that are not UTF-8.*--absolute"):
        export_reference_csv(tmp_project, out, clip_length=3, absolute_paths=True)
    assert not out.exists()
    csv = export_reference_csv(tmp_project, out, clip_length=3)
    assert csv.read_text().splitlines()[1].split(",")[2] == "frames/plot1-000000/plot1_000000.png"


def test_a_csv_that_cannot_be_written_leaves_no_exported_file(tmp_project, masked, tmp_path, monkeypatch):
    """The CSV is written before the PNGs get their names: a CSV write that fails leaves the folder as it was."""
    import pandas as pd

    def full_disk(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk)
    out = tmp_path / "export"
    with pytest.raises(OSError, match="dataset.csv: writing the CSV failed: the disk is full"):
        export_reference_csv(tmp_project, out, clip_length=3)
    assert not out.exists()


def test_a_csv_of_absolute_paths_holds_a_utf8_name_that_python_holds_escaped(tmp_project, masked, tmp_path):
    """Python in an ASCII (C) locale holds 'sortié' as 'sorti\\udcc3\\udca9': the CSV failed with "'utf-8' codec
    can't encode characters ... surrogates not allowed"; it now holds the name's own (UTF-8) bytes."""
    out = tmp_path / "sorti\udcc3\udca9"  # what such a Python makes of the UTF-8 bytes of 'sortié'
    csv = export_reference_csv(tmp_project, out, clip_length=3, absolute_paths=True)
    first = csv.read_text(encoding="utf-8").splitlines()[1].split(",")[2]
    assert first == str(tmp_path / "sortié" / "frames" / "plot1-000000" / "plot1_000000.png")
