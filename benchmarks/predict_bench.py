"""End-to-end prediction throughput, today's plain path and the optimised path side by side (read, infer, write).

For every case the two paths run alternately (baseline, optimised, then optimised, baseline, ...) on the same frames
with the same (untrained, seeded) weights, each run in its own process so that its allocator settings and peak
memory (RSS, and CUDA peak allocation) belong to that run only. A case predicts frames tau .. tau+frames-1 of a
stored video (so every window is full and the feature cache starts cold, as at the start of a video).

* ``baseline``: ``predict_video(..., optimize=False)``: one full forward (mask and frame heads) per window, the
  encoder run on all tau frames of every window, stock convolution kernels, glibc's default allocator behaviour,
  and the model input as that path made it (a channels-last view of the (H, W, 3) frames, see
  :func:`historical_model_input`).
* ``optimized``: the default ``predict_video``: each frame encoded once (feature cache), mask head only, on a CPU
  each convolution shape's fastest kernel (stock, NNPACK Winograd or polyphase, measured on its first calls in
  the run, so the benchmark pays for the measuring) and freed memory kept for reuse. ``--precision bf16`` runs it in
  bfloat16 instead (a CPU with native bfloat16; the baseline stays as it was): its probabilities then differ by up
  to a few hundredths, so that ratio is reported for what it is, not as the float32 path's.

Prints one JSON document (and writes it with --out): per case both runs' rates end to end and in steady state
(after the first batch is written: caches warm, one-time set-up done, as through a long video), the wall-clock,
steady-state and CPU-time ratios, each path's system time and page faults per frame (what memory touched for the
first time cost it), and the largest difference between the two paths' probabilities. On a shared
machine use --threads 1 and read the recorded load average.

    python benchmarks/predict_bench.py [--threads 1] [--device cpu|cuda|all] [--quick] [--cases 2] [--frames 16]
                                       [--repeats 1] [--out f.json]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import statistics
import sys
import tempfile
import time
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # its helpers, also when imported
from _common import emit, kernel_share, load_average, machine, peak_rss_mb

CASES = [  # (preset, size, frames, batch): sized for a few minutes on a 2-core CPU; CUDA runs 16x the frames
    ("small", 512, 6, 2),
    ("small", 1024, 2, 1),
    ("paper", 512, 4, 1),
]
MODES = ("baseline", "optimized")


def historical_model_input(frames, device=None, dtype=None):
    """``dvos_core.model.to_model_input`` as today's path had it: the same values laid out channels-last in memory
    (the moved-axis view of the (H, W, 3) frames it used to return). The product now lays them out channels first,
    which makes the optimised path faster (the attention blocks' stacking no longer transposes) but the plain path's
    stock kernels slower (7-16% measured on a Zen 3), so the baseline keeps the layout it had: the faster plain path."""
    import torch

    from dvos_core.model.normalize import to_model_input

    t = to_model_input(frames, device, dtype or torch.float32)
    return t.movedim(-3, -1).contiguous().movedim(-1, -3)


def run_case(
    preset: str, size: int, n_frames: int, batch: int, device: str, mode: str, threads, queue, precision: str = "auto"
) -> None:
    import numpy as np
    import torch

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from dvos_core.infer import predict_video
    from dvos_core.model import build_model, describe_device, select_device
    from dvos_core.store import Project
    from dvos_core.store.predictions import ModelPredictions
    from dvos_core.threads import set_threads

    n_threads = set_threads(threads)
    dev = select_device(device)
    captured, written_at = {}, []
    plain_write = ModelPredictions.set_many

    def capture(self, ts, probabilities, *args, **kwargs):  # keep the float32 maps for the accuracy comparison
        captured.update({int(t): np.array(p, np.float32) for t, p in zip(ts, probabilities)})
        plain_write(self, ts, probabilities, *args, **kwargs)
        written_at.append((time.perf_counter(), len(ts)))

    import dvos_core.model

    # every single-process prediction write goes through set_many; the patches end with the run
    model_input = historical_model_input if mode == "baseline" else dvos_core.model.to_model_input
    with (
        mock.patch.object(ModelPredictions, "set_many", capture),
        mock.patch.object(dvos_core.model, "to_model_input", model_input),
        tempfile.TemporaryDirectory() as d,
    ):
        p = Project.create(f"{d}/bench.dvos")
        torch.manual_seed(0)
        model = build_model(preset, "dvos").eval()
        tau = model.tau
        rng = np.random.default_rng(0)
        v = p.create_video("v", size, size)
        v.append_frames(rng.integers(0, 255, (size, size, 3), dtype=np.uint8) for _ in range(tau + n_frames))
        info = {"input_size": model.config.input_size}
        targets = list(range(tau, tau + n_frames))
        kw = {"device": str(dev), "batch_size": batch, "resume": False, "optimize": mode == "optimized"}
        kw["scales"] = "own"  # each frame at its own scale on both sides: the engine is what is measured
        kw["precision"] = precision if mode == "optimized" else "auto"  # the baseline as it was
        if dev.type == "cuda":  # warm-up (kernel selection, allocator), not timed
            predict_video(p, "v", (model, info), frames=targets[:1], **kw)
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        captured.clear()
        written_at.clear()
        cpu0, t0, kernel0 = time.process_time(), time.perf_counter(), kernel_share()
        n = predict_video(p, "v", (model, info), frames=targets, **kw)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        dt, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        sys_s, faults = (b - a for a, b in zip(kernel0, kernel_share()))
        from dvos_core.infer.engine import default_tile_size

        steady = None  # after the first write: warm caches, one-time set-up done (as in a long video)
        if len(written_at) > 1:
            steady = sum(k for _, k in written_at[1:]) / (written_at[-1][0] - written_at[0][0])
        out = {
            "mode": mode,
            "frames": n,
            "seconds": round(dt, 3),
            "frames_per_s": round(n / dt, 4),
            "steady_frames_per_s": None if steady is None else round(steady, 4),
            "sys_s_per_frame": round(sys_s / max(n, 1), 3),
            "page_faults_per_frame": round(faults / max(n, 1)),
            "cpu_s_per_frame": round(cpu / n, 3),
            "threads": n_threads,
            "tile_size": default_tile_size(info),
            "params_m": round(sum(q.numel() for q in model.parameters()) / 1e6, 2),
            "device": describe_device(dev, kw["precision"]),
            "peak_rss_mb": peak_rss_mb(),
            "load_1m_after": round(os.getloadavg()[0], 2),
            "probabilities": np.stack([captured[t] for t in targets]),
        }
        if dev.type == "cuda":
            out["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    queue.put(out)


def run_in_process(ctx, case, device, mode, threads, precision="auto") -> dict:
    q = ctx.Queue()
    proc = ctx.Process(target=run_case, args=(*case, device, mode, threads, q, precision))
    proc.start()
    r = None
    while r is None:  # drain before join (a large result must be read for the child to exit); a dead child ends it
        try:
            r = q.get(timeout=5)
        except queue.Empty:
            if not proc.is_alive():  # it may have reported just before ending: one last look
                try:
                    r = q.get(timeout=1)
                except queue.Empty:
                    r = {"mode": mode, "error": f"the run died (exit code {proc.exitcode}) before reporting"}
    proc.join()
    if proc.exitcode != 0:
        r = {"mode": mode, "error": f"exit code {proc.exitcode}"}
    return r


def compare(case, device, runs: dict) -> dict:
    import numpy as np

    preset, size, n, batch = case
    row = {"preset": preset, "size": size, "frames": n, "batch_size": batch, "device": device}
    for mode in MODES:
        ok = [r for r in runs[mode] if "error" not in r]
        if not ok:
            row[mode] = {"error": [r.get("error") for r in runs[mode]]}
            continue
        steady = [r["steady_frames_per_s"] for r in ok if r["steady_frames_per_s"]]
        row[mode] = {
            "frames_per_s": round(statistics.median(r["frames_per_s"] for r in ok), 4),
            "steady_frames_per_s": round(statistics.median(steady), 4) if steady else None,
            "cpu_s_per_frame": round(statistics.median(r["cpu_s_per_frame"] for r in ok), 3),
            "sys_s_per_frame": statistics.median(r["sys_s_per_frame"] for r in ok),
            "page_faults_per_frame": statistics.median(r["page_faults_per_frame"] for r in ok),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in ok),
            "runs_s": [r["seconds"] for r in ok],
            "load_1m_after": [r["load_1m_after"] for r in ok],
        }
        for key in ("threads", "tile_size", "params_m", "device", "peak_cuda_mb"):
            if key in ok[0]:
                row[key if key != "device" else "device_line"] = ok[0][key]
    if all("error" not in row[m] for m in MODES):
        b, o = row["baseline"], row["optimized"]
        row["speedup_wall"] = round(o["frames_per_s"] / b["frames_per_s"], 2)
        if b["steady_frames_per_s"] and o["steady_frames_per_s"]:
            row["speedup_steady"] = round(o["steady_frames_per_s"] / b["steady_frames_per_s"], 2)
        row["speedup_cpu"] = round(b["cpu_s_per_frame"] / o["cpu_s_per_frame"], 2)
        pb = next(r for r in runs["baseline"] if "error" not in r)["probabilities"]
        po = next(r for r in runs["optimized"] if "error" not in r)["probabilities"]
        row["max_abs_prob_diff"] = float(np.abs(pb - po).max())
    return row


def main(argv=None) -> int:
    from dvos_core.prediction_options import PRECISIONS  # no torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="all", help="cpu, cuda, auto, or all (cpu + cuda when present)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads per run (default: DVOS_THREADS or all)")
    ap.add_argument("--quick", action="store_true", help="first case only")
    ap.add_argument("--cases", nargs="+", type=int, help="case numbers to run (0-based, see CASES)")
    ap.add_argument("--repeats", type=int, default=1, help="runs of each path per case (default 1)")
    ap.add_argument(
        "--frames",
        type=int,
        help="frames predicted per case instead of the case's own (a longer run weighs the "
        "one-time start of a video less, as in a long field video)",
    )
    ap.add_argument(
        "--batch",
        type=int,
        help="windows per prediction step instead of the case's own (`dvos predict --batch-size`; its default is 4)",
    )
    ap.add_argument("--mode", choices=("both", *MODES), default="both", help="run one path only")
    ap.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="number format of the optimised path (default auto: float32 on a CPU); bf16 needs a CPU with native "
        "bfloat16 or a GPU with it",
    )
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args(argv)
    if args.batch is not None and args.batch < 1:
        ap.error(f"--batch must be >= 1, got {args.batch}")
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) if args.device == "all" else [args.device]
    modes = MODES if args.mode == "both" else (args.mode,)
    ctx = mp.get_context("spawn")
    results = []
    load_before = load_average()
    for device in devices:
        cases = [CASES[i] for i in args.cases] if args.cases else CASES[:1] if args.quick else CASES
        if args.frames or args.batch:
            cases = [(p, s, args.frames or n, args.batch or b) for p, s, n, b in cases]
        elif device == "cuda" and not args.quick:  # more frames on a GPU for a stable rate
            cases = [(p, s, n * 16, b * 2) for p, s, n, b in cases]
        for case in cases:
            runs = {m: [] for m in MODES}
            for rep in range(args.repeats):
                for mode in modes if rep % 2 == 0 else modes[::-1]:  # alternate the order: drift hits both
                    r = run_in_process(ctx, case, device, mode, args.threads, args.precision)
                    runs[mode].append(r)
                    rate = r.get("frames_per_s", float("nan"))
                    print(f"{device:>5} {case[0]:>6} {case[1]:>5}px {mode:>9}: {rate:.3f} frames/s", file=sys.stderr)
            if args.mode != "both":
                for m in MODES:
                    runs[m] = runs[m] or [{"error": "not run"}]
            results.append({**compare(case, device, runs), "optimized_precision": args.precision})
    doc = {
        "benchmark": "predict_video end to end (read, infer, write): plain path vs optimised path",
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "results": results,
    }
    emit(doc, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
