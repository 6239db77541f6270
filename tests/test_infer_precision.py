"""Prediction precision: fp32 by default on a CPU, bf16 on request where the CPU computes it natively."""

from pathlib import Path

import numpy as np
import pytest
import torch

import dvos_core.model.device as device_mod
from dvos_core.cli import main
from dvos_core.infer import Predictor, predict_array, predict_video, pseudo_label
from dvos_core.infer.fastconv import FastConv2d
from dvos_core.model import build_model, save_checkpoint
from dvos_core.model.device import describe_device, use_bf16
from dvos_core.store import Project

torch.set_num_threads(1)


@pytest.fixture
def native_bf16(monkeypatch):
    """Pretend this CPU has native bfloat16 (torch computes bf16 on any x86 CPU, natively or not)."""
    monkeypatch.setattr(device_mod, "cpu_native_bf16", lambda: True)


@pytest.fixture
def no_native_bf16(monkeypatch):
    monkeypatch.setattr(device_mod, "cpu_native_bf16", lambda: False)


def _frames(n=6, h=64, w=64):
    return np.random.default_rng(0).integers(0, 255, (n, h, w, 3), dtype=np.uint8)


def test_precision_choices_resolve_per_device(no_native_bf16, monkeypatch):
    assert not use_bf16("cpu") and not use_bf16("cpu", "fp32")
    with pytest.raises(ValueError, match="neither AVX512-BF16 nor AMX; use precision 'auto' or 'fp32'"):
        use_bf16("cpu", "bf16")
    with pytest.raises(ValueError, match="precision must be one of"):
        use_bf16("cpu", "fp16")
    monkeypatch.setattr(device_mod, "cpu_native_bf16", lambda: True)
    assert use_bf16("cpu", "bf16") and not use_bf16("cpu")  # never bf16 on a CPU unless asked
    assert describe_device("cpu", "bf16").endswith(", bf16)") and describe_device("cpu").endswith(
        ("threads)", "(1 thread)")
    )


def test_cpu_native_bf16_reads_the_cpu_flags():
    linux = device_mod.sys.platform.startswith("linux")
    flags = Path("/proc/cpuinfo").read_text() if linux else ""
    device_mod.cpu_native_bf16.cache_clear()
    assert device_mod.cpu_native_bf16() == any(f" {flag}" in flags for flag in device_mod.CPU_BF16_FLAGS)


def test_bf16_runs_the_stock_model_in_bfloat16_close_to_fp32(native_bf16):
    torch.manual_seed(0)
    model = build_model("tiny", "dvos").eval()
    fp32 = Predictor(model, {"kind": "dvos"}, "cpu")
    bf16 = Predictor(model, {"kind": "dvos"}, "cpu", precision="bf16")
    assert bf16.amp and bf16.net is model  # the fast kernels are float32 ones: the stock model runs
    assert not fp32.amp and any(isinstance(m, FastConv2d) for m in fp32.net.modules())
    frames = _frames()
    a = predict_array((model, {}), frames, device="cpu")
    b = predict_array((model, {}), frames, device="cpu", precision="bf16")
    diff = np.abs(a - b)
    assert b.dtype == np.float32 and diff.max() > 0  # bfloat16 did run
    assert diff.max() < 0.05 and diff.mean() < 0.01


def test_bf16_context_model_and_pseudo_labels(native_bf16, tmp_path):
    torch.manual_seed(0)
    frames = _frames(4, 32, 32)
    ctx = build_model("tiny", "context").eval()
    a = predict_array((ctx, {}), frames, device="cpu")
    b = predict_array((ctx, {}), frames, device="cpu", precision="bf16")
    diff = np.abs(a - b)  # a flipped pixel of a chained reference mask moves the frames after it a little more
    assert 0 < diff.max() < 0.1 and diff.mean() < 0.01
    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("v", frames, split="train")
    img = save_checkpoint(tmp_path / "img.pt", build_model("tiny", "frame"))
    pseudo_label(p, ["v"], str(img), device="cpu", n_passes=1, precision="bf16")
    assert p.video("v").attrs["pseudo_label"]["precision"] == "bf16"
    ck = save_checkpoint(tmp_path / "vid.pt", build_model("tiny", "dvos"))
    assert predict_video(p, "v", str(ck), device="cpu", precision="bf16") == 4
    assert p.video("v").predictions["vid"].attrs["precision"] == "bf16"


