"""`dvos predict`, `dvos pseudo-label`, `dvos evaluate` end to end on a tiny model."""

import numpy as np
import pytest
import torch

from dvos_core.cli import main
from dvos_core.model import build_model, save_checkpoint
from dvos_core.store import Project

torch.set_num_threads(1)


def test_cli_predict_pseudo_evaluate(tmp_path, capsys):
    path = tmp_path / "c.dvos"
    p = Project.create(path)
    rng = np.random.default_rng(0)
    p.add_video_array("v", rng.integers(0, 255, (6, 32, 64, 3), dtype=np.uint8), split="val")
    p.add_video_array("t", rng.integers(0, 255, (2, 32, 64, 3), dtype=np.uint8), split="test")
    save_checkpoint(p.model_dir("vid", create=True) / "best.pt", build_model("tiny", "dvos"))
    img = save_checkpoint(tmp_path / "img.pt", build_model("tiny", "frame"))
    assert main(["pseudo-label", str(path), str(img), "--videos", "t", "--device", "cpu"]) == 2  # ground truth only
    assert "'t' is a test video" in capsys.readouterr().err
    assert main(["pseudo-label", str(path), str(img), "--videos", "v", "--passes", "2", "--device", "cpu"]) == 0
    relabel = ["pseudo-label", str(path), str(img), "--videos", "v", "--device", "cpu", "--overwrite"]
    assert main([*relabel, "--blend-with", "vid"]) == 2  # only image models blend in
    assert "only image (frame) models can be blended" in capsys.readouterr().err
    img2 = save_checkpoint(tmp_path / "img2.pt", build_model("tiny", "frame"))
    assert main([*relabel, "--passes", "1", "--blend-with", str(img2)]) == 0
    assert "blended with: " in capsys.readouterr().err
    assert Project.open(path).video("v").attrs["pseudo_label"]["blend_with"] == [str(img2)]
    predict = ["predict", str(path), "vid", "--image-model", str(img), "--device", "cpu", "--as-labels"]
    assert main([*predict, "--videos", "v"]) == 0
    err = capsys.readouterr().err
    assert "device: CPU" in err
    v = Project.open(path).video("v")
    assert len(v.predictions.frames()) == 6
    counts = v.provenance_counts()
    assert counts["pseudo"] == 6 and counts["predicted"] == 0  # --as-labels never replaces pseudo labels
    assert main(["evaluate", str(path), "--split", "val", "--name", "r", "--worst", "2"]) == 0
    out = capsys.readouterr().out
    assert "All (frame-weighted)" in out and (path / "reports" / "r" / "videos.csv").exists()
    assert main(["predict", str(path), "nope", "--device", "cpu"]) == 2
    assert "no model 'nope'" in capsys.readouterr().err


def test_cli_predict_names_the_set_and_takes_the_passes_of_a_context_model(tmp_path, capsys):
    path = tmp_path / "c.dvos"
    p = Project.create(path)
    p.add_video_array("v", np.random.default_rng(0).integers(0, 255, (4, 32, 32, 3), dtype=np.uint8))
    save_checkpoint(p.model_dir("ctx", create=True) / "best.pt", build_model("tiny", "context"))
    predict = ["predict", str(path), "ctx", "--device", "cpu"]
    assert main([*predict, "--name", "causal"]) == 0  # one causal pass by default
    assert main([*predict, "--passes", "2"]) == 0
    v = Project.open(path).video("v")
    assert v.predictions.models() == ["causal", "ctx"]
    assert v.predictions["causal"].attrs["passes"] == 1 and v.predictions["causal"].arrays()[2][:].max() == 1
    assert v.predictions["ctx"].attrs["passes"] == 2 and v.predictions["ctx"].arrays()[2][:].max() == 2
    assert main([*predict, "--name", "a/b"]) == 2
    assert "invalid model name 'a/b'" in capsys.readouterr().err


