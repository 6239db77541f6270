"""How close the global motion estimate (``dvos_core.motion.global_motion``) comes to a known camera on real pixels,
clean and degraded, at the accuracy benchmark's size and filmed at higher resolutions: the nuclei and conifer
scenes of ``benchmarks/accuracy_data.py``, their slow (2-4 px per frame at 128 px) and fast (15-25 px) cameras,
each set's test video at ``--upscale`` 1, 2, 3 (the same view at 128, 256, 384 px, degraded at that size: wind
streaks as many times longer, per-pixel noise). Each pair of frames 1 and ``--gaps`` apart (the context model
aligns references up to tau frames back) is estimated with the coarse retry and without it (side by side, the
same frames). Prints JSON: per scene, speed, condition, size and gap, the mean corner error's median and 90th
percentile as a share of the frame side, the share of pairs within 1 % of it, and the share found by no method.

    OMP_NUM_THREADS=1 python benchmarks/motion_accuracy_bench.py
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, load_average, machine
from accuracy_data import load_scenes, make_set


def pair_error(matrix, true, side: int) -> float:
    """Mean distance (px) between where ``matrix`` and ``true`` (3x3) send the corners of a side x side frame."""
    from dvos_core.motion.transforms import to3x3

    corners = np.array([[0, 0, 1], [side - 1, 0, 1], [0, side - 1, 1], [side - 1, side - 1, 1]], float)
    return float(np.hypot(*((corners @ to3x3(matrix).T) - (corners @ true.T))[:, :2].T).mean())


def measure(frames, path, gap: int, params) -> dict:
    """Errors (share of the frame side) and failures of the estimates from frame t-gap to frame t."""
    from dvos_core.motion.global_motion import PreparedFrame, estimate_prepared
    from dvos_core.motion.transforms import to3x3

    side = frames.shape[1]
    prepared = [PreparedFrame(f, None, params) for f in frames]
    errors, failed, t0 = [], 0, time.process_time()
    for t in range(gap, len(frames)):
        true = np.linalg.inv(to3x3(path[t])) @ to3x3(path[t - gap])  # frame t-gap pixels -> frame t pixels
        found = estimate_prepared(prepared[t - gap], prepared[t], params)
        failed += not found.ok
        errors.append(pair_error(found.matrix, true, side) / side)
    e = np.array(errors)
    return {
        "pairs": len(e),
        "median_error": round(float(np.median(e)), 5),
        "p90_error": round(float(np.percentile(e, 90)), 5),
        "within_1pct": round(float((e <= 0.01).mean()), 3),
        "none": round(failed / len(e), 3),
        "cpu_s": round(time.process_time() - t0, 2),
    }


def main(argv=None) -> None:
    from dvos_core.motion.global_motion import MotionParams

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upscale", type=int, nargs="+", default=[1, 2, 3], help="resolutions, times 128 px")
    ap.add_argument("--gaps", type=int, nargs="+", default=[1, 4], help="frames between the two of a pair")
    ap.add_argument("--frames", type=int, default=16, help="frames of each test video (default 16)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--testdata", default=str(Path(__file__).resolve().parent.parent / ".cache" / "testdata"))
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    scenes = load_scenes(args.testdata)
    ways = {"coarse_retry": MotionParams(), "no_retry": replace(MotionParams(), coarse_retry=False)}
    result = {"load_average_start": load_average(), "runs": []}
    for name, scene in scenes.items():
        for speed in ("slow", "fast"):
            for k in args.upscale:
                data = make_set(scene, speed, "degraded", 2, args.frames, 128, seed=args.seed, upscale=k)
                clean, path = data["test_undegraded"][0], data["test_camera"]
                for condition, frames in (("clean", clean), ("degraded", data["test"][0])):
                    for gap in args.gaps:
                        row = {"scene": name, "speed": speed, "condition": condition, "side": 128 * k, "gap": gap}
                        row.update({way: measure(frames, path, gap, p) for way, p in ways.items()})
                        result["runs"].append(row)
                        print(row, file=sys.stderr)
    result["load_average_end"] = load_average()
    emit({"benchmark": "motion_accuracy", "machine": machine(), **result}, args.out)


if __name__ == "__main__":
    main()
