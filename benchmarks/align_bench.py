"""How well the context model's reference alignment (``dvos_core.motion.align.best_transform``: the direct estimate
or the identity, whichever agrees best) follows a known camera, on real pixels: the conifer thin section of the
accuracy benchmark (enlarged ``--zoom`` times, so that frames larger than the 192 px the agreement is measured at
fit in it) filmed by its slow (2-4 px per frame) and fast (15-25 px) camera at each ``--sizes``. Prints JSON: per
size and speed, the share of consecutive-frame transforms within 1 px of the true one (largest corner error) and
the median error.

    OMP_NUM_THREADS=1 python benchmarks/align_bench.py --sizes 128 384
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, load_average, machine
from accuracy_data import SPEEDS, Scene, load_scenes, render


def corner_errors(frames, path, size: int) -> list[float]:
    """Largest corner error (px) of best_transform for each consecutive pair against the camera's true motion."""
    from dvos_core.motion.align import best_transform
    from dvos_core.motion.transforms import to3x3

    corners = np.array([[0, 0, 1], [size - 1, 0, 1], [0, size - 1, 1], [size - 1, size - 1, 1]], float)
    out = []
    for t in range(1, len(frames)):
        true = np.linalg.inv(to3x3(path[t])) @ to3x3(path[t - 1])  # frame t-1 pixels -> frame t pixels
        got = to3x3(best_transform(frames[t - 1], frames[t], []))
        out.append(float(np.abs((corners @ got.T)[:, :2] - (corners @ true.T)[:, :2]).max()))
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 384], help="frame sides (px)")
    ap.add_argument("--frames", type=int, default=12, help="frames filmed per size and speed (default 12)")
    ap.add_argument("--zoom", type=int, default=3, help="enlargement of the scene (default 3)")
    ap.add_argument("--testdata", default=str(Path(__file__).resolve().parent.parent / ".cache" / "testdata"))
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    c = load_scenes(args.testdata)["conifer"]
    k = args.zoom
    scene = Scene(
        "conifer",
        cv2.resize(c.image, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC),
        cv2.resize(c.mask, None, fx=k, fy=k, interpolation=cv2.INTER_NEAREST),
    )
    result = {"load_average_start": load_average(), "runs": []}
    for size in args.sizes:
        for speed in ("slow", "fast"):
            frames, _masks, path = render(scene, args.frames, size, SPEEDS[speed], np.random.default_rng(0))
            errors = corner_errors(frames, path, size)
            result["runs"].append(
                {
                    "size": size,
                    "speed": speed,
                    "within_1px": round(sum(e <= 1 for e in errors) / len(errors), 3),
                    "median_error_px": round(float(np.median(errors)), 3),
                }
            )
    result.update(load_average_end=load_average(), machine=machine())
    emit(result, args.out)


if __name__ == "__main__":
    main()