def test_a_video_one_pixel_high_is_counted_and_predicted_by_a_context_model(tmp_path, capsys):
    """Three 1x80 frames: `dvos count-heads` and `dvos predict` of a context model stopped on OpenCV's
    `winSize.width > 1 && winSize.height > 1` in the camera-motion estimate; the motion is now unknown (identity)."""
    path = tmp_path / "c.dvos"
    p = Project.create(path)
    v = p.add_video_array("thin", np.random.default_rng(0).integers(0, 255, (3, 1, 80, 3), dtype=np.uint8))
    m = np.zeros((1, 80), np.uint8)
    m[0, 10:30] = 1
    for t in range(3):
        v.set_mask(t, m, "manual")
    assert main(["count-heads", str(path), "thin"]) == 0
    assert "thin: 1 different heads in 3 frames" in capsys.readouterr().out
    save_checkpoint(p.model_dir("ctx", create=True) / "best.pt", build_model("tiny", "context"))
    assert main(["predict", str(path), "ctx", "--device", "cpu"]) == 0
    assert Project.open(path).video("thin").predictions["ctx"].frames().tolist() == [0, 1, 2]


def test_cli_refuses_bad_runtime_options_by_name_before_the_model_loads(tmp_path, capsys):
    """--threshold, --passes, --batch-size, --quality-threshold are checked by the command, naming the option,
    before the checkpoint is resolved (here it does not even exist)."""
    path = tmp_path / "c.dvos"
    Project.create(path).add_video_array("v", np.zeros((2, 32, 32, 3), dtype=np.uint8))
    for cmd, opts, msg in [
        ("predict", ["--threshold", "0"], "--threshold must be between 0 and 1"),
        ("predict", ["--batch-size", "0"], "--batch-size must be at least 1"),
        ("pseudo-label", ["--passes", "0"], "--passes must be at least 1"),
        ("pseudo-label", ["--batch-size", "0"], "--batch-size must be at least 1"),
        ("pseudo-label", ["--quality-threshold", "2"], "--quality-threshold must be between 0 and 1"),
    ]:
        assert main([cmd, str(path), "nope", "--videos", "v", "--device", "cpu", *opts]) == 2
        err = capsys.readouterr().err
        assert msg in err and "no model" not in err, (cmd, opts, err)
    assert main(["smooth", str(path), "m", "--threshold", "1"]) == 2
    assert "--threshold must be between 0 and 1" in capsys.readouterr().err


def test_blending_a_model_that_cannot_label_does_not_suggest_labelling_with_it(tmp_path, capsys):
    path = tmp_path / "c.dvos"
    p = Project.create(path)
    p.add_video_array("v", np.zeros((2, 32, 32, 3), dtype=np.uint8))
    save_checkpoint(p.model_dir("dv", create=True) / "best.pt", build_model("tiny", "dvos"))
    img = save_checkpoint(tmp_path / "img.pt", build_model("tiny", "frame"))
    assert main(["pseudo-label", str(path), str(img), "--videos", "v", "--device", "cpu", "--blend-with", "dv"]) == 2
    err = capsys.readouterr().err
    assert "labelling model instead" not in err and "cannot label either" in err, err


def test_torchrun_predict_prints_the_total_of_every_process_once(tmp_path, capsys, monkeypatch):
    """Under torchrun each process printed its own share ("predicted 6 frames ..." twice), never the total: rank 0
    now prints the sum over the processes, the others nothing. The ranks are faked (two processes of 6 frames)."""
    import dvos_core.infer as infer
    from dvos_core.infer import distributed

    path = tmp_path / "d.dvos"
    p = Project.create(path)
    p.add_video_array("v", np.zeros((12, 32, 32, 3), np.uint8))
    save_checkpoint(p.model_dir("img", create=True) / "best.pt", build_model("tiny", "frame"))
    monkeypatch.setattr(infer, "predict_video", lambda *a, **k: 6)  # this process's share of the 12 frames
    monkeypatch.setattr(distributed, "gather_lists", lambda local, size: list(local) * size)
    for rank, said in ((0, "predicted 12 frames in 1 video(s) (2 processes)\n"), (1, "")):
        monkeypatch.setattr(distributed, "world", lambda rank=rank: (rank, 2))
        capsys.readouterr()
        assert main(["predict", str(path), "img", "--videos", "v", "--device", "cpu"]) == 0
        assert capsys.readouterr().out == said


