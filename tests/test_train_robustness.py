"""Training that goes wrong: an exploded (finite) loss stops the run, a second training of the same model is refused
while the first runs, all-empty labels are refused, a truncated last.pt is refused with what to do, more epochs
for a finished run follow the stretched cosine; `dvos train --seed` and the message after a Ctrl+C."""

import json
import math

import numpy as np
import pytest
import torch
from conftest import tiny_train_config

from dvos_core.cli import build_parser, main
from dvos_core.data.toy import make_toy_project, toy_clip
from dvos_core.lr_schedule import epoch_rate
from dvos_core.model import read_checkpoint
from dvos_core.progress import CancelToken
from dvos_core.store import Project
from dvos_core.train import ResumeRefused, TrainConfig, train
from dvos_core.train.loop import LOCK_FILES, TrainingBusy

torch.set_num_threads(1)


def tiny(**kw):
    base = {"phase": "image", "size": 32, "max_steps_per_epoch": 2, "synthetic_sets": [], "device": "cpu"}
    return tiny_train_config(**{**base, **kw})


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Videos only: video0 unassigned (trains), video1 val; manual masks on every other frame."""
    return make_toy_project(
        tmp_path_factory.mktemp("r") / "r.dvos", n_clips=1, n_frames=2, size=32, n_videos=2, video_frames=6
    )


def test_an_exploded_finite_loss_stops_the_run_naming_the_learning_rate(project):
    """A learning rate of 10 keeps the loss finite (gradient clipping) but blows it up a million-fold: the run used to
    finish and save a best.pt that predicts nothing."""
    with pytest.raises(FloatingPointError, match=r"over 100 times .* first step.*--lr") as e:
        train(project, tiny(lr=10.0, epochs=2, max_steps_per_epoch=3), "exploded", resume=False)
    assert "lr 10" in str(e.value)
    assert not project.model_dir("exploded").exists()  # nothing saved, the folder it made is gone
    events = []
    train(project, tiny(), "healthy", on_event=events.append, resume=False)  # a sane rate trains as before
    first = next(e for e in events if e["type"] == "batch")["loss"]
    state = read_checkpoint(project.model_dir("healthy") / "last.pt")["info"]["train_state"]
    assert state["loss_ref"] == pytest.approx(first)  # a resumed run keeps the same bound


def test_a_second_training_of_the_same_model_is_refused_while_the_first_runs(project):
    """Two runs of one name used to write best.pt / last.pt / metrics.json in turn, each then reporting the other's
    model as its own."""
    second = {}

    def start_another(e):
        if e["type"] == "batch" and "error" not in second:
            try:
                train(project, tiny(lr=1e-3), "busy", resume=False)
                second["error"] = None
            except TrainingBusy as err:
                second["error"] = err

    best = train(project, tiny(epochs=2), "busy", on_event=start_another, resume=False)
    assert isinstance(second["error"], TrainingBusy)
    assert "being trained by process" in str(second["error"]) and "--name" in str(second["error"])
    saved = read_checkpoint(best)["info"]["train_config"]
    assert (saved["lr"], saved["epochs"]) == (1e-4, 2)  # the first run's model, untouched by the second
    folder = project.model_dir("busy")
    assert not any((folder / f).exists() for f in LOCK_FILES)  # the lock goes with the run
    train(project, tiny(epochs=2), "busy")  # and a later run of the name is not refused (nothing to do here)


def test_training_labels_that_are_all_empty_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    p = Project.create(tmp_path / "e.dvos")
    frames, _ = toy_clip(6, 32, 32, rng)
    video = p.add_video_array("plot", frames)
    for t in (0, 2, 4):
        video.set_mask(t, np.zeros((32, 32), np.uint8), "manual")
    with pytest.raises(ValueError, match=r"training label\(s\) \(2 manual; videos plot\) is empty.*paint the heads"):
        train(p, tiny(), "img", resume=False)
    assert not p.model_dir("img").exists()
    video.set_mask(0, (np.arange(32 * 32).reshape(32, 32) % 7 == 0).astype(np.uint8), "manual")  # one head is enough
    assert train(p, tiny(), "img", resume=False).is_file()


def test_more_epochs_for_a_finished_run_follow_the_stretched_cosine(project):
    """A finished 1-epoch run continued to 2 epochs: its second epoch trains at the 2-epoch curve's rate there,
    (lr + eta_min) / 2, as the context model's schedule does, not at eta_min."""
    lr, eta = 1e-3, 1e-4
    train(project, tiny(lr=lr, eta_min=eta), "longer", resume=False)
    train(project, tiny(lr=lr, eta_min=eta, epochs=2), "longer")
    history = json.loads((project.model_dir("longer") / "metrics.json").read_text())["history"]
    assert [h["lr"] for h in history] == [pytest.approx(lr), pytest.approx((lr + eta) / 2)]
    assert not math.isclose(history[1]["lr"], eta)


