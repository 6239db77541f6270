"""`dvos run-all` / :func:`dvos_core.run_all.run_all`: every stage on a project's own videos, resumable, with clear
refusals before anything is written."""

import pytest

from dvos_core.cli import main
from dvos_core.demo.pipeline import build_demo_project
from dvos_core.progress import Cancelled, CancelToken
from dvos_core.run_all import RunAllConfig, check_project, run_all
from dvos_core.store import Project

TINY = {"preset": "tiny", "epochs": 1, "max_steps_per_epoch": 2, "batch_size": 2, "size": 64, "device": "cpu"}


def tiny_config(**kw) -> RunAllConfig:
    return RunAllConfig(
        **{"synth_clips": 3, "synth_frames": 6, "train": dict(TINY), "pseudo_passes": 1, "device": "cpu", **kw}
    )


@pytest.fixture
def project(tmp_path):
    """The demo's sample clips at 96 px: painted frames in 'seed' (val), 'field_train' (train, unlabelled),
    'field_test' (test, every frame painted) and 'bare_field' (unassigned)."""
    return build_demo_project(tmp_path / "p.dvos", size=96)


def _mtimes(p: Project) -> dict:
    return {m: (p.model_dir(m) / "best.pt").stat().st_mtime_ns for m in p.model_names()}


def test_whole_run_scores_every_model_and_a_second_run_keeps_everything(project):
    lines = []
    res = run_all(project.path, tiny_config(), log=lines.append)
    p = Project.open(project.path)
    assert set(res.checkpoints) == {"image", "context"}
    assert {"image", "context_synthetic", "context"} <= set(p.model_names())
    assert p.synthetic_ids() == ["synthetic"] and len(p.synthetic("synthetic").done()) == 3
    # no bare-field video named: the backgrounds were inpainted from the painted frames
    assert p.background_ids() and all(p.background(b).attrs.get("source") == "seed" for b in p.background_ids())
    assert all("inpaint" in p.background(b).attrs for b in p.background_ids())
    assert p.objects.count("head") > 0 and p.objects.count("fake") > 0
    assert p.video("field_train").provenance_counts()["pseudo"] == p.video("field_train").n_frames
    test = p.video("field_test")
    assert sorted(test.predictions.models()) == ["context", "image"]
    assert all(len(test.predictions[m].frames()) == test.n_frames for m in ("image", "context"))
    table = res.comparison.set_index("model")
    assert {"image", "context", "previous_true_mask"} <= set(table.index)
    assert res.report.overall["dice"] == pytest.approx(table.loc["context", "dice"], abs=1e-6)
    assert res.predicted == ["field_test"]
    # and the different heads of what it predicted, counted from the video model's masks
    from dvos_core.evaluate import track_heads

    counted = track_heads(p, "field_test", which="predictions").n_heads
    assert res.heads_model == "context" and res.heads == {"field_test": counted}
    assert res.heads["field_test"] > 0
    assert "run-all" in p.report_names() and "run-all-comparison" in p.report_names()
    stages = [ln for ln in lines if ln.startswith("[")]
    assert len(stages) == 8 and stages[-1].startswith("[8/8]")
    # again: every stage finds its work done and keeps it (no model retrained, no clip redrawn)
    before, clips = _mtimes(p), p.synthetic("synthetic").done().tolist()
    said = []  # and says so (a run asking no more epochs, or fewer, than the models have said nothing)
    run_all(project.path, tiny_config(), log=said.append)
    assert "      model 'image' is already trained (1 epoch); kept" in said, said  # a plain status line
    p = Project.open(project.path)
    assert _mtimes(p) == before and p.synthetic("synthetic").done().tolist() == clips
    # other training settings under the same name: refused, saying how to keep both
    changed = r"holds a finished run with different settings \(eta_min: .* when it began, now .*, lr: .* now 0\.001\)"
    with pytest.raises(ValueError, match=changed + ".*--name"):
        run_all(project.path, tiny_config(train={**TINY, "lr": 1e-3}), log=lambda s: None)
    assert _mtimes(Project.open(project.path)) == before
    # more epochs, as the note advised: the image model would have been trained further (and the training video
    # relabelled), then its video models refused as trained from the file it was; now refused before anything
    labels = Project.open(project.path).video("field_train").attrs["pseudo_label"]
    with pytest.raises(ValueError, match=r"model 'image' has 1 epoch\(s\) and --epochs 2.*context_synthetic.*--name"):
        run_all(project.path, tiny_config(train={**TINY, "epochs": 2}), log=lambda s: None)
    assert _mtimes(Project.open(project.path)) == before
    assert Project.open(project.path).video("field_train").attrs["pseudo_label"] == labels
    # a frame corrected since: the kept models did not learn from it, and the run says so (it trained nothing)
    train_video = Project.open(project.path).video("field_train")
    train_video.set_mask(0, train_video.mask(0), "corrected")
    again = []
    run_all(project.path, tiny_config(), log=again.append)
    kept = [ln for ln in again if "were painted or corrected since it trained" in ln]
    assert any(
        "model 'context' is already trained (1 epoch); kept; 1 frame(s)" in ln and "another --name" in ln for ln in kept
    ), "\n".join(again)
    assert _mtimes(Project.open(project.path)) == before


