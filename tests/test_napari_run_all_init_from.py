"""The Train step's run-all box starts the image model from an image model of the project (e.g. last season's, copied
in), as `dvos run-all --init-from NAME` does: the same RunAllConfig, the same check before anything starts (run with
xvfb-run)."""

from __future__ import annotations

import os

import pytest
from napari_helpers import dock

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


@pytest.fixture
def project(tmp_path):
    import torch

    from dvos_core.demo.pipeline import build_demo_project
    from dvos_core.model import build_model, save_checkpoint

    torch.set_num_threads(1)
    p = build_demo_project(tmp_path / "p.dvos", size=96)
    for name, kind, config in (("last_season", "frame", "phase: image\n"), ("odd", "context", None)):
        folder = p.model_dir(name, create=True)
        save_checkpoint(folder / "best.pt", build_model("tiny", kind))
        if config:
            (folder / "config.yaml").write_text(config)
    # a checkpoint in torch's legacy (not zip) format: the lists cannot read its kind without loading it all
    legacy = p.model_dir("legacy", create=True) / "best.pt"
    save_checkpoint(legacy, build_model("tiny", "context"))
    torch.save(torch.load(legacy, weights_only=True), legacy, _use_new_zipfile_serialization=False)
    p.model_dir("video", create=True)
    save_checkpoint(p.model_dir("video") / "best.pt", build_model("tiny", "context"))
    (p.model_dir("video") / "config.yaml").write_text("phase: real\nvideo_model: context\n")
    return p


def test_the_box_starts_the_image_model_from_a_model_of_the_project(make_napari_viewer, project):
    viewer = make_napari_viewer()
    tr = dock(viewer, "Train")
    tr.state.set_project(project)
    box = tr.all_steps
    box.refresh()
    items = [box.start_from.itemText(i) for i in range(box.start_from.count())]
    # no video model: 'odd' has no config.yaml, its checkpoint says it holds a context model
    assert items[0] == "nothing (a new model)" and set(items[1:]) == {"last_season", "legacy"}
    assert "init_from" not in box.config().image
    box.start_from.setCurrentText("last_season")
    assert box.config().image == {"init_from": "last_season"}
    box.length.setCurrentIndex(1)  # a quick look keeps its own image settings
    assert box.config().image == {"epochs": 3, "init_from": "last_season"}
    box.start_from.setCurrentText("legacy")  # a model of unknown kind: the run's check says what it is
    assert box.start() is None
    assert "holds a 'context' video model" in box.job_bar.messages.text()
