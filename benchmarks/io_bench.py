"""Video I/O throughput: frames/s importing a video into a project, and for random frame access.

Generates an mp4v video with OpenCV (or uses --video), then prints one JSON object. Example:
    python benchmarks/io_bench.py --frames 300 --height 720 --width 1280

``--long-import 1000,10000`` adds the cost of long imports of small frames (``--long-size``, default 64²), each in a
fresh process: seconds, peak RSS, and Zarr array resizes and attribute writes per 1,000 frames; with
``--baseline-src DIR`` (e.g. a checkout of main) the same runs use that tree's ``dvos_core`` too, side by side:
    python benchmarks/io_bench.py --frames 50 --long-import 1000,10000 --baseline-src /work/main

``--objects N`` times ``ObjectBank.get(id)`` and the extracted-frames set in a bank of N objects, through the id index
and today's way (decoding the whole table), side by side. ``--sharding N`` compares Zarr v3 sharding (64 frames per
file) with today's one file per frame on N frames of ``--shard-size``²: files, writes, random and sequential reads.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import emit, load_average, machine, peak_rss_mb


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


def _vm_hwm_mb() -> float | None:
    """Peak resident memory since the last reset (Linux VmHWM), in MB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _reset_peak_rss() -> float:
    """Reset the peak to the current RSS (Linux: /proc/self/clear_refs), so imports done before (torch, OpenCV)
    do not hide the import's own peak; returns the current RSS in MB."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    with open("/proc/self/statm") as f:
        return round(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def _import_child(video: Path, workdir: Path) -> dict:
    """Import ``video`` once in this (fresh) process, counting Zarr resizes and attribute writes."""
    import zarr

    counts = {"resizes": 0, "attr_writes": 0}
    resize, update = zarr.Array.resize, zarr.Group.update_attributes

    def counting_resize(self, *a, **k):
        counts["resizes"] += 1
        return resize(self, *a, **k)

    def counting_update(self, *a, **k):
        counts["attr_writes"] += 1
        return update(self, *a, **k)

    zarr.Array.resize, zarr.Group.update_attributes = counting_resize, counting_update
    from dvos_core.io import import_video
    from dvos_core.store import Project

    project = Project.create(workdir / "long.dvos")
    before = _reset_peak_rss()
    t0 = time.perf_counter()
    v = import_video(project, video)
    seconds = time.perf_counter() - t0
    peak = _vm_hwm_mb() or peak_rss_mb()
    n = len(v)
    per_k = 1000 / n
    return {
        "frames": n,
        "import_s": round(seconds, 2),
        "import_fps": round(n / seconds, 1),
        "peak_rss_mb": peak,
        "rss_before_import_mb": before,
        "peak_over_start_mb": round(peak - before, 1),
        "resizes_per_1000_frames": round(counts["resizes"] * per_k, 1),
        "attr_writes_per_1000_frames": round(counts["attr_writes"] * per_k, 1),
        "files_in_frames_array": sum(len(f) for _, _, f in os.walk(Path(project.path) / "videos" / v.name / "frames")),
    }


def long_imports(ns, size: int, workdir: Path, src: Path | None = None) -> dict:
    """Each long import in a fresh process (peak RSS is per process), with ``src``'s dvos_core when given."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    out = {}
    for n in ns:
        video = workdir / f"long{n}.mp4"
        if not video.exists():
            make_video(video, n, size, size)
        child = Path(tempfile.mkdtemp(prefix=f"import{n}-", dir=workdir))
        r = subprocess.run(
            [sys.executable, __file__, "--import-child", str(video), "--workdir", str(child)],
            capture_output=True,
            text=True,
            env=env,
        )
        if r.returncode:
            raise RuntimeError(r.stderr[-2000:])
        out[str(n)] = json.loads(r.stdout)
    runs = list(out.values())
    if len(runs) >= 2:
        a, b = runs[0], runs[-1]
        out["peak_growth_mb_per_1000_frames"] = round(
            1000 * (b["peak_over_start_mb"] - a["peak_over_start_mb"]) / (b["frames"] - a["frames"]), 2
        )
    return out


