"""Pseudo-labelling and prediction of large frames on a CPU: progress and a cancel come frame by frame (and tile by
tile), not once per batch of frames that each take seconds."""

import numpy as np
import pytest
import torch

from dvos_core.infer import engine, pseudo_label
from dvos_core.model import build_model
from dvos_core.progress import Cancelled, CancelToken
from dvos_core.store import Project

torch.set_num_threads(1)


def _project(tmp_path, n=3, size=150):
    p = Project.create(tmp_path / "big.dvos")
    rng = np.random.default_rng(0)
    p.add_video_array("v", rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8))
    return p


def _tiled_model():
    """A tiny image model whose automatic tile is 128 px: a 150 px frame is 4 tiles, each taken alone on a CPU."""
    torch.manual_seed(0)
    return build_model("tiny", "frame"), {"input_size": 64}


def test_pseudo_label_of_tiled_frames_reports_each_frame_and_pass(tmp_path):
    p = _project(tmp_path)
    seen = []
    df = pseudo_label(
        p, "v", _tiled_model(), device="cpu", n_passes=2, batch_size=4, scales="own",
        progress=lambda d, t, m: seen.append((d, t, m)),
    )  # fmt: skip
    assert df["status"].tolist() == ["written"] * 3
    expected = []
    for t in range(3):  # each pass of a frame says how far through its 4 tiles it is (half a minute each at 1080p)
        expected += [(t, 3, f"v: frame {t} pass 1/2, tile {j}/4") for j in range(1, 5)]
        expected += [(t, 3, f"v: frame {t} pass 1/2")]
        # (an image model's second pass is flipped from the first frame on: it has no stochastic pass to try)
        expected += [(t, 3, f"v: frame {t} pass 2/2, tile {j}/4") for j in range(1, 5)]
        expected += [(t + 1, 3, f"v: frame {t}")]
    assert seen == expected


def test_pseudo_label_of_small_frames_keeps_its_batches(tmp_path):
    p = _project(tmp_path, n=5, size=40)  # one 64 px tile: a CPU takes several at once, batches pay
    seen = []
    pseudo_label(
        p, "v", _tiled_model(), device="cpu", n_passes=2, batch_size=4, scales="own",
        progress=lambda d, t, m: seen.append((d, t, m)),
    )  # fmt: skip
    assert seen == [
        (0, 5, "v: frames 0-3 pass 1/2"),
        (4, 5, "v: frame 3"),
        (4, 5, "v: frame 4 pass 1/2"),
        (5, 5, "v: frame 4"),
    ]


def test_a_cancel_stops_pseudo_labelling_within_the_frame(tmp_path, monkeypatch):
    p = _project(tmp_path)
    token, decoded = CancelToken(), []
    decode = engine.Predictor._decode

    def counting(self, windows, stochastic):
        decoded.append(len(windows))
        token.cancel()  # the user clicks Stop while the first tile is decoded
        return decode(self, windows, stochastic)

    monkeypatch.setattr(engine.Predictor, "_decode", counting)
    with pytest.raises(Cancelled):
        pseudo_label(p, "v", _tiled_model(), device="cpu", n_passes=2, batch_size=4, scales="own", cancel=token)
    assert decoded == [1]  # the next tile is not started (it was every tile of every pass of the batch)
    assert p.video("v").provenance_counts()["pseudo"] == 0


def test_predicting_tiled_frames_with_an_image_model_reports_each_frame(tmp_path):
    from dvos_core.infer import predict_video

    p = _project(tmp_path)
    seen = []
    predict_video(p, "v", _tiled_model(), device="cpu", scales="own", progress=lambda d, t, m: seen.append((d, t, m)))
    frames = [(d, t, m) for d, t, m in seen if ": frame " in m]
    expected = []
    for t in range(3):  # it was one step of 3 frames, silent until all were done
        expected += [(t, 3, f"v: frame {t}, tile {j}/4") for j in range(1, 5)] + [(t + 1, 3, f"v: frame {t}")]
    assert frames == expected
    assert p.video("v").predictions["in_memory"].frames().tolist() == [0, 1, 2]


def test_the_context_model_reports_the_tiles_of_each_pass_of_a_large_frame():
    from dvos_core.infer.context import ContextPredictor, refine_context, run_context

    torch.manual_seed(0)
    frames = np.random.default_rng(1).integers(0, 256, (3, 96, 96, 3), dtype=np.uint8)
    ctx = ContextPredictor(build_model("tiny", "context").eval(), "cpu", tile_size=64)  # 96 px: 4 tiles of 64
    first, seen = {}, []
    said = lambda d, t, m: seen.append((d, t, m))  # noqa: E731
    run_context(ctx, lambda a, b: frames[a:b], range(3), first.__setitem__, progress=said, label="v: ")
    expected = [(0, 3, "v: predicting 3 frames")]
    for t in range(3):
        expected += [(t, 3, f"v: frame {t}, tile {j}/4") for j in range(1, 5)] + [(t + 1, 3, f"v: frame {t}")]
    assert seen == expected
    seen.clear()
    refine_context(ctx, lambda a, b: frames[a:b], 3, [1], first.get, lambda t, p: None, progress=said)
    assert seen[1:-1] == [(0, 1, f"frame 1, tile {j}/4") for j in range(1, 5)]


def test_tiles_are_counted_over_every_scale_of_a_frame(tmp_path):
    """With its own scale and the trained one (``--scales both``) a frame's tiles count as one run: 'tile 5/5'
    across a 4-tile and a 1-tile scale, not '4/4' then nothing (or '1/1'); both models."""
    from dvos_core.infer.context import ContextPredictor, run_context
    from dvos_core.infer.engine import Predictor
    from dvos_core.infer.scales import Scales
    from dvos_core.infer.window import FeatureCache

    model, info = _tiled_model()
    frame = np.random.default_rng(2).integers(0, 256, (150, 150, 3), dtype=np.uint8)
    pr = Predictor(model, info, "cpu", scales="both")
    assert len(pr.scales.zooms(150, 150)) == 2
    seen = []
    pr.predict_windows({0: frame}, [[0]], FeatureCache(), on_tile=lambda j, m: seen.append((j, m)))
    assert seen == [(j, 5) for j in range(1, 6)]  # 4 tiles of 128 at 150 px, 1 at the trained scale (64/150)

    ctx = ContextPredictor(build_model("tiny", "context").eval(), "cpu", tile_size=64, scales=Scales("both", 64))
    frames = np.random.default_rng(1).integers(0, 256, (2, 96, 96, 3), dtype=np.uint8)
    said = []
    run_context(ctx, lambda a, b: frames[a:b], [0, 1], lambda t, p: None, progress=lambda d, t, m: said.append(m))
    assert [m for m in said if m.startswith("frame 1,")] == [f"frame 1, tile {j}/5" for j in range(1, 6)]
