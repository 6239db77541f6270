"""The `dvos` command line as one tool: every subcommand has a runnable example, its help fits 80 columns and states
its defaults, and an option shared by several subcommands reads the same in each of them."""

from __future__ import annotations

import re
import shlex

import pytest

from dvos_core.cli import build_parser, main


def _subcommands() -> dict:
    parser = build_parser()
    return next(a for a in parser._actions if isinstance(getattr(a, "choices", None), dict)).choices


def _examples(name: str, sub) -> list[str]:
    """The command lines of a subcommand's ``example:`` / ``examples:`` epilog (remarks in parentheses dropped)."""
    body = re.sub(r"^examples?:\s*", "", sub.epilog or "")
    lines = []
    for part in re.split(r"\n|; (?=dvos )", body):
        part = re.sub(r"\s{2,}\(.*\)$", "", part.strip())
        part = part.split("&&")[-1].split(">")[0].strip()  # `cp -r A B && dvos ...`, `dvos ... > file`
        if part:
            lines.append(part)
    return lines


def _help(sub, monkeypatch, columns: int = 80) -> str:
    monkeypatch.setenv("COLUMNS", str(columns))
    return sub.format_help()


def test_every_subcommand_has_an_example_that_parses():
    parser = build_parser()
    for name, sub in _subcommands().items():
        assert (sub.epilog or "").startswith("example"), f"dvos {name} --help has no example"
        examples = _examples(name, sub)
        assert examples and all(e.startswith(f"dvos {name}") for e in examples), (name, examples)
        for example in examples:
            args = parser.parse_args(shlex.split(example)[1:])  # a wrong option name exits here
            assert args.command == name


def test_help_fits_80_columns_and_never_splits_a_word_at_a_hyphen(monkeypatch):
    for name, sub in {"": build_parser(), **_subcommands()}.items():
        text = _help(sub, monkeypatch)
        too_long = [line for line in text.splitlines() if len(line) > 80]
        assert not too_long, (name, too_long)
        split = [line for line in text.splitlines() if re.search(r"\w-$", line)]  # e.g. "--min-" / "area"
        assert not split, (name, split)


def test_help_never_states_a_meaningless_default(monkeypatch):
    for name, sub in _subcommands().items():
        text = " ".join(_help(sub, monkeypatch).split())
        assert "(default: None)" not in text and "(default: False)" not in text, name


def test_every_option_with_a_default_states_it():
    for name, sub in _subcommands().items():
        formatter = sub._get_formatter()
        for action in sub._actions:
            if not action.option_strings or action.default in (None, False, "", [], "==SUPPRESS=="):
                continue
            text = formatter._expand_help(action)
            assert "default" in text.lower(), f"dvos {name} {action.option_strings[0]}: {text!r}"


def test_shared_options_read_alike():
    seen: dict[str, dict] = {}
    for name, sub in _subcommands().items():
        for action in sub._actions:
            for opt in action.option_strings:
                seen.setdefault(opt, {})[name] = action
    for opt in ("--videos", "--threads", "--num-workers", "--clips", "--epochs"):
        metavars = {n: a.metavar for n, a in seen[opt].items()}
        assert len(set(metavars.values())) == 1, (opt, metavars)
    for opt in ("--wait", "--threads"):
        assert len({a.help for a in seen[opt].values()}) == 1, opt
    devices = seen["--device"]
    assert len({a.help.split(" (default")[0] for a in devices.values()}) == 1, {n: a.help for n, a in devices.items()}
    for name, action in devices.items():
        assert "(default auto)" in action.help or action.default == "auto", name  # else stated by the formatter
    for name, action in seen["--split"].items():  # every --split names its choices
        assert action.choices or "train, val, test or unassigned" in action.help, name


def test_run_all_takes_trains_spelling_of_the_step_cap():
    parser = build_parser()
    for opt in ("--steps-per-epoch", "--max-steps-per-epoch"):
        assert parser.parse_args(["run-all", "p.dvos", opt, "3"]).steps_per_epoch == 3


def test_train_help_states_train_configs_defaults():
    from dvos_core.cli.train_cmds import TRAIN_DEFAULTS
    from dvos_core.train import TrainConfig

    cfg = TrainConfig()
    assert {k: getattr(cfg, k) for k in TRAIN_DEFAULTS} == TRAIN_DEFAULTS


@pytest.fixture
def demo(tmp_path, monkeypatch):
    from dvos_core.demo.pipeline import build_demo_project

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVOS_THREADS", "1")
    build_demo_project(tmp_path / "field.dvos", size=64)
    return tmp_path


# The cheap examples, run for real on the demo project, its videos named as in the examples.
VIDEOS = {"plot1": "seed", "plot2": "field_train", "plot3": "field_test", "plot4": "bare_field"}
RENAME = {
    "new": {"field.dvos": "another.dvos"},
    "import-masks": {**VIDEOS, "plot1": "field_test"},  # a video whose masks were cleared
    "export-csv": {**VIDEOS, "plot1": "field_test"},
}


def test_cheap_examples_run(demo):
    assert main(["export-masks", "field.dvos", "field_test", "plot1_masks"]) == 0  # what import-masks' example reads
    assert main(["clear-masks", "field.dvos", "field_test", "--provenance", "manual", "--yes"]) == 0
    subs = _subcommands()
    for name in ("new", "info", "import-masks", "export-csv", "import-csv", "clear-masks", "split"):
        for example in _examples(name, subs[name]):
            rename = RENAME.get(name, VIDEOS)
            assert main([rename.get(w, w) for w in shlex.split(example)[1:]]) == 0, example
    assert (demo / "another.dvos").is_dir() and (demo / "dvos_csv" / "dataset.csv").is_file()


@pytest.mark.parametrize(
    "argv, command, extra",
    [(["evaluate", "P", "img"], "evaluate", "img"), (["count-heads", "P", "v", "--save"], "count-heads", "--save")],
)
def test_an_unknown_argument_of_a_subcommand_is_its_error_with_its_usage(capsys, argv, command, extra):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert err.startswith(f"usage: dvos {command} ") and err.rstrip().endswith(
        f"dvos {command}: error: unrecognized arguments: {extra}"
    )
    assert "COMMAND ..." not in err


def test_an_unknown_top_level_option_keeps_the_top_level_usage(capsys):
    with pytest.raises(SystemExit):
        main(["--bogus", "info", "P"])
    err = capsys.readouterr().err
    assert err.startswith("usage: dvos [-h]") and "dvos: error: unrecognized arguments: --bogus" in err
