"""`dvos run-all` again on a finished run, after the user changed something: a model deleted (its later models would
be refused after hours of retraining), other synthesis settings (the kept set would silently ignore them), frames
painted or a training video added since (the kept models never saw them), a stopped training run resumed."""

import shutil

import numpy as np
import pytest
from test_run_all import _mtimes, tiny_config

from dvos_core.demo.pipeline import build_demo_project
from dvos_core.run_all import check_project, run_all
from dvos_core.store import Project


def _config(**kw):
    return tiny_config(**{"synth_frames": 4, **kw})


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished tiny run on the demo's sample clips at 64 px (image, context_synthetic, context)."""
    p = build_demo_project(tmp_path_factory.mktemp("done") / "p.dvos", size=64)
    run_all(p.path, _config(), log=lambda s: None)
    return p.path


@pytest.fixture
def project(finished, tmp_path):
    """A copy of the finished run (each test changes its own)."""
    return Project.open(shutil.copytree(finished, tmp_path / "p.dvos"))


@pytest.mark.parametrize(
    "deleted, later", [("context_synthetic", ["context"]), ("image", ["context_synthetic", "context"])]
)
def test_a_deleted_model_whose_later_models_are_kept_is_refused_before_any_work(project, deleted, later):
    """Before: the deleted model was trained again in full, then its later model refused as started from the file it
    was (and the message looked like the project had moved)."""
    project.delete("model", deleted)
    before, heads, lines = _mtimes(project), project.objects.count("head"), []
    with pytest.raises(ValueError, match=rf"model '{deleted}' is missing .*--name") as e:
        run_all(project.path, _config(), log=lines.append)
    for name in later:
        assert f"dvos delete {project.path} model {name} --yes" in str(e.value)
    p = Project.open(project.path)
    assert _mtimes(p) == before and deleted not in p.model_names() and p.objects.count("head") == heads
    assert not lines  # not one stage began
    for name in later:  # as the message says: the chain trains again
        p.delete("model", name)
    check_project(p, _config())


@pytest.mark.parametrize(
    "change, words",
    [
        ({"synth_frames": 6}, r"4 frames per clip, now 6 \(--frames 4 as then\)"),
        ({"match_motion": False}, r"motion was matched to the training videos, now not \(leave out --no-match-motion"),
        ({"bare_videos": ["bare_field"]}, r"no background clip of the bare-field video bare_field"),
        ({"synth_size": 48}, r"64x64 px frames, now 48 px"),
    ],
)
def test_other_synthesis_settings_than_the_kept_sets_are_refused_before_any_work(project, change, words):
    """Before: "synthetic set 'synthetic' is complete: its 3 clips kept", and the models trained on it kept: the
    setting had no effect, without a word."""
    heads, clips = project.objects.count("head"), project.background_ids()
    with pytest.raises(ValueError, match=rf"synthetic set 'synthetic' \(complete\) .*{words}.*--name NAME"):
        check_project(project, _config(**change))
    p = Project.open(project.path)
    assert p.objects.count("head") == heads and p.background_ids() == clips
    check_project(p, _config(name="v2", **change))  # a new name: its own set, with these settings


def test_the_runs_set_records_the_training_videos_its_motion_was_matched_to(finished):
    """run-all told a kept set made with matched motion from its settings, which a matched pan can leave at the
    defaults: the set records it (``motion_matched_to``), and run-all reads that."""
    p = Project.open(finished)
    matched = p.synthetic("synthetic").attrs["motion_matched_to"]
    training = [v for v in p.video_ids() if p.video(v).split == "train"]
    assert matched and set(matched) <= set(p.video_ids()) and set(training) <= set(matched)


def test_frames_painted_and_a_training_video_added_since_are_named_as_not_learnt(project):
    before = _mtimes(project)
    seed = project.video("seed")
    seed.set_mask(1, seed.mask(0), "manual")  # heads painted since: cut now, not in the kept set
    frames = np.asarray(project.video("field_train").read_frames())
    project.add_video_array("field_train2", frames, split="train")  # a training video added since
    lines = []
    run_all(project.path, _config(), log=lines.append)
    text = "\n".join(lines)
    assert "the kept set 'synthetic', and the models this run keeps, do not include the" in text, text
    kept = [ln for ln in lines if "model 'context' is already trained (1 epoch); kept" in ln]
    assert kept and "it never saw field_train2" in kept[0] and "--name" in kept[0], text
    image = [ln for ln in lines if "model 'image' is already trained (1 epoch); kept" in ln]
    assert image and "never saw" not in image[0]  # trained on seed alone
    p = Project.open(project.path)
    assert _mtimes(p) == before
    # the new video is pseudo-labelled (the others keep theirs: every model trained on them is kept)
    assert p.video("field_train2").attrs["pseudo_label"]["complete"] is True
    assert p.video("field_train2").provenance_counts()["pseudo"] > 0
    assert "pseudo-labels of field_train are kept as they are" in text, text


