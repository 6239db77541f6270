"""Frame arrays grow geometrically on append (few metadata writes), are trimmed to the committed frames at the end,
and Zarr's codec pool is kept to one thread (the cause of native memory growth on long imports)."""

import subprocess
import sys

import numpy as np
import zarr

from dvos_core.store import arrays


def _count_resizes(monkeypatch) -> list:
    calls = []
    resize = zarr.Array.resize

    def counting(self, *a, **k):
        calls.append(self.path)
        return resize(self, *a, **k)

    monkeypatch.setattr(zarr.Array, "resize", counting)
    return calls


def test_capacity_grows_geometrically_in_whole_chunks():
    assert arrays.capacity_for(10, 8, 1) == 10  # already holds it
    assert arrays.capacity_for(0, 8, 1) == arrays.MIN_GROWTH
    assert arrays.capacity_for(1000, 1001, 1) == 1500
    assert arrays.capacity_for(0, 8, 4096) == 4096  # whole chunks
    assert arrays.capacity_for(100, 5000, 64) == 5056  # at least what is needed


def test_appending_1000_frames_costs_few_resizes_and_ends_exact(tmp_project, monkeypatch):
    v = tmp_project.create_video("v", 4, 4)
    calls = _count_resizes(monkeypatch)
    frames = (np.full((4, 4, 3), k % 251, np.uint8) for k in range(1000))
    assert v.append_frames(frames, batch=8) == 1000
    # before: one resize of each of the 4 arrays per batch of 8 frames = 500
    assert len(calls) <= 40, len(calls)
    v = type(tmp_project).open(tmp_project.path).video("v")
    assert len(v) == 1000
    for key in ("frames", "masks", "provenance", "quality"):  # spare capacity trimmed once committed
        assert v.group[key].shape[0] == 1000, key
    assert [int(f[0, 0, 0]) for f in v.read_frames(995, 1000)] == [995 % 251 + k for k in range(5)]
    v.append_frames([np.full((4, 4, 3), 7, np.uint8)] * 3)  # a second append grows and trims again
    assert v.group["frames"].shape[0] == len(v) == 1003 and v.frame(1002)[0, 0, 0] == 7


def test_background_clip_is_trimmed_too(tmp_project):
    bg = tmp_project.create_background("b", 4, 4)
    bg.append_frames([np.zeros((4, 4, 3), np.uint8)] * 5, batch=2)
    assert len(bg) == 5 and bg.frames.shape[0] == 5


def test_zarr_codec_pool_is_one_thread_unless_configured():
    code = "import dvos_core.store.project, zarr; print(zarr.config.get('threading.max_workers'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(arrays.ZARR_WORKERS) == "1"
    env = {**__import__("os").environ, "ZARR_THREADING__MAX_WORKERS": "3"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.strip() == "3"  # the user's setting wins
