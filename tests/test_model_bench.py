"""The model benchmark's training step runs in the number format it reports."""

import pytest
from script_modules import load_script

import dvos_core.model.device as device_mod


def test_train_step_in_each_precision(monkeypatch):
    bench = load_script("benchmarks/model_bench.py")
    fp32 = bench.run_train_step("tiny", "frame", 64, 2, "cpu", "fp32")
    assert fp32["s_per_step"] > 0 and not fp32["bf16"]
    monkeypatch.setattr(device_mod, "cpu_native_bf16", lambda: False)
    with pytest.raises(ValueError, match="neither AVX512-BF16 nor AMX"):
        bench.run_train_step("tiny", "frame", 64, 2, "cpu", "bf16")
    monkeypatch.setattr(device_mod, "cpu_native_bf16", lambda: True)
    assert bench.run_train_step("tiny", "dvos", 64, 1, "cpu", "bf16")["bf16"]
