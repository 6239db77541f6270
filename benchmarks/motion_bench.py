"""Motion estimation speed and accuracy: frame pairs/s of the global motion (and with the residual local motion) on
one core at 512² and 1024², and the error against the known camera of a rendered toy clip; and the frames/s of
smoothing predictions over time (``dvos smooth``'s default window, which aligns each frame with 4 earlier ones).
Prints JSON.

    python benchmarks/motion_bench.py [--pairs 30] [--out motion_bench.json]

"pairs_per_cpu_s" divides by CPU time, so it stays meaningful on a loaded machine. The clip is a toy field with
about 50 toy heads per view (dvos_core.synth.toy) filmed by a known camera panning 15-25 px per frame with up to
1 degree of roll and 1 % of zoom per frame. Single-threaded (OpenCV threads = 1). "degraded": the camera's error on
the same clip degraded like the accuracy benchmark's footage, with and without the estimator's exposure-matched
second try.

    python benchmarks/motion_bench.py --context-passes [--sizes 160] [--frames 40] [--preset small] [--repeats 2]

times a context model's two passes (``dvos predict --passes 2``) over the toy clip instead, in one process: the
second pass taking the first pass's motion estimates ("shared", the product) and estimating them again
("separate", as before), alternately; with the estimate counts, the time spent aligning and whether the two
give the same probabilities bit for bit.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from _common import emit, machine

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"


def _clip(size: int, n_frames: int):
    """A toy field with ~50 toy heads per view, filmed by a known camera: (frames, true pair matrices)."""
    import cv2
    import numpy as np

    from dvos_core.motion.transforms import similarity_matrix, to3x3
    from dvos_core.synth.toy import toy_background, toy_objects

    rng = np.random.default_rng(0)
    heads, _ = toy_objects(rng, 24, 0)
    side = 4 * size
    world = toy_background(rng, 1, side, side, pan=(0.0, 0.0))[0].astype(np.float32)
    for _ in range(50 * 16):
        rgba = heads[int(rng.integers(len(heads)))]
        h, w = rgba.shape[:2]
        y, x = int(rng.integers(0, side - h)), int(rng.integers(0, side - w))
        alpha = rgba[..., 3:4] / 255.0
        world[y : y + h, x : x + w] = alpha * rgba[..., :3] + (1 - alpha) * world[y : y + h, x : x + w]
    world = world.astype(np.uint8)
    c = ((size - 1) / 2, (size - 1) / 2)
    cam = np.array([[1.0, 0, c[0] - (side - 1) / 2], [0, 1.0, c[1] - (side - 1) / 2], [0, 0, 1]])
    frames, truth = [], []
    angle = rng.uniform(0, 2 * np.pi)
    for t in range(n_frames):
        if t:
            speed, angle = rng.uniform(15, 25), angle + rng.uniform(-0.2, 0.2)
            step = to3x3(
                similarity_matrix(
                    speed * np.cos(angle), speed * np.sin(angle), rng.uniform(-1, 1), 1 + rng.uniform(-0.01, 0.01), c
                )
            )
            truth.append(step[:2])
            cam = step @ cam
        frames.append(cv2.warpAffine(world, cam[:2], (size, size), flags=cv2.INTER_LINEAR))
    return np.stack(frames), np.stack(truth)


def bench(size: int, pairs: int) -> dict:
    import cv2
    import numpy as np

    from dvos_core.motion import estimate_global_motion

    cv2.setNumThreads(1)
    frames, truth = _clip(size, pairs + 1)
    out = {"size": size, "pairs": pairs}
    for residual in (False, True):
        t0, c0 = time.perf_counter(), time.process_time()
        gm = estimate_global_motion(frames, residual=residual)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        key = "with_residual" if residual else "global"
        out[key] = {"pairs_per_s_wall": round(pairs / wall, 1), "pairs_per_cpu_s": round(pairs / cpu, 1)}
    true, err = _shift_error(gm, truth, (size, size))
    out["true_shift_px_median"] = round(float(np.median([np.hypot(d["dx"], d["dy"]) for d in true])), 2)
    out["shift_error_px"] = {"median": round(float(np.median(err)), 3), "max": round(float(err.max()), 3)}
    out["rotation_error_deg_max"] = round(float(np.abs(gm.rotation_deg - [d["rotation_deg"] for d in true]).max()), 3)
    out["methods"] = {m: gm.method.count(m) for m in set(gm.method)}
    out["degraded"] = degraded_accuracy(frames, truth)
    from dvos_core.infer import smooth_array

    probs = np.random.default_rng(1).random(frames.shape[:3]).astype(np.float32)
    t0, c0 = time.perf_counter(), time.process_time()
    smooth_array(probs, frames)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    out["smooth_4_earlier"] = {
        "frames_per_s_wall": round(len(frames) / wall, 2),
        "frames_per_cpu_s": round(len(frames) / cpu, 2),
    }
    return out


def context_passes(size: int, n_frames: int, preset: str, repeats: int) -> dict:
    """A context model's first and second pass over the toy clip, with the second pass sharing the first pass's
    motion estimates and without (alternately, ``repeats`` times each); medians per pass."""
    import statistics
    from unittest import mock

    import cv2
    import numpy as np
    import torch

    import dvos_core.motion.align as align
    from dvos_core.infer.context import ContextPredictor, refine_context, run_context
    from dvos_core.infer.tiling import round_up
    from dvos_core.model import build_model

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    frames, _ = _clip(size, n_frames)
    torch.manual_seed(0)
    model = build_model(preset, "context").eval()
    tally = {"estimates": 0, "align_s": 0.0, "align_cpu_s": 0.0}
    real_estimate, real_align = align.estimate_prepared, align.SequenceAligner.align

    def counted(a, b, params):
        tally["estimates"] += 1
        return real_estimate(a, b, params)

    def timed(self, *args, **kwargs):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return real_align(self, *args, **kwargs)
        finally:
            tally["align_s"] += time.perf_counter() - t0
            tally["align_cpu_s"] += time.process_time() - c0

    def timed_pass(run) -> dict:
        tally.update(estimates=0, align_s=0.0, align_cpu_s=0.0)
        t0, c0 = time.perf_counter(), time.process_time()
        run()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        return {"wall_s": wall, "cpu_s": cpu, **tally}

    def once(shared: bool) -> tuple[dict, dict]:
        ctx = ContextPredictor(model, "cpu", tile_size=round_up(size))
        first, second = {}, {}
        read = lambda a, b: frames[a:b]  # noqa: E731
        hold = align.SequenceAligner.hold if shared else (lambda self, length: None)
        with mock.patch.object(align.SequenceAligner, "hold", hold):
            one = timed_pass(lambda: run_context(ctx, read, range(n_frames), first.__setitem__))
            two = timed_pass(
                lambda: refine_context(ctx, read, n_frames, range(n_frames), first.get, second.__setitem__)
            )
        return {"pass1": one, "pass2": two}, second

    runs: dict = {"shared": [], "separate": []}
    probs: dict = {}
    with (
        mock.patch.object(align, "estimate_prepared", counted),
        mock.patch.object(align.SequenceAligner, "align", timed),
    ):
        for rep in range(repeats):
            for mode in ("separate", "shared") if rep % 2 == 0 else ("shared", "separate"):
                r, probs[mode] = once(mode == "shared")
                runs[mode].append(r)
    out: dict = {"size": size, "frames": n_frames, "preset": preset, "repeats": repeats}
    for mode, rs in runs.items():
        out[mode] = {
            p: {k: round(statistics.median(r[p][k] for r in rs), 3) for k in rs[0][p]} for p in ("pass1", "pass2")
        }
    out["pass2_wall_ratio"] = round(out["separate"]["pass2"]["wall_s"] / out["shared"]["pass2"]["wall_s"], 3)
    out["pass2_cpu_ratio"] = round(out["separate"]["pass2"]["cpu_s"] / out["shared"]["pass2"]["cpu_s"], 3)
    out["identical"] = all(np.array_equal(probs["shared"][t], probs["separate"][t]) for t in range(n_frames))
    return out


def _shift_error(gm, truth, shape):
    """(the true pair motions decomposed, per-pair error of the estimated centre shift in px)."""
    import numpy as np

    from dvos_core.motion import decompose
    from dvos_core.motion.transforms import frame_centre

    c = frame_centre(shape)
    true = [decompose(m, c) for m in truth]
    return true, np.hypot(gm.dx - [d["dx"] for d in true], gm.dy - [d["dy"] for d in true])


def _shift_errors(frames, truth) -> dict:
    import numpy as np

    from dvos_core.motion import estimate_global_motion

    gm = estimate_global_motion(frames)
    _, err = _shift_error(gm, truth, frames.shape[1:3])
    return {
        "shift_error_px": {"median": round(float(np.median(err)), 3), "p90": round(float(np.percentile(err, 90)), 3)},
        "pairs_within_1px": round(float(np.mean(err < 1.0)), 3),
        "methods": {m: gm.method.count(m) for m in sorted(set(gm.method))},
    }


def degraded_accuracy(frames, truth) -> dict:
    """The same clip with the accuracy benchmark's degradations (wind blur, noise, exposure flicker, crossing
    leaves; benchmarks/accuracy_data.py, fixed seed): shift errors of the estimator, and of the same estimator
    without its second, exposure-matched tracking try (what it did before), side by side."""
    import numpy as np
    from accuracy_data import degrade_video

    from dvos_core.motion import global_motion

    rough, _ = degrade_video(frames, np.random.default_rng(3))
    out = {"estimator": _shift_errors(rough, truth)}
    keep = global_motion._exposure_matched
    global_motion._exposure_matched = lambda a, b: None  # no second try
    try:
        out["without_exposure_matching"] = _shift_errors(rough, truth)
    finally:
        global_motion._exposure_matched = keep
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=30)
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    ap.add_argument("--context-passes", action="store_true", help="time a context model's two passes instead")
    ap.add_argument("--frames", type=int, default=40, help="frames of the clip (--context-passes)")
    ap.add_argument("--preset", default="small", help="model size preset (--context-passes)")
    ap.add_argument("--repeats", type=int, default=2, help="runs of each way (--context-passes)")
    ap.add_argument("--out")
    args = ap.parse_args()
    load = Path("/proc/loadavg").read_text().split()[:3]
    if args.context_passes:
        results = [context_passes(s, args.frames, args.preset, args.repeats) for s in args.sizes]
    else:
        results = [bench(s, args.pairs) for s in args.sizes]
    emit(
        {
            "machine": machine(),
            "loadavg": load,
            "loadavg_after": Path("/proc/loadavg").read_text().split()[:3],
            "results": results,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
