"""The steps' model lists know the kind of a model without config.yaml (imported, or a best.pt copied in) from its
checkpoint (run with xvfb-run)."""

from __future__ import annotations

import os

import pytest
from napari_helpers import dock, tiny_clip

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


def _painted(path):
    from dvos_core.store import Project

    frames, gt = tiny_clip(8, seed=4)
    p = Project.create(path)
    v = p.add_video_array("plot", frames, split="train")
    for t in (1, 4, 7):
        v.set_mask(t, gt[t], "manual")
    return p


def _bare_checkpoint(project, name, kind, input_fusion=None):
    """A model folder holding only best.pt (a checkpoint imported or copied in: no config.yaml)."""
    from dvos_core.model import build_model
    from dvos_core.model.checkpoint import save_checkpoint

    model = build_model("tiny", kind)
    path = save_checkpoint(project.model_dir(name) / "best.pt", model)
    assert not (path.parent / "config.yaml").exists()
    return path


def test_models_without_config_are_listed_by_the_kind_their_checkpoint_holds(make_napari_viewer, tmp_path):
    """Imported models (import-weights --kind, or a best.pt copied in) have no config.yaml: an image model was listed
    among the video models, the pseudo-labelling list was empty, the image-model lists held only (none), a context
    model's rows stayed hidden, Train proposed 'from (none)' and run-all's start-from offered video models."""
    import dvos_napari._models as models

    p = _painted(tmp_path / "p.dvos")
    _bare_checkpoint(p, "paper_vid", "dvos")
    _bare_checkpoint(p, "ctx", "context")
    _bare_checkpoint(p, "paper_img", "frame")
    viewer = make_napari_viewer()
    pr, tr = dock(viewer, "Predict"), dock(viewer, "Train")
    pr.state.set_project(p)
    tr.state.set_project(p)
    pr.refresh()

    def items(c):
        return [c.itemText(i) for i in range(c.count())]

    assert items(pr.checkpoint) == ["ctx", "paper_vid", "paper_img"]  # video models first, then image models
    assert items(pr.image_checkpoint) == ["(none)", "paper_img"]
    assert items(pr.blend_with) == ["(none)", "paper_img"]
    assert items(pr.image_model) == ["paper_img", "ctx"]  # the pseudo-labelling models
    pr.checkpoint.setCurrentText("ctx")
    assert pr.model_kind() == "context"
    form = pr.predict_form
    assert form.isRowVisible(pr.context_passes) and form.isRowVisible(pr.reference_masks)
    pr.checkpoint.setCurrentText("paper_vid")
    assert pr.model_kind() == "dvos" and not form.isRowVisible(pr.context_passes)
    assert tr.next_phase() == "synthetic" and tr.init_from.currentText() == "paper_img"
    assert items(tr.all_steps.start_from)[1:] == ["paper_img"]

    # read once per version of the file: a refresh reads no checkpoint again
    reads = []
    real = models._header_kind
    models._HELD.clear()
    try:
        models._header_kind = lambda path: reads.append(path) or real(path)
        from dvos_napari._summary import SETTLE_S

        then = os.stat(p.model_dir("ctx") / "best.pt").st_mtime - SETTLE_S - 5
        for name in ("paper_vid", "ctx", "paper_img"):
            os.utime(p.model_dir(name) / "best.pt", (then, then))
        models.model_checkpoints(p)
        assert len(reads) == 3
        models.model_checkpoints(p)
        pr.refresh()
        assert len(reads) == 3
    finally:
        models._header_kind = real


def test_the_header_reader_knows_no_kind_of_a_file_that_is_no_dvos_checkpoint(tmp_path):
    import torch

    from dvos_napari._models import _header_kind

    (tmp_path / "text.pt").write_text("not a checkpoint")
    torch.save({"encoder.backbone.w": torch.zeros(2)}, tmp_path / "bare.pt")  # the authors' bare state_dict
    torch.save({"format": "dvos-checkpoint", "kind": "os.system"}, tmp_path / "odd.pt")
    assert [_header_kind(tmp_path / n) for n in ("text.pt", "bare.pt", "odd.pt", "none.pt")] == [None] * 4
