"""Model speed and memory: eval forward per clip at 256^2 / 512^2 and a training step, CPU or CUDA, as JSON.

    python benchmarks/model_bench.py                       # paper preset, CPU, 2 threads (< 3 min)
    python benchmarks/model_bench.py --device cuda --sizes 256 512 1024
    python benchmarks/model_bench.py --preset small --kind frame

"fast" is our inference mode: eval(), torch.inference_mode(), channels-last tensors and weights, skip diffusion off.
"baseline" mimics the reference code's inference: NCHW, no_grad and skip diffusion on (it ignored eval()).
REFERENCE_FORWARD_S is the reference implementation's measured paper-preset forward at 256^2 on 2 CPU threads.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch
from _common import emit, machine

REFERENCE_FORWARD_S = 2.8  # reference DVOS code, paper preset, 256^2, batch 1, 2 CPU threads (median of 5)
REFERENCE_PEAK_RSS_GB = 6.5


def peak_rss_gb() -> float | None:
    """Peak resident memory of this process (VmHWM) in GB; None where /proc is unavailable."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    except Exception:
        return None


def reset_peak_rss() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, repeats: int, warmup: int = 1) -> dict:
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return {
        "median_s": round(statistics.median(times), 4),
        "min_s": round(min(times), 4),
        "max_s": round(max(times), 4),
        "repeats": repeats,
    }


def make_input(model, size, batch, device):
    shape = (batch, model.tau, 3, size, size) if model.kind == "dvos" else (batch, 3, size, size)
    return torch.randn(shape, device=device)


def bench_forward(model, size, device, repeats, mode, amp):
    x = make_input(model, size, 1, device)
    if mode == "fast":
        model.eval()
        m = model.to(memory_format=torch.channels_last)

        def fn():
            with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16, enabled=amp):
                xx = x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x
                m(xx)
    else:  # reference-like: NCHW, autograd bookkeeping off via no_grad, skip diffusion active
        model.eval()
        m = model.to(memory_format=torch.contiguous_format)

        def fn():
            with torch.no_grad():
                m(x, stochastic=True)

    reset_peak_rss()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    r = timed(fn, device, repeats)
    r["peak_rss_gb"] = round(peak_rss_gb() or float("nan"), 3)
    if device.type == "cuda":
        r["peak_cuda_gb"] = round(torch.cuda.max_memory_allocated() / 1024**3, 3)
    return r


def bench_train_step(model, size, batch, device, repeats, amp):
    from dvos_core.train.losses import LossWeights, dvos_loss

    model.train().to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-5)
    x = make_input(model, size, batch, device)
    mask = (torch.rand(batch, 1, size, size, device=device) > 0.5).float()
    target = torch.randn(batch, 3, size, size, device=device)

    def fn():
        with torch.autocast(device.type, torch.bfloat16, enabled=amp):
            out = model(x)
        loss, _ = dvos_loss(out, mask, target, LossWeights())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    reset_peak_rss()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    r = timed(fn, device, repeats)
    r.update(batch=batch, peak_rss_gb=round(peak_rss_gb() or float("nan"), 3))
    if device.type == "cuda":
        r["peak_cuda_gb"] = round(torch.cuda.max_memory_allocated() / 1024**3, 3)
    return r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--kind", default="dvos", choices=("dvos", "frame"))
    ap.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    ap.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: DVOS_THREADS, else the free cores)"
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per measurement (default 3 CPU, 20 CUDA)")
    ap.add_argument("--train-size", type=int, default=256)
    ap.add_argument("--train-batch", type=int, default=2)
    ap.add_argument("--no-train", action="store_true", help="skip the training-step measurement")
    ap.add_argument("--no-baseline", action="store_true", help="skip the reference-like baseline forward")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args(argv)

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    from dvos_core.model import build_model, describe_device, select_device
    from dvos_core.threads import set_threads

    args.threads = set_threads(args.threads)
    device = select_device(args.device)
    amp = device.type == "cuda" and torch.cuda.is_bf16_supported()
    cpu_repeats = args.repeats or (3 if device.type == "cpu" else 20)
    torch.manual_seed(0)
    model = build_model(args.preset, args.kind).to(device)
    result = {
        "preset": args.preset,
        "kind": args.kind,
        "params": sum(p.numel() for p in model.parameters()),
        "device": describe_device(device),
        "machine": machine(),
        "bf16_autocast": amp,
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "forward": {},
    }
    for size in args.sizes:
        reps = cpu_repeats if (size <= 256 or device.type == "cuda") else 1
        entry = {"fast": bench_forward(model, size, device, reps, "fast", amp)}
        if not args.no_baseline and device.type == "cpu" and size <= 256:
            entry["baseline"] = bench_forward(model, size, device, reps, "baseline", False)
            entry["speedup_vs_baseline"] = round(entry["baseline"]["median_s"] / entry["fast"]["median_s"], 2)
        result["forward"][str(size)] = entry
    f256 = result["forward"].get("256", {}).get("fast")
    if f256 and args.preset == "paper" and args.kind == "dvos" and device.type == "cpu" and args.threads == 2:
        result["reference_forward_256_s"] = REFERENCE_FORWARD_S
        result["speedup_vs_reference"] = round(REFERENCE_FORWARD_S / f256["median_s"], 2)
        result["reference_peak_rss_gb"] = REFERENCE_PEAK_RSS_GB
    if not args.no_train:
        reps = 1 if device.type == "cpu" else 10
        result["train_step"] = {
            str(args.train_size): bench_train_step(model, args.train_size, args.train_batch, device, reps, amp)
        }
    result["peak_rss_gb"] = round(peak_rss_gb() or float("nan"), 3)
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
