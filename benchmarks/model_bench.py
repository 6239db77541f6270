"""Model speed and memory: the reference code's way of running the model vs dvos's prediction path, as JSON.

    python benchmarks/model_bench.py --threads 1                         # paper preset, 256^2 and 512^2, CPU
    python benchmarks/model_bench.py --preset small --sizes 256 --repeats 3
    python benchmarks/model_bench.py --device cuda --sizes 256 512 1024

Both sides use the same weights (one seed), the same frames and the same thread count, and run alternately, each
measurement in a fresh process (so each peak memory is its own):
* ``reference``: one query the way the authors' code runs its model: the tau reference frames as a list, the encoder
  once per frame, skip diffusion on (it ignored ``eval()``), both heads (frame and mask), fp32, ``no_grad``.
* ``dvos``: one frame of a video predicted by :class:`dvos_core.infer.engine.Predictor` as ``dvos predict`` runs it:
  uint8 frames in, normalisation, padding, the encoder-feature cache (in steady state each frame is encoded once),
  the mask head only, the fast CPU kernels. Timed per frame over a stream of frames after a warm-up.
* ``dvos_plain``: the same Predictor with ``optimize=False`` (one full forward per window, stock kernels).
Ratios are reference / dvos (time and peak RSS). ``--train`` adds one training step (forward + backward + AdamW),
in each of ``--train-precisions`` (e.g. ``fp32 bf16``: bfloat16 autocast as ``dvos train --precision bf16`` runs it).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # its helpers, also when imported
from _common import emit, machine


def peak_rss_gb() -> float | None:
    """Peak resident memory of this process (VmHWM) in GB; None where /proc is unavailable."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return None


def _model(preset: str, kind: str, device):
    import torch

    from dvos_core.model import build_model

    torch.manual_seed(0)  # the same weights on both sides
    return build_model(preset, kind).to(device).eval()


def _frames(n: int, size: int):
    import numpy as np

    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def run_reference(preset, kind, size, repeats, device_name) -> dict:
    """One query at a time, the reference code's way (see the module docstring)."""
    import torch

    from dvos_core.model import select_device, to_model_input

    device = select_device(device_name)
    model = _model(preset, kind, device)
    tau = getattr(model, "tau", 0) or 1
    x = to_model_input(_frames(tau, size)).to(device)[None]  # (1, tau, 3, H, W)

    def forward():
        with torch.no_grad():
            if kind == "dvos":  # the encoder once per frame of the list, then the decoder on their features
                feats = [model.encoder(x[:, i]) for i in range(tau)]
                latent = torch.cat([f[0] for f in feats], 1)
                skips = [torch.cat([f[1][k] for f in feats], 1) for k in range(5)]
                h = model.decoder(latent, skips, stochastic=True)
            else:
                latent, skips = model.encoder(x[:, 0])
                h = model.decoder(latent, skips)
            out = {"mask": model.heads["mask"](h), "frame": model.heads["frame"](h)}
        return out

    forward()  # warm-up
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        forward()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return {"s_per_frame": statistics.median(times), "times": [round(t, 4) for t in times]}


def run_dvos(preset, kind, size, repeats, device_name, optimize=True) -> dict:
    """Frames of a stream predicted by the Predictor as `dvos predict` does (see the module docstring)."""
    from dvos_core.infer.predict import predict_array
    from dvos_core.model import select_device

    device = select_device(device_name)
    model = _model(preset, kind, device)
    tau = getattr(model, "tau", 0) or 0
    frames = _frames(tau + 1 + repeats, size)
    info = {"kind": kind, "input_size": size // 2}  # tile = 2 x input size: one tile per frame
    # warm-up: the first window (tau encodes), then time each further frame in steady state
    # each frame at its own scale (scales="own"): one tile per frame, the network is what is measured
    once = {"device": device, "batch_size": 1, "optimize": optimize, "scales": "own"}
    predict_array((model, info), frames[: tau + 1], targets=[tau], **once)
    _sync(device)
    t0 = time.perf_counter()
    predict_array(
        (model, info),
        frames,
        targets=range(tau + 1, tau + 1 + repeats),
        **once,
    )
    _sync(device)
    return {"s_per_frame": (time.perf_counter() - t0) / repeats, "frames": repeats}


def run_train_step(preset, kind, size, batch, device_name, precision="auto") -> dict:
    import torch

    from dvos_core.model import select_device
    from dvos_core.model.device import use_bf16
    from dvos_core.train.losses import LossWeights, dvos_loss

    device = select_device(device_name)
    bf16 = use_bf16(device, precision)  # as the trainer decides it (amp on)
    model = _model(preset, kind, device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-5)
    tau = getattr(model, "tau", 0) or 0
    x = torch.randn((batch, tau, 3, size, size) if tau else (batch, 3, size, size), device=device)
    mask = (torch.rand(batch, 1, size, size, device=device) > 0.5).float()
    target = torch.randn(batch, 3, size, size, device=device)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss, _ = dvos_loss(model(x), mask, target, LossWeights())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return {"s_per_step": min(times[1:]), "batch": batch, "bf16": bf16}


RUNNERS = {"reference": run_reference, "dvos": run_dvos, "dvos_plain": run_dvos, "train": run_train_step}


def _worker(queue, name, args, threads):
    from dvos_core.threads import set_threads

    set_threads(threads)
    try:
        result = RUNNERS[name](*args) if name != "dvos_plain" else run_dvos(*args, optimize=False)
        result["peak_rss_gb"] = round(peak_rss_gb() or float("nan"), 3)
        queue.put(result)
    except BaseException as e:  # report it: the parent prints it and stops
        queue.put({"error": f"{type(e).__name__}: {e}"})


def in_fresh_process(name, args, threads) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_worker, args=(q, name, args, threads))
    p.start()
    result = q.get()
    p.join()
    if "error" in result:
        raise RuntimeError(f"{name} {args}: {result['error']}")
    return result


