"""A smoothed set whose source predictions were deleted: `dvos info`'s note and the warning of a command that reads
it (evaluate, export-masks) said to smooth again, and that command failed ("no predictions of 'img' to smooth; run
`dvos predict` first"). Both now name the command that predicts the source again first, then the smoothing (and,
the note, the delete); the commands, run in the order given, succeed."""

import re
import shlex

import numpy as np
import pytest
import torch

from dvos_core.cli import main as dvos
from dvos_core.model import build_model, save_checkpoint
from dvos_core.store import Project
from dvos_core.store.notes import outdated_warning
from dvos_core.store.project import outdated_record

torch.set_num_threads(1)


@pytest.fixture
def project(tmp_path, capsys):
    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("v", np.random.default_rng(0).integers(0, 255, (3, 32, 32, 3), np.uint8))
    torch.manual_seed(0)
    save_checkpoint(p.model_dir("img", create=True) / "best.pt", build_model("tiny", "frame"), phase="image")
    q = str(p.path)
    assert dvos(["predict", q, "img", "--videos", "v", "--device", "cpu"]) == 0
    assert dvos(["smooth", q, "img", "--videos", "v"]) == 0
    assert dvos(["delete", q, "predictions", "img", "--yes"]) == 0
    capsys.readouterr()
    return p


def _run_in_order(commands: list, p, capsys) -> None:
    assert [c.split()[1] for c in commands[:2]] == ["predict", "smooth"], commands
    for command in commands[:2]:
        argv = shlex.split(command)[1:] + (["--device", "cpu"] if command.startswith("dvos predict") else [])
        assert dvos(argv) == 0, command
    capsys.readouterr()
    assert outdated_record(Project.open(p.path).video("v").predictions["img_smoothed"]) is None  # made again


def test_the_info_note_names_predict_then_smooth_and_they_succeed(project, capsys):
    assert dvos(["info", str(project.path)]) == 0
    note = next(line for line in capsys.readouterr().out.splitlines() if "img_smoothed:" in line)
    assert "its source set 'img' was deleted since" in note, note
    commands = re.findall(r"`([^`]*)`", note)
    assert len(commands) == 3 and commands[2].startswith("dvos delete ") and "img_smoothed" in commands[2], note
    _run_in_order(commands, project, capsys)


def test_the_warning_names_predict_then_smooth_and_they_succeed(project, capsys):
    d = outdated_record(project.video("v").predictions["img_smoothed"])
    text = outdated_warning(project.path, "img_smoothed", d, ["v"], "its scores are of out-of-date masks", "to score")
    assert "predict 'img' again first (`dvos predict" in text and "then smooth again (`dvos smooth" in text, text
    _run_in_order(re.findall(r"`([^`]*)`", text), project, capsys)
