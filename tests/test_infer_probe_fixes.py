"""Fixes found by probing prediction, pseudo-labelling, evaluation and the correction loop as a user would."""

import json

import cv2
import numpy as np
import pytest
import torch

from dvos_core.cli import main
from dvos_core.evaluate import compare_models, evaluate
from dvos_core.evaluate.report import overlay
from dvos_core.infer import predict_video, pseudo_label
from dvos_core.model import build_model, save_checkpoint
from dvos_core.store import Project

torch.set_num_threads(1)


def _squares(n, h=32, w=40, shift=0):
    masks = np.zeros((n, h, w), np.uint8)
    for t in range(n):
        masks[t, 4 + t : 14 + t, 4 + shift : 14 + shift] = 1
    return masks


def test_worst_overlays_draw_the_scored_set_not_the_latest(tmp_path):
    p = Project.create(tmp_path / "o.dvos")
    v = p.add_video_array("v", np.random.default_rng(0).integers(0, 255, (3, 32, 40, 3), np.uint8), split="val")
    gt = _squares(3)
    for t in range(3):
        v.set_mask(t, gt[t], "manual")
    v.predictions["a"].set_many(range(3), _squares(3, shift=3).astype(np.float32))
    v.predictions["b"].set_many(range(3), np.zeros((3, 32, 40), np.float32))  # the most recent set
    assert v.predictions.latest().model == "b"
    rep = evaluate(p, split="val", model="a", name="r", worst_k=1, min_area=1)
    assert rep.overall["prediction_sets"] == {"v": "a"}
    t = int(rep.worst(1).iloc[0].frame)
    png = sorted((rep.path / "worst").glob("*.png"))[0]
    drawn = cv2.imread(str(png))[..., ::-1]
    assert np.array_equal(drawn, overlay(v.frame(t), v.predictions["a"].get(t)[0], gt[t]))


def test_compare_scores_a_model_named_twice_once(tmp_path):
    p = Project.create(tmp_path / "c.dvos")
    v = p.add_video_array("v", np.random.default_rng(0).integers(0, 255, (3, 32, 40, 3), np.uint8), split="val")
    for t, m in enumerate(_squares(3)):
        v.set_mask(t, m, "manual")
    v.predictions["a"].set_many(range(3), _squares(3, shift=1).astype(np.float32))
    cmp = compare_models(p, ["a", "a"], split="val", save=False, min_area=1)
    assert cmp.table["model"].tolist().count("a") == 1
    assert cmp.frames["model"].tolist().count("a") == 3


@pytest.fixture()
def cli_project(tmp_path):
    path = tmp_path / "p.dvos"
    p = Project.create(path)
    rng = np.random.default_rng(0)
    p.add_video_array("a", rng.integers(0, 255, (3, 32, 32, 3), np.uint8), split="train")
    p.add_video_array("t", rng.integers(0, 255, (2, 32, 32, 3), np.uint8), split="test")
    save_checkpoint(p.model_dir("img", create=True) / "best.pt", build_model("tiny", "frame"))
    return path


def test_predict_as_labels_refuses_a_test_video_before_predicting_any(cli_project, capsys):
    assert main(["predict", str(cli_project), "img", "--as-labels", "--device", "cpu", "--threads", "1"]) == 2
    err = capsys.readouterr().err
    assert "--as-labels" in err and "'t'" in err and "--split train" in err
    v = Project.open(cli_project).video("a")  # the video before the test video was not predicted either
    assert v.predictions.models() == [] and v.provenance_counts()["predicted"] == 0


def test_an_unknown_split_is_named_with_the_splits(cli_project, capsys):
    for cmd in (["predict", str(cli_project), "img", "--device", "cpu"], ["evaluate", str(cli_project)]):
        assert main([*cmd, "--split", "Test"]) == 2
        err = capsys.readouterr().err
        assert "unknown split 'Test'" in err and "train, val, test, unassigned" in err
        assert "dvos split" not in err  # `dvos split PROJECT Test ...` would be refused


def test_tile_settings_are_refused_naming_the_options(cli_project, capsys):
    base = ["predict", str(cli_project), "img", "--videos", "a", "--device", "cpu"]
    assert main([*base, "--tile-size", "32", "--overlap", "64"]) == 2
    assert "--overlap 64 does not fit --tile-size 32" in capsys.readouterr().err
    assert main([*base, "--tile-size", "32", "--overlap", "8"]) == 2  # hung for ever on frames over 32 px
    err = capsys.readouterr().err
    assert "at most the tile size minus 32" in err and "pass e.g. --overlap 0" in err
    assert main([*base, "--tile-size", "32", "--overlap", "0"]) == 0
    assert main([*base, "--tile-size", "32"]) == 0  # the default overlap is cut to what the tiles allow (0)
    assert main(["pseudo-label", str(cli_project), "img", "--videos", "a", "--tile-size", "48"]) == 2
    assert "--tile-size must be a positive multiple of 32" in capsys.readouterr().err


