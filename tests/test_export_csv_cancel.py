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
    out = tmp_path / "export"
    assert main(["export-csv", str(tmp_project.path), str(out), "--clip-length", "3"]) == 130
    err = capsys.readouterr().err
    assert f"nothing was written to {out}" in err and "committed" not in err
    assert not out.exists()
