"""Store codecs: compression ratio, write and read throughput of candidate Zarr codecs on real footage.

For each kind of per-frame array the store holds (RGB frames, binary masks, float16 probabilities) and each
candidate codec, writes ``--frames`` frames one frame per chunk, 8 frames per write as an import commits them,
through ``dvos_core.store.arrays.create`` (the helper every store array is made with), then reads them back one
frame at a time, in order (playback, prediction) and in a random order (napari scrubbing, training clips).
Prints one JSON object. Example:
    OMP_NUM_THREADS=1 python benchmarks/codec_bench.py --frames 12 --size 1080x1920 --threads 1

Footage (``tests/fetch_testdata.sh`` fetches it):
* ``bunny``: frames of bigbuckbunny.mp4 (real video, 1280x720) decoded with OpenCV, evenly spaced over the file, at
  native size and resized to ``--size``;
* ``conifer``, ``nuclei``: the two annotated images of the accuracy benchmark filmed by its synthetic camera
  (``accuracy_data.render``: panning, roll, zoom, sway) at ``--scene-size``² (their masks filmed the same way);
* masks: those filmed masks (binary 0/1 uint8, as the store keeps them), the nuclei ones also resized to ``--size``
  (nearest);
* probabilities: float16 maps made from the filmed nuclei masks like a model's output, the sigmoid of a blurred mask's
  logit plus a smooth noise field (never exactly 0 or 1, as a network's sigmoid is not).

Ratio = raw bytes / bytes of the chunk files on disk. Throughputs are the median of ``--repeats`` runs, frames/s
(each repeat writes a fresh array; reads come from the page cache, so they measure decoding, not the disk); the
``*_cpu_ms`` figures are this process's CPU time per frame (all its threads), the least of the repeats: unlike
wall-clock throughput they hardly move when other jobs share the machine, so compare codecs on them. Also
reported, for scale: OpenCV decoding of the video (frames/s at native size).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, load_average, machine

TESTDATA = Path(__file__).resolve().parent.parent / ".cache" / "testdata"
BATCH = 8  # frames per write, as an import commits them at 720p and above


def candidates() -> dict:
    """Name -> list of Zarr v3 compressors."""
    from zarr.codecs import BloscCodec, ZstdCodec

    out = {"blosc-lz4-c5-bitshuffle (old default)": [BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle")]}
    out["blosc-lz4-c5-shuffle"] = [BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")]
    for level in (1, 3, 5):
        for shuffle in ("shuffle", "bitshuffle", "noshuffle"):
            out[f"blosc-zstd-c{level}-{shuffle}"] = [BloscCodec(cname="zstd", clevel=level, shuffle=shuffle)]
    for level in (1, 2, 3):
        out[f"zstd-{level} (zarr ZstdCodec)"] = [ZstdCodec(level=level)]
    return out


def bunny_frames(path: Path, n: int, size: tuple | None) -> tuple[np.ndarray, float]:
    """``n`` RGB frames evenly spaced over the video (resized to ``size`` = (H, W) if given), and the decoding speed
    (frames/s, native size, sequential)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    want = set(np.linspace(0, total - 1, n).round().astype(int).tolist())
    frames, k, t0 = [], 0, time.perf_counter()
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        if k in want:
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            if size is not None:
                rgb = cv2.resize(rgb, (size[1], size[0]), interpolation=cv2.INTER_AREA)
            frames.append(rgb)
        k += 1
    decode_fps = k / (time.perf_counter() - t0)
    cap.release()
    if not frames:
        raise FileNotFoundError(f"{path}: no frames decoded; run `bash tests/fetch_testdata.sh` first")
    return np.stack(frames), decode_fps


def filmed(n: int, size: int, seed: int = 0) -> dict:
    """Scene name -> (frames, masks) filmed by the accuracy benchmark's camera, ``size``² or as large as the scene
    allows (the camera needs 1.5 times its window: conifer, 1250x250 at the benchmark's half size, gives 160²)."""
    from accuracy_data import SPEEDS, load_scenes, render

    out = {}
    for name, scene in load_scenes(TESTDATA).items():
        side = min(size, int(min(scene.mask.shape) / 1.5) // 16 * 16)
        frames, masks, _ = render(scene, n, side, SPEEDS["slow"], np.random.default_rng(seed))
        out[name] = (frames, masks)
    return out


def probabilities(masks: np.ndarray, seed: int = 0) -> np.ndarray:
    """float16 maps in (0, 1) shaped like a model's output for ``masks``."""
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for m in masks:
        h, w = m.shape
        soft = cv2.GaussianBlur(m.astype(np.float32), (0, 0), max(1.0, min(h, w) / 128))
        noise = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 4.0)
        logit = 12.0 * (soft - 0.5) + 1.5 * noise / (np.abs(noise).max() + 1e-6)
        out.append((1.0 / (1.0 + np.exp(-logit))).astype(np.float16))
    return np.stack(out)


def upscale_nearest(masks: np.ndarray, size: tuple) -> np.ndarray:
    import cv2

    return np.stack([cv2.resize(m, (size[1], size[0]), interpolation=cv2.INTER_NEAREST) for m in masks])


def disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.name != "zarr.json")


def _write(arr, data) -> None:
    """Write ``data`` into ``arr`` ``BATCH`` frames at a time (one chunk per frame)."""
    for lo in range(0, len(data), BATCH):
        arr[lo : lo + BATCH] = data[lo : lo + BATCH]


