"""Does one large tile segment as well as several small ones? Prints JSON.

    OMP_NUM_THREADS=1 python benchmarks/tile_size_accuracy.py DEMO_OUT/demo.dvos [--models image] [--tiles 512]

The test video of a `dvos demo` project as 3x3 mosaics (nine different frames side by side: 480x480 for the demo's
160 px frames, at the frames' own scale, so the model sees heads at the size it was trained on), segmented by each
stored image model with its automatic tile (256 px for a model trained on 128 px crops: 9 overlapping tiles) and
with each of ``--tiles`` (512: one tile); Dice against the painted truth, frame-averaged, and the seconds each took.
A larger tile is faster (fewer overlapping pixels) but its group norms see a larger area than in training.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, load_average, machine


def mosaics(a: np.ndarray) -> np.ndarray:
    """(n, 3h, 3w, ...): frame k and the 8 after it (wrapping round) as a 3x3 mosaic, for each k."""
    n = len(a)
    rows = []
    for k in range(n):
        idx = [(k + j) % n for j in range(9)]
        rows.append(np.concatenate([np.concatenate([a[idx[3 * r + c]] for c in range(3)], 1) for r in range(3)], 0))
    return np.stack(rows)


def main(argv=None) -> dict:
    import torch

    from dvos_core.evaluate.metrics import dice
    from dvos_core.infer.engine import Predictor, load_model
    from dvos_core.store import Project

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("project", help="a dvos demo project (its field_test video and stored models)")
    ap.add_argument("--models", nargs="+", default=["image"])
    ap.add_argument("--tiles", nargs="+", type=int, default=[512], help="tile sizes beside the automatic one")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    p = Project.open(args.project, mode="r")
    v = p.video("field_test")
    frames, truth = mosaics(v.read_frames()), mosaics(v.read_masks()) > 0
    out = {"machine": machine(), "load_average_start": load_average(), "frame_shape": list(frames.shape[1:3])}
    for name in args.models:
        model, info, dev = load_model(p.model_dir(name) / "best.pt", "cpu")
        if info.get("kind", getattr(model, "kind", None)) != "frame":
            raise SystemExit(f"{name}: not an image model (this benchmark segments single frames)")
        for tile in (None, *args.tiles):
            pr = Predictor(model, info, dev, tile_size=tile, scales="own")
            if tile is not None and f"{name}_tile{pr.tile_size}" in out:
                continue  # the automatic size, measured already
            t0 = time.perf_counter()
            probs = pr.predict(frames)
            seconds = time.perf_counter() - t0
            score = np.mean([dice(probs[i] >= 0.5, truth[i]) for i in range(len(frames))])
            out[f"{name}_tile{pr.tile_size}"] = {
                "automatic": tile is None,
                "tiles_per_frame": len(pr.tiles(*frames.shape[1:3])[2]),
                "dice": round(float(score), 4),
                "seconds": round(seconds, 1),
            }
    out["load_average_end"] = load_average()
    emit(out, args.out)
    return out


if __name__ == "__main__":
    main()
