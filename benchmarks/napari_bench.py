"""The dvos panel on a long, large video: open, switch videos, scrub, 3D toggle, save one painted frame, memory.

Builds a project (or uses ``--project``) with a long video ``long`` (``--frames`` frames of ``--size`` HxW, a moving
gradient with noise), a prediction set on its first half and label masks on every 50th frame, plus a short video
``short``; opens it in the dvos panel in a real napari window and prints one JSON object:

- ``open_s``: the panel added and ``long`` shown (layers in place); ``masks_loaded_s``: until its stored masks and
  predictions are read into the Labels layers (a worker thread);
- ``switch_s``: median of ``--switches`` round trips ``long`` -> ``short`` -> ``long`` (each until loaded);
  ``mask_files_mapped``: temporary mask buffers still mapped after them (2 when the buffers of the videos left are
  freed; more is a leak, 1.2 GB of temporary file each at 600x1080x1920);
- ``scrub_ms``: per-jump latency (median, p95) of ``--jumps`` random jumps of the frame slider with the image, masks
  and predicted layers shown, then with the probability layer too, and ``reads_per_jump`` (store reads of the lazy
  layers, most in one jump);
- ``three_d``: seconds and frames read when the 3D button is pressed (refused above ``_lazy.MAX_READ_BYTES``);
- ``save_frame_s``: one painted frame saved with the Annotate step;
- ``rss_mb``/``peak_rss_mb``, ``rss_anon_mb``/``rss_file_mb`` (memory-mapped mask pages count as file pages).

With ``--open-videos N`` it measures instead the Project step's Open... on a project of N small videos (a
season: each with a painted frame and, all but the last, two prediction sets): ``open_longest_block_ms``, the
longest time napari's main thread did not run its event loop (a 5 ms timer's longest gap) from the click until the
video table is filled, ``open_click_ms`` (the click's own time in it) and ``open_table_filled_s``;
``repaint_block_ms``: the same for one label changed (napari repainting its window: the floor of any block).
``--open-by drop`` opens it as a folder dropped on napari instead (``viewer.open`` with the dvos reader: napari's
reader and its two new layers are in the block too; napari's one-time costs of a first layer are paid before).

Needs a display: run under ``xvfb-run -a -s "-screen 0 1280x1024x24"``. Example (a 2-minute run on 2 cores):
    xvfb-run -a -s "-screen 0 1280x1024x24" python benchmarks/napari_bench.py --frames 600 --size 1080x1920
    xvfb-run -a -s "-screen 0 1280x1024x24" python benchmarks/napari_bench.py --open-videos 40
    xvfb-run -a -s "-screen 0 1280x1024x24" python benchmarks/napari_bench.py --open-videos 40 --open-by drop
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import emit, load_average, machine, peak_rss_mb


def _frames(n: int, h: int, w: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    noise = rng.integers(0, 40, (h, w), dtype=np.uint8)
    for k in range(n):
        f = np.empty((h, w, 3), np.uint8)
        f[..., 0] = (xx + 3 * k) % 256
        f[..., 1] = (yy + 2 * k) % 256
        f[..., 2] = noise + (5 * k) % 200
        yield f


def build(path: Path, n: int, h: int, w: int) -> Path:
    """A project with ``long`` (n frames HxW, predictions on the first half, masks every 50th frame) and ``short``."""
    from dvos_core.store import Project

    p = Project.create(path, overwrite=True)
    for vid, (nn, hh, ww) in (("long", (n, h, w)), ("short", (40, max(16, h // 3), max(16, w // 3)))):
        v = p.create_video(vid, hh, ww, source="napari_bench", import_complete=False)
        v.append_frames(_frames(nn, hh, ww), n_total=nn)
        v.mark_complete()
    v = p.video("long")
    ps = v.predictions["bench"]
    ps.start({"kind": "bench"}, None)
    for a in range(0, n // 2, 10):
        fr = np.asarray(v.frames[a : min(a + 10, n // 2)])
        ps.set_many(range(a, a + len(fr)), (fr[..., 2] / 255.0).astype(np.float32))
    for t in range(0, n, 50):
        v.set_mask(t, (np.asarray(v.frames[t])[..., 2] > 128).astype(np.uint8), "manual", overwrite=True)
    return path


def build_season(path: Path, n: int, frames: int = 20, sets=("img", "ctx")) -> Path:
    """A project of ``n`` videos (``frames`` 32x32 frames, a painted frame each, all but the last predicted by
    ``sets``), its files dated a minute ago (as a project opened the next day)."""
    from dvos_core.store import Project

    p = Project.create(path, overwrite=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        v = p.add_video_array(f"plot{i}", rng.integers(0, 255, (frames, 32, 32, 3), dtype=np.uint8), split="train")
        v.set_mask(0, np.ones((32, 32), np.uint8), "manual")
        for name in sets if i < n - 1 else ():
            ps = v.predictions[name]
            ps.start({"kind": "bench"}, None)
            ps.set_many(range(frames), np.zeros((frames, 32, 32), np.float32))
    then = time.time() - 60
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (then, then))
    os.utime(path, (then, then))
    return path


def run_open(project: Path, n: int, by: str = "dialog") -> dict:
    """The Project step's Open... of ``project`` (``n`` videos) in the dvos panel, the folder picked in the dialog
    (``by="drop"``: the folder dropped on napari)."""
    import napari
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication, QFileDialog

    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    _, panel = viewer.window.add_plugin_dock_widget("dvos-napari", "dvos workflow")
    page = panel.step("Project")
    QFileDialog.getExistingDirectory = staticmethod(lambda *a, **k: str(project))
    if by == "drop":  # napari's one-time costs of its first image and labels layers (units, shaders) paid before
        for layer in (viewer.add_image(np.zeros((2, 8, 8, 3), np.uint8)), viewer.add_labels(np.zeros((2, 8, 8), int))):
            viewer.layers.remove(layer)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    end = time.perf_counter() + 1.0
    while time.perf_counter() < end:  # napari settles
        app.processEvents()
        time.sleep(0.002)
    t = time.perf_counter()  # a change that repaints the window (the floor of any block here)
    page.path_label.setText("a step's message changed")
    while time.perf_counter() < t + 0.3:
        app.processEvents()
        time.sleep(0.002)
    repaint = np.diff([t] + [x for x in ticks if x > t]) * 1000
    t0 = time.perf_counter()
    call: list[float] = []

    def click() -> None:  # the click's own time on the main thread (a dialog's Open, or napari's open of the drop)
        t = time.perf_counter()
        viewer.open(str(project), plugin="dvos-napari") if by == "drop" else page._open_dialog()
        call.append(time.perf_counter() - t)

    QTimer.singleShot(0, click)
    while page.table.rowCount() != n or page.state.project is None:
        app.processEvents()
        time.sleep(0.002)
        if time.perf_counter() - t0 > 300:
            raise SystemExit("the project did not open in 5 minutes")
    filled = time.perf_counter() - t0
    end = time.perf_counter() + 0.2
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.002)
    timer.stop()
    gaps = np.diff([t0] + [t for t in ticks if t > t0]) * 1000
    viewer.close()
    return {
        "repaint_block_ms": round(float(repaint.max()), 1),
        "open_videos": n,
        "open_by": by,
        "open_longest_block_ms": round(float(gaps.max()), 1),
        "open_blocks_over_100ms": int((gaps > 100).sum()),
        "open_click_ms": round(call[0] * 1000, 1),
        "open_table_filled_s": round(filled, 3),
    }


def _mem() -> dict:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key = line.split(":")[0]
            if key in ("VmRSS", "RssAnon", "RssFile"):
                out[{"VmRSS": "rss_mb", "RssAnon": "rss_anon_mb", "RssFile": "rss_file_mb"}[key]] = (
                    int(line.split()[1]) // 1024
                )
    return out


def _mapped_mask_files() -> int:
    with open("/proc/self/maps") as f:
        return len({line.split()[5] for line in f if "dvos-masks-" in line and len(line.split()) > 5})


def run(project: Path, jumps: int, switches: int, three_d: bool = True) -> dict:
    import napari
    from qtpy.QtWidgets import QApplication

    from dvos_napari import _lazy
    from dvos_napari._state import get_state
    from dvos_napari.launch import show_project

    reads = {"n": 0}
    original = _lazy.LazyFrames.frame

    def frame(self, t):
        if int(t) % self.shape[0] not in self._cache:
            reads["n"] += 1
        return original(self, t)

    _lazy.LazyFrames.frame = frame
    out: dict = {}
    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    app.processEvents()
    state = get_state(viewer)

    def loaded() -> None:
        app.processEvents()
        while state.loading:
            app.processEvents()
            time.sleep(0.005)
        app.processEvents()

    t0 = time.perf_counter()
    panel = show_project(viewer, project, step="Annotate")
    while state.opening is not None:  # its videos are read in a worker thread
        app.processEvents()
        time.sleep(0.005)
    if state.video_id != "long":
        state.select_video("long")
    app.processEvents()
    out["open_s"] = round(time.perf_counter() - t0, 3)
    loaded()
    out["masks_loaded_s"] = round(time.perf_counter() - t0, 3)
    n = viewer.layers["long"].data.shape[0]
    out["long_shape"] = list(viewer.layers["long"].data.shape[:3])
    axis = viewer.dims.ndim - 3

    def scrub(seed: int) -> dict:
        rng = random.Random(seed)
        lat, most = [], 0
        for _ in range(jumps):
            reads["n"] = 0
            t = time.perf_counter()
            viewer.dims.set_current_step(axis, rng.randrange(n))
            app.processEvents()
            lat.append((time.perf_counter() - t) * 1000)
            most = max(most, reads["n"])
        return {
            "median": round(float(np.median(lat)), 1),
            "p95": round(float(np.percentile(lat, 95)), 1),
            "reads_per_jump": most,
        }

    out["scrub_ms"] = {"image_masks_predicted": scrub(0)}
    viewer.layers["long probability"].visible = True
    out["scrub_ms"]["with_probability"] = scrub(1)
    viewer.layers["long probability"].visible = False

    trips = []
    for _ in range(switches):
        t = time.perf_counter()
        state.select_video("short")
        loaded()
        state.select_video("long")
        loaded()
        trips.append(time.perf_counter() - t)
    import gc

    gc.collect()
    out["switch_s"] = round(float(np.median(trips)), 3)
    out["mask_files_mapped"] = _mapped_mask_files()

    if three_d:
        reads["n"] = 0
        t = time.perf_counter()
        try:
            viewer.dims.ndisplay = 3
            app.processEvents()
            refused = None
        except getattr(_lazy, "TooLargeRead", MemoryError) as e:
            refused = str(e)[:80]
        out["three_d"] = {"s": round(time.perf_counter() - t, 3), "frames_read": reads["n"], "refused": refused}
        viewer.dims.ndisplay = 2
        app.processEvents()

    annotate = panel.step("Annotate")
    viewer.dims.set_current_step(axis, n - 7)
    masks = viewer.layers["long masks"]
    masks.paint((n - 7, masks.data.shape[1] // 2, masks.data.shape[2] // 2), 1)
    t = time.perf_counter()
    annotate.save_frame()
    out["save_frame_s"] = round(time.perf_counter() - t, 3)
    out.update(_mem())
    out["peak_rss_mb"] = peak_rss_mb()
    viewer.close()
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=600, help="frames of the long video (default 600)")
    ap.add_argument("--size", default="1080x1920", help="HxW of the long video (default 1080x1920)")
    ap.add_argument("--jumps", type=int, default=50, help="random slider jumps per scrub (default 50)")
    ap.add_argument("--switches", type=int, default=3, help="long -> short -> long round trips (default 3)")
    ap.add_argument("--project", type=Path, help="use this project (videos 'long' and 'short') instead of building")
    ap.add_argument("--workdir", type=Path, help="where to build the project (default: a temporary folder)")
    ap.add_argument(
        "--skip-3d", action="store_true", help="leave out the 3D button (without the guard it reads the whole video)"
    )
    ap.add_argument("--open-videos", type=int, help="measure the Project step's Open... of N videos instead")
    ap.add_argument(
        "--open-by",
        choices=("dialog", "drop"),
        default="dialog",
        help="with --open-videos: Open... (dialog, the default) or the folder dropped on napari (drop)",
    )
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args(argv)
    if not os.environ.get("DISPLAY"):
        raise SystemExit('napari_bench needs a display: run it under xvfb-run -a -s "-screen 0 1280x1024x24"')
    if args.open_videos:
        tmp = Path(tempfile.mkdtemp(prefix="napari_bench-", dir=args.workdir))
        load_start = load_average()
        try:
            t = time.perf_counter()
            project = build_season(tmp / "season.dvos", args.open_videos)
            result = {
                "benchmark": "napari_bench",
                "build_s": round(time.perf_counter() - t, 1),
                **run_open(project, args.open_videos, args.open_by),
                "load_average_start": load_start,
                "load_average_end": load_average(),
                "machine": machine(),
            }
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        emit(result, args.out)
        return result
    h, w = (int(x) for x in args.size.lower().split("x"))
    tmp = None
    project = args.project
    build_s = None
    if project is None:
        tmp = Path(tempfile.mkdtemp(prefix="napari_bench-", dir=args.workdir))
        t = time.perf_counter()
        project = build(tmp / "bench.dvos", args.frames, h, w)
        build_s = round(time.perf_counter() - t, 1)
    try:
        result = {
            "benchmark": "napari_bench",
            "project": str(args.project) if args.project else None,
            "build_s": build_s,
            **run(project, args.jumps, args.switches, not args.skip_3d),
            "load_average_end": load_average(),
            "machine": machine(),
        }
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
