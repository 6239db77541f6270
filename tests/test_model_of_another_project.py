"""Predictions made in project B by a model of project A (last season's) record the file's absolute path and that
it lies outside B: from any working folder, and after A moves, B's own model of the same name is never taken for it
(the 'earlier version' warning, the command that finishes a stopped set)."""

import shutil
import warnings

import numpy as np
import pytest
import torch

from dvos_core.cli import main as dvos
from dvos_core.evaluate import evaluate
from dvos_core.infer import predict_video
from dvos_core.model import build_model, save_checkpoint
from dvos_core.store import Project
from dvos_core.store.notes import unfinished_note
from dvos_core.store.project import _prediction_sets


def _project(path) -> Project:
    p = Project.create(path)
    v = p.add_video_array("plot", np.random.default_rng(0).integers(0, 255, (4, 32, 32, 3), np.uint8), split="test")
    m = np.zeros((32, 32), np.uint8)
    m[5:15, 5:15] = 1
    for t in range(4):
        v.set_mask(t, m, "manual")
    return p


def _model(p: Project, name: str, seed: int):
    torch.manual_seed(seed)
    best = p.model_dir(name, create=True) / "best.pt"
    save_checkpoint(best, build_model("tiny", "frame"), phase="image")
    return best


def test_a_model_of_another_project_is_recorded_as_such(tmp_path, monkeypatch, capsys):
    a, b = _project(tmp_path / "a" / "field.dvos"), _project(tmp_path / "b" / "field.dvos")
    _model(a, "img", 0)
    monkeypatch.chdir(tmp_path)  # the paths typed are relative to this folder
    predict_video(b, "plot", "a/field.dvos/models/img/best.pt", device="cpu", frames=[0, 1])
    attrs = b.video("plot").predictions["img"].attrs
    assert attrs["checkpoint"] == str(tmp_path / "a/field.dvos/models/img/best.pt")
    assert attrs["checkpoint_in_project"] is False
    own = _model(b, "img", 1)  # B trains a model of the same name
    predict_video(b, "plot", "b/field.dvos/models/img/best.pt", device="cpu", name="own", frames=[0])
    assert b.video("plot").predictions["own"].attrs["checkpoint_in_project"] is True

    monkeypatch.chdir(tmp_path / "b")  # another working folder: A's file is still found, and is unchanged
    assert b.video("plot").predictions["img"].outdated() is None
    _model(a, "img", 2)  # A's model trained again: the warning names A's file, not B's model
    assert b.video("plot").predictions["img"].outdated() == str(tmp_path / "a/field.dvos/models/img/best.pt")

    info = Project.open(tmp_path / "b/field.dvos").summary()["videos"][0]
    assert info["predicted_by_other_projects"] == {"img": str(tmp_path / "a/field.dvos/models/img/best.pt")}
    assert dvos(["info", str(tmp_path / "b/field.dvos")]) == 0
    said = capsys.readouterr().out
    assert f"img: made by {tmp_path / 'a/field.dvos/models/img/best.pt'} (a model of another project)" in said
    assert "own: made by" not in said
    shutil.move(tmp_path / "a", tmp_path / "a_2025")  # A archived: nothing to compare with, B's img is not blamed
    set_b = Project.open(tmp_path / "b/field.dvos").video("plot").predictions["img"]
    assert set_b.outdated() is None and own.is_file()
    d = _prediction_sets(set_b.video, ["img"])[0]["img"]
    note = unfinished_note(tmp_path / "b/field.dvos", "plot", "img", d)
    assert f"dvos predict {tmp_path / 'b/field.dvos'} {tmp_path / 'a/field.dvos/models/img/best.pt'}" in note
    assert " --name img" in note  # the set keeps its name, whatever the file's name gives


