"""Every Python entry that takes a device resolves it as ``--device`` does (``select_device``): "auto" is accepted, a
device this machine lacks is a ValueError saying what to use (not torch's RuntimeError or a bare AssertionError)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dvos_core.infer import Predictor, load_model, predict_array
from dvos_core.model import build_model, load_checkpoint, save_checkpoint, select_device

NO_CUDA = r"device 'cuda(:1)?' requested but CUDA is not available in this torch build; use --device cpu or auto"


@pytest.fixture
def cpu_only(monkeypatch):
    """This machine as one without CUDA or Apple MPS, whatever it has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return save_checkpoint(tmp_path_factory.mktemp("m") / "best.pt", build_model("tiny", "frame"))


def test_load_checkpoint_takes_auto_and_names_a_missing_device(cpu_only, ckpt):
    model, info = load_checkpoint(ckpt, "auto")
    assert next(model.parameters()).device.type == "cpu" and info["kind"] == "frame"
    assert next(load_checkpoint(ckpt, torch.device("cpu"))[0].parameters()).device.type == "cpu"
    for device in ("cuda", "cuda:1", torch.device("cuda"), torch.device("cuda", 1)):
        with pytest.raises(ValueError, match=NO_CUDA):
            load_checkpoint(ckpt, device)
    with pytest.raises(ValueError, match=r"device 'mps' requested but Apple MPS is not available; use --device cpu"):
        load_checkpoint(ckpt, "mps")
    with pytest.raises(ValueError, match=r"unknown device 'gpu'; use auto, cpu, cuda, cuda:N"):
        load_checkpoint(ckpt, "gpu")


def test_prediction_entries_name_a_missing_device(cpu_only, ckpt):
    frames = np.zeros((2, 32, 32, 3), np.uint8)
    model = build_model("tiny", "frame")
    with pytest.raises(ValueError, match=NO_CUDA):
        predict_array((model, {}), frames, device=torch.device("cuda"))
    with pytest.raises(ValueError, match=NO_CUDA):
        load_model(ckpt, torch.device("cuda"))
    with pytest.raises(ValueError, match=NO_CUDA):
        Predictor(model, {"kind": "frame"}, device="cuda")
    assert Predictor(model, {"kind": "frame"}, device="auto").device.type == "cpu"
    assert predict_array((model, {}), frames, device=torch.device("cpu")).shape == (2, 32, 32)


def test_a_gpu_number_past_the_machines_gpus_is_named(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert select_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match=r"'cuda:2' requested but this machine has 2 CUDA GPUs \(cuda:0 to cuda:1\)"):
        select_device(torch.device("cuda", 2))


def test_a_missing_device_names_the_fix_for_python_and_the_command_line_and_the_panel_its_own(cpu_only, monkeypatch):
    """Python callers (``device='cuda'``) were told "use --device cpu or auto", a command line's option alone."""
    errors = []
    for name in ("cuda", "mps"):
        with pytest.raises(ValueError, match=r"; use --device cpu or auto \(Python: device='cpu' or 'auto'\)$") as e:
            select_device(name)
        errors.append(e.value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    gpu = r"use --device cuda:0, cuda or auto \(Python: device='cuda:0', 'cuda' or 'auto'\)$"
    with pytest.raises(ValueError, match=gpu) as e:
        select_device("cuda:1")
    errors.append(e.value)
    pytest.importorskip("napari")
    from dvos_napari._errors import user_message

    panel = [user_message(err).text for err in errors]
    assert [t.rsplit("; ", 1)[1] for t in panel] == ["choose the device 'cpu' or 'auto'"] * 2 + [
        "choose the device 'cuda:0', 'cuda' or 'auto'"
    ], panel
