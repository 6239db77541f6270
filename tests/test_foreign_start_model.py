"""A run started from another project's model (last season's) is told from one started from this project's own
model of the same name, and records that model by its absolute path; a model folder (or a project) given where a
checkpoint is expected is taken (its best.pt) or named; a model folder whose name dvos cannot use is named."""

import shutil

import pytest
import torch
import yaml
from conftest import tiny_train_config

from dvos_core.data.toy import make_toy_project
from dvos_core.model import build_model, read_checkpoint, save_checkpoint
from dvos_core.store import Project
from dvos_core.store.fsops import own_model_file, same_checkpoint
from dvos_core.train import ResumeRefused, train
from dvos_core.train.loop import began_in_project, settings_refusal

torch.set_num_threads(1)


def _config(init_from, **kw):
    return tiny_train_config(**{"phase": "synthetic", "size": 64, "init_from": init_from, **kw})


def _image_model(path, seed):
    torch.manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, build_model("tiny", "frame"), kind="frame", input_size=64)
    return path


def test_another_projects_moved_model_is_not_taken_for_this_projects_own(tmp_path, monkeypatch):
    last = Project.create(tmp_path / "X" / "season1" / "field.dvos")
    foreign = _image_model(last.model_dir("image") / "best.pt", 0)
    project = make_toy_project(tmp_path / "X" / "season2" / "field.dvos", n_clips=4, n_frames=6, size=64, n_videos=0)
    own = _image_model(project.model_dir("image") / "best.pt", 1)
    monkeypatch.chdir(tmp_path / "X")
    train(project, _config("season1/field.dvos/models/image/best.pt"), "ft3", resume=False)

    # recorded by its absolute path (not as typed, relative to the folder the command ran in)
    folder = project.model_dir("ft3")
    assert yaml.safe_load((folder / "config.yaml").read_text())["init_from"] == str(foreign)
    info = read_checkpoint(folder / "last.pt")["info"]
    assert info["train_config"]["init_from"] == str(foreign) == info["init"]["init_from"]
    assert info["init"]["in_project"] is False

    _image_model(own, 2)  # this project's own image model trained again
    shutil.move(str(tmp_path / "X" / "season1"), str(tmp_path / "archive"))  # last season archived
    with pytest.raises(ResumeRefused) as e:
        train(project, _config("image", epochs=2), "ft3")
    message = str(e.value)
    assert "changed since" not in message and "trained again" not in message
    assert f"it began from another project's model, {foreign}, which is not there now" in message

    # this project's own model, the project moved: still the same model (trained again: said so)
    train(project, _config(own), "own", resume=False)
    moved = Project.open(shutil.move(str(project.path), str(tmp_path / "moved.dvos")))
    _image_model(moved.model_dir("image") / "best.pt", 3)
    with pytest.raises(ResumeRefused, match=r"started from .*moved\.dvos/models/image/best\.pt as that file was then"):
        train(moved, _config("image", epochs=2), "own")


def test_same_checkpoint_and_own_model_file_tell_own_models_from_other_projects(tmp_path, monkeypatch):
    root = tmp_path / "p.dvos"
    f = root / "models" / "image" / "best.pt"
    f.parent.mkdir(parents=True)
    f.write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    gone = "/gone/old.dvos/models/image/best.pt"
    assert same_checkpoint(gone, f, inside=True, root=root)  # this project's, recorded before it moved
    assert not same_checkpoint(gone, f, inside=False, root=root)  # another project's, moved away
    assert same_checkpoint("models/image/best.pt", f, root=root)  # recorded relative to the project
    assert not same_checkpoint(gone, tmp_path / "other.dvos/models/image/best.pt", inside=True, root=root)

    assert own_model_file(root, "models/image/best.pt") == f
    assert own_model_file(root, str(f)) == f
    assert own_model_file(root, gone) is None  # another folder's file, gone: not this project's model
    assert own_model_file(root, gone, inside=True) == f
    assert own_model_file(root, gone, inside=False) is None


