"""A synthetic set records whether its motion was matched to footage, and to which videos (``motion_matched_to``):
run-all read it from the set's motion settings, and an extreme matched pan that rounds to the engine's defaults (or
settings moved off the defaults by hand) was taken the wrong way."""

from types import SimpleNamespace

import pytest
from motion_clips import camera_clip, fast_pan, paint_heads, texture

from dvos_core.cli import main
from dvos_core.run_all import RunAllConfig, _motion_matched, _set_differences
from dvos_core.store import Project
from dvos_core.synth import SynthConfig
from dvos_core.synth.toy import toy_project

MATCHED = "motion was matched to the training videos, now not"
UNMATCHED = "it moves as the synthesis engine's default, now matched"


def _set(config: SynthConfig, **attrs):
    return SimpleNamespace(attrs={"config": config.to_dict(), **attrs}, n_frames=config.n_frames)


def _differences(sset, match_motion: bool) -> list[str]:
    project = SimpleNamespace(background_ids=list)
    cfg = RunAllConfig(match_motion=match_motion, synth_frames=sset.n_frames)
    return _set_differences(project, cfg, sset)


def test_run_all_reads_the_record_and_guesses_only_for_a_set_made_before_it():
    default, moved = SynthConfig(n_frames=8), SynthConfig(n_frames=8, camera_speed=12.0, camera_speed_min=8.0)
    # matched, though its settings are the defaults (a matched pan that rounds to them): a run without matching
    # would keep it, and the models trained on it, as if it were its own
    assert _motion_matched(_set(default, motion_matched_to=["plot"])) is True
    assert any(MATCHED in d for d in _differences(_set(default, motion_matched_to=["plot"]), False))
    assert not any("motion" in d for d in _differences(_set(default, motion_matched_to=["plot"]), True))
    # not matched, though its settings are off the defaults (set by hand)
    assert _motion_matched(_set(moved, motion_matched_to=[])) is False
    assert any(UNMATCHED in d for d in _differences(_set(moved, motion_matched_to=[]), True))
    # a set made before the record: guessed from its settings, as before
    assert _motion_matched(_set(moved)) is True and _motion_matched(_set(default)) is False
    assert _motion_matched(SimpleNamespace(attrs={"config": {"n_heads": "many"}})) is None


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    world, wmask, _ = paint_heads(texture("gravel", dark=True), 300, seed=1)
    frames, _, _ = camera_clip(world, fast_pan(12, seed=5), size=(128, 160), world_mask=wmask)
    p = toy_project(tmp_path_factory.mktemp("m") / "m.dvos", n_heads=4, n_fakes=2, bg_frames=3, bg_size=(140, 140))
    p.add_video_array("plot", frames, split="train")
    return p.path


def test_dvos_synth_records_the_videos_its_motion_was_matched_to(project, tmp_path, capsys):
    made = ["synth", str(project), "--clips", "1", "--frames", "2", "--size", "64", "--backend", "serial"]
    assert main([*made, "--name", "matched", "--match-motion", "plot"]) == 0
    assert main([*made, "--name", "plain", "--no-motion-check"]) == 0
    config = tmp_path / "synth.yaml"
    SynthConfig().to_yaml(config)
    assert main([*made, "--name", "configured", "--no-motion-check", "--config", str(config)]) == 0
    capsys.readouterr()
    p = Project.open(project)
    assert p.synthetic("matched").attrs["motion_matched_to"] == ["plot"]
    assert p.synthetic("plain").attrs["motion_matched_to"] == []
    assert "motion_matched_to" not in p.synthetic("configured").attrs  # settings of a file: not known