def test_cli_predict_frames_predicts_only_those_frames_of_each_video(tmp_path, capsys):
    """`dvos predict --frames` (the Python API's ``frames``): only the frames asked, in every video chosen, then the
    rest of a video by a later run; a frame past a video's end is refused by name before anything is written."""
    path = tmp_path / "c.dvos"
    p = Project.create(path)
    rng = np.random.default_rng(0)
    p.add_video_array("a", rng.integers(0, 255, (5, 32, 32, 3), dtype=np.uint8))
    p.add_video_array("b", rng.integers(0, 255, (3, 32, 32, 3), dtype=np.uint8))
    save_checkpoint(p.model_dir("ctx", create=True) / "best.pt", build_model("tiny", "context"))
    predict = ["predict", str(path), "ctx", "--device", "cpu"]
    assert main([*predict, "--frames", "2", "0"]) == 0
    assert "predicted 4 frames in 2 video(s)" in capsys.readouterr().out
    project = Project.open(path)
    assert [project.video(v).predictions["ctx"].frames().tolist() for v in ("a", "b")] == [[0, 2], [0, 2]]
    assert main([*predict, "--videos", "a", "--frames", "4"]) == 0
    assert Project.open(path).video("a").predictions["ctx"].frames().tolist() == [0, 2, 4]
    assert main([*predict, "--frames", "3", "4"]) == 2  # b has 3 frames: a's frame 3 is not predicted either
    err = capsys.readouterr().err
    assert "video 'b' has 3 frames (0-2); cannot predict frames [3, 4]" in err and "leave b out (--videos)" in err
    assert "unexpected error type" not in err  # a user's error, not a bug
    assert [Project.open(path).video(v).predictions["ctx"].frames().tolist() for v in "ab"] == [[0, 2, 4], [0, 2]]
    assert main([*predict]) == 0  # the rest, resumed
    assert Project.open(path).video("a").predictions["ctx"].frames().tolist() == [0, 1, 2, 3, 4]


@pytest.mark.slow
def test_a_real_torchrun_predicts_every_frame_once_as_one_process_does(tmp_path):
    """`torchrun --nproc_per_node 2 -m dvos_core.cli predict` (gloo on the CPU, the ranks' own environment, no
    fakes): the two processes share the frames, every frame is predicted, rank 0 prints the total, and the masks
    and probabilities equal those of one process."""
    import os
    import shutil
    import subprocess
    import sys

    torchrun = shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun is not on PATH")
    path = tmp_path / "d.dvos"
    p = Project.create(path)
    p.add_video_array("v", np.random.default_rng(0).integers(0, 255, (7, 32, 32, 3), dtype=np.uint8))
    save_checkpoint(p.model_dir("img", create=True) / "best.pt", build_model("tiny", "frame"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run(
        [torchrun, "--nproc_per_node", "2", "-m", "dvos_core.cli", "predict", str(path), "img", "--device", "cpu"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("predicted 7 frames in 1 video(s) (2 processes)") == 1
    assert "[rank 1]" in run.stderr  # the second process did its share
    assert main(["predict", str(path), "img", "--device", "cpu", "--name", "one", "--threads", "1"]) == 0
    sets = Project.open(path).video("v").predictions
    assert sets["img"].frames().tolist() == list(range(7))
    for a, b in zip(sets["img"].arrays()[:2], sets["one"].arrays()[:2], strict=True):
        assert np.array_equal(a[:], b[:])
