"""`dvos run-all` as a field user meets it: settings no stage could use refused at once, a run continued from another
folder or after a run under another name, each run's own report, advice in run-all's own options."""

from pathlib import Path

import numpy as np
import pytest
import yaml
from test_run_all import TINY, _mtimes, tiny_config

from dvos_core.cli import main
from dvos_core.demo.pipeline import build_demo_project
from dvos_core.run_all import RunAllConfig, run_all
from dvos_core.store import Project


@pytest.fixture
def project(tmp_path):
    """The demo's sample clips at 96 px (as in test_run_all)."""
    return build_demo_project(tmp_path / "p.dvos", size=96)


@pytest.mark.parametrize(
    "change, key",
    [
        ({"pseudo_passes": 0}, "pseudo_passes"),
        ({"synth_clips": 0}, "synth_clips"),
        ({"synth_frames": -2}, "synth_frames"),
        ({"synth_size": 8}, "synth_size"),
        ({"fakes_per_head": -1}, "fakes_per_head"),
        ({"synth_heads": [30, 8]}, "synth_heads"),
    ],
)
def test_settings_no_stage_could_use_are_refused_when_read(change, key):
    # before: pseudo_passes 0 failed after the image model had trained, a negative clip count after the extraction
    with pytest.raises(ValueError, match=rf"RunAllConfig\.{key}"):
        RunAllConfig(**change)


def test_the_cli_refuses_a_bad_clip_count_naming_its_option_before_writing(project, capsys):
    assert main(["run-all", str(project.path), "--quick", "--clips", "0"]) == 2
    assert "--clips" in capsys.readouterr().err
    p = Project.open(project.path)
    assert len(p.objects) == 0 and not p.background_ids() and not p.model_names()


def test_an_unquoted_relabel_off_in_a_config_file_is_off(tmp_path):
    text = RunAllConfig().to_yaml().replace("relabel: 'off'", "relabel: off")  # as a user types it
    assert "relabel: off\n" in text and yaml.safe_load(text)["relabel"] is False
    (tmp_path / "run.yaml").write_text(text)
    assert RunAllConfig.from_yaml(tmp_path / "run.yaml").relabel == "off"


def test_painted_frames_only_in_a_test_video_are_named(project):
    for t in (0, 2, 4):
        project.video("seed").clear_mask(t)
    with pytest.raises(ValueError, match=r"painted frames of field_test only score the models"):
        run_all(project.path, tiny_config(), log=lambda s: None)


