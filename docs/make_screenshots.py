"""Regenerate the user-guide screenshots docs/images/panel_*.png: the dvos panel at each step, in a 1280x800 window.

Run from the repository root under a virtual display (never QT_QPA_PLATFORM=offscreen):

    xvfb-run -a -s "-screen 0 1280x1024x24" python docs/make_screenshots.py

It builds the demo project in a temporary folder and drives every step of the panel through its own actions
(extract, preview, a short training run with the tiny model on a small synthetic set, predict, evaluate, then every
step at once from the Train step), taking a
screenshot of the window after each step (and one of the synthetic preview's own window).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "images"
SCALE = 0.75
SIZE = (1280, 800)


def wait(app, cond, timeout=900.0):
    t0 = time.monotonic()
    while not cond():
        app.processEvents()
        time.sleep(0.02)
        if time.monotonic() - t0 > timeout:
            raise TimeoutError("step did not finish in time")


def wait_job(app, job):
    if job is None:
        raise RuntimeError("the step did not start its job (see notifications)")
    wait(app, lambda: job.status is not None)
    if job.status != "ok":
        raise RuntimeError(f"{job.label}: {job.status} {job.message}")


def shoot(viewer, app, name, reset=True):
    import cv2

    if reset:
        viewer.reset_view()
    for _ in range(15):
        app.processEvents()
        time.sleep(0.03)
    img = viewer.screenshot(canvas_only=False, flash=False)
    h, w = img.shape[:2]
    img = cv2.resize(img, (int(w * SCALE), int(h * SCALE)), interpolation=cv2.INTER_AREA)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"panel_{name}.png"
    cv2.imwrite(str(path), cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


def main() -> int:
    import napari
    from qtpy.QtWidgets import QApplication

    from dvos_core.demo.pipeline import DemoConfig, build_demo_project
    from dvos_napari._warmup import warmed

    tmp = Path(tempfile.mkdtemp(prefix="dvos-shots-"))
    build_demo_project(tmp / "demo.dvos", size=160)
    viewer = napari.Viewer(title="dvos", show=True)
    viewer.window._qt_window.resize(*SIZE)
    app = QApplication.instance()
    _, panel = viewer.window.add_plugin_dock_widget("dvos-napari", "dvos workflow")
    wait(app, warmed.is_set)
    state = panel.state

    def loaded():
        wait(app, lambda: not state.loading)

    # 1. Project
    project = panel.go("Project")
    project.open_project(tmp / "demo.dvos")
    project.select_video("seed")
    loaded()
    shoot(viewer, app, "project")

    # 2. Annotate: the seed video with its painted masks, paint mode on
    ann = panel.go("Annotate")
    ann.suggest_seeds(3)
    ann.goto(2)
    ann.start_painting()
    shoot(viewer, app, "annotate")

    # 3. Extract: heads + background clips, gallery
    ext = panel.go("Extract")
    ext.fakes.setValue(4)
    wait_job(app, ext.extract_heads())
    ext.bg_source.setCurrentText("bare_field")
    ext.clip_length.setValue(24)
    wait_job(app, ext.extract_backgrounds())
    wait(app, lambda: not ext.gallery_loading)
    shoot(viewer, app, "extract")

    # 4. Synthesize: the demo's settings, a preview clip in its own window, a small set for training
    syn = panel.go("Synthesize")
    cfg = DemoConfig().synth_config()
    syn.form.set_values({k: getattr(cfg, k) for k in ("n_frames", "height", "width", "n_heads", "n_fakes")})
    syn.form.advanced.set_expanded(True)
    syn.preview_frames.setValue(12)
    syn.preview_size.setValue(160)
    wait_job(app, syn.preview())
    pv = syn.preview_viewer
    pv.window._qt_window.resize(900, 640)
    pv.dims.set_current_step(0, 6)
    shoot(pv, app, "synthesize_preview")
    syn.close_preview()
    syn.n_clips.setValue(8)
    wait_job(app, syn.generate())
    shoot(viewer, app, "synthesize")
    syn.form.advanced.set_expanded(False)

    # 5. Train: a short image-model run with the tiny preset (the painted seed frames validate it, as in `dvos demo`)
    tr = panel.go("Train")
    tr.form.set_values(
        {"phase": "image", "preset": "tiny", "epochs": 5, "batch_size": 4, "size": 128, "max_steps_per_epoch": None}
    )
    tr.name.setText("image")
    tr.start(samples_per_epoch=32, device="cpu")
    wait(app, lambda: not tr.running)
    tr.ensureWidgetVisible(tr.plot)
    shoot(viewer, app, "train")

    # 6. Predict the test video
    pr = panel.go("Predict")
    pr.refresh()
    pr.checkpoint.setCurrentText("image")
    project.select_video("field_test")
    loaded()
    wait_job(app, pr.predict())
    loaded()
    viewer.layers["field_test probability"].visible = True
    shoot(viewer, app, "predict")

    # 7. Review: evaluate the test split, jump to the worst frame
    rv = panel.go("Review")
    wait_job(app, rv.evaluate())
    worst = rv.report.worst(1).iloc[0]
    viewer.layers["field_test probability"].visible = False
    rv.jump_to(str(worst["video"]), int(worst["frame"]))
    loaded()
    rv.videos_table.selectRow(0)
    shoot(viewer, app, "review")

    # 8. Every step at once (Train step, run-all): a tiny run under its own name beside the models above
    tr = panel.go("Train")
    tr.all_steps_section.set_expanded(True)
    tr.all_steps.name.setText("all")
    tiny = {"preset": "tiny", "epochs": 1, "max_steps_per_epoch": 4, "batch_size": 4, "size": 128, "device": "cpu"}
    wait_job(app, tr.all_steps.start(synth_clips=6, train=tiny, device="cpu"))
    tr.ensureWidgetVisible(tr.all_steps.job_bar)
    shoot(viewer, app, "train_all_steps")

    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
