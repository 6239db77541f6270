"""`dvos run-all` starting from last season's image model: ``image: {init_from}`` / ``--init-from`` is honoured (checked
like `dvos train --init-from`, recorded in the image model's config.yaml); what run-all sets itself (each phase, the
video models, where the video phases start) is refused in a phase section instead of being overwritten silently."""

import pytest
import torch
import yaml
from test_run_all import tiny_config

from dvos_core.cli import main
from dvos_core.demo.pipeline import build_demo_project
from dvos_core.model import build_model, save_checkpoint
from dvos_core.model.checkpoint import file_fingerprint, read_checkpoint
from dvos_core.run_all import RunAllConfig, machine_train_configs, run_all
from dvos_core.store import Project

torch.set_num_threads(1)


@pytest.fixture
def project(tmp_path):
    return build_demo_project(tmp_path / "p.dvos", size=96)


@pytest.fixture
def last_season(tmp_path):
    """An image model and a video model of another project (tiny, untrained)."""
    folder = tmp_path / "a.dvos" / "models"
    image, video = folder / "image" / "best.pt", folder / "context" / "best.pt"
    for path, kind, phase in ((image, "frame", "image"), (video, "context", "real")):
        path.parent.mkdir(parents=True)
        save_checkpoint(path, build_model("tiny", kind), phase=phase)
    return image, video


def test_the_image_sections_init_from_reaches_the_image_phase():
    configs = machine_train_configs(RunAllConfig(image={"init_from": "/x/best.pt"}))
    assert configs("image", None, "context").init_from == "/x/best.pt"  # was None: overwritten
    assert configs("synthetic", "/y/best.pt", "context").init_from == "/y/best.pt"  # the run's own image model


@pytest.mark.parametrize(
    "section, values, words",
    [
        ("real", {"init_from": "/x/best.pt"}, r"RunAllConfig\.real\.init_from .*synthetic phase's model.*--init-from"),
        ("synthetic", {"init_from": "/x/best.pt"}, r"RunAllConfig\.synthetic\.init_from .*image model it has just"),
        ("train", {"init_from": "/x/best.pt"}, r"RunAllConfig\.train\.init_from .*every phase.*image: \{init_from"),
        ("image", {"phase": "real"}, r"RunAllConfig\.image\.phase .*run-all sets each phase itself"),
        ("train", {"phase": "image"}, r"RunAllConfig\.train\.phase"),
        ("synthetic", {"video_model": "dvos"}, r"synthetic\.video_model .*video_models \(--video-model\)"),
    ],
)
def test_what_run_all_sets_itself_is_refused_in_a_section(section, values, words):
    with pytest.raises(ValueError, match=words):
        RunAllConfig(**{section: values})


def test_what_equals_what_run_all_uses_is_accepted():
    RunAllConfig(image={"phase": "image"}, real={"phase": "real"}, synthetic={"video_model": "context"})
    RunAllConfig(video_models=["dvos"], train={"video_model": "dvos"})


def test_the_config_file_is_named_and_video_model_option_counts(tmp_path, capsys):
    (tmp_path / "run.yaml").write_text("real: {init_from: /x/best.pt}\n")
    assert main(["run-all", "--config", str(tmp_path / "run.yaml"), "--print-config"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{tmp_path / 'run.yaml'}: RunAllConfig.real.init_from" in err
    (tmp_path / "dvos.yaml").write_text("synthetic: {video_model: dvos}\n")
    assert main(["run-all", "--config", str(tmp_path / "dvos.yaml"), "--print-config"]) == 2
    assert "RunAllConfig.synthetic.video_model" in capsys.readouterr().err
    assert main(["run-all", "--config", str(tmp_path / "dvos.yaml"), "--video-model", "dvos", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["video_models"] == ["dvos"]


def test_the_init_from_option_goes_to_the_image_section(capsys):
    assert main(["run-all", "--quick", "--init-from", "/a/models/image/best.pt", "--print-config"]) == 0
    image = yaml.safe_load(capsys.readouterr().out)["image"]
    assert image == {"epochs": 3, "init_from": "/a/models/image/best.pt"}  # --quick's epochs kept


def test_the_image_model_starts_from_last_seasons(project, last_season, monkeypatch):
    import dvos_core.run_all as ra

    image, _ = last_season

    class Stop(Exception):
        pass

    def stop(*a, **k):  # the image model is trained: that is what this test looks at
        raise Stop

    monkeypatch.setattr(ra, "_pseudo_label", stop)
    with pytest.raises(Stop):
        run_all(project.path, tiny_config(image={"init_from": str(image)}), log=lambda s: None)
    folder = Project.open(project.path).model_dir("image")
    assert yaml.safe_load((folder / "config.yaml").read_text())["init_from"] == str(image)
    init = read_checkpoint(folder / "best.pt")["info"]["init"]
    assert init["init_from"] == str(image) and init["sha256"] == file_fingerprint(image)


@pytest.mark.parametrize(
    "which, words",
    [
        ("video", r"image\.init_from \(--init-from\): .*holds a 'context' video model"),
        ("missing", r"image\.init_from \(--init-from\): checkpoint .*nowhere.pt: no such file"),
        ("name", r"image\.init_from \(--init-from\): checkpoint 'nomodel': .*no model 'nomodel'"),
        ("own", r"is the image model this run trains \('image'\)"),
    ],
)
def test_a_bad_start_is_refused_before_anything_is_written(project, last_season, tmp_path, which, words, capsys):
    _, video = last_season
    if which == "own":  # the project's own image model: the run would train over the file it starts from
        own = project.model_dir("image", create=True) / "best.pt"
        save_checkpoint(own, build_model("tiny", "frame"), phase="image")
    spec = {"video": str(video), "missing": str(tmp_path / "nowhere.pt"), "name": "nomodel", "own": "image"}[which]
    before = Project.open(project.path).model_names()
    with pytest.raises(ValueError, match=words):
        run_all(project.path, tiny_config(image={"init_from": spec}), log=lambda s: None)
    assert main(["run-all", str(project.path), "--init-from", spec, "--device", "cpu"]) == 2  # the CLI: the same
    assert "RunAllConfig.image.init_from (--init-from)" in capsys.readouterr().err
    p = Project.open(project.path)
    assert len(p.objects) == 0 and not p.background_ids() and p.model_names() == before


def test_a_model_name_of_the_project_is_its_best_pt(project, last_season):
    from dvos_core.run_all import check_project

    image, _ = last_season
    copied = project.model_dir("last_season", create=True) / "best.pt"
    copied.write_bytes(image.read_bytes())
    assert check_project(project, tiny_config(image={"init_from": "last_season"}))["start"] == copied
    rel = "models/last_season/best.pt"  # as a model's config.yaml records it, from any folder
    assert check_project(project, tiny_config(image={"init_from": rel}))["start"] == copied
