"""`dvos check` / ``check_project``: reads every stored part once, names what is damaged (the file and the fix) or
left unfinished (the command that finishes it), and changes nothing."""

import hashlib
import json

import numpy as np
import pytest
import torch

from dvos_core.cli import main as dvos
from dvos_core.model import build_model, save_checkpoint
from dvos_core.store import Project
from dvos_core.store.check import check_project

torch.set_num_threads(1)


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "field.dvos")
    rng = np.random.default_rng(0)
    v = p.add_video_array("plot", rng.integers(0, 255, (6, 16, 16, 3), dtype=np.uint8), split="train")
    mask = np.zeros((16, 16), np.uint8)
    mask[4:9, 4:9] = 1
    for t in (1, 4):
        v.set_mask(t, mask, "manual")
    v.predictions["img"].start({"kind": "test"}, None)
    v.predictions["img"].set_many(range(6), np.full((6, 16, 16), 0.7, np.float32))
    save_checkpoint(p.model_dir("img", create=True) / "best.pt", build_model("tiny", "frame"), phase="image")
    return p


def _chunk(p, *parts):
    return p.path.joinpath("videos", "plot", *parts)


def _hashes(root):
    return {str(f): hashlib.md5(f.read_bytes()).hexdigest() for f in sorted(root.rglob("*")) if f.is_file()}


def test_a_sound_project_has_no_findings(project, capsys):
    assert check_project(project) == []
    assert dvos(["check", str(project.path)]) == 0
    assert "every stored part reads" in capsys.readouterr().out


def test_damaged_parts_are_named_with_their_files_and_nothing_changes(project, capsys):
    frame3 = _chunk(project, "frames", "c", "3", "0", "0", "0")
    mask4 = _chunk(project, "masks", "c", "4", "0", "0")
    frame3.write_bytes(b"garbage")  # a half-copied chunk
    mask4.unlink()  # a painted mask's file deleted by a sync tool
    ckpt = project.model_dir("img") / "best.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:100])  # a truncated checkpoint
    before = _hashes(project.path)
    found = check_project(Project.open(project.path, mode="r"))
    assert all(f.kind == "damaged" for f in found)
    text = "\n".join(f"{f.where}: {f.message}" for f in found)
    assert str(frame3) in text and "video plot, frames 0-5" in text
    assert str(mask4) in text and "masks of frames 1-4" in text
    assert "model img, best.pt" in text
    assert dvos(["check", str(project.path), "--json"]) == 1
    assert len(json.loads(capsys.readouterr().out)) == len(found) == 3
    assert _hashes(project.path) == before  # only read


def test_a_prediction_set_stopped_half_way_is_unfinished(project, capsys):
    v = project.video("plot")
    v.predictions["ctx"].start({"kind": "test"}, None)
    v.predictions["ctx"].set_many([0, 1], np.zeros((2, 16, 16), np.float32))
    found = check_project(project, models=False)
    assert [(f.kind, f.where) for f in found] == [("unfinished", "video plot, predictions ctx")]
    assert "only 2/6 frames predicted" in found[0].message
    assert f"`dvos delete {project.path} predictions ctx --videos plot --yes`" in found[0].message  # not a dry run
    assert dvos(["check", str(project.path), "--no-models"]) == 1
    assert "0 damaged, 1 unfinished" in capsys.readouterr().out


def test_a_stopped_new_leaves_a_leftover_that_check_names_with_its_fix(project):
    build = project.path.parent / f".{project.path.name}.creating-0123456789ab"
    Project.create(build)  # the unfinished build of a `dvos new` that was stopped
    found = check_project(project, models=False)
    assert [(f.kind, f.where) for f in found] == [("unfinished", "beside the project")]
    assert str(build) in found[0].message and f"rm -rf {build}" in found[0].message


def test_two_damaged_frames_read_as_one_sentence(project):
    for t in (2, 3):
        _chunk(project, "frames", "c", str(t), "0", "0", "0").write_bytes(b"garbage")
    (found,) = check_project(project, models=False)
    assert "the image of frames 2, 3 cannot be read" in found.message
    assert "are damaged. Restore those files" in found.message


