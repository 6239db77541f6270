"""One thread rule for every compute path: argument > enclosing block > DVOS_THREADS > free cores / processes."""

import cv2
import pytest
import torch

import dvos_core.threads as threads_mod
from dvos_core.cli import build_parser
from dvos_core.threads import explicit_threads, resolve_threads, runs_with_threads, set_threads, using_threads


@pytest.fixture(autouse=True)
def restore(monkeypatch):
    monkeypatch.delenv("DVOS_THREADS", raising=False)
    before, before_cv2 = torch.get_num_threads(), cv2.getNumThreads()
    yield
    torch.set_num_threads(before)
    cv2.setNumThreads(before_cv2)


def test_precedence_and_default_share_of_the_cores(monkeypatch):
    monkeypatch.setattr(threads_mod, "available_cores", lambda: 8)
    assert resolve_threads() == 8 and resolve_threads(workers=3) == 2 and resolve_threads(workers=16) == 1
    monkeypatch.setenv("DVOS_THREADS", "3")
    assert resolve_threads() == 3 and resolve_threads(workers=4) == 3  # an explicit number is per process
    assert resolve_threads(5) == 5
    monkeypatch.setenv("DVOS_THREADS", "many")
    with pytest.raises(ValueError, match="DVOS_THREADS.*whole number"):
        resolve_threads()
    with pytest.raises(ValueError, match="threads must be >= 1"):
        resolve_threads(0)


def test_a_thread_count_passed_as_a_number_must_be_a_whole_number(monkeypatch):
    """threads=1.5 ran as 1 and threads="2" as 2, unsaid; a whole number of another type (numpy's) is one."""
    import numpy as np

    monkeypatch.delenv("DVOS_THREADS", raising=False)
    for bad in (1.5, 2.0, "2", True):
        with pytest.raises(ValueError, match=f"threads must be a whole number of threads >= 1, got {bad!r}"):
            resolve_threads(bad)
    assert resolve_threads(np.int64(2)) == 2
    monkeypatch.setenv("DVOS_THREADS", "2")  # an environment variable is text
    assert resolve_threads() == 2


def test_loader_workers_default_to_none_on_a_cpu_and_a_share_of_the_cores_on_a_gpu(monkeypatch):
    from dvos_core.train import TrainConfig

    monkeypatch.setattr(threads_mod, "available_cores", lambda: 16)
    assert threads_mod.loader_workers(None, "cpu") == 0 and threads_mod.loader_workers(None, "mps") == 0
    assert threads_mod.loader_workers(None, "cuda") == 4  # capped: the GPU's feeders, not the whole machine
    assert threads_mod.loader_workers(None, "cuda", processes=8) == 1  # 2 cores per rank: one trains, one feeds
    monkeypatch.setattr(threads_mod, "available_cores", lambda: 1)
    assert threads_mod.loader_workers(None, "cuda") == 0
    assert threads_mod.loader_workers(3, "cpu") == 3  # an explicit number wins
    assert TrainConfig().num_workers is None
    TrainConfig().validate()
    with pytest.raises(ValueError, match="num_workers must be >= 0"):
        TrainConfig(num_workers=-1).validate()


def test_available_cores_follow_the_affinity_mask(monkeypatch):
    monkeypatch.setattr(threads_mod.os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    assert threads_mod.available_cores() == 3


def test_default_never_raises_torchs_own_count(monkeypatch):
    monkeypatch.setattr(threads_mod, "available_cores", lambda: 4)
    torch.set_num_threads(1)  # e.g. OMP_NUM_THREADS=1, or a caller's choice
    assert set_threads() == 1 and torch.get_num_threads() == 1
    assert set_threads(2) == 2 and torch.get_num_threads() == 2 and cv2.getNumThreads() == 2


def test_using_threads_restores_and_nested_calls_inherit(monkeypatch):
    monkeypatch.setattr(threads_mod, "available_cores", lambda: 4)
    torch.set_num_threads(3)
    with using_threads(1) as n:
        assert n == 1 and torch.get_num_threads() == 1
        assert explicit_threads() == 1
        with using_threads(None, workers=4) as inner:  # e.g. predict_video(threads=None) inside the demo
            assert inner == 1
    assert torch.get_num_threads() == 3 and explicit_threads() is None


def test_runs_with_threads_applies_the_argument():
    seen = []

    @runs_with_threads(torch=False)
    def work(x, threads=None):
        seen.append(cv2.getNumThreads())
        return x

    cv2.setNumThreads(4)
    assert work(7, threads=1) == 7 and seen == [1] and cv2.getNumThreads() == 4
    with pytest.raises(TypeError, match="threads"):
        runs_with_threads()(lambda x: x)


@pytest.mark.parametrize(
    "argv",
    [
        ["predict", "p.dvos", "model"],
        ["pseudo-label", "p.dvos", "model"],
        ["evaluate", "p.dvos"],
        ["train", "p.dvos"],
        ["synth", "p.dvos"],
        ["extract-objects", "p.dvos"],
        ["extract-backgrounds", "p.dvos", "bare.mp4"],
        ["smooth", "p.dvos", "model"],
        ["count-heads", "p.dvos", "video"],
        ["export-video", "p.dvos", "video", "v.mp4"],
        ["run-all", "p.dvos"],
        ["demo"],
    ],
)
def test_every_compute_command_takes_threads(argv):
    args = build_parser().parse_args([*argv, "--threads", "2"])
    assert args.threads == 2
    assert build_parser().parse_args(argv).threads is None


class ThreadProbe(torch.nn.Module):
    """Stand-in frame model that records torch's thread count at each forward."""

    kind, tau = "frame", 0

    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(1))
        self.seen = []

    def forward(self, x, stochastic=False):
        self.seen.append(torch.get_num_threads())
        return {"mask": x[:, :1] + self.p, "frame": x}


def test_core_functions_run_with_the_requested_threads(tmp_path, monkeypatch):
    import numpy as np

    from dvos_core.data.toy import make_toy_project
    from dvos_core.infer import predict_array
    from dvos_core.synth.generate import _worker_init
    from dvos_core.train import TrainConfig, train

    monkeypatch.setattr(threads_mod, "available_cores", lambda: 4)
    torch.set_num_threads(3)
    probe = ThreadProbe()
    predict_array((probe, {}), np.zeros((2, 32, 32, 3), np.uint8), device="cpu", threads=2)
    assert probe.seen and set(probe.seen) == {2} and torch.get_num_threads() == 3

    project = make_toy_project(tmp_path / "toy.dvos", n_clips=2, n_frames=4, size=32, n_videos=1, video_frames=4)
    cfg = TrainConfig(phase="synthetic", preset="tiny", epochs=1, batch_size=2, size=32, max_steps_per_epoch=1)
    seen = []
    train(project, cfg, "t", on_event=lambda e: seen.append(torch.get_num_threads()), resume=False, threads=1)
    assert seen and set(seen) == {1} and torch.get_num_threads() == 3

    _worker_init(str(tmp_path / "toy.dvos"), "s", None, 1)  # a synthesis worker applies its share to OpenCV
    assert cv2.getNumThreads() == 1