def test_a_rerun_of_trained_chains_labels_nothing_and_keeps_the_labels_whichever_chain_made_them(project):
    """Before: a rerun whose models were all trained and kept labelled the training videos again: a run with
    --relabel relabelled them with its first phase each time (hours on long footage, for nothing), and two runs of
    different names each replaced the other's labels with their own image model's, rerun after rerun."""
    lines = []

    def rerun(**kw):
        lines.clear()
        run_all(project.path, _config(**kw), log=lines.append)
        return Project.open(project.path).video("field_train").attrs["pseudo_label"]

    v2 = rerun(name="v2", synthetic_set="synthetic", relabel="first_phase")  # a new chain: labels made for it
    assert v2["checkpoint"].endswith("v2_context_synthetic/best.pt") and v2["complete"] is True
    for kw in ({"name": "v2", "relabel": "first_phase"}, {}, {"name": "v2", "relabel": "first_phase"}, {}):
        kw = {"synthetic_set": "synthetic", **kw} if kw else kw
        assert rerun(**kw) == v2, lines  # not made again, nor by the other chain's model
        context = "v2_context" if kw else "context"
        said = [ln for ln in lines if "skipped" in ln]
        assert f"pseudo-labelling skipped: model '{context}' is already trained" in said[0], lines
        if kw.get("relabel"):
            assert said[1].strip() == f"relabelling (first_phase) skipped: model '{context}' is already trained"


def test_a_resumed_training_run_is_said(monkeypatch, tmp_path):
    import dvos_core.train as training
    from dvos_core.run_all import Stages, _train
    from dvos_core.train import TrainConfig
    from dvos_core.train.events import DoneEvent, StartEvent

    def train(project, config, name, progress=None, cancel=None, on_event=None):
        on_event(StartEvent(total_epochs=3, steps_per_epoch=2, device="cpu", start_epoch=2, resumed=True))
        on_event(DoneEvent(best=str(tmp_path / "best.pt")))
        return tmp_path / "best.pt"

    monkeypatch.setattr(training, "train", train)
    lines = []
    _train(None, TrainConfig(phase="real"), "v2_context", None, None, Stages(1, None, None, lines.append))
    assert lines == ["      resuming 'v2_context' from epoch 2 of 3"]


def test_a_copied_projects_start_model_trained_again_is_named_so(tmp_path):
    """In a copy of a project, a run started from models/NAME/best.pt that was trained again since was refused as
    if the project's path were what changed (init_from: '/old/...' when it began, now '/copy/...')."""
    from dvos_core.model.checkpoint import file_fingerprint
    from dvos_core.train import TrainConfig
    from dvos_core.train.loop import settings_refusal

    old, new = (tmp_path / where / "p.dvos/models/context_synthetic/best.pt" for where in ("field", "copy"))
    for path, text in ((old, b"as it began"), (new, b"trained again")):
        path.parent.mkdir(parents=True)
        path.write_bytes(text)
    cfg = TrainConfig(phase="real", init_from=str(new))
    saved = {**cfg.to_dict(), "init_from": str(old)}
    why = settings_refusal(tmp_path / "out", cfg, saved, True, {"sha256": file_fingerprint(old)})
    assert "model 'context_synthetic'" in why and "trained again since" in why
    assert "different settings" not in why and str(old) not in why
    # another setting differing too: both said
    init = {"sha256": file_fingerprint(old)}
    why = settings_refusal(tmp_path / "out", cfg, {**saved, "weight_decay": 0.5}, True, init)
    assert "different settings (weight_decay: 0.5" in why and "trained again since" in why
    # the same bytes (a plain copy): nothing to refuse
    assert settings_refusal(tmp_path / "out", cfg, saved, True, {"sha256": file_fingerprint(new)}) is None
