"""Leftovers of killed writes found by the second kill-fuzz round: a killed delete of predictions leaves its set in
the trash until the next write (a rerun of the delete, which finds nothing to delete, now clears it); a CSV export
killed while writing the CSV leaves the old CSV whole."""

import numpy as np
import pandas as pd
import pytest

from dvos_core.io.csv_layout import export_reference_csv
from dvos_core.store import Project
from dvos_core.store.fsops import TRASH
from dvos_core.store.schema import NotInStoreError


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "field.dvos")
    v = p.add_video_array("v", np.zeros((6, 16, 16, 3), np.uint8), split="train")
    mask = np.zeros((16, 16), np.uint8)
    mask[4:9, 4:9] = 1
    for t in range(6):
        v.set_mask(t, mask, "manual")
    return p


def test_rerun_of_a_killed_delete_of_predictions_clears_the_trash(project):
    moved = project.path / TRASH / "img-0123"  # the set a killed delete had moved before it could remove it
    moved.mkdir(parents=True)
    (moved / "probability").write_bytes(b"x" * 1000)
    with pytest.raises(NotInStoreError, match="holds predictions"):
        project.delete_predictions("img", ["v"])  # nothing left to delete: said, and the trash is gone
    assert not (project.path / TRASH).exists()


def test_a_csv_export_stopped_while_writing_the_csv_keeps_the_old_one(project, tmp_path, monkeypatch):
    out = tmp_path / "export"
    csv = export_reference_csv(project, out, clip_length=3)
    old = csv.read_bytes()

    def half_then_killed(self, path, **kw):
        with open(path, "w") as f:
            f.write("VID,FID\n1,")
        raise KeyboardInterrupt  # the process stopped half-way through the CSV

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_killed)
    with pytest.raises(KeyboardInterrupt):
        export_reference_csv(project, out, clip_length=2)
    assert csv.read_bytes() == old
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