def main(argv=None) -> int:
    from dvos_core.prediction_options import PRECISIONS  # no torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--kind", default="dvos", choices=("dvos", "frame"))
    ap.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads of every measurement (default 1)")
    ap.add_argument("--sizes", type=int, nargs="*", default=[256, 512], help="frame sizes (none: training only)")
    ap.add_argument("--repeats", type=int, default=3, help="timed queries / frames per measurement")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds of reference / dvos per size")
    ap.add_argument("--plain", action="store_true", help="also measure the Predictor's plain path (optimize=False)")
    ap.add_argument("--train", action="store_true", help="also time one training step")
    ap.add_argument("--train-size", type=int, default=256)
    ap.add_argument("--train-batch", type=int, default=2)
    ap.add_argument(
        "--train-precisions",
        nargs="+",
        choices=PRECISIONS,
        default=["auto"],
        help="time the training step in each of these number formats, alternately in fresh processes (e.g. fp32 "
        "bf16 on a CPU with native bfloat16; the ratio of the first to the others is reported)",
    )
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args(argv)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    sides = ["reference", "dvos"] + (["dvos_plain"] if args.plain else [])
    result = {
        "preset": args.preset,
        "kind": args.kind,
        "device": args.device,
        "threads": args.threads,
        "machine": machine(),
        "sizes": {},
    }
    for size in args.sizes:
        runs = {s: [] for s in sides}
        for _ in range(args.rounds):  # alternate the sides, so a change of load hits both
            for side in sides:
                runs[side].append(
                    in_fresh_process(side, (args.preset, args.kind, size, args.repeats, args.device), args.threads)
                )
        entry = {}
        for side, rs in runs.items():
            entry[side] = {
                "s_per_frame": round(statistics.median(r["s_per_frame"] for r in rs), 4),
                "peak_rss_gb": round(statistics.median(r["peak_rss_gb"] for r in rs), 3),
                "rounds": [round(r["s_per_frame"], 4) for r in rs],
            }
        for side in sides[1:]:
            entry[f"speed_ratio_reference_over_{side}"] = round(
                entry["reference"]["s_per_frame"] / entry[side]["s_per_frame"], 2
            )
            entry[f"memory_ratio_reference_over_{side}"] = round(
                entry["reference"]["peak_rss_gb"] / entry[side]["peak_rss_gb"], 2
            )
        result["sizes"][str(size)] = entry
        print(f"{size}: {entry}", file=sys.stderr)
    if args.train:
        steps = {p: [] for p in args.train_precisions}
        for _ in range(args.rounds):  # alternate the formats, so a change of load hits each
            for p in steps:
                a = (args.preset, args.kind, args.train_size, args.train_batch, args.device, p)
                steps[p].append(in_fresh_process("train", a, args.threads))
        result["train_step"] = {
            p: {
                **rs[0],
                "s_per_step": round(statistics.median(r["s_per_step"] for r in rs), 3),
                "rounds": [round(r["s_per_step"], 3) for r in rs],
            }
            for p, rs in steps.items()
        }
        first = args.train_precisions[0]
        for p in args.train_precisions[1:]:
            ratio = result["train_step"][first]["s_per_step"] / result["train_step"][p]["s_per_step"]
            result["train_step"][f"speed_ratio_{first}_over_{p}"] = round(ratio, 2)
    result["load_average"] = {"before": load_before, "after": os.getloadavg() if load_before else None}
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
