"""Video I/O throughput: frames/s importing a video into a project, and for random frame access.

Generates an mp4v video with OpenCV (or uses --video), then prints one JSON object. Example:
    python benchmarks/io_bench.py --frames 300 --height 720 --width 1280
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import emit, machine


def make_video(path: Path, n: int, h: int, w: int, fps: float = 25.0) -> Path:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    yy, xx = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 40, (h, w, 1), dtype=np.uint8)
    for k in range(n):
        f = np.dstack([(xx + 3 * k) % 256, (yy + 2 * k) % 256, np.full((h, w), (5 * k) % 256)]).astype(np.uint8)
        writer.write(f + noise)
    writer.release()
    return path


def bench(video: Path, n_random: int, workdir: Path, preprocess: bool) -> dict:
    from dvos_core.io import Preprocess, import_video, open_video
    from dvos_core.store import Project

    with open_video(video) as r:
        n, h, w = len(r), r.height, r.width
        t0 = time.perf_counter()
        for _ in r:
            pass
        decode_fps = n / (time.perf_counter() - t0)
    project = Project.create(workdir / "bench.dvos")
    pre = Preprocess.paper() if preprocess else None
    t0 = time.perf_counter()
    v = import_video(project, video, preprocess=pre)
    import_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    idx = rng.integers(0, n, n_random)
    with open_video(video) as r:
        t0 = time.perf_counter()
        for k in idx:
            r[int(k)]
        file_random_fps = n_random / (time.perf_counter() - t0)
        seek = r.seek_verified
    t0 = time.perf_counter()
    for k in idx:
        v.frame(int(k))
    store_random_fps = n_random / (time.perf_counter() - t0)
    return {
        "video": str(video),
        "frames": n,
        "size": [h, w],
        "stored_size": list(v.shape[1:3]),
        "paper_preprocess": preprocess,
        "decode_sequential_fps": round(decode_fps, 1),
        "import_fps": round(n / import_s, 1),
        "random_access_file_fps": round(file_random_fps, 1),
        "seek_verified": seek,
        "random_access_store_fps": round(store_random_fps, 1),
        "random_reads": int(n_random),
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, help="benchmark this video instead of a generated one")
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--random", type=int, default=100, help="random frame reads")
    ap.add_argument("--paper-preprocess", action="store_true", help="resize to 1024 high + 1024x1024 crop on import")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        video = args.video or make_video(d / "bench.mp4", args.frames, args.height, args.width)
        emit({"machine": machine(), **bench(video, args.random, d, args.paper_preprocess)})


if __name__ == "__main__":
    main()