def test_a_run_recorded_before_in_project_was_kept_is_told_by_its_projects_path(tmp_path):
    project = "/x/season2/field.dvos"
    data = {"project": project}
    assert began_in_project("/x/season2/field.dvos/models/image/best.pt", {}, data) is True
    assert began_in_project("/x/season1/field.dvos/models/image/best.pt", {}, data) is False
    assert began_in_project("season1/field.dvos/models/image/best.pt", {}, data) is False  # as typed then
    assert began_in_project("season2/field.dvos/models/image/best.pt", {}, data) is True
    assert began_in_project("/x/season1/field.dvos/models/image/best.pt", {"in_project": True}, data) is True
    assert began_in_project("/x/a.pt", {}, {}) is None

    # an older record of a foreign start model, spelt from the working folder: the refusal says so
    now = tmp_path / "p.dvos" / "models" / "image" / "best.pt"
    now.parent.mkdir(parents=True)
    now.write_bytes(b"y")
    saved = {**_config("season1/field.dvos/models/image/best.pt").to_dict()}
    why = settings_refusal(tmp_path / "p.dvos" / "models" / "ft", _config(now), saved, False, {"sha256": "0"}, data)
    assert "trained again" not in why and "(as typed then, from the folder the run was started in)" in why


def test_a_model_folder_is_its_best_pt_and_a_project_lists_its_models(tmp_path, monkeypatch):
    from dvos_core.infer.engine import checkpoint_in, resolve_checkpoint_path
    from dvos_core.model import CheckpointError
    from dvos_core.model.install import copy_model

    a = make_toy_project(tmp_path / "A.dvos", n_clips=4, n_frames=6, size=64, n_videos=0)
    best = _image_model(a.model_dir("image") / "best.pt", 0)
    monkeypatch.chdir(tmp_path)
    train(a, _config("A.dvos/models/image"), "ft", resume=False)  # a model folder: its best.pt
    assert read_checkpoint(a.model_dir("ft") / "last.pt")["info"]["init"]["init_from"] == str(best)
    assert resolve_checkpoint_path(a, "A.dvos/models/image").resolve() == best
    assert checkpoint_in(a, "A.dvos/models/image").resolve() == best

    c = Project.create(tmp_path / "C.dvos")
    listed = r"give one of its models: A.dvos/models/ft, A.dvos/models/image"
    with pytest.raises(CheckpointError, match=rf"A.dvos: a dvos project, not a model; {listed}"):
        copy_model(c, "A.dvos")
    with pytest.raises(CheckpointError, match=r"A.dvos/models: the models folder of the dvos project .*A.dvos, not"):
        resolve_checkpoint_path(c, "A.dvos/models")


def test_a_model_folder_with_a_name_dvos_cannot_use_is_named(tmp_path, capsys):
    from dvos_core.cli import main
    from dvos_core.infer.engine import resolve_checkpoint_path
    from dvos_core.store.check import check_project

    p = Project.create(tmp_path / "p.dvos")
    _image_model(p.path / "models" / "bad name" / "best.pt", 0)
    rename = f"rename the folder, e.g. `mv '{p.path}/models/bad name' {p.path}/models/bad_name`"
    assert main(["info", str(p.path)]) == 0
    assert rename in capsys.readouterr().out
    assert any(rename in f.message for f in check_project(p, models=False))
    with pytest.raises(FileNotFoundError, match=r"'bad name' is no model name dvos can use"):
        resolve_checkpoint_path(p, "bad name")


def test_only_lr_changed_names_lr_and_an_unknown_preset_is_recorded(tmp_path):
    start = tmp_path / "img.pt"
    start.write_bytes(b"x")
    began = _config(start, lr=1e-4).to_dict()
    why = settings_refusal(tmp_path, _config(start, lr=1e-3), began, False, None)
    assert "lr: 0.0001 when it began, now 0.001" in why and "eta_min" not in why

    from dvos_core.model.presets import get_config

    project = make_toy_project(tmp_path / "toy.dvos", n_clips=4, n_frames=6, size=64, n_videos=0)
    ckpt = project.model_dir("image", create=True) / "best.pt"
    custom = get_config("tiny").replace(name="custom")
    save_checkpoint(ckpt, build_model(custom, "frame"), kind="frame", input_size=64)
    train(project, _config(ckpt, preset="small"), "ft", resume=False)
    assert yaml.safe_load((project.model_dir("ft") / "config.yaml").read_text())["preset"] == "custom"


def test_two_start_paths_are_named_whole_in_a_refusal(tmp_path):
    """Paths with a long common beginning (/home/u/projects/...) read the same cut to 40 characters: "init_from:
    '/tmp/.../wheat_field_trials_l... when it began, now '/tmp/.../wheat_field_trials_l..."."""
    deep = tmp_path / ("wheat_field_trials_long_folder_name" * 2)
    a, b = deep / "s2025.dvos" / "img.pt", deep / "s2026.dvos" / "img.pt"
    for f in (a, b):
        f.parent.mkdir(parents=True)
        f.write_bytes(f.parent.name.encode())
    why = settings_refusal(tmp_path, _config(b), _config(a).to_dict(), False, None)
    assert f"init_from: {str(a)!r} when it began, now {str(b)!r}" in why
