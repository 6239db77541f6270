"""The one config loader (dvos_core.config_io): numbers in any YAML spelling, finite values, types named with the
field and the file, for every config dataclass."""

import numpy as np
import pytest

from dvos_core.config_io import ConfigError, parse_number
from dvos_core.demo.pipeline import DemoConfig
from dvos_core.io import Preprocess
from dvos_core.model.presets import ModelConfig
from dvos_core.synth import SynthConfig
from dvos_core.train import TrainConfig


def _yaml(tmp_path, text, name="c.yaml"):
    path = tmp_path / name
    path.write_text(text + "\n")
    return path


@pytest.mark.parametrize(
    "text, field, value",
    [
        ("lr: 1e-4", "lr", 1e-4),  # PyYAML reads 1e-4 as a string
        ("lr: 1.0e-4", "lr", 1e-4),
        ("lr: '2E-3'", "lr", 2e-3),
        ("weight_decay: 0", "weight_decay", 0.0),
        ("epochs: 1e1", "epochs", 10),  # a whole number in float spelling
        ("epochs: '12'", "epochs", 12),
        ("samples_per_epoch: 1_000", "samples_per_epoch", 1000),
        ("grad_clip: null", "grad_clip", None),
    ],
)
def test_train_config_numbers_in_any_yaml_spelling(tmp_path, text, field, value):
    cfg = TrainConfig.from_yaml(_yaml(tmp_path, text))
    assert getattr(cfg, field) == value and type(getattr(cfg, field)) is type(value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("lr: .nan", "TrainConfig.lr must be a finite number, got nan"),
        ("lr: .inf", "TrainConfig.lr must be a finite number, got inf"),
        ("lr: fast", "TrainConfig.lr must be a number, got 'fast'"),
        ("epochs: 2.5", "TrainConfig.epochs must be a whole number, got 2.5"),
        ("epochs: true", "TrainConfig.epochs must be a whole number, got True"),
        ("provenance_weights: 5", "TrainConfig.provenance_weights must be a mapping such as"),
        ("provenance_weights: {manual: .nan}", "TrainConfig.provenance_weights\\['manual'\\] must be a finite"),
        ("video_ids: plot1", "TrainConfig.video_ids must be a list"),
        ("amp: 1", "TrainConfig.amp must be true or false"),
        ("phase: 3", "TrainConfig.phase must be text"),
        ("model: [1, 2]", "TrainConfig.model must be a mapping"),
        ("model: {prior_refin: true}", "unknown model keys \\['prior_refin'\\]; see dvos_core.model.ModelConfig"),
        ("model: {fusion_radius: -1}", "model overrides .*fusion_radius >= 0"),
        # recorded and ignored before (the run's own tau and size set them): the setting to use is named
        ("model: {tau: 3}", "model.tau \\(3\\) is set by the training config's own tau: write tau: 3 at the top"),
        ("model: {input_size: 128}", "model.input_size \\(128\\) .* write size: 128 .*--size 128\\), not under model:"),
        ("preset: huge", "unknown model preset 'huge'; choose one of"),
        ("preset: huge\nmodel: {dropout: 0.1}", "unknown model preset 'huge'"),
        ("augment: {hflip: often}", "AugmentConfig.hflip must be a number, got 'often'"),
        # a ZeroDivisionError, a torch error, an index out of bounds at the first step; a wrong best.pt: named now
        ("augment: {patch_size: 0}", "augment.patch_size must be >= 1 \\(the patch-diffusion tile's side .*got 0"),
        ("augment: {patch_t_max: 0}", "augment.patch_t_max must be in \\[2, 1000\\] .*got 0"),
        ("augment: {patch_t_max: 5000}", "augment.patch_t_max must be in \\[2, 1000\\] .*got 5000"),
        ("augment: {eval_crop: 0}", "augment.eval_crop must be >= 1 \\(the validation crop's side .*got 0"),
        ("augment: {eval_crop: -64}", "augment.eval_crop must be >= 1 .*got -64"),
        ("augment: {patch_beta_end: 1}", "augment.patch_beta_end must be in \\(0, 1\\) .*got 1"),
    ],
)
def test_train_config_bad_values_name_the_file_and_field(tmp_path, text, message):
    with pytest.raises(ConfigError, match=f"c.yaml: {message}"):
        TrainConfig.from_yaml(_yaml(tmp_path, text))


def test_a_key_given_twice_is_refused_naming_it_and_the_file(tmp_path):
    """PyYAML takes the last of two: `lr` twice trained at the second rate without a word."""
    with pytest.raises(ConfigError, match=r"c.yaml: the key 'lr' is given twice \(lines 1 and 3\); keep one of them"):
        TrainConfig.from_yaml(_yaml(tmp_path, "lr: 1e-4\nepochs: 2\nlr: 3e-4"))
    with pytest.raises(ConfigError, match=r"the key 'hflip' is given twice \(lines 3 and 4\)"):
        TrainConfig.from_yaml(_yaml(tmp_path, "lr: 1e-4\naugment:\n  hflip: 0.1\n  hflip: 0.2"))
    # a merge key's values may be overridden; safe loading still (no Python objects)
    cfg = TrainConfig.from_yaml(_yaml(tmp_path, "model: &m {dropout: 0.1}\naugment:\n  <<: {hflip: 0.1}\n  hflip: 0.2"))
    assert cfg.augment == {"hflip": 0.2}
    with pytest.raises(ConfigError, match="c.yaml: invalid YAML"):
        TrainConfig.from_yaml(_yaml(tmp_path, "lr: !!python/object/apply:os.getcwd []"))


