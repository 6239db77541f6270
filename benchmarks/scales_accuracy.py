"""Accuracy of the `scales` choices on footage filmed at a higher resolution than the models train at.

Each set of the accuracy benchmark (benchmarks/accuracy_data.py: real pixels and annotations, a synthetic camera)
is upscaled --factor times (every frame and mask: the same footage filmed with k times more pixels, heads k times
larger), then `dvos run-all --quick` runs the whole loop on it with --scales (which also sets the scales of its
pseudo-labels and predictions), and both models' test videos are predicted again at every choice (own, trained,
both) with the same checkpoints. One JSON line per set:

    OMP_NUM_THREADS=1 python benchmarks/scales_accuracy.py --factor 2 --scales own auto --sets nuclei-slow-degraded \
        --workdir /tmp/scales [--out results.jsonl]

``<model>`` is the run's own test Dice (at its --scales), ``<model>@<choice>`` the same checkpoint predicted at that
choice. The projects stay in --workdir (a set already there is not trained again).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import load_average


def upscaled_set(name: str, factor: float, testdata: Path) -> dict:
    """The benchmark set ``name`` (quick settings, its seed) with frames and masks enlarged ``factor`` times."""
    import accuracy_bench as ab
    import cv2
    from accuracy_data import load_scenes, make_set

    s = ab.Settings.quick()
    scene, speed, cond = name.split("-")
    data = make_set(
        load_scenes(testdata)[scene], speed, cond, s.n_train, s.n_test, s.size, s.seed + ab.ALL_SETS.index(name)
    )

    def up(frames, masks):
        f = np.stack([cv2.resize(x, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC) for x in frames])
        m = np.stack([cv2.resize(x, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST) for x in masks])
        return f, m

    return {"train": up(*data["train"]), "test": up(*data["test"])}


def dice(prob: np.ndarray, truth: np.ndarray) -> float:
    pred = prob >= 0.5
    total = pred.sum() + truth.sum()
    return 1.0 if total == 0 else float(2 * (pred & truth).sum() / total)


def one(name: str, factor: float, scales: str, workdir: Path, testdata: Path, train_extra: dict | None = None) -> dict:
    import accuracy_bench as ab

    from dvos_core.infer import predict_array
    from dvos_core.run_all import RunAllConfig, run_all
    from dvos_core.store import Project

    tag = "" if not train_extra else "_" + "_".join(f"{k}" for k in sorted(train_extra))
    path = workdir / f"{name}_{factor}x_{scales}{tag}.dvos"
    if not path.exists():
        ab.build_project(path, upscaled_set(name, factor, testdata), ab.Settings.quick())
    t0 = time.time()
    train = {"preset": "tiny", "epochs": 2, "max_steps_per_epoch": 25, "batch_size": 4, "device": "cpu"}
    train.update(train_extra or {})
    res = run_all(path, RunAllConfig.quick(train=train, device="cpu", scales=scales), log=lambda s: None, threads=1)
    table = res.comparison.set_index("model")
    row = {"set": name, "factor": factor, "scales": scales, "train": train_extra or {}}
    row["run_s"] = round(time.time() - t0)
    row.update({m: round(float(table.loc[m, "dice"]), 4) for m in res.checkpoints})
    video = Project.open(path).video("test")
    frames = video.read_frames(0, video.n_frames)
    truth = np.stack([video.group["masks"][t] for t in range(video.n_frames)]) > 0
    for model, ckpt in res.checkpoints.items():
        for choice in ("own", "trained", "both"):
            probs = predict_array(ckpt, frames, device="cpu", threads=1, scales=choice)
            row[f"{model}@{choice}"] = round(float(np.mean([dice(p, t) for p, t in zip(probs, truth)])), 4)
    row["load_average"] = load_average()
    return row


def main(argv=None) -> None:
    import accuracy_bench as ab

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=list(ab.ALL_SETS), choices=ab.ALL_SETS)
    ap.add_argument("--factor", type=float, default=2, help="upscaling of frames and masks (default 2)")
    ap.add_argument("--scales", nargs="+", default=["own", "auto"], choices=("auto", "own", "trained", "both"))
    ap.add_argument("--train", type=json.loads, default=None, help="TrainConfig values over the quick ones (JSON)")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--out", help="also append the JSON lines here")
    args = ap.parse_args(argv)
    testdata = Path(os.environ.get("DVOS_TESTDATA", ".cache/testdata"))
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    for name in args.sets:
        for scales in args.scales:
            line = json.dumps(one(name, args.factor, scales, workdir, testdata, args.train))
            print(line, flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(line + "\n")


if __name__ == "__main__":
    main()