def test_every_finished_synthetic_clip_is_read_and_unfinished_ones_are_not(project):
    sset = project.create_synthetic("s1", n_clips=4, n_frames=2, height=16, width=16)
    for i in (0, 2):  # clips 1 and 3 not made yet (a synth stopped half-way)
        sset.write_clip(i, np.zeros((2, 16, 16, 3), np.uint8), np.zeros((2, 16, 16), np.uint8))
    found = check_project(project, models=False)
    assert [(f.kind, f.where) for f in found] == [("unfinished", "synthetic set s1")]
    assert "2/4 clips made" in found[0].message
    frames_dir = project.path / "synthetic" / "s1" / "frames" / "c" / "2"
    for f in frames_dir.rglob("*"):
        if f.is_file():
            f.write_bytes(b"garbage")  # clip 2 damaged: read and named
    found = check_project(project, models=False)
    assert (found[0].kind, found[0].where) == ("damaged", "synthetic set s1, clip 2")


def test_a_stopped_training_run_is_unfinished_and_its_command_finishes_it(tmp_path, capsys):
    """A training run cancelled part-way left last.pt (and no best.pt before its first epoch): `dvos check` said
    "no step was left unfinished". It names the run and the command that continues it; that command does."""
    import shlex

    from dvos_core.data.toy import make_toy_project
    from dvos_core.progress import CancelToken
    from dvos_core.train import TrainConfig, train
    from dvos_core.train.events import EpochEvent

    torch.set_num_threads(1)
    p = make_toy_project(tmp_path / "field plot 3.dvos", n_clips=3, n_frames=6, size=64, n_videos=0)
    cfg = TrainConfig(
        phase="synthetic", preset="tiny", epochs=2, batch_size=2, size=64, max_steps_per_epoch=1, num_workers=0
    )
    token = CancelToken()
    with pytest.raises(Exception, match="cancelled"):
        train(p, cfg, "m", cancel=token, on_event=lambda e: isinstance(e, EpochEvent) and token.cancel())
    found = [f for f in check_project(p) if f.kind == "unfinished"]
    assert [f.where for f in found] == ["model m"]
    assert "training stopped after 1 of 2 epoch(s)" in found[0].message
    command = found[0].message.split("`")[1]
    assert command.startswith("dvos train ")
    assert dvos(shlex.split(command)[1:]) == 0
    assert not [f for f in check_project(Project.open(p.path)) if f.kind == "unfinished"]
    capsys.readouterr()


def test_the_command_that_finishes_a_stopped_run_whose_start_model_moved_gives_its_new_place(tmp_path, capsys):
    """The start model of a stopped run moved since it began: `dvos check` gave the --config command, whose
    config.yaml names the old place, and that command was refused. It says so and asks for --init-from the new
    place; given it, the command finishes the run."""
    import shlex

    from dvos_core.data.toy import make_toy_project
    from dvos_core.progress import CancelToken
    from dvos_core.train import TrainConfig, train
    from dvos_core.train.events import EpochEvent

    torch.set_num_threads(1)
    p = make_toy_project(tmp_path / "p.dvos", n_clips=3, n_frames=6, size=64, n_videos=0)
    start = tmp_path / "start.pt"
    save_checkpoint(start, build_model("tiny", "frame"), kind="frame", input_size=64)
    cfg = TrainConfig(
        phase="synthetic", preset="tiny", epochs=2, batch_size=2, size=64, max_steps_per_epoch=1, num_workers=0,
        init_from=str(start),
    )  # fmt: skip
    token = CancelToken()
    with pytest.raises(Exception, match="cancelled"):
        train(p, cfg, "m", cancel=token, on_event=lambda e: isinstance(e, EpochEvent) and token.cancel())
    assert "NEW_PLACE" not in next(f for f in check_project(p) if f.kind == "unfinished").message
    (tmp_path / "kept").mkdir()
    moved = start.rename(tmp_path / "kept" / "start.pt")
    message = next(f for f in check_project(p) if f.kind == "unfinished").message
    assert f"it began from {start}, which is not there now (moved or deleted?)" in message
    command = message.split("`")[1]
    assert command.endswith(" --init-from NEW_PLACE")
    assert dvos(shlex.split(command.replace("NEW_PLACE", str(moved)))[1:]) == 0
    assert not [f for f in check_project(Project.open(p.path)) if f.kind == "unfinished"]
    capsys.readouterr()


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_stopped_pseudo_labelling_is_unfinished_and_its_command_finishes_it(tmp_path, capsys, overwrite):
    """A pseudo-labelling stopped part-way (a relabelling: two models' labels mixed; a first labelling: frames
    without labels) was not named by `dvos check`. It is, with the command that finishes it; that command does."""
    import shlex

    from dvos_core.infer import pseudo_label
    from dvos_core.progress import Cancelled, CancelToken

    torch.set_num_threads(1)
    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("v", np.random.default_rng(0).integers(0, 255, (8, 32, 32, 3), dtype=np.uint8))
    model = p.model_dir("img", create=True) / "best.pt"
    save_checkpoint(model, build_model("tiny", "frame"), phase="image")
    if overwrite:
        pseudo_label(p, "v", model, n_passes=1, batch_size=4)
    token = CancelToken()
    with pytest.raises(Cancelled):
        pseudo_label(
            p,
            "v",
            model,
            n_passes=1,
            batch_size=4,
            quality_threshold=0.2,
            overwrite=overwrite,
            cancel=token,
            progress=lambda done, total, msg: done >= 4 and token.cancel(),
        )
    found = [f for f in check_project(p, models=False) if f.kind == "unfinished"]
    assert [f.where for f in found] == ["video v, pseudo-labels"]
    # a relabelling records how far it got: the command finishes it from there
    said = "stopped at frame 3" if overwrite else "before every frame was labelled"
    assert said in found[0].message, found[0].message
    command = found[0].message.split("`")[1]
    assert command.endswith("--passes 1 --quality-threshold 0.2" + (" --overwrite" if overwrite else ""))  # as run
    capsys.readouterr()
    assert dvos(["info", str(p.path)]) == 0 and command in capsys.readouterr().out  # info says it too
    assert dvos(shlex.split(command)[1:]) == 0
    assert not [f for f in check_project(Project.open(p.path), models=False) if f.kind == "unfinished"]
    capsys.readouterr()


