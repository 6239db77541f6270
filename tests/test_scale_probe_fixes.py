"""Long videos: commands that stream keep their memory bounded whatever the number of frames (found by probing
videos of 100 and 400 frames at 360x640; here on tiny clips, by counting what is read at once and by the peak of
the allocations)."""

import tracemalloc

import numpy as np
import pytest

from dvos_core.store import Project
from dvos_core.store.predictions import ModelPredictions
from dvos_core.store.sequence import FrameSequence, Video


def _clip(n, h=48, w=64, seed=0):
    """A textured clip panning 1 px per frame with a few square heads; returns (frames, masks)."""
    rng = np.random.default_rng(seed)
    world = rng.integers(0, 255, (h, w + n, 3), dtype=np.uint8)
    wmask = np.zeros((h, w + n), np.uint8)
    for _ in range(3 + n // 4):
        y, x = rng.integers(0, h - 8), rng.integers(0, w + n - 8)
        wmask[y : y + 8, x : x + 8] = 1
        world[y : y + 8, x : x + 8] = 230
    frames = np.stack([world[:, t : t + w] for t in range(n)])
    masks = np.stack([wmask[:, t : t + w] for t in range(n)])
    return frames, masks


def _project(tmp_path, n, name="p", size=(48, 64)):
    frames, masks = _clip(n, *size)
    p = Project.create(tmp_path / f"{name}.dvos")
    v = p.add_video_array("clip", frames, split="test")
    for t, m in enumerate(masks):
        v.set_mask(t, m, "manual")
    noisy = np.clip(masks.astype(np.float32) + np.random.default_rng(1).normal(0, 0.3, masks.shape), 0, 1)
    v.predictions["model"].start({"kind": "test"}, None)
    v.predictions["model"].set_many(range(n), noisy.astype(np.float32))
    return p


@pytest.fixture()
def largest_read(monkeypatch):
    """Records the most frames (or masks) one store read returned."""
    seen = {"frames": 0}

    def wrap(cls, name):
        orig = getattr(cls, name)

        def spy(self, *a, **k):
            out = orig(self, *a, **k)
            n = 1 if np.asarray(out).ndim in (2, 3) and name == "frame" else len(out)
            seen["frames"] = max(seen["frames"], n)
            return out

        monkeypatch.setattr(cls, name, spy)

    for name in ("read_frames", "frame"):
        wrap(FrameSequence, name)
    wrap(Video, "read_masks")
    wrap(ModelPredictions, "masks")
    return seen


def test_compare_models_reads_a_long_video_frame_by_frame(tmp_path, largest_read):
    from dvos_core.evaluate import compare_models

    p = _project(tmp_path, 24)
    cmp = compare_models(p, ["model"], split="test", save=False)
    t = cmp.table.set_index("model")
    assert t.loc["model", "n_frames"] == 24 and t.loc["previous_true_mask", "n_frames"] == 23
    assert 0 < t.loc["model", "instability"] < 1 and cmp.info["ground_truth_instability"] < 0.2
    # before: the whole run of painted frames (24 frames) was read at once for the motion, and every mask kept
    assert largest_read["frames"] <= 2


def _peak(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_compare_models_memory_does_not_grow_with_the_frames(tmp_path):
    from dvos_core.evaluate import compare_models

    short, long = _project(tmp_path, 10, "short", (96, 128)), _project(tmp_path, 60, "long", (96, 128))
    compare_models(short, ["model"], split="test", save=False)  # imports and caches warm
    a = _peak(lambda: compare_models(short, ["model"], split="test", save=False))
    b = _peak(lambda: compare_models(long, ["model"], split="test", save=False))
    # 50 more frames of 96x128 held would add 1.8 MB (RGB) + 3 x 0.6 MB (masks); the score rows add ~0.25 MB
    assert b - a < 1_000_000, (a, b)


def test_import_masks_reads_a_multi_page_tiff_page_by_page(tmp_path):
    import tifffile

    from dvos_core.io import import_masks

    size = (192, 256)
    peaks = []
    for n in (10, 60):
        frames, masks = _clip(n, *size, seed=n)
        p = Project.create(tmp_path / f"m{n}.dvos")
        p.add_video_array("clip", frames)
        tif = tmp_path / f"masks{n}.tif"
        tifffile.imwrite(tif, masks * 255, photometric="minisblack")
        import_masks(p, "clip", tif, frames=range(n))  # warm
        peaks.append(_peak(lambda p=p, tif=tif: import_masks(p, "clip", tif, overwrite=True)))
        assert np.array_equal(p.video("clip").read_masks(0, n), masks)
    # before, every page was decoded up front: 50 more pages of 192x256 held at once are 2.4 MB
    assert peaks[1] - peaks[0] < 1_000_000, peaks


def test_export_masks_as_tiff_is_compressed_and_lossless(tmp_path):
    import tifffile

    from dvos_core.io import export_masks, read_mask_file

    p = _project(tmp_path, 4, size=(192, 256))
    paths = export_masks(p, "clip", tmp_path / "out", fmt="tif")
    masks = p.video("clip").read_masks(0, 4)
    for t, path in enumerate(paths):
        assert np.array_equal(read_mask_file(path), masks[t] * 255)
        assert np.array_equal(tifffile.imread(path) > 0, masks[t] > 0)
        # uncompressed, a 192x256 mask took 49 kB (a 1080p video of 3000 frames: 6 GB); deflated, a few kB
        assert path.stat().st_size < 192 * 256 / 4, path.stat().st_size