def _read(arr, order) -> None:
    """Read the frames ``order`` one at a time, as ``FrameSequence.frame`` does (``arr[t : t + 1]``)."""
    for t in order:
        arr[t : t + 1]


def measure(group, root: Path, name: str, data: np.ndarray, codec, repeats: int, rng) -> dict:
    """Ratio and median frames/s of writing, sequential and random single-frame reads of ``data`` with ``codec``."""
    from dvos_core.store import arrays

    n = len(data)
    wall: dict = {"write": [], "seq": [], "random": []}
    cpu: dict = {"write": [], "seq": [], "random": []}
    size = None

    def timed(what, fn, *args):
        w0, c0 = time.perf_counter(), time.process_time()
        fn(*args)
        wall[what].append(n / (time.perf_counter() - w0))
        cpu[what].append((time.process_time() - c0) / n * 1e3)

    for r in range(repeats):
        key = f"{name}_{r}"
        arr = arrays.create(group, key, data.shape, data.dtype, chunks=(1,) + data.shape[1:], compressors=codec)
        timed("write", _write, arr, data)
        if size is None:
            size = disk_bytes(root / key)
        timed("seq", _read, arr, range(n))
        order = [int(t) for t in rng.permutation(n)]
        timed("random", _read, arr, order)
        if r == 0 and not np.array_equal(arr[order[-1]], data[order[-1]]):
            raise AssertionError(f"{name}: frame read back differs from the one written")
        del group[key]
    return {
        "ratio": round(data.nbytes / size, 3),
        "mb_per_frame": round(size / n / 1e6, 4),
        "write_fps": round(float(np.median(wall["write"])), 1),
        "read_seq_fps": round(float(np.median(wall["seq"])), 1),
        "read_random_fps": round(float(np.median(wall["random"])), 1),
        "write_cpu_ms": round(min(cpu["write"]), 3),
        "read_seq_cpu_ms": round(min(cpu["seq"]), 3),
        "read_random_cpu_ms": round(min(cpu["random"]), 3),
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=12, help="frames per data set (default 12)")
    p.add_argument("--size", default="1080x1920", help="HxW the video (and masks) are resized to (default 1080x1920)")
    p.add_argument("--scene-size", type=int, default=256, help="side of the filmed conifer/nuclei frames (256)")
    p.add_argument("--threads", type=int, default=1, help="threads for Zarr's codec pool and Blosc (dvos uses 1)")
    p.add_argument("--repeats", type=int, default=3, help="runs per measurement; the median is reported (3)")
    p.add_argument("--codecs", default="", help="comma-separated substrings of candidate names to run (all)")
    p.add_argument("--video", default=str(TESTDATA / "bigbuckbunny.mp4"))
    p.add_argument("--out", default=None, help="also write the JSON here")
    a = p.parse_args(argv)
    h, w = (int(x) for x in a.size.lower().split("x"))

    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    import numcodecs.blosc
    import zarr

    zarr.config.set({"threading.max_workers": a.threads})
    numcodecs.blosc.set_nthreads(a.threads)
    import cv2

    cv2.setNumThreads(a.threads)

    load_before = load_average()
    native, decode_fps = bunny_frames(Path(a.video), a.frames, None)
    big, _ = bunny_frames(Path(a.video), a.frames, (h, w))
    scenes = filmed(a.frames, a.scene_size)
    masks_small, conifer_masks = scenes["nuclei"][1], scenes["conifer"][1]
    masks_big = upscale_nearest(masks_small, (h, w))
    sets = {
        f"frames bunny {h}x{w}": big,
        f"frames bunny {native.shape[1]}x{native.shape[2]} (native)": native,
        **{f"frames {k} {f.shape[1]}x{f.shape[2]} (filmed)": f for k, (f, _) in scenes.items()},
        f"masks {masks_small.shape[1]}x{masks_small.shape[2]} (filmed nuclei)": masks_small,
        f"masks {h}x{w} (filmed nuclei, resized)": masks_big,
        f"masks {conifer_masks.shape[1]}x{conifer_masks.shape[2]} (filmed conifer)": conifer_masks,
        f"probability {masks_small.shape[1]}x{masks_small.shape[2]}": probabilities(masks_small),
        f"probability {h}x{w}": probabilities(masks_big),
    }
    codecs = candidates()
    if a.codecs:
        keep = [s.strip() for s in a.codecs.split(",") if s.strip()]
        codecs = {k: v for k, v in codecs.items() if any(s in k for s in keep)}
    rng = np.random.default_rng(0)
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="codec_bench_") as tmp:
        root = Path(tmp) / "bench.zarr"
        group = zarr.open_group(str(root), mode="w")
        for set_name, data in sets.items():
            results[set_name] = {
                "raw_mb_per_frame": round(data[0].nbytes / 1e6, 4),
                "codecs": {
                    c: measure(group, root, f"a{i}", data, codec, a.repeats, rng)
                    for i, (c, codec) in enumerate(codecs.items())
                },
            }
            print(f"done: {set_name}", file=sys.stderr, flush=True)
    result = {
        "benchmark": "codec_bench",
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "frames": a.frames,
        "threads": a.threads,
        "repeats": a.repeats,
        "zarr": zarr.__version__,
        "numcodecs": numcodecs.__version__,
        "opencv_decode_fps_native": round(decode_fps, 1),
        "sets": results,
    }
    emit(result, a.out)
    return result


if __name__ == "__main__":
    main()
