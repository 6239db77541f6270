"""The same model predicted slightly different probabilities from run to run (a float16 step in a few pixels, in
other frames each time; seen with two scales): the CPU kernels were chosen by timing, the first calls of each shape
used whichever kernel was being timed, and a close timing chose differently in the next process. The first call now
returns the chosen kernel's output and the decisions are kept in a file for the next runs."""

import numpy as np
import torch

from dvos_core.infer import fastconv, predict_video
from dvos_core.infer.kernel_choice import KernelChooser
from dvos_core.model import build_model, save_checkpoint
from dvos_core.store import Project

torch.set_num_threads(1)


def _slowing_clock():
    """A clock under which each timed call takes longer than the one before: the first candidate timed wins."""
    ticks = iter(float(k * k) for k in range(10**6))
    return lambda: next(ticks)


def _quickening_clock():
    """Each timed call takes less than the one before: the last candidate timed wins."""
    ticks = iter(float(2 * 10**6 * k - k * k) for k in range(10**6))
    return lambda: next(ticks)


def test_two_runs_at_two_scales_store_the_same_probabilities(tmp_path, monkeypatch):
    p = Project.create(tmp_path / "p.dvos")
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 190, 128)[None, None, :, None]
    p.add_video_array("a", (rng.integers(0, 64, (3, 128, 128, 3)) + ramp).astype(np.uint8))
    torch.manual_seed(0)
    ckpt = save_checkpoint(p.model_dir("img", create=True) / "best.pt", build_model("small", "frame"), input_size=64)
    kept = tmp_path / "kernel_choices.json"
    probs = []
    for name, clock in (("b1", _slowing_clock()), ("b2", _quickening_clock())):  # timings that disagree
        monkeypatch.setattr(fastconv, "CHOOSER", KernelChooser(clock=clock, choices_file=kept))
        predict_video(p, "a", ckpt, device="cpu", scales="both", name=name)
        preds = p.video("a").predictions[name]
        assert preds.attrs["zooms"] == [1.0, 0.5]
        probs.append(np.asarray(preds.arrays()[1][:]))
    assert np.array_equal(probs[0], probs[1])
