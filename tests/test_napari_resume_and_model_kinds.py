"""The Train step resumes a run started from the command line (its config.yaml leaves eta_min unset) and shows a
starting checkpoint of another project as its path, not as this project's model of the same name; the steps' model
lists know the kind of a model without config.yaml (imported, or a best.pt copied in) from its checkpoint (run with
xvfb-run)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from napari_helpers import dock, tiny_clip

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]

# as `dvos train --phase image --preset tiny ...` records them: eta_min left unset (null in config.yaml)
CLI_RUN = {"phase": "image", "preset": "tiny", "batch_size": 2, "size": 64, "max_steps_per_epoch": 1, "amp": False}


def _painted(path):
    from dvos_core.store import Project

    frames, gt = tiny_clip(8, seed=4)
    p = Project.create(path)
    v = p.add_video_array("plot", frames, split="train")
    for t in (1, 4, 7):
        v.set_mask(t, gt[t], "manual")
    return p


def _cli_train(project, name, epochs, stop_after_first=False, **settings):
    """Train ``name`` as the command line does (the TrainConfig its defaults give, eta_min None); with
    ``stop_after_first``, stopped after its first epoch (Ctrl+C), leaving last.pt to resume."""
    from dvos_core.progress import Cancelled, CancelToken
    from dvos_core.train import train
    from dvos_core.train.config import TrainConfig

    cfg = TrainConfig(**{**CLI_RUN, "epochs": epochs, "device": "cpu", **settings})
    assert cfg.eta_min is None
    cancel = CancelToken()

    def on_event(e):
        if stop_after_first and e.type == "epoch":
            cancel.cancel()

    try:
        train(project, cfg, name, cancel=cancel, on_event=on_event, threads=1)
    except Cancelled:
        assert stop_after_first
    return project.model_dir(name)


def _train_dock(viewer, project):
    tr = dock(viewer, "Train")
    tr.state.set_project(project)
    tr.threads_box.setValue(1)
    return tr


def _form_matches_the_run(tr, folder):
    """Every field of the Train form (and 'start from') holds what the stopped run began with, and the core takes
    the form's settings as that run's (no refusal)."""
    import yaml

    from dvos_core.train.loop import _resolved_floor, settings_refusal

    saved = yaml.safe_load((folder / "config.yaml").read_text())
    cfg = tr.config()
    expected = _resolved_floor(saved)  # eta_min unset: the rate it gives (a tenth of lr)
    form = tr.form.values()
    assert set(form) < set(saved)
    differ = {k: (v, expected[k]) for k, v in form.items() if v != expected[k]}
    assert not differ, differ  # {field: (the form's, the run's)}
    recorded = saved["init_from"]  # models/NAME/FILE: this project's model, wherever the project is
    if recorded is None or Path(recorded).is_absolute():
        assert cfg.init_from == recorded
    else:
        assert Path(cfg.init_from) == tr.state.project.path / recorded
    assert settings_refusal(folder, cfg, saved, False, None) is None


def test_a_run_started_from_the_command_line_and_stopped_resumes_from_the_form(make_napari_viewer, tmp_path):
    """A CLI run's config.yaml stores eta_min: null; the form turned it into 0.0 ('final learning rate') and Start
    was refused: 'an unfinished run with different settings (eta_min: 1e-05 when it began, now 0.0)'."""
    from dvos_core.train.loop import refuse_other_settings

    p = _painted(tmp_path / "p.dvos")
    folder = _cli_train(p, "cli", epochs=5, stop_after_first=True)
    tr = _train_dock(make_napari_viewer(), p)
    assert tr.name.text() == "cli" and "Start training resumes it" in tr.messages.text()
    assert tr.form.values()["eta_min"] == pytest.approx(1e-5)  # automatic: a tenth of lr, as the run has it
    _form_matches_the_run(tr, folder)
    import torch

    info = torch.load(folder / "last.pt", map_location="cpu", weights_only=True)["info"]
    refuse_other_settings(folder, tr.config(device="cpu"), info)  # the check Start runs: raises nothing


def test_a_run_started_from_another_projects_model_shows_that_path(make_napari_viewer, tmp_path):
    """A run started from X/season1/field.dvos/models/image/best.pt was shown as 'start from: image', this
    project's own model of the same name."""
    season1 = _painted(tmp_path / "X" / "season1" / "field.dvos")
    _cli_train(season1, "image", epochs=1)
    p = _painted(tmp_path / "field.dvos")
    shutil.copytree(season1.model_dir("image"), p.model_dir("image"))  # this project has an 'image' model too
    foreign = str(season1.model_dir("image") / "best.pt")
    folder = _cli_train(p, "ft", epochs=5, stop_after_first=True, init_from=foreign)
    tr = _train_dock(make_napari_viewer(), p)
    assert tr.name.text() == "ft"
    assert tr.init_from.currentText() == foreign  # the recorded path, as it is
    _form_matches_the_run(tr, folder)
    tr.refresh()  # a change of the store: the path stays listed and chosen
    assert tr.init_from.currentText() == foreign and tr.config().init_from == foreign

    # this project's own model, recorded as config.yaml writes it (models/NAME/FILE), is shown by its name
    own = _cli_train(p, "own", epochs=5, stop_after_first=True, init_from=str(p.model_dir("image") / "best.pt"))
    shutil.rmtree(folder)
    again = _train_dock(make_napari_viewer(), p)
    assert again.name.text() == "own" and again.init_from.currentText() == "image"
    assert foreign not in [again.init_from.itemText(i) for i in range(again.init_from.count())]
    _form_matches_the_run(again, own)


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
