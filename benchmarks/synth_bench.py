"""Synthesis speed: frames/s on one core at 512² and 1024² (~50 heads + ~50 fakes per frame), peak memory, and the
time of a 16-frame 512² preview read from a project store. Prints JSON (and writes it with --out).

    python benchmarks/synth_bench.py [--frames 60] [--repeats 2] [--out synth_bench.json]

"frames_per_cpu_s" divides by the process's CPU time, so it stays meaningful on a shared, loaded machine;
"frames_per_s_wall" is the plain wall-clock rate. Each measurement runs in a fresh single-threaded process (OpenCV
threads = 1), so "per core" is literal and the peak resident memory (ru_maxrss) belongs to that measurement alone.
Inputs are the procedural toy heads of dvos_core.synth.toy (40-70 px long, like wheat heads at 1024² in the paper's
videos); "render_halo" repeats each size with the same objects cut with a ring of field around them (``--halo-px``,
the extraction default), as heads cut from real frames are.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import resource
import tempfile
import time

from _common import emit, machine

from dvos_core.object_format import HALO_PX


def _single_thread():
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    import cv2

    cv2.setNumThreads(1)


def _render(size: int, frames: int, repeats: int, halo_px: int, queue) -> None:
    _single_thread()
    import numpy as np

    from dvos_core.synth import SynthConfig, simulate_clip
    from dvos_core.synth.toy import toy_background, toy_objects

    rng = np.random.default_rng(0)
    heads, fakes = toy_objects(rng, 24, 24, halo_px=halo_px)
    bg = toy_background(rng, frames, size + 160, size + 160)
    cfg = SynthConfig(n_frames=frames, height=size, width=size, n_heads=(50, 50), n_fakes=(50, 50))
    simulate_clip(heads, fakes, bg[:2], cfg.replace(n_frames=2), seed=99)  # warm-up (imports, caches)
    _, _, info = simulate_clip(heads, fakes, bg[:2], cfg.replace(n_frames=2), seed=0, return_info=True)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    best, best_cpu = float("inf"), float("inf")
    for r in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        simulate_clip(heads, fakes, bg, cfg, seed=r)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    queue.put(
        {
            "size": size,
            "halo_px": halo_px,
            "frames": frames,
            "seconds_per_clip": round(best, 3),
            "frames_per_s_wall": round(frames / best, 1),
            "frames_per_cpu_s": round(frames / best_cpu, 1),
            "objects_in_world": info["n_real"] + info["n_fake"],
            "heads_visible_first_frames": int(info["heads_visible"][0]),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "peak_rss_added_by_render_mb": round(
                (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss) / 1024, 1
            ),
        }
    )


def _preview(queue) -> None:
    _single_thread()
    from dvos_core.synth import preview
    from dvos_core.synth.toy import toy_project

    with tempfile.TemporaryDirectory() as d:
        toy_project(os.path.join(d, "bench.dvos"), n_heads=40, n_fakes=40, bg_frames=30, bg_size=(720, 1280))
        preview(os.path.join(d, "bench.dvos"), n_frames=2, size=128)  # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        frames, _ = preview(os.path.join(d, "bench.dvos"), seed=1, n_frames=16, size=512)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    queue.put(
        {
            "preview_16x512_seconds_wall": round(dt, 3),
            "preview_16x512_cpu_seconds": round(cpu, 3),
            "preview_frames": int(len(frames)),
        }
    )


def _run(target, *args):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=args + (q,))
    p.start()
    while True:  # a child that dies (e.g. a missing dependency) must not leave us waiting forever
        try:
            out = q.get(timeout=1.0)
            break
        except queue.Empty:
            if not p.is_alive():
                raise RuntimeError(
                    f"benchmark process {target.__name__} exited with code {p.exitcode} before "
                    f"reporting; its error is printed above"
                ) from None
    p.join()
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    ap.add_argument("--halo-px", type=int, default=HALO_PX, help="halo of the render_halo runs (0: skip them)")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args(argv)
    result = {
        "machine": machine(),
        "render": [_run(_render, s, args.frames, args.repeats, 0) for s in args.sizes],
        "preview": _run(_preview),
    }
    if args.halo_px > 0:
        result["render_halo"] = [_run(_render, s, args.frames, args.repeats, args.halo_px) for s in args.sizes]
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
