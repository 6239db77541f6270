"""What a checkpoint given on the command line (``dvos predict PROJECT CKPT``, ``--init-from``) resolves to: a model
folder given by a bare relative name, the project folder itself, and a project model sharing a folder's name."""

from __future__ import annotations

import shutil
import warnings

import pytest

from dvos_core.infer.engine import resolve_checkpoint_path
from dvos_core.model import CheckpointError, build_model, save_checkpoint
from dvos_core.store import Project
from dvos_core.train.loop import init_checkpoint_path


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = Project.create(tmp_path / "p.dvos")
    save_checkpoint(p.model_dir("img", create=True) / "best.pt", build_model("tiny", "frame"))
    return p


def test_a_model_folder_by_a_bare_name_is_its_best_pt(project, tmp_path):
    shutil.copytree(project.model_dir("img"), tmp_path / "imgcopy")
    want = tmp_path / "imgcopy" / "best.pt"
    assert resolve_checkpoint_path(project, "imgcopy").resolve() == want
    assert resolve_checkpoint_path(project, "./imgcopy").resolve() == want
    assert init_checkpoint_path(project, "imgcopy") == str(want)  # dvos train --init-from imgcopy


def test_the_project_folder_by_a_bare_name_is_refused_as_a_project(project):
    for spec in ("p.dvos", "p.dvos/models"):
        with pytest.raises(CheckpointError, match=r"project.*not a model; give one of its models: p.dvos/models/img"):
            resolve_checkpoint_path(project, spec)
    with pytest.raises(CheckpointError, match=r"p\.dvos: a dvos project, not a model"):
        init_checkpoint_path(project, "p.dvos")


def test_a_folder_that_is_no_model_keeps_the_unknown_model_error(project, tmp_path):
    (tmp_path / "masks").mkdir()  # e.g. masks exported here
    with pytest.raises(FileNotFoundError, match=r"no model 'masks' .*models there: \['img'\]\); the folder .*masks"):
        resolve_checkpoint_path(project, "masks")


def test_the_project_model_wins_over_a_folder_of_its_name_and_says_so(project, tmp_path):
    save_checkpoint(tmp_path / "img" / "best.pt", build_model("tiny", "frame"))
    with pytest.warns(UserWarning, match=r"the project's model 'img' .* is used, not the model folder .*give \./img"):
        assert resolve_checkpoint_path(project, "img") == project.model_dir("img") / "best.pt"
    assert resolve_checkpoint_path(project, "./img").resolve() == tmp_path / "img" / "best.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # run inside the models folder: the folder is the model itself, no warning
        (tmp_path / "img" / "best.pt").unlink()
        (tmp_path / "img").rmdir()
        assert resolve_checkpoint_path(project, "img") == project.model_dir("img") / "best.pt"
