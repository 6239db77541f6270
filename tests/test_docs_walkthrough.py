"""The docs followed literally: their command blocks only use what the steps before them made, their Python snippets
run as written (on a tiny project), and the options they describe do what they say."""

import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from dvos_core.cli import build_parser, main
from dvos_core.store import Project

ROOT = Path(__file__).resolve().parents[1]


def fenced(text: str, lang: str) -> list:
    """The fenced code blocks of ``lang`` in ``text``."""
    return re.findall(rf"^```{lang}\n(.*?)^```", text, re.M | re.S)


def readme_step_by_step() -> list:
    """The `dvos ...` lines of the README's "Step by step" block, as argument lists."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = fenced(text.split("Step by step, with every option:", 1)[1], "bash")[0]
    return [shlex.split(line.split("   #")[0])[1:] for line in block.splitlines() if line.startswith("dvos ")]


def replay(commands: list) -> list:
    """Follow ``commands`` (parsed by the real CLI parser) as a user would, keeping track of the videos each adds
    (with their split and source file) and the models that predicted each video; the steps that use a video or
    prediction no earlier step made, or export over a video's source file."""
    parser = build_parser()
    videos, predicted, wrong = {}, set(), []
    for words in commands:
        a = parser.parse_args(words)
        cmd, said = words[0], f"dvos {' '.join(words)}"
        if cmd == "add-video":
            videos.update({a.id or Path(f).stem: {"split": a.split, "file": f} for f in a.files})
            continue
        named = list(getattr(a, "videos", None) or [])
        if hasattr(a, "video_id"):
            named.append(a.video_id)
        wrong += [f"{said}: no step before adds video {v!r}" for v in named if v not in videos]
        if cmd == "predict":
            ids = a.videos or [v for v, d in videos.items() if a.split in (None, d["split"])]
            predicted |= {(v, a.checkpoint) for v in ids}
        exports = cmd in ("export-masks", "export-video", "count-heads") and a.predictions
        if exports and (a.video_id, a.model) not in predicted:
            wrong.append(f"{said}: no step before predicts {a.video_id!r} with {a.model!r}")
        if cmd == "export-video" and any(a.out == d["file"] for d in videos.values()):
            wrong.append(f"{said}: writes over the file a video was added from")
    return wrong


def test_replay_finds_a_missing_step():
    commands = [
        ["add-video", "f.dvos", "plot1.mp4", "--split", "train"],
        ["predict", "f.dvos", "ctx", "--split", "test"],
        ["export-masks", "f.dvos", "plot2", "out/", "--predictions", "--model", "ctx"],
        ["export-video", "f.dvos", "plot1", "plot1.mp4", "--predictions", "--model", "ctx"],
    ]
    wrong = replay(commands)
    assert any("adds video 'plot2'" in w for w in wrong)
    assert any("predicts 'plot1'" in w for w in wrong)
    assert any("writes over the file" in w for w in wrong)


def test_readme_step_by_step_uses_only_what_earlier_steps_made():
    commands = readme_step_by_step()
    assert len(commands) > 15 and commands[0][0] == "new"
    assert replay(commands) == []


@pytest.fixture(scope="module")
def small_project(tmp_path_factory):
    """The demo's sample project with its heads cut and one short background clip (160 px)."""
    out = tmp_path_factory.mktemp("walk")
    assert main(["demo", "--project-only", "--out", str(out)]) == 0
    p = str(out / "demo.dvos")
    assert main(["extract-objects", p, "--videos", "seed", "--fakes-per-head", "1"]) == 0
    assert main(["extract-backgrounds", p, "bare_field", "--clip-length", "6", "--clips", "1"]) == 0
    return out / "demo.dvos"


def test_synthesis_python_snippet_runs_as_written(small_project, monkeypatch):
    """docs/synthesis.md's first Python block, with its sizes shrunk and its project path pointed at a tiny project:
    every name it uses is defined in it."""
    text = (ROOT / "docs" / "synthesis.md").read_text(encoding="utf-8")
    code = fenced(text, "python")[0]
    assert "simulate_clip(" in code and 'Project.open("field.dvos")' in code
    code = code.replace('"field.dvos"', repr(str(small_project)))
    small = "height=64, width=64, n_frames=3"
    code = re.sub(r"SynthConfig\(\)", f"SynthConfig({small})", code)
    code = re.sub(r"SynthConfig\(n_frames=\d+\)", f"SynthConfig({small})", code)
    for key, value in (("n_clips", 1), ("size", 64), ("n_frames", 3), ("workers", 1)):
        code = re.sub(rf"\b{key}=\d+", f"{key}={value}", code)
    monkeypatch.chdir(small_project.parent)
    names: dict = {"__name__": "__main__"}  # as a script run: its guarded block runs
    exec(compile(code, "synthesis.md", "exec"), names)
    frames, masks = names["frames"], names["masks"]
    assert frames.shape == (3, 64, 64, 3) and frames.dtype == np.uint8 and masks.shape == (3, 64, 64)
    assert names["sset"].name == "synth1"


