"""The prediction benchmark measures what it claims: both paths predict and write every target frame through the
store, and its comparison row holds both rates and how far the two paths' probabilities are apart."""

import queue
import threading

from script_modules import load_script


def _bench():
    return load_script("benchmarks/predict_bench.py")


def test_both_paths_write_every_frame_and_are_compared():
    bench = _bench()
    case = ("tiny", 64, 3, 2)  # preset, size, frames, batch
    runs = {}
    for mode in bench.MODES:
        q = queue.Queue()
        bench.run_case(*case, "cpu", mode, 1, q)
        r = q.get_nowait()
        assert r["frames"] == 3 and r["probabilities"].shape == (3, 64, 64)  # the writes were seen, frame by frame
        runs[mode] = [r]
    row = bench.compare(case, "cpu", runs)
    assert row["baseline"]["frames_per_s"] > 0 and row["optimized"]["frames_per_s"] > 0
    for mode in bench.MODES:  # how much of each run the kernel took (page faults)
        assert row[mode]["page_faults_per_frame"] > 0 and row[mode]["sys_s_per_frame"] >= 0
    assert row["speedup_wall"] > 0 and row["max_abs_prob_diff"] < 1e-4


def test_a_run_leaves_the_store_writes_as_they_were():
    import dvos_core.model
    from dvos_core.store.predictions import ModelPredictions

    before, model_input = ModelPredictions.set_many, dvos_core.model.to_model_input
    _bench().run_case("tiny", 64, 1, 1, "cpu", "baseline", 1, queue.Queue())
    assert ModelPredictions.set_many is before  # its write counter is not left in place for later callers
    assert dvos_core.model.to_model_input is model_input  # nor the baseline's input layout


def test_the_baseline_keeps_the_input_layout_it_had():
    import numpy as np
    import torch

    from dvos_core.model import to_model_input

    frames = np.random.default_rng(0).integers(0, 256, (2, 32, 64, 3), dtype=np.uint8)
    old, new = _bench().historical_model_input(frames), to_model_input(frames)
    assert torch.equal(old, new)  # the same values ...
    assert new.is_contiguous() and old.is_contiguous(memory_format=torch.channels_last)  # ... laid out as each path has


def test_a_run_that_dies_is_reported_not_waited_for():
    import multiprocessing as mp

    bench = _bench()
    out = {}
    case = ("no-such-preset", 64, 1, 1)
    waiter = threading.Thread(
        target=lambda: out.update(bench.run_in_process(mp.get_context("spawn"), case, "cpu", "optimized", 1)),
        daemon=True,
    )
    waiter.start()
    waiter.join(timeout=120)  # it used to wait forever for the dead run's result
    assert not waiter.is_alive()
    assert out["mode"] == "optimized" and "error" in out


def test_batch_overrides_the_cases_and_is_checked(monkeypatch, capsys):
    import pytest

    bench = _bench()
    seen = []
    monkeypatch.setattr(bench, "run_in_process", lambda ctx, case, *a, **k: seen.append(case) or {"error": "x"})
    monkeypatch.setattr(bench, "emit", lambda doc, out: None)
    assert bench.main(["--device", "cpu", "--cases", "2", "--frames", "5", "--batch", "3", "--mode", "optimized"]) == 0
    assert seen == [("paper", 512, 5, 3)]
    seen.clear()
    bench.main(["--device", "cpu", "--cases", "0", "--batch", "4", "--mode", "optimized"])
    assert seen == [("small", 512, 6, 4)]  # the case's own frame count
    with pytest.raises(SystemExit):
        bench.main(["--device", "cpu", "--batch", "0"])
    assert "--batch must be >= 1" in capsys.readouterr().err
