"""The commands dvos suggests to make a prediction set again (`dvos info`'s out-of-date note, the warning of a
command that reads an out-of-date set, the note after training a model again) were refused when followed: since
`dvos predict` keeps a set made by another checkpoint (or the model trained again) unless given --replace, they now
carry --replace. The command that finishes an unfinished set resumes it and carries none - unless it cannot resume
(its checkpoint trained again since, or a set from an older store)."""

import shlex
import warnings

import numpy as np
import pytest
import torch

from dvos_core.cli import main as dvos
from dvos_core.infer import predict_video
from dvos_core.model import build_model, save_checkpoint
from dvos_core.store import Project
from dvos_core.store.notes import outdated_note, outdated_warning, retrained_note, unfinished_note
from dvos_core.store.project import _prediction_sets, outdated_record

torch.set_num_threads(1)


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("v", np.random.default_rng(0).integers(0, 255, (3, 32, 32, 3), np.uint8))
    torch.manual_seed(0)
    save_checkpoint(p.model_dir("img", create=True) / "best.pt", build_model("tiny", "frame"), phase="image")
    return p


def _train_again(project):
    torch.manual_seed(5)
    save_checkpoint(project.model_dir("img") / "best.pt", build_model("tiny", "frame"), phase="image")


def _run(command: str, capsys) -> None:
    """Run a suggested command as printed (on the CPU); it must predict, not refuse."""
    assert command.startswith("dvos predict ")
    capsys.readouterr()
    assert dvos([*shlex.split(command)[1:], "--device", "cpu"]) == 0
    assert "predicted 3 frames" in capsys.readouterr().out


def _in_backticks(text: str, after: str) -> str:
    return text.split(after)[1].split("`")[0]


@pytest.mark.parametrize("how", ["note", "warning", "retrained"])
def test_the_command_that_makes_an_out_of_date_set_again_is_not_refused(project, capsys, how):
    ckpt = project.model_dir("img") / "best.pt"
    predict_video(project, "v", ckpt, device="cpu", threshold=0.4)
    _train_again(project)
    d = outdated_record(project.video("v").predictions["img"])
    if how == "note":
        text = outdated_note(project.path, "v", "img", d)
        command = _in_backticks(text, "make it again with `")
    elif how == "warning":
        text = outdated_warning(project.path, "img", d, ["v"], "its scores are the earlier model's", "to score it")
        command = _in_backticks(text, "predict again (`")
    else:
        text = retrained_note(project, ckpt)
        command = _in_backticks(text, "'img' in v (`")
    assert command.endswith(" --replace") and "--threshold 0.4" in command
    _run(command, capsys)
    assert outdated_record(project.video("v").predictions["img"]) is None  # made again by the model as it is


def test_the_command_that_finishes_an_unfinished_set_resumes_without_replace(project, capsys):
    ckpt = project.model_dir("img") / "best.pt"
    predict_video(project, "v", ckpt, device="cpu", frames=[0])
    note = unfinished_note(project.path, "v", "img", _prediction_sets(project.video("v"), ["img"])[0]["img"])
    command = _in_backticks(note, "finish it with `")
    assert "--replace" not in command and note.endswith("(it resumes)")
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # resumed: nothing replaced
        assert dvos([*shlex.split(command)[1:], "--device", "cpu"]) == 0
    assert "predicted 2 frames" in capsys.readouterr().out


def test_an_unfinished_set_whose_model_was_trained_again_is_made_again_with_replace(project, capsys):
    """It said 'finish it with ... (it resumes)', and the command was refused (another version of the model)."""
    ckpt = project.model_dir("img") / "best.pt"
    predict_video(project, "v", ckpt, device="cpu", frames=[0])
    _train_again(project)
    note = unfinished_note(project.path, "v", "img", _prediction_sets(project.video("v"), ["img"])[0]["img"])
    assert f"made by an earlier version of {ckpt} (trained again since)" in note
    command = _in_backticks(note, "make it again with `")
    assert command.endswith(" --replace") and note.endswith("(every frame is predicted again)")
    capsys.readouterr()
    assert dvos(["info", str(project.path)]) == 0
    assert capsys.readouterr().out.count(command) == 1  # said once (an out-of-date note said it again)
    _run(command, capsys)


def test_an_unfinished_set_from_an_older_store_is_finished_with_replace(project, capsys):
    ckpt = project.model_dir("img") / "best.pt"
    predict_video(project, "v", ckpt, device="cpu", frames=[0])
    preds = project.video("v").predictions["img"]
    attrs = dict(preds.attrs)
    del attrs["fingerprint"]  # as a schema-2 store recorded it
    preds.video.group[preds._path].attrs.put(attrs)
    note = unfinished_note(project.path, "v", "img", _prediction_sets(project.video("v"), ["img"])[0]["img"])
    command = _in_backticks(note, "finish it with `")
    assert command.endswith(" --replace") and "every frame is predicted again" in note
    _run(command, capsys)