def test_a_model_of_the_project_is_followed_when_the_project_moves(tmp_path, monkeypatch):
    b = _project(tmp_path / "b.dvos")
    best = _model(b, "img", 0)
    predict_video(b, "plot", best, device="cpu", frames=[0, 1])
    _model(b, "img", 1)  # trained again
    shutil.move(tmp_path / "b.dvos", tmp_path / "moved.dvos")
    monkeypatch.chdir(tmp_path)
    moved = Project.open(tmp_path / "moved.dvos")
    s = moved.video("plot").predictions["img"]
    assert s.outdated() == str(tmp_path / "moved.dvos/models/img/best.pt")
    with pytest.warns(UserWarning) as caught:
        evaluate(moved, "plot", model="img")
    assert any(f"predict again (`dvos predict {moved.path} img --videos plot " in str(w.message) for w in caught)
    note = unfinished_note(moved.path, "plot", "img", _prediction_sets(s.video, ["img"])[0]["img"])
    assert f"dvos predict {moved.path} img --videos plot" in note
    predict_video(moved, "plot", "moved.dvos/models/img/best.pt", device="cpu", replace=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluate(moved, "plot", model="img")


def test_the_image_model_of_a_stopped_dvos_set_is_named_by_its_file(tmp_path):
    """The paper's model takes its first frames from --image-model: once the other project holding it was archived,
    the command that finishes the set named this project's own, different 'image' model."""
    a, b = _project(tmp_path / "old.dvos"), _project(tmp_path / "new.dvos")
    image = _model(a, "image", 0)
    _model(b, "image", 1)
    video = b.model_dir("vid", create=True) / "best.pt"
    save_checkpoint(video, build_model("tiny", "dvos", tau=2), phase="synthetic")
    predict_video(b, "plot", video, image_checkpoint=image, device="cpu", frames=[0, 1])
    attrs = b.video("plot").predictions["vid"].attrs
    assert attrs["image_checkpoint"] == str(image) and attrs["image_checkpoint_in_project"] is False
    shutil.move(tmp_path / "old.dvos", tmp_path / "archive.dvos")
    d = _prediction_sets(b.video("plot"), ["vid"])[0]["vid"]
    note = unfinished_note(b.path, "plot", "vid", d)
    assert f"dvos predict {b.path} vid --videos plot --image-model {image}" in note


def test_replacing_a_set_in_a_copied_project_names_the_copys_model(tmp_path):
    """A project copied (cp -r), its model trained again in the copy and predicted again: the warning that the set
    is replaced named the original project's file, and missed that the copy's model had been trained again."""
    a = _project(tmp_path / "a.dvos")
    _model(a, "img", 0)
    predict_video(a, "plot", a.path / "models/img/best.pt", device="cpu")
    shutil.copytree(tmp_path / "a.dvos", tmp_path / "b.dvos")
    b = Project.open(tmp_path / "b.dvos")
    best = _model(b, "img", 1)  # trained again in the copy
    with pytest.warns(UserWarning, match="are replaced by this run's") as caught:
        predict_video(b, "plot", best, device="cpu", replace=True)
    said = [str(w.message) for w in caught if "are replaced" in str(w.message)]
    assert f"made by an earlier version of {best} (trained again since)" in said[0]
    assert str(tmp_path / "a.dvos") not in said[0]


def test_a_video_folder_copied_from_another_project_names_that_projects_model(tmp_path, capsys):
    """A video folder copied from project Q into project P (both with a model 'img'): its set said it was "made by
    an earlier version of P/models/img/best.pt (trained again since)", though Q's model made it. It names Q's file
    now, as a model of another project; a copy of the whole project still follows the copy's own model (above)."""
    import json

    q, p = _project(tmp_path / "q.dvos"), _project(tmp_path / "p.dvos")
    meta = json.loads((q.path / "zarr.json").read_text())
    meta["attributes"]["created"] = "2025-04-01T08:00:00+00:00"  # made on another day (not in the same second)
    (q.path / "zarr.json").write_text(json.dumps(meta))
    made_by = _model(q, "img", 0)
    predict_video(q, "plot", made_by, device="cpu", frames=[0, 1])
    _model(p, "img", 1)
    shutil.copytree(q.path / "videos/plot", p.path / "videos/plot_q")
    s = Project.open(p.path, "r").video("plot_q").predictions["img"]
    assert s.outdated() is None  # Q's model is as it was
    row = next(v for v in Project.open(p.path, "r").summary()["videos"] if v["id"] == "plot_q")
    assert row["predictions_outdated"] == {} and row["predicted_by_other_projects"] == {"img": str(made_by)}
    assert dvos(["info", str(p.path)]) == 0
    said = capsys.readouterr().out
    assert f"img: made by {made_by} (a model of another project)" in said and "trained again since" not in said
    _model(q, "img", 2)  # Q's model trained again: its file is named
    assert s.outdated() == str(made_by)
