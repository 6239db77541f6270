"""Feasibility probe: one cached prediction step in ONNX Runtime and OpenVINO vs the optimised torch path.

A step of the cached path (what ``Predictor`` runs per new frame in steady state) is: encode the new frame (the
encoder alone, one 3 x S x S frame), then decode one window of tau cached frames' features (the attention blocks,
decoder and mask head). Both halves are exported to ONNX once (``torch.onnx.export``, dynamo first, the
TorchScript exporter if that fails) and run with

* ``ort``: ONNX Runtime, CPUExecutionProvider, ORT_ENABLE_ALL, ``intra_op_num_threads`` = --threads;
* ``openvino``: OpenVINO on the CPU from the same ONNX files, f32 precision hint, ``INFERENCE_NUM_THREADS``;
* ``torch``: the optimised torch path (``fast_cpu_copy``: each convolution shape's fastest of the stock, NNPACK
  Winograd and polyphase kernels, freed memory kept for reuse), ``encode_frames`` + ``decode_windows(heads=("mask",))``;
* ``plain`` (unless --no-plain): today's plain path, one full forward of the window (encoder on all tau frames,
  mask and frame heads) with stock kernels and glibc's default allocator behaviour.

All in one process on the same (seeded, untrained) weights and frames, alternating the backends each round, so the
ratios hold on a shared machine. Each backend's probabilities (its own encodings of the tau frames, then its
decode) are compared with eager torch: ``max_abs_prob_diff``. With --ort-profile, ONNX Runtime's own profile of the
timed decoder runs is summed per operator type (``ort_decoder_profile``). Prints JSON.

    OMP_NUM_THREADS=1 python benchmarks/onnx_probe.py --threads 1 [--preset paper] [--size 512] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from _common import emit, load_average, machine


def export(module, args, path, names_in, names_out) -> str:
    """Export ``module`` to ONNX at ``path``; returns which exporter worked."""
    import torch

    errors = []
    for dynamo in (True, False):
        try:
            torch.onnx.export(
                module, args, path, input_names=names_in, output_names=names_out, dynamo=dynamo, opset_version=18
            )
            return "dynamo" if dynamo else "torchscript"
        except Exception as e:  # try the other exporter
            errors.append(f"dynamo={dynamo}: {type(e).__name__}: {str(e)[:300]}")
    raise RuntimeError("; ".join(errors))


def ort_profile(path: str, runs: int) -> dict:
    """Seconds per run and share of ONNX Runtime's kernel time by operator type, from its profile file."""
    import collections
    import json

    with open(path) as f:
        events = json.load(f)
    total = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            total[e["args"]["op_name"]] += e["dur"] / 1e6
    whole = sum(total.values()) or 1.0
    return {op: {"s_per_run": round(t / runs, 3), "share": round(t / whole, 3)} for op, t in total.most_common(8)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-plain", action="store_true", help="skip the plain path (the slowest)")
    ap.add_argument("--backends", nargs="+", default=["torch", "ort", "openvino"])
    ap.add_argument("--ort-profile", action="store_true", help="per-operator times of ONNX Runtime's decoder")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    load_before = load_average()

    import torch
    from torch import nn

    from dvos_core.infer.allocator import reuse_freed_memory
    from dvos_core.infer.fastconv import fast_cpu_copy
    from dvos_core.model import build_model

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model(args.preset, "dvos").eval()
    tau, s = model.tau, args.size
    rng = np.random.default_rng(0)
    frames = torch.from_numpy(rng.standard_normal((tau + 1, 3, s, s), dtype=np.float32))
    n_levels = 1 + len(model.config.widths)

    class EncoderPart(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.encoder = m.encoder

        def forward(self, x):
            latent, skips = self.encoder(x)
            return (latent, *skips)

    class MaskDecoderPart(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.decoder, self.head = m.decoder, m.heads["mask"]

        def forward(self, latent, s0, s1, s2, s3, s4):
            return self.head(self.decoder(latent, [s0, s1, s2, s3, s4]))

    def window_inputs(feats):  # tau per-frame tuples -> frame-major (1, tau*C, h, w) per level
        return [torch.cat([f[k] for f in feats])[None] for k in range(n_levels)]

    with torch.inference_mode():
        ref_feats = model.encode_frames(frames[:tau])
        ref = torch.sigmoid(model.decode_windows([ref_feats], heads=("mask",))["mask"])[0, 0].numpy()

    tmp_dir = tempfile.TemporaryDirectory(prefix="dvos-onnx-probe-")
    tmp = tmp_dir.name
    enc_path, dec_path = os.path.join(tmp, "encoder.onnx"), os.path.join(tmp, "decoder.onnx")
    names_feat = ["latent", "s0", "s1", "s2", "s3", "s4"]
    result = {"preset": args.preset, "size": s, "threads": args.threads, "tau": tau}
    steps = {}
    need_onnx = any(b in args.backends for b in ("ort", "openvino"))
    if need_onnx:
        t0 = time.perf_counter()
        with torch.no_grad():
            result["exporter_encoder"] = export(EncoderPart(model), (frames[:1],), enc_path, ["frame"], names_feat)
            dec_args = tuple(window_inputs(ref_feats))
            result["exporter_decoder"] = export(MaskDecoderPart(model), dec_args, dec_path, names_feat, ["mask"])
        result["export_s"] = round(time.perf_counter() - t0, 1)

    if "torch" in args.backends:
        fast = fast_cpu_copy(model)

        def torch_encode(x):
            with torch.inference_mode():
                return fast.encode_frames(x)

        def torch_decode(feats):
            with torch.inference_mode():
                return torch.sigmoid(fast.decode_windows([feats], heads=("mask",))["mask"])[0, 0].numpy()

        steps["torch"] = (torch_encode, torch_decode)

    if "ort" in args.backends:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        t0 = time.perf_counter()
        enc_s = ort.InferenceSession(enc_path, so, providers=["CPUExecutionProvider"])
        if args.ort_profile:
            so.enable_profiling = True
            so.profile_file_prefix = os.path.join(tmp, "ort_profile")
        dec_s = ort.InferenceSession(dec_path, so, providers=["CPUExecutionProvider"])
        result["ort_session_s"] = round(time.perf_counter() - t0, 1)
        result["ort_version"] = ort.__version__

        def ort_encode(x):
            outs = enc_s.run(None, {"frame": x.numpy()})
            return [tuple(torch.from_numpy(o[i]) for o in outs) for i in range(x.shape[0])]

        def ort_decode(feats):
            feed = {n: t.numpy() for n, t in zip(names_feat, window_inputs(feats))}
            return 1 / (1 + np.exp(-dec_s.run(None, feed)[0][0, 0]))

        steps["ort"] = (ort_encode, ort_decode)

    if "openvino" in args.backends:
        import openvino as ov

        core = ov.Core()
        cfg = {"INFERENCE_NUM_THREADS": args.threads, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
        t0 = time.perf_counter()
        enc_c = core.compile_model(core.read_model(enc_path), "CPU", cfg)
        dec_c = core.compile_model(core.read_model(dec_path), "CPU", cfg)
        result["openvino_compile_s"] = round(time.perf_counter() - t0, 1)
        result["openvino_version"] = ov.__version__
        enc_r, dec_r = enc_c.create_infer_request(), dec_c.create_infer_request()

        def ov_encode(x):
            res = enc_r.infer({0: x.numpy()})
            outs = [np.array(res[enc_c.output(k)]) for k in range(n_levels)]
            return [tuple(torch.from_numpy(o[i]) for o in outs) for i in range(x.shape[0])]

        def ov_decode(feats):
            feed = {k: t.numpy() for k, t in enumerate(window_inputs(feats))}
            out = np.array(dec_r.infer(feed)[dec_c.output(0)])
            return 1 / (1 + np.exp(-out[0, 0]))

        steps["openvino"] = (ov_encode, ov_decode)

    per = {name: {"encode_s": [], "decode_s": [], "step_s": [], "step_cpu_s": []} for name in steps}
    if not args.no_plain:
        per["plain"] = {"step_s": [], "step_cpu_s": []}
    with reuse_freed_memory():
        for name, (enc, dec) in steps.items():  # accuracy (and warm-up): this backend's own encodings
            feats = [f for i in range(tau) for f in enc(frames[i : i + 1])]
            per[name]["max_abs_prob_diff"] = float(np.abs(dec(feats) - ref).max())
    for r in range(args.rounds):
        order = list(steps) if r % 2 == 0 else list(steps)[::-1]
        with reuse_freed_memory():  # as the optimised path runs (ONNX Runtime and OpenVINO keep their own arenas)
            for name in order:
                enc, dec = steps[name]
                feats = [f for i in range(1, tau) for f in enc(frames[i : i + 1])]  # cached history (untimed)
                c0, t0 = time.process_time(), time.perf_counter()
                feats.extend(enc(frames[tau : tau + 1]))
                t1 = time.perf_counter()
                dec(feats)
                t2, c2 = time.perf_counter(), time.process_time()
                per[name]["step_cpu_s"].append(round(c2 - c0, 3))
                per[name]["encode_s"].append(round(t1 - t0, 3))
                per[name]["decode_s"].append(round(t2 - t1, 3))
                per[name]["step_s"].append(round(t2 - t0, 3))
                print(f"round {r} {name}: {t2 - t0:.2f} s (load {os.getloadavg()[0]:.2f})", file=sys.stderr)
        if not args.no_plain:
            c0, t0 = time.process_time(), time.perf_counter()
            with torch.inference_mode():
                model(frames[1 : tau + 1][None])
            per["plain"]["step_s"].append(round(time.perf_counter() - t0, 3))
            per["plain"]["step_cpu_s"].append(round(time.process_time() - c0, 3))
            print(f"round {r} plain: {per['plain']['step_s'][-1]:.2f} s", file=sys.stderr)
    if args.ort_profile and "ort" in steps:
        result["ort_decoder_profile"] = ort_profile(dec_s.end_profiling(), 1 + args.rounds)
    tmp_dir.cleanup()
    for v in per.values():
        v["step_median_s"] = round(float(np.median(v["step_s"])), 3)
        v["step_cpu_median_s"] = round(float(np.median(v["step_cpu_s"])), 3)
    for ref_name, label in (("torch", "torch_optimised"), ("plain", "plain")):
        if ref_name in per:
            for v in per.values():
                for key, suffix in (("step_median_s", ""), ("step_cpu_median_s", "_cpu")):
                    v[f"speedup_vs_{label}{suffix}"] = round(per[ref_name][key] / v[key], 2)
    doc = {
        "benchmark": "one cached prediction step (encode 1 frame + decode 1 window, mask head): torch vs ONNX",
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        **result,
        "backends": per,
    }
    emit(doc, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