def test_a_run_continues_from_another_folder_after_a_run_under_another_name(project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = []
    run_all(Path(project.path.name), tiny_config(), log=lines.append)  # a relative path, as typed in a shell
    assert all(ln.startswith(("[", "      ")) for ln in lines), "every table line sits under its stage"
    p = Project.open(project.path)
    before = _mtimes(p)
    # other training settings: refused in run-all's words (it has no --no-resume)
    with pytest.raises(ValueError, match="another --name") as e:
        run_all(Path(project.path.name), tiny_config(train={**TINY, "lr": 1e-3}), log=lambda s: None)
    assert "--no-resume" not in str(e.value)
    # a corrected frame of the training video, then a run under another name on the first run's clips: it cuts the
    # corrected frame's heads (the objects change) and keeps the first run's report beside its own
    video = p.video("field_train")
    mask = p.video("field_test").mask(0)
    video.set_mask(1, mask, provenance="corrected")
    heads = p.objects.count("head")
    run_all(Path(project.path.name), tiny_config(name="v2", synthetic_set="synthetic"), log=lambda s: None)
    p = Project.open(project.path)
    assert p.objects.count("head") > heads
    assert {"run-all", "run-all-comparison", "v2_run-all", "v2_run-all-comparison"} <= set(p.report_names())
    # the first run again, from another folder with the project's full path: its finished set and models are kept
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    lines = []
    res = run_all(project.path, tiny_config(), log=lines.append)
    assert any("'synthetic' is complete" in ln for ln in lines)
    after = _mtimes(Project.open(project.path))
    assert {m: after[m] for m in before} == before and set(res.checkpoints) == {"image", "context"}


def test_a_synthetic_set_the_run_cannot_continue_is_refused_before_anything_is_written(project):
    from dvos_core.run_all import check_project

    project.create_synthetic("synthetic", 2, 4, 32, 32)  # made by `dvos synth` (or the Synthesize step) before
    heads = project.objects.count("head")
    with pytest.raises(ValueError, match=r"synthetic set 'synthetic' .*\(--synthetic-set synthetic\).*\(--name\)"):
        check_project(project, tiny_config())
    assert project.objects.count("head") == heads
    check_project(project, tiny_config(name="v2"))  # a set of its own name: no clash
    check_project(project, tiny_config(synthetic_set="synthetic"))  # trained on: fine


@pytest.mark.parametrize("held", ["other settings", "imported weights"])
def test_a_model_name_held_by_a_run_it_cannot_continue_is_refused_before_anything_is_written(project, held):
    from dvos_core.model import build_model, save_checkpoint
    from dvos_core.train import TrainConfig, train

    if held == "other settings":  # `dvos train --name image` (or the Train step) with its own settings, earlier
        project.set_split(["seed"], "train")  # its painted frames train the model, then validate again
        train(project, TrainConfig(phase="image", **TINY), "image")
        project.set_split(["seed"], "val")
        words = r"models/image: holds a finished run with different settings \(.*synthetic_sets"
    else:  # a video model's name holding weights without a training state (dvos import-weights)
        save_checkpoint(project.model_dir("context", create=True) / "best.pt", build_model("tiny", "context"))
        words = r"models/context: holds a model with no training state"
    before = Project.open(project.path).model_names()
    with pytest.raises(ValueError, match=words + ".*choose another --name") as e:
        run_all(project.path, tiny_config(), log=lambda s: None)
    assert "--no-resume" not in str(e.value)
    p = Project.open(project.path)
    assert len(p.objects) == 0 and not p.background_ids() and not p.synthetic_ids() and p.model_names() == before
    run_all(project.path, tiny_config(name="v2", video_models=["context"]), log=lambda s: None)  # its own names: runs
    assert {"v2_image", "v2_context"} <= set(Project.open(project.path).model_names())


def _extract_stage(project, cfg) -> list:
    """run-all's extraction stage alone (heads, fakes, background clips); returns its log lines."""
    from dvos_core.run_all import Stages, _extract, check_project

    lines = []
    _extract(project, cfg, Stages(1, None, None, lines.append), check_project(project, cfg))
    return lines


def test_a_bare_field_video_named_after_an_earlier_run_is_cut_and_new_painted_frames_get_their_clips(project):
    """A second run with --bare-video used the first run's inpainted clips without a word, and frames painted since
    the inpainted clips were made got none."""
    _extract_stage(project, tiny_config())
    first = Project.open(project.path).background_ids()
    assert first and all("inpaint" in project.background(b).attrs for b in first)
    video = project.video("field_train")  # a frame painted since
    video.set_mask(2, project.video("field_test").mask(2), "manual")
    lines = _extract_stage(project, tiny_config(name="v2"))
    p = Project.open(project.path)
    topped = [b for b in p.background_ids() if b not in first]
    assert len(topped) == 1 and p.background(topped[0]).attrs["frame"] == 2
    assert any("1 background clips inpainted from the painted frames now" in ln for ln in lines), lines
    video.set_mask(3, np.ones_like(video.mask(2)), "manual")  # heads everywhere: no field to fill from
    with pytest.warns(UserWarning, match="frame 3 skipped"):  # the clips made before stay: no error
        _extract_stage(project, tiny_config(name="v2"))
    lines = _extract_stage(project, tiny_config(name="v3", bare_videos=["bare_field"]))
    bare = [b for b in Project.open(project.path).background_ids() if b.startswith("bare_field")]
    assert bare and all(project.background(b).attrs["source"] == "bare_field" for b in bare)
    assert any(f"{len(bare)} background clips cut from bare_field now" in ln for ln in lines), lines
    again = _extract_stage(project, tiny_config(name="v3", bare_videos=["bare_field"]))  # a rerun cuts nothing
    assert any(f"0 background clips cut from bare_field now, {len(bare)} cut before" in ln for ln in again), again
    # the project now holds bare-field clips: a run without --bare-video keeps the clips, inpaints nothing
    count = len(Project.open(project.path).background_ids())
    assert any("the project's" in ln and "kept" in ln for ln in _extract_stage(project, tiny_config(name="v4")))
    assert len(Project.open(project.path).background_ids()) == count


def test_a_frame_with_little_field_left_is_warned_about_in_run_alls_words(tmp_project):
    """Before: inside run-all the warning said "lower --dilate, or leave the frame out (--frames)": run-all has no
    --dilate, and its --frames is the frames per synthetic clip. Now it names the command that makes the frame's clip
    with the heads grown less, and run-all's --bare-video; `dvos extract-backgrounds` keeps its own options."""
    from dvos_core.extract import backgrounds_from_annotated
    from dvos_core.run_all import Stages, _extract

    rng = np.random.default_rng(1)
    v = tmp_project.add_video_array("v", rng.integers(0, 256, (3, 40, 48, 3), dtype=np.uint8), split="train")
    crowded = np.ones((40, 48), np.uint8)
    crowded[:10, :10] = 0  # heads grown by 6 px leave a 4x4 corner of field: under 10 %
    v.set_mask(1, crowded, "manual")
    lines = []
    with pytest.warns(UserWarning, match="frame 1: its painted heads, grown by 6 px, leave only 0.8 %") as said:
        _extract(
            tmp_project, RunAllConfig(background_clip_length=2), Stages(1, None, None, lines.append), {"painted": ["v"]}
        )
    (text,) = [str(w.message) for w in said if "smeared" in str(w.message)]
    # the clips as run-all makes them: still (its synthetic camera is matched to the footage), of its clip length
    command = (
        f"dvos extract-backgrounds {tmp_project.path} --from-annotated --videos v --frames 1 --dilate 3 --motion none "
        f"--clip-length 2 --replace"
    )
    assert f"`{command}`, then run-all under a new --name" in text and "(--bare-video VIDEO)" in text, text
    assert "lower --dilate" not in text and "(--frames)" not in text
    assert main(command.split()[1:]) == 0  # the command runs
    (clip,) = [tmp_project.background(b) for b in tmp_project.background_ids()]
    assert len(clip) == 2 and clip.attrs["motion"]["kind"] == "none"
    # the command itself says it in its own options
    with pytest.warns(UserWarning, match=r"smeared field; lower --dilate, or leave the frame out \(--frames\)$"):
        backgrounds_from_annotated(tmp_project, frames=[1], clip_length=2, motion="none", replace=True)
