"""End-to-end prediction throughput: read frames from the store, infer, write probabilities back.

Each case runs in its own process so that peak memory (RSS, and CUDA peak allocation) belongs to that case only.
Prints one JSON document (and writes it with --out). Untrained weights: speed does not depend on them.

    python benchmarks/predict_bench.py [--device cpu|cuda|auto] [--quick] [--out bench.json]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time

from _common import emit, machine, peak_rss_mb

CASES = [  # (preset, size, frames, batch): sized for < 3 min on a 2-core CPU; CUDA runs 16x the frames
    ("small", 512, 2, 2),
    ("small", 1024, 1, 1),
    ("paper", 512, 1, 1),
]


def run_case(preset: str, size: int, n_frames: int, batch: int, device: str, queue) -> None:
    import numpy as np
    import torch

    from dvos_core.infer import predict_video
    from dvos_core.model import build_model, describe_device, select_device
    from dvos_core.store import Project

    dev = select_device(device)
    with tempfile.TemporaryDirectory() as d:
        p = Project.create(f"{d}/bench.dvos")
        rng = np.random.default_rng(0)
        v = p.create_video("v", size, size)
        n_frames = max(n_frames, 1)
        v.append_frames(rng.integers(0, 255, (size, size, 3), dtype=np.uint8) for _ in range(n_frames))
        model = build_model(preset, "dvos").eval()
        info = {"input_size": model.config.input_size}
        if dev.type == "cuda":  # warm-up (kernel selection, allocator), not timed
            predict_video(p, "v", (model, info), device=str(dev), batch_size=batch, frames=[model.tau])
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        n = predict_video(p, "v", (model, info), device=str(dev), batch_size=batch, resume=False)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        from dvos_core.infer.engine import default_tile_size

        out = {
            "preset": preset,
            "size": size,
            "frames": n,
            "batch_size": batch,
            "seconds": round(dt, 3),
            "frames_per_s": round(n / dt, 3),
            "tile_size": default_tile_size(info),
            "params_m": round(sum(q.numel() for q in model.parameters()) / 1e6, 2),
            "device": describe_device(dev),
            "peak_rss_mb": peak_rss_mb(),
        }
        if dev.type == "cuda":
            out["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    queue.put(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="all", help="cpu, cuda, auto, or all (cpu + cuda when present)")
    ap.add_argument("--quick", action="store_true", help="first case only")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args(argv)
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) if args.device == "all" else [args.device]
    ctx = mp.get_context("spawn")
    results = []
    for device in devices:
        cases = CASES[:1] if args.quick else CASES
        if device == "cuda" and not args.quick:  # more frames on a GPU for a stable rate
            cases = [(p, s, n * 16, b * 2) for p, s, n, b in cases]
        for case in cases:
            q = ctx.Queue()
            proc = ctx.Process(target=run_case, args=(*case, device, q))
            proc.start()
            proc.join()
            if proc.exitcode != 0:
                results.append(
                    {"preset": case[0], "size": case[1], "device": device, "error": f"exit code {proc.exitcode}"}
                )
                continue
            r = q.get()
            print(
                f"{device:>5} {r['preset']:>6} {r['size']:>5}px: {r['frames_per_s']:.2f} frames/s, peak RSS "
                f"{r['peak_rss_mb']} MB",
                file=sys.stderr,
            )
            results.append(r)
    doc = {"benchmark": "predict_video end to end (read, infer, write)", "machine": machine(), "results": results}
    emit(doc, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