def test_drop_below_without_a_quality_threshold_is_refused(cli_project):
    p = Project.open(cli_project)
    img = str(p.model_dir("img") / "best.pt")
    with pytest.raises(ValueError, match="--quality-threshold"):
        pseudo_label(p, ["a"], img, device="cpu", n_passes=1, drop_below=True)
    assert p.video("a").provenance_counts()["pseudo"] == 0  # refused before any work


def test_drop_below_without_a_quality_threshold_is_refused_before_the_model_loads(cli_project, capsys):
    """The command printed its device line (and loaded the checkpoint) before refusing."""
    assert main(["pseudo-label", str(cli_project), "img", "--videos", "a", "--drop-below", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "--drop-below" in err and "--quality-threshold Q" in err and "device:" not in err, err


def test_context_prediction_progress_counts_frames(tmp_path):
    p = Project.create(tmp_path / "x.dvos")
    p.add_video_array("v", np.random.default_rng(0).integers(0, 255, (5, 32, 32, 3), np.uint8))
    ctx = save_checkpoint(tmp_path / "ctx.pt", build_model("tiny", "context"))
    calls = []
    predict_video(p, "v", str(ctx), device="cpu", passes=2, progress=lambda d, n, m: calls.append((d, n)))
    totals = {n for _, n in calls}
    assert totals == {10}  # 5 frames x 2 passes, not 2 whole passes
    done = [d for d, _ in calls]
    assert done == sorted(done) and len(set(done)) == 11 and done[-1] == 10


def test_an_unused_image_model_does_not_restart_a_context_set(tmp_path):
    p = Project.create(tmp_path / "y.dvos")
    p.add_video_array("v", np.random.default_rng(0).integers(0, 255, (3, 32, 32, 3), np.uint8))
    ctx = save_checkpoint(tmp_path / "ctx.pt", build_model("tiny", "context"))
    img = save_checkpoint(tmp_path / "img.pt", build_model("tiny", "frame"))
    assert predict_video(p, "v", str(ctx), image_checkpoint=str(img), device="cpu") == 3
    assert p.video("v").predictions["ctx"].attrs["image_checkpoint"] is None  # a context model does not use it
    assert predict_video(p, "v", str(ctx), device="cpu") == 0  # resumed: nothing left to predict


def test_evaluate_model_gives_one_models_full_report_beside_others(cli_project, capsys):
    p = Project.open(cli_project)
    v = p.video("a")
    for t, m in enumerate(_squares(3, 32, 32)):
        v.set_mask(t, m, "manual")
    v.predictions["one"].set_many(range(3), _squares(3, 32, 32, shift=2).astype(np.float32))
    v.predictions["two"].set_many(range(3), np.zeros((3, 32, 32), np.float32))
    evaluate_cmd = ["evaluate", str(cli_project), "--videos", "a", "--min-area", "1"]
    assert main([*evaluate_cmd, "--model", "one", "--name", "r", "--worst", "2"]) == 0
    folder = cli_project / "reports" / "r"
    assert len(list((folder / "worst").glob("*.png"))) == 2 and (folder / "videos.csv").exists()
    assert json.loads((folder / "overall.json").read_text())["prediction_sets"] == {"a": "one"}
    assert main([*evaluate_cmd, "--model", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no predictions of 'nope'" in err and "['one', 'two']" in err


def test_replacing_a_set_from_another_checkpoint_says_so(cli_project):
    p = Project.open(cli_project)
    first = str(p.model_dir("img") / "best.pt")
    other = str(save_checkpoint(p.model_dir("img") / "last.pt", build_model("tiny", "frame")))
    assert predict_video(p, "a", first, device="cpu") == 3
    with pytest.raises(ValueError, match=r"'img' holds 3 predicted frames made by .*best\.pt; .* pass --replace"):
        predict_video(p, "a", other, device="cpu")  # models/img/last.pt: the same set name, kept
    with pytest.warns(UserWarning, match=r"3 frames of prediction set 'img' \(made by .*best\.pt\) are replaced"):
        assert predict_video(p, "a", other, device="cpu", replace=True) == 3


def test_a_model_with_only_last_pt_and_a_damaged_checkpoint_name_the_file_to_use(tmp_path):
    from dvos_core.infer.engine import resolve_checkpoint_path
    from dvos_core.model import CheckpointError, read_checkpoint

    p = Project.create(tmp_path / "c.dvos")
    folder = p.model_dir("half", create=True)
    save_checkpoint(folder / "last.pt", build_model("tiny", "frame"))
    with pytest.raises(FileNotFoundError, match=r"no best.pt yet .* pass .*half/last\.pt"):
        resolve_checkpoint_path(p, "half")
    (folder / "best.pt").write_bytes(b"truncated")
    with pytest.raises(CheckpointError, match=r"best\.pt: cannot read checkpoint .* use .*half/last\.pt$"):
        read_checkpoint(folder / "best.pt")
    (folder / "last.pt").write_bytes(b"junk")  # both damaged: neither error sends the user to the other
    for name in ("best.pt", "last.pt"):
        with pytest.raises(CheckpointError, match=r"cannot read checkpoint .* use another checkpoint, or train the"):
            read_checkpoint(folder / name)


def test_a_folder_named_like_a_model_does_not_hide_it(tmp_path, monkeypatch):
    """``dvos export-masks ... image`` leaves a folder ``image`` where it ran: the model ``image`` is still found
    there (predict, pseudo-label, --init-from), and a folder that is no model is named as a folder."""
    from dvos_core.infer.engine import checkpoint_in, resolve_checkpoint_path
    from dvos_core.model import CheckpointError
    from dvos_core.train.loop import init_checkpoint_path

    p = Project.create(tmp_path / "c.dvos")
    best = p.model_dir("image", create=True) / "best.pt"
    save_checkpoint(best, build_model("tiny", "frame"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "image").mkdir()
    (tmp_path / "other").mkdir()
    assert resolve_checkpoint_path(p, "image") == best
    assert checkpoint_in(p, "image") == best
    assert init_checkpoint_path(p, "image") == str(best)
    with pytest.raises(FileNotFoundError, match="no model 'other'"):
        resolve_checkpoint_path(p, "other")
    with pytest.raises(CheckpointError, match="a folder, not a checkpoint file"):
        resolve_checkpoint_path(None, "other")


def test_options_of_another_kind_of_model_are_said_not_used(tmp_path):
    """`dvos predict P image --passes 2 --reference-masks independent --image-model ctx` ran the image model as
    usual and said nothing of the three options."""
    import warnings

    p = Project.create(tmp_path / "o.dvos")
    p.add_video_array("v", np.random.default_rng(0).integers(0, 255, (3, 32, 32, 3), np.uint8))
    best = p.model_dir("image", create=True) / "best.pt"
    save_checkpoint(best, build_model("tiny", "frame"))
    with pytest.warns(UserWarning, match=r"'frame' model: passes=2 .*reference_masks='independent'.*image_checkpoint"):
        predict_video(p, "v", "image", passes=2, reference_masks="independent", image_checkpoint=best, name="a")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        predict_video(p, "v", "image", name="b")  # the defaults: nothing to say


def _flip_inside_largest_tensor(path) -> None:
    """Invert 64 bytes in the middle of the largest tensor of a torch checkpoint (bits a disk or a copy flipped):
    the archive's structure stays whole, only the entry's CRC-32 no longer matches."""
    import struct
    import zipfile

    with zipfile.ZipFile(path) as z:
        big = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    raw = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", raw[big.header_offset + 26 : big.header_offset + 30])
    start = big.header_offset + 30 + name_len + extra_len + big.file_size // 2
    raw[start : start + 64] = bytes(b ^ 0xFF for b in raw[start : start + 64])
    path.write_bytes(bytes(raw))


def test_a_checkpoint_with_flipped_bits_in_its_weights_is_refused_and_checked(tmp_path):
    """torch.load does not verify the archive's checksums: damaged weights loaded and predicted without a word."""
    from dvos_core.model import CheckpointError, read_checkpoint
    from dvos_core.store.check import check_project

    p = Project.create(tmp_path / "c.dvos")
    folder = p.model_dir("image", create=True)
    for name in ("best.pt", "last.pt"):
        save_checkpoint(folder / name, build_model("tiny", "frame"))
    assert check_project(p) == []
    _flip_inside_largest_tensor(folder / "best.pt")
    with pytest.raises(
        CheckpointError, match=r"best\.pt: cannot read checkpoint .*do not match their checksum.* use .*last\.pt"
    ):
        read_checkpoint(folder / "best.pt")
    found = check_project(p)
    assert [(f.kind, f.where) for f in found] == [("damaged", "model image, best.pt")]
    _flip_inside_largest_tensor(folder / "last.pt")  # both damaged: neither error points at the other
    with pytest.raises(CheckpointError, match=r"use another checkpoint, or train the model again"):
        read_checkpoint(folder / "best.pt")