def test_a_deleted_quality_chunk_is_named_and_pseudo_labelling_again_writes_the_scores(tmp_path, capsys):
    """A pseudo-labelled video whose quality chunk was deleted: `dvos check` names the file (it said every part
    reads, and training's ``pseudo_quality_min`` kept every pseudo-label as unscored); the command in its message
    (pseudo-labelling again with --overwrite) writes the scores again."""
    import shlex

    from dvos_core.infer import pseudo_label

    torch.set_num_threads(1)
    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("v", np.random.default_rng(0).integers(0, 255, (6, 32, 32, 3), dtype=np.uint8))
    model = p.model_dir("img", create=True) / "best.pt"
    save_checkpoint(model, build_model("tiny", "frame"), phase="image")
    pseudo_label(p, "v", model, n_passes=1, batch_size=4)
    assert np.isfinite(p.video("v").quality).all()
    chunk = p.path / "videos/v/quality/c/0"
    chunk.unlink()
    capsys.readouterr()
    assert dvos(["check", str(p.path), "--no-models"]) == 1
    out = capsys.readouterr().out
    assert f"video v, quality scores: {p.path}: video 'v': the quality score of frames 0-5" in out
    assert f"{chunk} is missing" in out
    command = out.split("`dvos pseudo-label ")[1].split("`")[0].replace("MODEL", "img")
    assert dvos(["pseudo-label", *shlex.split(command), "--passes", "1"]) == 0
    assert chunk.is_file() and np.isfinite(Project.open(p.path).video("v").quality).all()
    assert check_project(Project.open(p.path), models=False) == []


def test_work_of_a_writer_still_running_is_not_only_called_interrupted(project, capsys):
    """`dvos check` and `dvos info` run while `dvos predict` (or add-video, synth) still writes called its set
    "stopped" / the import "interrupted", with no word of the process writing now."""
    import os
    import subprocess
    import sys
    import textwrap

    v = project.video("plot")
    v.predictions["ctx"].start({"kind": "test"}, None)
    v.predictions["ctx"].set_many([0, 1], np.zeros((2, 16, 16), np.float32))
    holder = textwrap.dedent("""
        import sys
        from dvos_core.store import Project
        with Project.open(sys.argv[1]).writing(operation="predict"):
            print("holding", flush=True)
            sys.stdin.read()
    """)
    env = {**os.environ, "PYTHONPATH": os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-c", holder, str(project.path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
    )
    try:
        assert proc.stdout.readline().strip() == b"holding"
        found = check_project(Project.open(project.path, mode="r"), models=False)
        assert (
            len(found) == 1
            and "or still being made" in found[0].message
            and "writing the project now" in found[0].message
        )
        assert dvos(["info", str(project.path)]) == 0
        assert "being written now by process" in capsys.readouterr().out
    finally:
        proc.stdin.close()
        proc.wait()
    found = check_project(Project.open(project.path, mode="r"), models=False)
    assert "still being made" not in found[0].message


