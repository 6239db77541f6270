"""`dvos train` refuses options that would train nothing, blow the memory or make no sense, before any work; a run
that diverges stops and never makes its diverged epoch best.pt; a finished run asked for fewer epochs is left alone;
a failed run leaves no empty model folder; --print-config prints the config the other options build."""

import pytest
import torch
import yaml
from conftest import tiny_train_config

from dvos_core.cli import main
from dvos_core.data.toy import make_toy_project
from dvos_core.train import TrainConfig, train
from dvos_core.train.loop import _Run

torch.set_num_threads(1)


def tiny(**kw):
    base = {"phase": "image", "size": 32, "max_steps_per_epoch": 1, "synthetic_sets": [], "device": "cpu"}
    return tiny_train_config(**{**base, **kw})


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Videos only (no synthetic clips are used): video0 unassigned (trains), video1 val; manual masks."""
    return make_toy_project(
        tmp_path_factory.mktemp("b") / "b.dvos", n_clips=1, n_frames=2, size=32, n_videos=2, video_frames=6
    )


# ---- config values --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "setting,match",
    [
        ({"samples_per_epoch": 0}, "samples_per_epoch must be at least 1"),
        ({"samples_per_epoch": -4}, "samples_per_epoch must be at least 1"),
        ({"max_steps_per_epoch": -3}, r"max_steps_per_epoch \(--max-steps-per-epoch\) must be at least 1"),
        ({"size": 100000}, r"size \(--size\) must be a multiple of 32 between 32 and 2048"),
        ({"size": 48}, "multiple of 32"),
        ({"pseudo_quality_min": 2.0}, "between 0 and 1"),
        ({"pseudo_quality_min": -0.5}, "between 0 and 1"),
        # these trained a broken model, or crashed at the first step, unsaid
        ({"grad_clip": -1.0}, r"grad_clip must be > 0, or 0 / null"),
        ({"mask_weight": -1.0}, "mask_weight must be >= 0"),
        ({"dice_weight": -0.5}, "dice_weight must be >= 0"),
        ({"weight_decay": -1.0}, "weight_decay must be >= 0"),
        ({"mask_weight": 0.0, "frame_weight": 0.0, "phase": "synthetic"}, "nothing would be learnt"),
        ({"mask_weight": 0.0, "phase": "image"}, "nothing would be learnt"),
        ({"model": {"dropout": 2.0}}, r"model\.dropout must be in \[0, 1\)"),
        # accepted before (dvos run-all --seed -1 is refused; device '' was taken as auto)
        ({"seed": -1}, r"seed \(--seed\) must be >= 0"),
        ({"device": ""}, r"device \(--device\) must be one of auto, cpu, cuda, cuda:N or mps"),
    ],
)
def test_bad_values_are_refused_in_the_config(setting, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**setting)


def test_a_yaml_config_names_its_file_and_zero_steps_means_no_cap_as_on_the_command_line(tmp_path, capsys):
    bad = tmp_path / "zero.yaml"
    bad.write_text("samples_per_epoch: 0\n")
    with pytest.raises(ValueError, match="zero.yaml: samples_per_epoch must be at least 1"):
        TrainConfig.from_yaml(bad)
    no_cap = tmp_path / "nocap.yaml"
    no_cap.write_text("max_steps_per_epoch: 0\n")
    assert TrainConfig.from_yaml(no_cap).max_steps_per_epoch is None  # the same as --max-steps-per-epoch 0
    assert TrainConfig(max_steps_per_epoch=0) == TrainConfig()
    assert main(["train", "p.dvos", "--config", str(tmp_path / "zero.yaml")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "samples_per_epoch" in err and "unexpected" not in err


def test_cli_size_and_quality_are_refused_before_any_work(project, capsys):
    for opts, word in ((["--size", "100000"], "--size"), (["--pseudo-quality-min", "2"], "--pseudo-quality-min")):
        assert main(["train", str(project.path), "--phase", "image", "--name", "never", *opts]) == 2
        err = capsys.readouterr().err
        assert word in err and "unexpected error type" not in err
    assert not (project.path / "models" / "never").exists()


# ---- --print-config -------------------------------------------------------------------------------------------------
def test_print_config_applies_the_recipe_and_the_options(capsys):
    assert main(["train", "--print-config", "--recipe", "paper", "--phase", "image", "--epochs", "3"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed == TrainConfig.from_recipe("paper", "image").replace(epochs=3).to_dict()
    assert printed["size"] == 384 and printed["epochs"] == 3


def test_print_config_refuses_a_missing_config_or_a_folder(tmp_path, capsys):
    assert main(["train", "--print-config", "--config", str(tmp_path / "missing.yaml")]) != 0
    assert "not found" in capsys.readouterr().err
    assert main(["train", "--print-config", "--config", str(tmp_path)]) != 0
    assert "is a folder, not a YAML file" in capsys.readouterr().err


# ---- runs -----------------------------------------------------------------------------------------------------------
def test_a_finished_run_asked_for_fewer_epochs_is_left_alone(project):
    best = train(project, tiny(epochs=2), "fin", resume=False)
    files = {p.name: p.read_bytes() for p in best.parent.iterdir()}
    events = []
    assert train(project, tiny(epochs=1), "fin", on_event=events.append) == best
    assert [e["type"] for e in events] == ["done"]
    assert "already has 2 epoch(s), more than the 1 asked; nothing to do" in events[0]["note"]
    assert {p.name: p.read_bytes() for p in best.parent.iterdir()} == files  # config.yaml still says epochs: 2


def test_a_diverged_run_stops_naming_the_learning_rate_and_leaves_no_model(project):
    with pytest.raises(FloatingPointError, match="learning rate is too high.*lr 1e\\+09"):
        train(project, tiny(lr=1e9, eta_min=0.0), "diverged", resume=False)
    assert not (project.path / "models" / "diverged").exists()  # nothing committed: the folder it made is gone


def test_a_last_step_that_blows_the_weights_up_is_caught_without_validation(tmp_path):
    """The run's last step made finite weights of about 1e30 whose output is NaN; with no validation frames nothing
    looked, and best.pt was a model that predicts NaN everywhere."""
    p = make_toy_project(tmp_path / "nv.dvos", n_clips=1, n_frames=2, size=32, n_videos=1, video_frames=6)
    with pytest.raises(FloatingPointError, match="output on its last batch became inf/nan in epoch 1.*--lr"):
        train(p, tiny(lr=1e30, eta_min=0.0, val_fraction=0.0), "blown", resume=False)
    assert not (p.path / "models" / "blown").exists()


def test_a_finished_run_whose_last_pt_is_damaged_is_not_called_unfinished(project):
    """It said "this unfinished run cannot be resumed; start it over with --no-resume", which throws a finished model
    away."""
    from dvos_core.train import ResumeRefused

    best = train(project, tiny(epochs=1), "done_damaged", resume=False)
    last = best.parent / "last.pt"
    last.write_bytes(last.read_bytes()[:100])
    before = best.read_bytes()
    with pytest.raises(
        ResumeRefused,
        match=r"cannot be resumed; it had finished \(its metrics.json records all 1 epochs\).*use it as it is",
    ):
        train(project, tiny(epochs=1), "done_damaged")
    assert best.read_bytes() == before


def test_a_nan_validation_never_becomes_best_and_the_earlier_best_stays(project, monkeypatch):
    real = _Run._validate
    calls = []

    def second_is_nan(self, epoch):
        calls.append(1)
        out = real(self, epoch)
        return {**out, "val_loss": float("nan"), "val_dice": float("nan")} if len(calls) == 2 else out

    monkeypatch.setattr(_Run, "_validate", second_is_nan)
    events = []
    with pytest.raises(FloatingPointError, match="validation loss became nan in epoch 2.*best.pt keeps epoch 1"):
        train(project, tiny(epochs=2), "nan", resume=False, on_event=events.append)
    assert [e["epoch"] for e in events if e["type"] == "epoch"] == [1]
    info = torch.load(project.path / "models" / "nan" / "best.pt", weights_only=True)["info"]
    assert info["epoch"] == 1 and info["val_dice"] == info["val_dice"]  # finite: not NaN


def test_paint_only_in_val_videos_says_so_and_leaves_no_folder(tmp_path):
    p = make_toy_project(tmp_path / "v.dvos", n_clips=1, n_frames=2, size=32, n_videos=2, video_frames=4)
    p.video("video0").set_split("val")
    with pytest.raises(ValueError) as err:
        train(p, tiny(), "valonly")
    msg = str(err.value)
    assert "no training samples" in msg and "4 labelled frame(s) (4 manual)" in msg
    assert "val videos (video0, video1)" in msg and f"`dvos split {p.path} train video0`" in msg
    assert "--video-ids" not in msg
    assert not (p.path / "models" / "valonly").exists()


def test_a_failed_run_keeps_a_folder_that_held_files(project):
    folder = project.path / "models" / "kept"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(ValueError):
        train(project, tiny(video_ids=["nope"]), "kept")
    assert (folder / "notes.txt").read_text() == "mine"


def test_a_folder_with_only_best_pt_is_not_replaced_by_a_new_run(project):
    best = train(project, tiny(), "only", resume=False)
    (best.parent / "last.pt").unlink()  # as after `dvos import-weights --project P --name only`
    before = best.read_bytes()
    with pytest.raises(ValueError, match="no training state to resume.*--no-resume"):
        train(project, tiny(), "only")
    assert best.read_bytes() == before


def test_without_validation_samples_best_pt_is_said_to_be_chosen_by_training_loss():
    """metrics.json said "best validation Dice" for a run without a single validation sample."""
    by, why = TrainConfig().selection({})
    assert by == "val" and "no validation samples" in why and "lowest training loss" in why
    assert TrainConfig(select_by="last").selection({})[0] == "last"


# ---- settings that do not apply -------------------------------------------------------------------------------------
def test_settings_that_do_not_apply_are_named_and_the_defaults_are_not():
    for phase in ("image", "synthetic", "real"):
        assert TrainConfig(phase=phase).unused_settings("cpu") == []
    unused = TrainConfig(phase="synthetic", real_share=0.5, pseudo_quality_min=0.9).unused_settings("cuda")
    assert len(unused) == 2
    assert "pseudo_quality_min 0.9 (--pseudo-quality-min" in unused[0] and "real_share 0.5 (--real-share" in unused[1]
    assert TrainConfig(phase="image", real_share=0.5, pseudo_quality_min=0.9).unused_settings("cpu") == []
    assert TrainConfig(phase="real", real_share=0.5, synthetic_sets=["s"]).unused_settings("cpu") == []
    assert "compile (CUDA only; this run is on cpu)" in TrainConfig(compile=True).unused_settings("cpu")
    assert TrainConfig(compile=True).unused_settings("cuda") == []
    (bf16,) = TrainConfig(amp=False, precision="bf16").unused_settings("cuda")
    assert "precision bf16 (--precision): amp is false, so the run trains in float32" in bf16


def test_train_warns_of_the_settings_it_does_not_use(project, monkeypatch):
    import dvos_core.train.loop as loop

    class Started(Exception):
        pass

    def started(*a, **k):
        raise Started

    monkeypatch.setattr(loop, "_Run", started)
    unused = r"image phase: compile \(CUDA only; this run is on cpu\).* are not used"
    with pytest.warns(UserWarning, match=unused), pytest.raises(Started):
        train(project, tiny(compile=True), "unused")


def test_cli_device_seed_and_threads_are_checked(capsys, monkeypatch):
    import dvos_core.threads as threads

    with pytest.raises(SystemExit):  # an argparse error: the usage, then the message
        main(["train", "--print-config", "--device", ""])
    assert "expected auto, cpu, cuda, cuda:N or mps, got ''" in capsys.readouterr().err
    assert main(["train", "--print-config", "--seed", "-1"]) == 2
    assert "seed (--seed) must be >= 0" in capsys.readouterr().err
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    assert main(["train", "--print-config", "--threads", "64"]) == 0
    assert "--threads 64 exceeds the 2 CPU core(s)" in capsys.readouterr().err
    assert main(["train", "--print-config", "--threads", "2"]) == 0
    assert "exceeds" not in capsys.readouterr().err
