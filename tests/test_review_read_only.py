"""The Review step's Evaluate and Compare on a project that cannot be written (a read-only disk, no permission)
failed with the core's error, which told the user to score without saving a report - a setting the panel does not
have. They now score it and show the result, with a warning that no report was saved; other write errors (another
writer, ...) are still raised."""

import errno

import numpy as np
import pytest

from dvos_core.store import Project
from dvos_core.store.schema import StoreWriteError
from dvos_napari._tasks import compare_shown, evaluate_shown


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    v = p.add_video_array("t", np.zeros((3, 32, 32, 3), np.uint8), split="test")
    m = np.zeros((32, 32), np.uint8)
    m[4:20, 4:20] = 1
    for t in range(3):
        v.set_mask(t, m, "manual")
    v.predictions["m"].start({"kind": "test"}, None)
    v.predictions["m"].set_many(range(3), np.stack([m, m, 0 * m]).astype(np.float32))
    return p


def _unwritable(project, monkeypatch, code):
    def refuse(operation="write"):
        raise StoreWriteError(f"{project.path}: cannot take the writer lock", code)

    monkeypatch.setattr(project, "check_writable", refuse)


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_a_project_that_cannot_be_written_is_scored_without_a_report(project, monkeypatch, code):
    _unwritable(project, monkeypatch, code)
    with pytest.warns(UserWarning, match="no report is saved"):
        rep = evaluate_shown(project, model="m")
    assert rep.path is None and rep.overall["n_frames"] == 3 and rep.overall["dice"] == pytest.approx(2 / 3, abs=0.01)
    with pytest.warns(UserWarning, match="no report is saved"):
        cmp = compare_shown(project, ["m"])
    assert cmp.path is None and cmp.table.model.iloc[0] == "m"
    assert not (project.path / "reports").exists() or not any((project.path / "reports").iterdir())


def test_other_write_errors_are_still_raised_and_a_writable_project_saves_its_report(project, monkeypatch):
    rep = evaluate_shown(project, model="m")
    assert rep.path is not None and (rep.path / "overall.json").exists()
    _unwritable(project, monkeypatch, errno.ENOLCK)
    with pytest.raises(StoreWriteError):
        evaluate_shown(project, model="m")