@pytest.mark.parametrize("count", [3, 9, 0])
def test_an_edited_frame_count_is_named_with_the_count_the_arrays_hold(project, capsys, count):
    """A finished video's (or background clip's) ``committed_frames`` edited below the frames written hid them from
    every command and check said every stored part reads; edited above them, check named the provenance array with
    a fix of restoring or deleting the video. Both are now damage naming the count to set back (losing no frame)."""
    import zarr

    bg = project.create_background("bare", 16, 16)
    bg.append_frames(np.full((4, 16, 16, 3), 50, np.uint8))
    bg.update_attrs(import_complete=True)
    assert check_project(Project.open(project.path, mode="r"), models=False) == []
    for kind, name, rows in (("videos", "plot", 6), ("backgrounds", "bare", 4)):
        meta = project.path / kind / name / "zarr.json"
        zarr.open_group(str(project.path / kind / name), mode="r+").attrs["committed_frames"] = count
        before = _hashes(project.path)
        found = check_project(Project.open(project.path, mode="r"), models=False)
        assert [f.where for f in found] == [f"{kind[:-1]} {name}"], found
        hidden = f"frames {count}-{rows - 1} were written" if count < rows else f"frames {rows}-{count - 1} were never"
        assert found[0].kind == "damaged" and str(meta) in found[0].message and hidden in found[0].message
        assert f"Set committed_frames back to {rows} in that file" in found[0].message
        assert dvos(["check", str(project.path), "--no-models"]) == 1
        assert "set committed_frames back" in capsys.readouterr().out.lower()
        assert _hashes(project.path) == before  # only read
        zarr.open_group(str(project.path / kind / name), mode="r+").attrs["committed_frames"] = rows
        assert check_project(Project.open(project.path, mode="r"), models=False) == []


@pytest.mark.parametrize("array", ["masks", "frames"])
def test_a_missing_and_a_damaged_file_of_one_range_are_both_named(project, array):
    """The missing file stopped the read before the others were decoded: the damaged one was found only by the next
    check, once the missing one was restored."""
    tail = ("0", "0") if array == "masks" else ("0", "0", "0")
    one, four = _chunk(project, array, "c", "1", *tail), _chunk(project, array, "c", "4", *tail)
    one.write_bytes(one.read_bytes()[:5])  # truncated
    four.unlink()
    (found,) = check_project(project, models=False)
    assert found.where == ("video plot, masks of frames 1-4" if array == "masks" else "video plot, frames 0-5")
    what = "mask" if array == "masks" else "image"
    assert f"the {what} of frames 1, 4 cannot be read" in found.message
    assert f"the file {four} of frame 4 is missing" in found.message
    assert f"the file {one} of frame 1 is damaged" in found.message and "Restore those files" in found.message


def test_a_missing_and_a_damaged_prediction_file_of_one_range_are_both_named(project):
    """As frames' and masks': the missing file stopped the read of a prediction set's batch before the others were
    decoded; and a damaged mask file hid a damaged probability file of the same frames."""
    for key in ("masks", "probability"):
        one, four = (_chunk(project, "predictions", "img", key, "c", t, "0", "0") for t in ("1", "4"))
        one.write_bytes(one.read_bytes()[:5])  # truncated
        four.unlink()
    found = check_project(project, models=False)
    assert [f.where for f in found] == [
        "video plot, predictions img, masks of frames 0-5",
        "video plot, predictions img, probabilities of frames 0-5",
    ]
    for f, key, what in zip(found, ("masks", "probability"), ("mask", "probability")):
        one, four = (_chunk(project, "predictions", "img", key, "c", t, "0", "0") for t in ("1", "4"))
        assert f"the predicted {what} by 'img' of frames 1, 4 cannot be read" in f.message
        assert f"the file {four} of frame 4 is missing" in f.message
        assert f"the file {one} of frame 1 is damaged" in f.message and "Restore those files" in f.message