def test_cli_precision_flag(tmp_path, capsys, monkeypatch):
    path = tmp_path / "c.dvos"
    p = Project.create(path)
    p.add_video_array("v", _frames(5, 32, 32))
    save_checkpoint(p.model_dir("vid", create=True) / "best.pt", build_model("tiny", "dvos"))
    monkeypatch.setattr(device_mod, "cpu_native_bf16", lambda: False)
    assert main(["predict", str(path), "vid", "--device", "cpu", "--precision", "bf16"]) == 2
    assert "neither AVX512-BF16 nor AMX" in capsys.readouterr().err
    assert len(Project.open(path).video("v").predictions.frames()) == 0  # refused before anything was written
    monkeypatch.setattr(device_mod, "cpu_native_bf16", lambda: True)
    assert main(["predict", str(path), "vid", "--device", "cpu", "--precision", "bf16"]) == 0
    assert ", bf16); checkpoint" in capsys.readouterr().err
    assert Project.open(path).video("v").predictions["vid"].attrs["precision"] == "bf16"
    with pytest.raises(SystemExit):
        main(["predict", str(path), "vid", "--device", "cpu", "--precision", "fp16"])
    assert "invalid choice: 'fp16'" in capsys.readouterr().err


def _toy(tmp_path):
    from dvos_core.data.toy import make_toy_project

    return make_toy_project(tmp_path / "toy.dvos", n_clips=4, n_frames=8, size=64, n_videos=1, video_frames=8, seed=1)


def _train_config(**kw):
    from dvos_core.train import TrainConfig

    base = {"phase": "synthetic", "preset": "tiny", "epochs": 1, "batch_size": 2, "size": 64, "seed": 7}
    return TrainConfig(**{**base, "max_steps_per_epoch": 2, "num_workers": 0, **kw})


@pytest.mark.parametrize("video_model", ["dvos", "context"])
def test_bf16_training_on_a_cpu_that_has_it(native_bf16, tmp_path, video_model):
    from dvos_core.model import load_checkpoint
    from dvos_core.train import train

    project = _toy(tmp_path)
    events = []
    cfg = _train_config(precision="bf16", video_model=video_model)
    best = train(project, cfg, "b", on_event=events.append, resume=False)
    start = events[0]
    assert start["amp_bf16"] and start["device"].endswith(", bf16)")
    epoch = next(e for e in events if e["type"] == "epoch")
    assert np.isfinite(epoch["train_loss"]) and np.isfinite(epoch["val_loss"])
    model, _ = load_checkpoint(best)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # bf16 computes, the weights stay float32
    events.clear()
    train(project, _train_config(video_model=video_model), "f", on_event=events.append, resume=False)
    assert not events[0]["amp_bf16"]  # auto: float32 on a CPU


def test_bf16_training_refused_without_native_bf16(no_native_bf16, tmp_path):
    from dvos_core.cli import main
    from dvos_core.train import TrainConfig, train

    project = _toy(tmp_path)
    with pytest.raises(ValueError, match="neither AVX512-BF16 nor AMX"):
        train(project, _train_config(precision="bf16"), "b", resume=False)
    assert not (project.path / "models" / "b").exists()  # refused before anything was written
    with pytest.raises(ValueError, match="precision must be one of"):
        TrainConfig(precision="half")
    argv = ["train", str(project.path), "--phase", "image", "--preset", "tiny", "--precision", "bf16"]
    assert main(argv) == 2
    assert TrainConfig().amp and TrainConfig().precision == "auto"
