"""Regenerate the user-guide screenshots docs/images/dock_*.png (one per dock, on the demo project).

Run from the repository root under a virtual display (never QT_QPA_PLATFORM=offscreen):

    xvfb-run -a -s "-screen 0 1280x1024x24" python docs/make_screenshots.py

It builds the demo project in a temporary folder and drives every dock through its own actions (extract, preview,
a short training run with the tiny model on a small synthetic set, predict, evaluate), taking a screenshot of the
window after each step.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "images"
SCALE = 0.7


def wait(app, cond, timeout=600.0):
    t0 = time.monotonic()
    while not cond():
        app.processEvents()
        time.sleep(0.02)
        if time.monotonic() - t0 > timeout:
            raise TimeoutError("step did not finish in time")


def wait_job(app, job):
    if job is None:
        raise RuntimeError("the dock did not start its job (see notifications)")
    wait(app, lambda: job.status is not None)
    if job.status != "ok":
        raise RuntimeError(f"{job.label}: {job.status} {job.error!r}")


def shoot(viewer, app, name):
    import cv2

    viewer.reset_view()
    for _ in range(10):
        app.processEvents()
        time.sleep(0.03)
    img = viewer.screenshot(canvas_only=False, flash=False)
    h, w = img.shape[:2]
    img = cv2.resize(img, (int(w * SCALE), int(h * SCALE)), interpolation=cv2.INTER_AREA)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"dock_{name}.png"
    cv2.imwrite(str(path), cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


def main() -> int:
    import napari
    from qtpy.QtWidgets import QApplication

    from dvos_core.demo.pipeline import build_demo_project

    tmp = Path(tempfile.mkdtemp(prefix="dvos-shots-"))
    build_demo_project(tmp / "demo.dvos", size=160)
    viewer = napari.Viewer(title="dvos", show=True)
    viewer.window._qt_window.resize(1280, 900)
    app = QApplication.instance()

    def open_dock(name):
        dw, widget = viewer.window.add_plugin_dock_widget("dvos-napari", name)
        return dw, widget

    def close(dw):
        viewer.window.remove_dock_widget(dw)

    # Project
    dw, project = open_dock("Project")
    project.open_project(tmp / "demo.dvos")
    project.select_video("seed")
    shoot(viewer, app, "project")
    close(dw)

    # Annotate: the seed video with its painted masks, paint mode on
    dw, ann = open_dock("Annotate")
    ann.suggest_seeds(3)
    ann.start_painting()
    viewer.dims.set_current_step(0, 2)
    shoot(viewer, app, "annotate")
    close(dw)

    # Extract: heads + background clips, gallery
    dw, ext = open_dock("Extract")
    ext.fakes.setValue(4)
    wait_job(app, ext.extract_heads())
    ext.bg_source.setCurrentText("bare_field")
    ext.clip_length.setValue(24)
    wait_job(app, ext.extract_backgrounds())
    shoot(viewer, app, "extract")
    close(dw)

    # Synthesize: preview clip
    dw, syn = open_dock("Synthesize")
    syn.preview_frames.setValue(12)
    syn.preview_size.setValue(160)
    wait_job(app, syn.preview())
    for layer in list(viewer.layers):
        layer.visible = layer.name.startswith("synthetic preview")
    shoot(viewer, app, "synthesize")
    for layer in list(viewer.layers):
        if layer.name.startswith("synthetic preview"):
            viewer.layers.remove(layer)
        else:
            layer.visible = True
    close(dw)

    # Train: a short image-model run with the tiny preset, on a small synthetic set (the painted seed frames
    # validate it, as in `dvos demo`)
    from dvos_core.demo.pipeline import DemoConfig
    from dvos_core.synth import generate

    generate(tmp / "demo.dvos", "synthetic", 8, config=DemoConfig().synth_config(), seed=0)
    dw, tr = open_dock("Train")
    tr.phase.setCurrentText("image")
    tr.preset.setCurrentText("tiny")
    tr.epochs.setValue(5)
    tr.batch_size.setValue(4)
    tr.size.setValue(128)
    tr.name.setText("image")
    tr.start(samples_per_epoch=32, device="cpu")
    wait(app, lambda: not tr.running)
    shoot(viewer, app, "train")
    close(dw)

    # Predict the test video
    dw, pr = open_dock("Pseudo-label and Predict")
    pr.refresh()
    pr.checkpoint.setCurrentText("image")
    project.select_video("field_test")
    wait_job(app, pr.predict())
    viewer.layers["field_test probability"].visible = True
    shoot(viewer, app, "predict")
    close(dw)

    # Review: evaluate the test split, jump to the worst frame
    dw, rv = open_dock("Review")
    wait_job(app, rv.evaluate())
    worst = rv.report.worst(1).iloc[0]
    rv.jump_to(str(worst["video"]), int(worst["frame"]))
    rv.videos_table.selectRow(0)
    shoot(viewer, app, "review")
    close(dw)

    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