def test_more_epochs_for_a_finished_context_run_follow_the_stretched_cosine_in_every_group(project, monkeypatch):
    """The context model's scaled schedule (a LambdaLR, a group per share of lr): a finished 1-epoch run continued to
    3 epochs used to train its second epoch at the old floor, the optimizer's saved rates, until the next step of
    the scheduler."""
    lr, eta = 1e-3, 1e-4
    kw = {"phase": "real", "video_model": "context", "lr": lr, "eta_min": eta, "image_lr_scale": 0.5}
    train(project, tiny(**kw), "ctx_longer", resume=False)
    steps, step = [], torch.optim.AdamW.step

    def record(opt, *a, **k):
        steps.append([g["lr"] for g in opt.param_groups])
        return step(opt, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", record)
    train(project, tiny(**kw, epochs=3), "ctx_longer")
    curve = [epoch_rate(lr, eta, e, 3) for e in (1, 2)]  # max_steps_per_epoch 2: two steps an epoch
    assert steps == [[pytest.approx(r / 2), pytest.approx(r)] for r in curve for _ in range(2)]
    history = json.loads((project.model_dir("ctx_longer") / "metrics.json").read_text())["history"]
    assert [h["lr"] for h in history] == [pytest.approx(lr), *map(pytest.approx, curve)]


def test_a_truncated_last_pt_is_refused_saying_how_to_go_on(project):
    train(project, tiny(), "cut", resume=False)
    folder = project.model_dir("cut")
    best = (folder / "best.pt").read_bytes()
    last = folder / "last.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    with pytest.raises(ResumeRefused, match=r"cannot be read.*cannot be resumed.*--no-resume.*--init-from") as e:
        train(project, tiny(epochs=2), "cut")
    assert str(folder / "best.pt") in str(e.value)
    assert (folder / "best.pt").read_bytes() == best  # nothing replaced


def test_train_takes_a_seed_that_reproduces_the_run(project, capsys):
    args = ["train", str(project.path), "--phase", "image", "--preset", "tiny", "--epochs", "1", "--size", "32"]
    args += ["--batch-size", "2", "--max-steps-per-epoch", "2", "--device", "cpu", "--threads", "1", "--num-workers"]
    from dvos_core.cli.train_cmds import build_config

    assert build_config(build_parser().parse_args([*args, "0", "--seed", "5"])).seed == 5
    for name, seed, workers in (("s5", "5", "0"), ("s5b", "5", "1"), ("s6", "6", "0")):
        assert main([*args, workers, "--seed", seed, "--name", name]) == 0
    weights = {n: read_checkpoint(project.model_dir(n) / "last.pt")["state_dict"] for n in ("s5", "s5b", "s6")}
    assert all(torch.equal(v, weights["s5b"][k]) for k, v in weights["s5"].items())  # workers do not matter
    assert not all(torch.equal(v, weights["s6"][k]) for k, v in weights["s5"].items())
    assert read_checkpoint(project.model_dir("s5") / "best.pt")["info"]["train_config"]["seed"] == 5


def test_a_cancelled_cli_run_says_where_it_stopped_and_how_to_continue(project, capsys, monkeypatch):
    token = CancelToken()
    token.cancel()  # as a Ctrl+C before the first step
    monkeypatch.setattr("dvos_core.cli._common.cancel_on_sigint", lambda: token)
    args = ["train", str(project.path), "--phase", "image", "--preset", "tiny", "--epochs", "1", "--size", "32"]
    rc = main([*args, "--device", "cpu", "--threads", "1", "--num-workers", "0", "--name", "stopped"])
    err = capsys.readouterr().err
    assert rc == 130
    assert "stopped in epoch 1 after step 0" in err and "the same command continues it" in err
    assert (project.model_dir("stopped") / "last.pt").is_file()


def test_bad_epochs_and_batch_size_name_their_options():
    with pytest.raises(ValueError, match=r"epochs \(--epochs\) must be >= 1, got 0"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match=r"batch_size \(--batch-size\) must be >= 1, got -2"):
        TrainConfig(batch_size=-2)


def test_a_schedule_floor_above_the_learning_rate_is_refused(project):
    """A config from --print-config with lr lowered to 1e-6 but eta_min left at 1e-5 used to raise the rate tenfold
    over the run."""
    with pytest.raises(ValueError, match=r"eta_min \(--eta-min, 1e-05\) is above lr \(--lr, 1e-06\)"):
        train(project, tiny(lr=1e-6, eta_min=1e-5), "rising", resume=False)
    assert not project.model_dir("rising").exists()
