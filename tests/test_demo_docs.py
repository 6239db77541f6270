"""The demo's settings files and the tutorial's command-line steps give the same settings as `dvos demo`."""

import re
import shlex
from pathlib import Path

import pytest

from dvos_core.cli import build_parser, main
from dvos_core.cli.train_cmds import build_config
from dvos_core.demo.pipeline import DemoConfig
from dvos_core.store import Project
from dvos_core.synth import SynthConfig

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--project-only", "--out", str(out)]) == 0
    return out


def tutorial_commands(out_dir) -> list:
    """The `dvos ...` lines of the tutorial's command-line block, with its folder and $P pointed at ``out_dir``."""
    text = (DOCS / "tutorial.md").read_text()
    block = text.split("## The same steps from the command line", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    lines = []
    for line in block.strip().splitlines():
        line = line.replace("$P", f"{out_dir}/demo.dvos").replace("dvos_demo", str(out_dir))
        if line.startswith("dvos "):
            lines.append(shlex.split(line)[1:])
    return lines


def test_project_only_builds_the_sample_project_and_settings(demo_dir):
    p = Project.open(demo_dir / "demo.dvos")
    assert {v.name: v.split for v in p.videos()} == {
        "seed": "val",
        "bare_field": "unassigned",
        "field_train": "train",
        "field_test": "test",
    }
    assert p.video("seed").provenance_counts()["manual"] == 3
    test = p.video("field_test")
    assert test.provenance_counts()["manual"] == test.n_frames
    cfg = DemoConfig()
    assert SynthConfig.from_yaml(demo_dir / "synth.yaml") == cfg.synth_config()
    sizes = sum(f.stat().st_size for f in (demo_dir / "demo.dvos").rglob("*") if f.is_file())
    assert sizes < 8 * 2**20, f"the sample clips should stay a few MB, they take {sizes / 2**20:.1f} MB"


def test_tutorial_commands_match_the_demo(demo_dir):
    cfg = DemoConfig()
    commands = tutorial_commands(demo_dir)
    parser = build_parser()
    args = [parser.parse_args(c) for c in commands]  # every command line parses
    by_name = {}
    for a in args:
        by_name.setdefault(a.command, []).append(a)
    extract = by_name["extract-objects"][0]
    assert extract.fakes_per_head == cfg.fakes_per_head and extract.videos == ["seed"]
    assert by_name["extract-backgrounds"][0].clip_length == cfg.background_clip_length
    synth = by_name["synth"][0]
    assert synth.clips == cfg.synth_clips and SynthConfig.from_yaml(synth.config) == cfg.synth_config()
    assert (synth.match_density == ["seed"]) == cfg.match_density and not synth.allow_sparser
    assert by_name["pseudo-label"][0].passes == cfg.pseudo_passes
    trains = {a.phase: a for a in by_name["train"]}
    assert set(trains) == {"image", "synthetic", "real"}
    for phase, a in trains.items():
        got = build_config(a)
        want = cfg.train_config(phase, init_from=got.init_from)
        assert got == want, phase
    assert re.search(r"models/image/best\.pt", trains["synthetic"].init_from)
    assert re.search(r"models/context_synthetic/best\.pt", trains["real"].init_from)
    # the later steps use the model the real phase trained, as the demo does (a context model needs no image model)
    real = trains["real"].name
    assert build_config(trains["real"]).video_model == "context" == cfg.video_models[0]
    predict = by_name["predict"][0]
    assert predict.checkpoint == real and predict.image_model is None
    assert by_name["smooth"][0].model == real
    assert by_name["count-heads"][0].model == real and by_name["export-video"][0].model == real