def test_a_second_run_relabels_with_its_own_image_model_and_can_reuse_a_synthetic_set(project):
    run_all(project.path, tiny_config(), log=lambda s: None)
    p = Project.open(project.path)
    first = p.video("field_train").attrs["pseudo_label"]["checkpoint"]
    assert first.endswith("image/best.pt")
    lines = []
    run_all(project.path, tiny_config(name="v2", synthetic_set="synthetic", seed=1), log=lines.append)
    p = Project.open(project.path)
    assert p.synthetic_ids() == ["synthetic"]  # no second set made
    from dvos_core.model import read_checkpoint

    info = read_checkpoint(p.model_dir("v2_image") / "best.pt")["info"]
    assert info["train_config"]["synthetic_sets"] == ["synthetic"]
    assert p.video("field_train").attrs["pseudo_label"]["checkpoint"].endswith("v2_image/best.pt")
    assert any("another model made of field_train: replaced" in ln for ln in lines)
    with pytest.raises(ValueError, match="no synthetic set 'gone'"):
        run_all(project.path, tiny_config(name="v3", synthetic_set="gone"), log=lambda s: None)


def test_a_stopped_run_continues_where_it_stopped(project):
    token, seen = CancelToken(), []

    def progress(done, total, message):
        seen.append(message)
        if "] pseudo-label" in message:  # the image model is trained: stop here
            token.cancel()

    with pytest.raises(Cancelled):
        run_all(project.path, tiny_config(), progress=progress, cancel=token, log=lambda s: None)
    p = Project.open(project.path)
    assert p.model_names() == ["image"]
    image = _mtimes(p)["image"]
    res = run_all(project.path, tiny_config(), log=lambda s: None)
    p = Project.open(project.path)
    assert _mtimes(p)["image"] == image  # kept, not trained again
    assert set(res.checkpoints) == {"image", "context"}


def test_a_named_run_prefixes_what_it_makes_and_uses_bare_field_clips(project):
    res = run_all(
        project.path,
        tiny_config(name="v2", bare_videos=["bare_field"], video_models=["dvos"], predict=["field_train"]),
        log=lambda s: None,
    )
    p = Project.open(project.path)
    assert {"v2_image", "v2_dvos_synthetic", "v2_dvos"} <= set(p.model_names())
    assert p.synthetic_ids() == ["v2_synthetic"]
    assert p.background_ids() and all(p.background(b).attrs.get("source") == "bare_field" for b in p.background_ids())
    assert res.predicted == ["field_test", "field_train"]
    assert p.video("field_train").predictions.models() == ["v2_dvos"]


def test_without_a_test_video_nothing_is_scored_and_the_videos_asked_for_are_predicted(project):
    project.delete_video("field_test")
    lines = []
    res = run_all(project.path, tiny_config(predict=["field_train"]), log=lines.append)
    assert res.report is None and res.comparison is None and res.predicted == ["field_train"]
    assert any("no test video with painted masks" in ln for ln in lines)
    assert "run-all" not in Project.open(project.path).report_names()


@pytest.mark.parametrize(
    "change, message",
    [
        ("unpaint", "no painted frames outside the test videos"),
        ("no_train", "no video in the train split"),
        ("bad_video", "no video ['nowhere']"),
        ("bad_setting", "unknown training config keys"),
    ],
)
def test_refusals_name_the_fix_and_write_nothing(project, change, message):
    cfg = tiny_config()
    if change == "unpaint":
        for t in (0, 2, 4):
            project.video("seed").clear_mask(t)
    elif change == "no_train":
        project.video("field_train").set_split("unassigned")
    elif change == "bad_video":
        cfg = tiny_config(bare_videos=["nowhere"])
    else:
        cfg = tiny_config(synthetic={"learning_rate": 1e-3})
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        run_all(project.path, cfg, log=lambda s: None)
    p = Project.open(project.path)
    assert len(p.objects) == 0 and not p.background_ids() and not p.synthetic_ids() and not p.model_names()


def test_check_project_plans_from_the_splits(project):
    plan = check_project(project, RunAllConfig(bare_videos=["bare_field"], predict=["bare_field"]))
    assert plan == {
        "painted": ["seed"],
        "train": ["field_train"],
        "test": ["field_test"],
        "predict": ["field_test", "bare_field"],
        "start": None,
    }


def test_cli_config_file_and_options(tmp_path, capsys, project):
    assert main(["run-all", "--print-config", "--quick", "--epochs", "1"]) == 0
    quick = RunAllConfig.from_dict(__import__("yaml").safe_load(capsys.readouterr().out))
    assert quick.name == "quick" and quick.train["preset"] == "tiny" and quick.train["epochs"] == 1
    assert quick.scales == "auto"
    assert main(["run-all", "--print-config", "--scales", "trained"]) == 0
    assert RunAllConfig.from_dict(__import__("yaml").safe_load(capsys.readouterr().out)).scales == "trained"
    with pytest.raises(ValueError, match="scales must be one of"):
        RunAllConfig(scales="half")
    assert main(["run-all", "--print-config", "--name", "a", "--epochs", "3", "--video-model", "both"]) == 0
    text = capsys.readouterr().out
    (tmp_path / "run.yaml").write_text(text)
    cfg = RunAllConfig.from_yaml(tmp_path / "run.yaml")
    assert cfg.name == "a" and cfg.train == {"epochs": 3} and cfg.video_models == ["context", "dvos"]
    (tmp_path / "bad.yaml").write_text("clips: 3\n")
    assert main(["run-all", str(project.path), "--config", str(tmp_path / "bad.yaml")]) == 2
    assert "unknown run-all settings ['clips']" in capsys.readouterr().err
    assert main(["run-all", str(project.path), "--device", "gpu"]) == 2  # before any step: nothing written
    assert "unknown device 'gpu'" in capsys.readouterr().err and project.model_names() == []
    for t in (0, 2, 4):
        project.video("seed").clear_mask(t)
    assert main(["run-all", str(project.path)]) == 2
    assert "dvos import-masks" in capsys.readouterr().err
