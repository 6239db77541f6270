"""`dvos train` CLI: commented default config, YAML round trip, a tiny run."""

import pytest
import yaml

from dvos_core.cli import main
from dvos_core.data.toy import make_toy_project
from dvos_core.train import TrainConfig


def test_print_config_is_loadable_yaml(capsys, tmp_path):
    assert main(["train", "--print-config"]) == 0
    text = capsys.readouterr().out
    assert "# " in text and yaml.safe_load(text)["lr"] == 1e-4
    (tmp_path / "c.yaml").write_text(text)
    assert TrainConfig.from_yaml(tmp_path / "c.yaml") == TrainConfig()


def test_bad_config_is_reported(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("phase: synthetic\nlearning_rate: 1\n")
    assert main(["train", str(tmp_path / "p.dvos"), "--config", str(tmp_path / "bad.yaml")]) == 2
    assert "learning_rate" in capsys.readouterr().err


def test_cli_tiny_run(tmp_path, capsys):
    import torch

    torch.set_num_threads(1)
    p = make_toy_project(tmp_path / "p.dvos", n_clips=3, n_frames=6, size=64, n_videos=0)
    cfg = tmp_path / "c.yaml"
    TrainConfig(preset="tiny", size=64, batch_size=2, max_steps_per_epoch=2).to_yaml(cfg)
    rc = main(
        [
            "train",
            str(p.path),
            "--config",
            str(cfg),
            "--phase",
            "synthetic",
            "--name",
            "cli",
            "--epochs",
            "1",
            "--device",
            "cpu",
        ]
    )
    assert rc == 0
    assert (p.path / "models" / "cli" / "best.pt").exists()
    assert "best checkpoint" in capsys.readouterr().out


def test_a_preset_that_init_from_overrides_is_said_and_not_recorded(tmp_path, capsys):
    """--preset with --init-from trained the checkpoint's model in silence, and config.yaml named the ignored
    preset."""
    import torch

    torch.set_num_threads(1)
    p = make_toy_project(tmp_path / "p.dvos", n_clips=3, n_frames=6, size=64, n_videos=0)
    cfg = tmp_path / "c.yaml"
    TrainConfig(preset="tiny", size=64, batch_size=2, max_steps_per_epoch=1, epochs=1).to_yaml(cfg)
    base = ["train", str(p.path), "--config", str(cfg), "--phase", "synthetic", "--device", "cpu"]
    assert main([*base, "--name", "first"]) == 0
    capsys.readouterr()
    assert main([*base, "--name", "second", "--preset", "small", "--init-from", "first"]) == 0
    err = capsys.readouterr().err
    assert "--preset small is not used: the model is the one --init-from holds (preset tiny)" in err
    assert yaml.safe_load((p.path / "models" / "second" / "config.yaml").read_text())["preset"] == "tiny"
    assert main([*base, "--name", "third", "--preset", "tiny", "--init-from", "first"]) == 0
    assert "is not used" not in capsys.readouterr().err


def test_cli_options_override_the_yaml_config(tmp_path):
    from dvos_core.cli import build_parser
    from dvos_core.cli.train_cmds import build_config

    cfg = tmp_path / "c.yaml"
    TrainConfig(preset="tiny", lr=5e-4, pseudo_quality_min=0.2).to_yaml(cfg)
    args = build_parser().parse_args(
        ["train", "p.dvos", "--config", str(cfg), "--lr", "3e-4", "--pseudo-quality-min", "0.6"]
    )
    # what the command line means: the train command on p.dvos, the two given options typed, the others unset (None)
    # so that build_config keeps the YAML values for them
    assert (args.command, args.func.__name__, args.project, args.config) == ("train", "_train", "p.dvos", str(cfg))
    assert (args.lr, args.pseudo_quality_min) == (3e-4, 0.6)
    assert args.epochs is args.preset is args.eta_min is None and args.resume is True
    got = build_config(args)
    assert (got.preset, got.lr, got.pseudo_quality_min) == ("tiny", 3e-4, 0.6)
    assert got.final_lr() == pytest.approx(3e-5)  # a new rate brings its cosine floor along (a tenth, as 1e-4 -> 1e-5)
    kept = build_config(build_parser().parse_args(["train", "p.dvos", "--config", str(cfg)]))
    assert (kept.lr, kept.final_lr(), kept.pseudo_quality_min) == (5e-4, pytest.approx(5e-5), 0.2)
    # every door ties the floor to the rate alike: Python, replace() and a config file giving lr alone (they kept
    # 1e-5), the config template too (eta_min: null)
    assert TrainConfig(lr=2e-3).final_lr() == pytest.approx(2e-4) and TrainConfig(lr=2e-3, eta_min=0).final_lr() == 0
    assert TrainConfig().replace(lr=2e-3).final_lr() == pytest.approx(2e-4)
    (tmp_path / "lr.yaml").write_text("lr: 0.002\n")
    assert TrainConfig.from_yaml(tmp_path / "lr.yaml").final_lr() == pytest.approx(2e-4)
    TrainConfig().to_yaml(tmp_path / "template.yaml")
    edited = (tmp_path / "template.yaml").read_text().replace("lr: 0.0001\n", "lr: 0.002\n", 1)
    assert "eta_min: null" in edited and "lr: 0.002" in edited
    (tmp_path / "template.yaml").write_text(edited)
    assert TrainConfig.from_yaml(tmp_path / "template.yaml").final_lr() == pytest.approx(2e-4)
    assert TrainConfig().final_lr() == pytest.approx(1e-5)
    both = build_config(build_parser().parse_args(["train", "p.dvos", "--lr", "1e-3", "--eta-min", "0"]))
    assert (both.lr, both.eta_min) == (1e-3, 0.0)
    assert kept.select_by == "auto"
    chosen = build_config(build_parser().parse_args(["train", "p.dvos", "--config", str(cfg), "--select-by", "last"]))
    assert (chosen.select_by, chosen.lr) == ("last", 5e-4)


def test_real_share_option_sets_or_switches_off_the_share(tmp_path):
    from dvos_core.cli import build_parser
    from dvos_core.cli.train_cmds import build_config
    from dvos_core.train.config import REAL_SHARE

    parse = lambda *a: build_parser().parse_args(["train", "p.dvos", *a])  # noqa: E731
    cfg = tmp_path / "c.yaml"
    TrainConfig(real_share=0.3).to_yaml(cfg)
    assert build_config(parse()).real_share == REAL_SHARE
    assert build_config(parse("--config", str(cfg))).real_share == 0.3  # the YAML's value is kept
    assert build_config(parse("--config", str(cfg), "--real-share", "0.7")).real_share == 0.7
    assert build_config(parse("--config", str(cfg), "--real-share", "off")).real_share is None
    for bad in ("1", "0", "half"):
        with pytest.raises(SystemExit):
            parse("--real-share", bad)
    with pytest.raises(ValueError, match="real_share"):
        TrainConfig(real_share=1.5)


def test_the_learning_rate_help_says_what_the_per_epoch_schedule_does(capsys):
    """The schedule steps once per epoch: at --epochs 1 the run trains at --lr (--eta-min has no effect), at 2 the
    last epoch trains at 5.5e-05, not at the floor; the help said the schedule "ends at a tenth" of --lr."""
    from types import SimpleNamespace

    import torch

    from dvos_core.cli.train_cmds import epoch_rate
    from dvos_core.train.loop import _Run

    for epochs in (1, 2, 15):
        cfg = TrainConfig(phase="image", epochs=epochs)
        opt, sched = _Run._optimizer(SimpleNamespace(cfg=cfg, model=torch.nn.Linear(2, 2)))
        for k in range(epochs):  # the rate each epoch trains at, as the loop steps it (once per epoch)
            assert opt.param_groups[0]["lr"] == pytest.approx(epoch_rate(1e-4, 1e-5, k, epochs))
            opt.step()
            sched.step()
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "ends at a tenth" not in out
    assert "with --epochs 1 at --lr (the floor has no effect), with 2 halfway (5.5e-05 at the defaults)" in out


def test_lr_alone_scales_the_floor_a_config_or_recipe_sets_and_says_so(tmp_path, capsys):
    """`--lr` without `--eta-min` dropped the floor that --config or --recipe set (the paper recipe's 1e-5) for a
    tenth of --lr, unsaid, though the help says an option left out takes its value from the file."""
    from dvos_core.cli import build_parser
    from dvos_core.cli.train_cmds import build_config

    cfg = tmp_path / "c.yaml"
    TrainConfig(lr=1e-3, eta_min=2e-4).to_yaml(cfg)
    got = build_config(build_parser().parse_args(["train", "p.dvos", "--config", str(cfg), "--lr", "5e-4"]))
    assert (got.lr, got.eta_min) == (5e-4, 1e-4)  # the file's floor/lr ratio kept (no float noise)
    err = capsys.readouterr().err
    assert "the cosine floor 0.0002 that" in err and "scaled with it to 0.0001" in err, err
    paper = TrainConfig.from_recipe("paper", "image")
    args = ["train", "p.dvos", "--recipe", "paper", "--phase", "image", "--lr", "1"]
    got = build_config(build_parser().parse_args(args))
    assert got.eta_min == pytest.approx(paper.eta_min / paper.lr) and "--recipe paper" in capsys.readouterr().err
    chosen = build_config(
        build_parser().parse_args(["train", "p.dvos", "--config", str(cfg), "--lr", "5e-4", "--eta-min", "0"])
    )
    assert chosen.eta_min == 0 and "scaled" not in capsys.readouterr().err


def test_a_failed_run_ends_its_json_stream_with_an_error_event(tmp_path, capsys):
    """`dvos train --json` ended a run with a done or cancelled line, but a failed one just stopped (the message on
    stderr only): a consumer of the stream could not tell a failure from a cut stream."""
    import json

    from dvos_core.cli import main
    from dvos_core.store import Project

    Project.create(tmp_path / "p.dvos")  # no video: nothing to train on
    rc = main(["train", str(tmp_path / "p.dvos"), "--phase", "image", "--json", "--device", "cpu"])
    said = capsys.readouterr()
    last = json.loads(said.out.strip().splitlines()[-1])
    assert rc == 2 and last["type"] == "error" and last["message"] and last["message"] in said.err


def test_an_empty_name_is_refused_not_taken_for_the_phase(tmp_path, capsys):
    """`--name ""` used to train (and overwrite) the model named after the phase."""
    p = make_toy_project(tmp_path / "p.dvos", n_clips=1, n_frames=2, size=32, n_videos=0)
    for empty in ("", "  "):
        assert main(["train", str(p.path), "--phase", "synthetic", "--name", empty, "--device", "cpu"]) == 2
        assert "--name is empty; give the model a name (--name p1), or leave --name out" in capsys.readouterr().err
    assert not (p.path / "models" / "synthetic").exists()


def test_a_config_from_a_pipe_is_read_and_the_phase_given_is_the_one_checked(tmp_path, capsys):
    """`--config /dev/stdin` or `<(...)` (not regular files) used to be 'training config not found'; provenance
    weights that leave the phase nothing to draw were refused only at the first step, for the --phase given."""
    import os
    import threading

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def feed(text):
        threading.Thread(target=lambda: fifo.write_text(text), daemon=True).start()

    feed("lr: 2e-4\n")
    assert main(["train", "--print-config", "--config", str(fifo)]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["lr"] == 2e-4
    zero = "provenance_weights: {manual: 0, corrected: 0, pseudo: 0, synthetic: 0}\n"
    (tmp_path / "z.yaml").write_text(zero)
    assert main(["train", "--print-config", "--phase", "image", "--config", str(tmp_path / "z.yaml")]) == 2
    err = capsys.readouterr().err
    assert "z.yaml: provenance_weights give weight 0 to every provenance the image phase trains on (synthetic, " in err
    # the weights of another phase's provenances alone are a phase's own choice: a real phase without synthetic clips
    (tmp_path / "s0.yaml").write_text("provenance_weights: {synthetic: 0}\n")
    assert main(["train", "--print-config", "--phase", "real", "--config", str(tmp_path / "s0.yaml")]) == 0
    with pytest.raises(ValueError, match=r"every provenance the real phase trains on \(manual\).*\{manual: 1\}"):
        TrainConfig(phase="real", provenances=["manual"], provenance_weights={"manual": 0})
