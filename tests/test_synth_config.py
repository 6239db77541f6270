"""SynthConfig serialisation/validation and the motion bounds it documents."""

import numpy as np
import pytest

from dvos_core.synth import SynthConfig
from dvos_core.synth.motion import signal_step_bound, smooth_signal


def test_yaml_round_trip_keeps_every_field(tmp_path):
    cfg = SynthConfig(n_frames=12, n_heads=(5, 9), camera_zoom=0.01, allow_upscale=True)
    text = cfg.to_yaml(tmp_path / "s.yaml")
    assert "# real heads visible per frame" in text  # each parameter carries its description
    assert SynthConfig.from_yaml(tmp_path / "s.yaml") == cfg
    assert SynthConfig.from_dict(cfg.to_dict()) == cfg
    assert set(SynthConfig.describe()) == set(cfg.to_dict())
    assert all(SynthConfig.describe().values())


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="unknown synthesis parameter.*n_head"):
        SynthConfig.from_dict({"n_head": (1, 2)})
    with pytest.raises(ValueError, match="n_heads"):
        SynthConfig(n_heads=(10, 5))
    with pytest.raises(ValueError, match="edge_feather_px"):
        SynthConfig(edge_feather_px=-1)
    with pytest.raises(ValueError, match="periods"):
        SynthConfig(sway_period=(1, 3))
    # sizes that ran for minutes or asked for 100 GB are refused up front
    with pytest.raises(ValueError, match=r"object_scale=\(50.0, 60.0\) pastes objects up to 60 times"):
        SynthConfig(object_scale=(50, 60))
    with pytest.raises(ValueError, match="n_fakes=.*at most 5000 per frame"):
        SynthConfig(n_fakes=(10, 100000))
    with pytest.raises(ValueError, match=r"camera_speed=1e\+06 px/frame moves more than a whole 512x512 frame"):
        SynthConfig(camera_speed=1e6)
    assert SynthConfig(camera_speed=25.0, height=128, width=128).camera_speed == 25.0  # fast footage is fine
    with pytest.raises(FileNotFoundError, match="write-config"):
        SynthConfig.from_yaml("/nonexistent/synth.yaml")


@pytest.mark.parametrize(
    "text, field",
    [
        ("n_heads: 5", "n_heads"),
        ("object_scale: [1, 2, 3]", "object_scale"),
        ("camera_speed: fast", "camera_speed"),
        ("n_frames: 2.5", "n_frames"),
        ("allow_upscale: 1", "allow_upscale"),
    ],
)
def test_wrongly_typed_yaml_values_name_the_file_and_field(tmp_path, text, field):
    path = tmp_path / "synth.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ValueError, match=f"synth.yaml: SynthConfig.{field} must be"):
        SynthConfig.from_yaml(path)


def test_smooth_signal_respects_its_amplitude_and_step_bounds():
    for seed in range(20):
        rng = np.random.default_rng(seed)
        x = smooth_signal(rng, 200, 5.0, (8.0, 30.0), size=(7,))
        assert x.shape == (200, 7)
        assert np.abs(x).max() <= 5.0 + 1e-9
        assert np.abs(np.diff(x, axis=0)).max() <= signal_step_bound(5.0, (8.0, 30.0)) + 1e-9
        # oscillates (a rotation, not a spin): it changes sign
        assert np.all((x > 0).any(0) & (x < 0).any(0))


def test_numpy_numbers_are_accepted_as_plain_python_numbers():
    cfg = SynthConfig(n_frames=np.int64(8), sway_px=np.float32(2.5), n_heads=(np.int64(3), np.int64(9)))
    assert type(cfg.n_frames) is int and type(cfg.sway_px) is float and cfg.n_heads == (3, 9)
    assert all(type(x) is int for x in cfg.n_heads)
    assert SynthConfig.from_dict(cfg.to_dict()) == cfg


def test_write_config_takes_a_home_path_and_says_when_its_folder_is_missing(tmp_path, monkeypatch, capsys):
    """`--write-config ~/s.yaml` was a raw "No such file or directory: '~/s.yaml'", as was a missing folder."""
    from dvos_core.cli import main

    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["synth", "--write-config", "~/s y.yaml"]) == 0
    assert (tmp_path / "s y.yaml").is_file() and f"--config '{tmp_path}/s y.yaml'" in capsys.readouterr().out
    assert main(["synth", "--write-config", str(tmp_path / "nodir" / "s.yaml")]) == 2
    assert "its folder does not exist; create it first" in capsys.readouterr().err
