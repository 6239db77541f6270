"""The tile-size benchmark segments mosaics of a project's test video with each tile size and scores them."""

import numpy as np
import pytest
import torch
from script_modules import load_script

from dvos_core.model import build_model
from dvos_core.model.checkpoint import save_checkpoint
from dvos_core.store import Project


def test_mosaics_and_scores_per_tile_size(tmp_path):
    bench = load_script("benchmarks/tile_size_accuracy.py")
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (4, 48, 48, 3), dtype=np.uint8)
    mosaic = bench.mosaics(frames)
    assert mosaic.shape == (4, 144, 144, 3)
    assert np.array_equal(mosaic[1, :48, :48], frames[1]) and np.array_equal(mosaic[1, 96:, 96:], frames[(1 + 8) % 4])
    p = Project.create(tmp_path / "d.dvos")
    v = p.add_video_array("field_test", frames, split="test")
    for t in range(4):
        v.set_mask(t, (frames[t, ..., 0] > 128).astype(np.uint8), "manual")
    torch.manual_seed(0)
    save_checkpoint(p.model_dir("image", create=True) / "best.pt", build_model("tiny", "frame"), kind="frame")
    out = bench.main([str(p.path), "--tiles", "160", "128", "--out", str(tmp_path / "t.json")])
    auto, big = out["image_tile128"], out["image_tile160"]  # tiny's 64 px input: automatic tile 128
    assert auto["automatic"] and not big["automatic"]  # (128 asked again: the automatic row stays)
    assert auto["tiles_per_frame"] > big["tiles_per_frame"] == 1
    assert 0 <= auto["dice"] <= 1 and 0 <= big["dice"] <= 1
    save_checkpoint(p.model_dir("ctx", create=True) / "best.pt", build_model("tiny", "context"), kind="context")
    with pytest.raises(SystemExit, match="ctx: not an image model"):
        bench.main([str(p.path), "--models", "ctx"])