def test_run_all_training_options_reach_every_phase():
    """`dvos run-all --quick --epochs 1` trains every phase, the image model included, for one epoch (--quick's own
    image epochs gave way to the option)."""
    from dvos_core.cli.run_all_cmd import config_from_args
    from dvos_core.run_all import machine_train_configs

    args = build_parser().parse_args(
        ["run-all", "P", "--quick", "--epochs", "1", "--steps-per-epoch", "2", "--preset", "tiny"]
    )
    configs = machine_train_configs(config_from_args(args))
    for phase in ("image", "synthetic", "real"):
        c = configs(phase, None, "context")
        assert (c.epochs, c.max_steps_per_epoch, c.preset) == (1, 2, "tiny"), phase
    # without the option --quick's image epochs stay
    quick = machine_train_configs(config_from_args(build_parser().parse_args(["run-all", "P", "--quick"])))
    assert quick("image", None, "context").epochs == 3 and quick("real", None, "context").epochs == 2


def test_the_printed_napari_command_names_the_reader(tmp_path, capsys):
    """napari offers its own folder reader beside dvos's for a .dvos folder, so plain `napari P.dvos` asks which to
    use first (a step no doc mentioned); the command dvos prints, and the README's, name the plugin."""
    assert main(["demo", "--project-only", "--out", str(tmp_path / "d")]) == 0
    printed = capsys.readouterr().out
    assert f"`napari {tmp_path / 'd' / 'demo.dvos'} --plugin dvos-napari`" in printed
    assert "napari dvos_demo/demo.dvos --plugin dvos-napari" in (ROOT / "README.md").read_text(encoding="utf-8")
    npe2 = pytest.importorskip("npe2")
    pm = npe2.PluginManager.instance()
    pm.discover()
    readers = {r.plugin_name for r in pm.iter_compatible_readers([str(tmp_path / "d" / "demo.dvos")])}
    assert "dvos-napari" in readers and len(readers) > 1


def test_compare_motion_compares_head_sway_too(small_project, capsys):
    """`dvos synth --compare-motion VIDEO` (docs/synthesis.md: "only compare and warn") follows the painted heads as
    --match-motion does: its head-sway row has the footage's figure, not "?"."""
    assert main(["synth", str(small_project), "--compare-motion", "seed", "--size", "64", "--frames", "8"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("head sway per frame")]
    assert len(rows) == 1
    footage, settings = rows[0].split(")", 1)[1].split()[:2]
    assert footage != "?" and float(footage) > 0 and float(settings) > 0


def test_masks_of_the_original_size_for_a_resized_video_say_why(tmp_path, capsys):
    """README: `dvos add-video ... --paper-preprocess`, then `dvos import-masks ... masks/` with masks painted on the
    original footage: the error says the video was resized when added and what to do, and writes nothing."""
    import cv2
    from conftest import write_video

    video = write_video(tmp_path / "plot1.mp4", 3, hw=(64, 96))
    masks = tmp_path / "masks"
    masks.mkdir()
    cv2.imwrite(str(masks / "plot1_000001.png"), np.zeros((64, 96), np.uint8))
    p = str(tmp_path / "f.dvos")
    assert main(["new", p]) == 0
    assert main(["add-video", p, str(video), "--height", "32", "--crop", "32", "32"]) == 0
    capsys.readouterr()
    assert main(["import-masks", p, "plot1", str(masks)]) == 2
    err = capsys.readouterr().err
    assert "plot1 was resized when it was added (height 32 px, central 32x32 crop)" in err
    assert f"dvos delete {p} video plot1 --yes" in err
    assert Project.open(p).video("plot1").provenance_counts().get("manual", 0) == 0
    assert main(["add-video", p, str(video), "--id", "plain"]) == 0  # not resized: the plain message, no hint
    capsys.readouterr()
    cv2.imwrite(str(masks / "plot1_000001.png"), np.zeros((10, 10), np.uint8))
    assert main(["import-masks", p, "plain", str(masks), "--from-video", "plot1"]) == 2  # plot1 added again
    err = capsys.readouterr().err
    assert "to match the frames" in err and "resized" not in err


def test_synth_with_matching_names_too_small_backgrounds_before_measuring(small_project, capsys):
    """README's `dvos synth ... --match-density --match-motion plot1` on background clips smaller than the clips
    (default 512 px; the demo's are 160 px) stops at once with the fix, instead of after measuring the footage."""
    args = ["synth", str(small_project), "--name", "s", "--clips", "1", "--match-density", "--match-motion", "seed"]
    assert main(args) == 2
    out = capsys.readouterr()
    assert "no background clip is at least 512x512 px" in out.err and "use a smaller --size" in out.err
    assert "quantity" not in out.out and "head pixels in painted frames" not in out.out
    assert "s" not in Project.open(small_project).synthetic_ids()


def test_store_python_snippet_reads_predictions_as_written(tmp_project):
    """docs/store.md's Python block unpacked ``ctx.get(5)`` straight away, a TypeError for a frame the set did not
    predict (get gives None then): its prediction lines run as written on a set that predicted frame 0 only."""
    text = (ROOT / "docs" / "store.md").read_text(encoding="utf-8")
    code = next(c for c in fenced(text, "python") if "ctx.get(5)" in c)
    lines = code.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ctx = "))
    end = next(i for i, line in enumerate(lines) if line.startswith("masks = ctx.masks("))
    v = tmp_project.add_video_array("plot1", np.zeros((8, 16, 16, 3), np.uint8))
    v.predictions["ctx"].set(0, np.full((16, 16), 0.75, np.float32))
    names = {"v": v}
    exec(compile("\n".join(lines[start : end + 1]), "store.md", "exec"), names)
    assert names["masks"].shape == (1, 16, 16)