def test_train_config_preset_is_not_checked_when_a_checkpoint_fixes_the_model(tmp_path):
    cfg = TrainConfig.from_yaml(_yaml(tmp_path, "preset: huge\ninit_from: img/best.pt\nmodel: {dropout: 0.1}"))
    assert cfg.preset == "huge" and cfg.model == {"dropout": 0.1}


@pytest.mark.parametrize(
    "text, message",
    [
        ("camera_speed: .nan", "SynthConfig.camera_speed must be a finite number, got nan"),
        ("sway_px: .inf", "SynthConfig.sway_px must be a finite number, got inf"),
        ("n_heads: [5, .inf]", "SynthConfig.n_heads must be a \\(low, high\\) pair"),
        ("object_scale: {a: 1}", "SynthConfig.object_scale must be a \\(low, high\\) pair"),
    ],
)
def test_synth_config_non_finite_values_are_refused(tmp_path, text, message):
    with pytest.raises(ConfigError, match=f"s.yaml: {message}"):
        SynthConfig.from_yaml(_yaml(tmp_path, text, "s.yaml"))


def test_synth_config_takes_exponent_spellings(tmp_path):
    cfg = SynthConfig.from_yaml(_yaml(tmp_path, "camera_zoom: 3e-2\nn_heads: [1e1, 2e1]\nsway_px: '2.5'", "s.yaml"))
    assert cfg.camera_zoom == 0.03 and cfg.n_heads == (10, 20) and cfg.sway_px == 2.5
    assert all(type(x) is int for x in cfg.n_heads)


def test_every_config_dataclass_uses_the_loader():
    """The same rules through Python (and so the CLI and the docks, which build these classes)."""
    assert TrainConfig(lr="3e-4").lr == 3e-4
    assert DemoConfig(lr="1e-3", synth_heads=[2, 4.0]).synth_heads == (2, 4)
    assert ModelConfig(dropout=np.float32(0.25)).dropout == 0.25
    assert Preprocess(height="64", crop=[32, 32]) == Preprocess(height=64, crop=(32, 32))
    for make, field in (
        (lambda: DemoConfig(lr=float("nan")), "DemoConfig.lr"),
        (lambda: ModelConfig(beta_a=float("inf")), "ModelConfig.beta_a"),
        (lambda: Preprocess(height="tall"), "Preprocess.height"),
        (lambda: TrainConfig().replace(batch_size="eight"), "TrainConfig.batch_size"),
        (lambda: SynthConfig().replace(n_frames=float("nan")), "SynthConfig.n_frames"),
    ):
        with pytest.raises(ConfigError, match=field):
            make()


def test_unreadable_config_files_name_the_file(tmp_path):
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00lr")
    with pytest.raises(ConfigError, match="bin.yaml: not a text"):
        TrainConfig.from_yaml(binary)
    with pytest.raises(ConfigError, match="list.yaml: expected 'name: value'"):
        SynthConfig.from_yaml(_yaml(tmp_path, "- 1\n- 2", "list.yaml"))
    with pytest.raises(ConfigError, match="keys.yaml: unknown training config keys \\['1', 'a'\\]"):
        TrainConfig.from_yaml(_yaml(tmp_path, "1: 2\na: 3", "keys.yaml"))


def test_parse_number():
    assert parse_number("1e-4") == 1e-4 and parse_number(" 7 ", whole=True) == 7
    assert parse_number(np.int64(3), whole=True) == 3 and type(parse_number(3)) is float
    for bad in (True, None, [1], "x", b"1"):
        with pytest.raises(TypeError):
            parse_number(bad)
    for bad in (float("nan"), "inf", "-Infinity"):
        with pytest.raises(ValueError):
            parse_number(bad)
    with pytest.raises(ValueError):
        parse_number(2.5, whole=True)


def test_a_path_given_as_a_path_object_is_taken_as_text():
    """``TrainConfig(init_from=project.model_dir("img") / "best.pt")`` (a Path, as the library's own messages write
    it) was refused: "must be text"."""
    from pathlib import Path

    from dvos_core.train.config import TrainConfig

    cfg = TrainConfig(phase="synthetic", init_from=Path("models") / "img" / "best.pt")
    assert cfg.init_from == str(Path("models/img/best.pt")) and isinstance(cfg.init_from, str)
    assert TrainConfig.from_dict(cfg.to_dict()).init_from == cfg.init_from