def object_bank(n: int, workdir: Path, lookups: int = 200) -> dict:
    """An object bank of ``n`` small crops: ``get(id)`` and the extracted-frames set through the id index against
    today's path (decode the whole table; ``iterrows`` for the frames set), measured side by side."""
    from dvos_core.store import Project

    project = Project.create(workdir / "objects.dvos")
    bank = project.objects
    rng = np.random.default_rng(0)
    crop = np.zeros((6, 5, 4), np.uint8)
    for start in range(0, n, 10_000):
        bank.add(
            (crop, {"kind": "head" if i % 3 else "fake", "video": f"v{i % 7}", "frame": i // 20, "area": 30.0})
            for i in range(start, min(n, start + 10_000))
        )
    ids = rng.integers(0, n, lookups)
    t0 = time.perf_counter()
    for i in ids:
        bank.get(int(i))
    index_ms = 1000 * (time.perf_counter() - t0) / lookups
    few = ids[:5]
    t0 = time.perf_counter()
    for i in few:  # today's path: decode the whole table for every get
        next(bank._read(r) for r in bank._rows() if r["id"] == int(i))
    table_ms = 1000 * (time.perf_counter() - t0) / len(few)
    t0 = time.perf_counter()
    done = bank.frames_with("head")
    frames_index_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    old = {(r["video"], int(r["frame"])) for _, r in bank.table().iterrows() if r.get("kind") == "head"}
    frames_iterrows_s = time.perf_counter() - t0
    assert old == done
    return {
        "objects": n,
        "get_ms_index": round(index_ms, 3),
        "get_ms_table_decode": round(table_ms, 1),
        "get_speedup": round(table_ms / index_ms, 1),
        "extracted_frames_s_index": round(frames_index_s, 3),
        "extracted_frames_s_iterrows": round(frames_iterrows_s, 2),
    }


def sharding(n: int, size: int, workdir: Path, per_shard: int = 64, batch: int = 8, reads: int = 200) -> dict:
    """Frames (n, size, size, 3) in today's layout (one chunk, one file per frame) against Zarr v3 sharding
    (``per_shard`` frames per file, one inner chunk per frame): files, write time (batches of ``batch`` frames, as an
    import commits them), random single-frame reads, sequential reads (``batch`` frames at a time) and rewriting
    one frame (what a mask write costs in that layout)."""
    import zarr

    from dvos_core.store.arrays import image_codecs

    h = w = size
    yy, xx = np.mgrid[0:h, 0:w]
    noise = np.random.default_rng(0).integers(0, 40, (h, w, 1), dtype=np.uint8)

    def frame(k):
        return (
            np.dstack([(xx + 3 * k) % 256, (yy + 2 * k) % 256, np.full((h, w), (5 * k) % 256)]).astype(np.uint8) + noise
        )

    frames = [frame(k) for k in range(min(n, 64))]
    rng = np.random.default_rng(1)
    order = rng.integers(0, n, reads)
    out = {"frames": n, "size": [h, w], "frames_per_shard": per_shard, "write_batch": batch}
    for name, shards in (("per_frame_chunks", None), ("sharded", (per_shard, h, w, 3))):
        root = workdir / f"shard-{name}"
        arr = zarr.create_array(
            str(root),
            shape=(n, h, w, 3),
            chunks=(1, h, w, 3),
            shards=shards,
            dtype="uint8",
            compressors=image_codecs(),
            fill_value=0,
        )
        t0 = time.perf_counter()
        for k in range(0, n, batch):
            arr[k : min(n, k + batch)] = np.stack([frames[j % len(frames)] for j in range(k, min(n, k + batch))])
        write_s = time.perf_counter() - t0
        files = sum(len(f) for _, _, f in os.walk(root))
        arr = zarr.open_array(str(root), mode="r")
        t0 = time.perf_counter()
        for k in order:
            arr[int(k)]
        random_ms = 1000 * (time.perf_counter() - t0) / reads
        t0 = time.perf_counter()
        for k in range(0, n, batch):
            arr[k : k + batch]
        seq_fps = n / (time.perf_counter() - t0)
        arr = zarr.open_array(str(root), mode="r+")
        t0 = time.perf_counter()
        for k in order[:20]:
            arr[int(k)] = frames[0]
        rewrite_ms = 1000 * (time.perf_counter() - t0) / 20
        out[name] = {
            "files": files,
            "write_fps": round(n / write_s, 1),
            "random_read_ms": round(random_ms, 2),
            "sequential_read_fps": round(seq_fps, 1),
            "rewrite_one_frame_ms": round(rewrite_ms, 2),
            "bytes": sum(f.stat().st_size for f in root.rglob("*") if f.is_file()),
        }
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, help="benchmark this video instead of a generated one")
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--random", type=int, default=100, help="random frame reads")
    ap.add_argument("--paper-preprocess", action="store_true", help="resize to 1024 high + 1024x1024 crop on import")
    ap.add_argument("--long-import", help="comma-separated frame counts of long small-frame imports, e.g. 1000,10000")
    ap.add_argument("--long-size", type=int, default=64, help="frame side of the long imports")
    ap.add_argument("--baseline-src", type=Path, help="also run the long imports with this tree's dvos_core")
    ap.add_argument("--import-child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--objects", type=int, help="also time object-bank lookups in a bank of this many objects")
    ap.add_argument("--sharding", type=int, help="also compare Zarr sharding with per-frame chunks on this many frames")
    ap.add_argument("--shard-size", type=int, default=128, help="frame side for --sharding")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args(argv)
    if args.import_child:
        print(json.dumps(_import_child(args.import_child, args.workdir)))
        return
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        video = args.video or make_video(d / "bench.mp4", args.frames, args.height, args.width)
        result = {"machine": machine(), **bench(video, args.random, d, args.paper_preprocess)}
        if args.long_import:
            ns = [int(x) for x in args.long_import.split(",")]
            key = f"long_import_{args.long_size}x{args.long_size}"
            result[key] = long_imports(ns, args.long_size, d)
            if args.baseline_src:
                result[key + "_baseline"] = {
                    "src": str(args.baseline_src),
                    **long_imports(ns, args.long_size, d, args.baseline_src),
                }
        if args.sharding:
            result["sharding"] = sharding(args.sharding, args.shard_size, d)
        if args.objects:
            result["object_bank"] = object_bank(args.objects, d)
        result["load_average_end"] = load_average()
        emit(result, args.out)


if __name__ == "__main__":
    main()
