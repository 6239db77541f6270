"""A model's settings (kind, preset, tau, size, phase, epochs, validation Dice, start) are shown without loading it:
`dvos info` listed model names only, and the steps' model lists nothing more, so a user had to torch.load a file."""

import json
import os

import numpy as np
import pytest
import torch
from conftest import tiny_train_config

from dvos_core.checkpoint_header import model_settings, settings_line
from dvos_core.cli import main
from dvos_core.data.toy import make_toy_project
from dvos_core.model import build_model, save_checkpoint
from dvos_core.train import train

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    p = make_toy_project(tmp_path_factory.mktemp("s") / "s.dvos", n_clips=2, n_frames=4, size=32, n_videos=2)
    base = {"size": 32, "max_steps_per_epoch": 1, "device": "cpu", "epochs": 2}
    train(p, tiny_train_config(phase="image", synthetic_sets=[], **base), "img", resume=False)
    best = p.model_dir("img") / "best.pt"
    train(p, tiny_train_config(phase="synthetic", video_model="context", init_from=str(best), **base), "ctx")
    return p


def test_the_settings_are_read_from_the_checkpoint_header(trained):
    img = model_settings(trained.model_dir("img") / "best.pt")
    ctx = model_settings(trained.model_dir("ctx") / "best.pt")
    assert (img["kind"], img["preset"], img["tau"], img["input_size"], img["phase"], img["epochs"]) == (
        "frame",
        "tiny",
        None,
        32,
        "image",
        2,
    )
    assert img["epoch"] in (1, 2) and 0 <= img["val_dice"] <= 1 and img["init_from"] is None
    assert (ctx["kind"], ctx["phase"], ctx["input_size"]) == ("context", "synthetic", 32)
    assert ctx["tau"] == build_model("tiny", "context").tau and ctx["init_from"].endswith("img/best.pt")
    line = settings_line(ctx)
    assert line.startswith(f"context video model (tiny preset, tau {ctx['tau']}, 32 px), synthetic phase, epoch")
    assert "started from" in line and model_settings(trained.path / "videos") is None  # not a checkpoint


def test_dvos_info_shows_each_models_settings(trained, capsys):
    assert main(["info", str(trained.path)]) == 0
    out = capsys.readouterr().out
    assert "  img: image model (tiny preset, 32 px), image phase, epoch" in out
    assert "  ctx: context video model (tiny preset" in out
    assert main(["info", str(trained.path), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)["model_settings"]
    assert sorted(found) == ["ctx", "img"] and found["img"]["kind"] == "frame"
    assert found["img"]["checkpoint"] == "best.pt"


def test_dvos_info_says_when_a_models_best_pt_cannot_be_used(trained, tmp_path, capsys):
    """A truncated best.pt beside a good last.pt was listed like a healthy model (predict then failed), and a model
    with no readable checkpoint got no line at all."""
    import shutil

    copy = tmp_path / "c.dvos"
    shutil.copytree(trained.path, copy)
    best = copy / "models" / "img" / "best.pt"
    best.write_bytes(best.read_bytes()[:50])
    for f in (copy / "models" / "ctx").glob("*.pt"):
        f.write_bytes(b"junk")
    assert main(["info", str(copy)]) == 0
    out = capsys.readouterr().out
    assert (
        "  img: image model (tiny preset, 32 px)" in out
        and "NOTE: its best.pt cannot be read: read from its last.pt" in out
    )
    not_torch = "(not a PyTorch checkpoint: a text file beginning 'junk')"
    assert f"  ctx: its best.pt cannot be read {not_torch}, nor a readable last.pt (`dvos check` names what)" in out


@pytest.mark.gui
@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run")
def test_the_steps_model_lists_show_the_settings_on_hover(make_napari_viewer, tmp_project):
    pytest.importorskip("napari")
    from napari_helpers import dock
    from qtpy.QtCore import Qt

    tmp_project.add_video_array("plot", np.zeros((4, 32, 32, 3), np.uint8), split="train")
    save_checkpoint(
        tmp_project.model_dir("image", create=True) / "best.pt",
        build_model("tiny", "frame"),
        kind="frame",
        input_size=64,
    )
    viewer = make_napari_viewer()
    pr, tr = dock(viewer, "Predict"), dock(viewer, "Train")
    pr.state.set_project(tmp_project)
    tr.refresh()
    for combo in (pr.checkpoint, tr.init_from):
        i = combo.findText("image")
        assert combo.itemData(i, Qt.ItemDataRole.ToolTipRole).startswith("image model (tiny preset, 64 px)")
