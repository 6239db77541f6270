"""Weights from the authors' code: the converter reproduces their outputs, the paper layout maps 1:1, errors are
clear; dvos checkpoints of format 1 still load and compute what they were trained to."""

import json
import os
from pathlib import Path

import pytest
import torch
from conftest import rel_err

from dvos_core.cli import main as dvos
from dvos_core.model import CheckpointError, build_model, load_checkpoint, save_checkpoint
from dvos_core.model.reference import convert_state_dict, import_reference_weights, reference_key, res_blocks_of

torch.set_num_threads(1)
FIXTURES = Path(
    os.environ.get("DVOS_REFERENCE_FIXTURES", Path(__file__).resolve().parents[2] / "shared/reference/fixtures")
)
needs_fixtures = pytest.mark.skipif(
    not (FIXTURES / "reference_tiny_video.pt").exists(),
    reason=f"reference fixtures not found in {FIXTURES} (set DVOS_REFERENCE_FIXTURES)",
)


def fixture(kind):
    return torch.load(FIXTURES / f"reference_tiny_{kind}.pt", weights_only=True)


def outputs(model, kind, x):
    with torch.no_grad():
        return model(x if kind == "video" else x[:, 0])


@needs_fixtures
@pytest.mark.parametrize("kind", ["video", "image"])
def test_converted_reference_weights_reproduce_the_reference_outputs(kind):
    d = fixture(kind)
    model, config = convert_state_dict(d["state_dict"], kind, preset="auto", reduction="adjacent")
    out = outputs(model, kind, d["input"])
    assert rel_err(out["mask"], d["mask_logits"]) < 1e-5
    assert rel_err(out["frame"], d["frame"]) < 1e-5
    assert config.stem_blocks == 2 and config.res_blocks == d["hyper_parameters"]["res"]


@needs_fixtures
def test_prefixes_are_stripped_and_the_reduction_matters():
    d = fixture("video")
    wrapped = {f"module._orig_mod.{k}": v for k, v in d["state_dict"].items()}
    model, _ = convert_state_dict(wrapped, "video", preset="auto")
    assert rel_err(outputs(model, "video", d["input"])["mask"], d["mask_logits"]) < 1e-5
    other, _ = convert_state_dict(d["state_dict"], "video", preset="auto", reduction="tau_mean")
    assert rel_err(outputs(other, "video", d["input"])["mask"], d["mask_logits"]) > 1e-3


@needs_fixtures
@pytest.mark.parametrize("kind,count", [("video", 92_679_324), ("image", 16_328_604)])
def test_the_paper_layout_maps_one_to_one(kind, count):
    keys = json.loads((FIXTURES / f"reference_paper_{kind}_keys.json").read_text())
    r = res_blocks_of(dict.fromkeys(keys))
    ours = build_model("paper", "dvos" if kind == "video" else "frame").state_dict()
    mapped = {reference_key(k, r): tuple(shape) for k, shape in keys.items()}
    assert {k: tuple(v.shape) for k, v in ours.items()} == mapped
    assert sum(torch.Size(s).numel() for s in mapped.values()) == count


@needs_fixtures
def test_wrong_kind_and_wrong_preset_give_clear_errors():
    video, image = fixture("video")["state_dict"], fixture("image")["state_dict"]
    with pytest.raises(CheckpointError, match="image model; use --kind image"):
        convert_state_dict(image, "video")
    with pytest.raises(CheckpointError, match="video model; use --kind video"):
        convert_state_dict(video, "image")
    with pytest.raises(CheckpointError, match=r"shapes differ .*encoder\.") as err:
        convert_state_dict(video, "video", preset="paper")
    assert "--preset auto" in str(err.value)
    with pytest.raises(CheckpointError, match="names the reference UNet does not use"):
        convert_state_dict({**video, "encoder.extra.weight": torch.zeros(1)}, "video", preset="auto")


@needs_fixtures
def test_import_weights_cli_writes_a_checkpoint_that_predicts(tmp_path, capsys):
    src = tmp_path / "ckpt_best.tar"
    torch.save(fixture("video")["state_dict"], src)
    with pytest.raises(CheckpointError, match="dvos import-weights"):
        load_checkpoint(src)  # the hint for a reference file names the converter
    assert dvos(["import-weights", str(src), "--kind", "video", "--preset", "auto"]) == 0
    out = tmp_path / "ckpt_best_dvos.pt"
    assert str(out) in capsys.readouterr().out
    model, info = load_checkpoint(out)
    assert info["kind"] == "dvos" and info["config"]["temporal_reduction"] == "adjacent"
    assert info["imported_from"] == str(src.resolve())
    d = fixture("video")
    assert rel_err(outputs(model, "video", d["input"])["mask"], d["mask_logits"]) < 1e-5
    assert dvos(["import-weights", str(src), "--kind", "video", "--preset", "auto"]) != 0  # exists: refused
    assert "--overwrite" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match="no such file"):
        import_reference_weights(tmp_path / "missing.tar", tmp_path / "x.pt", "image")


def test_format_1_checkpoints_load_with_their_own_attention_layout(tmp_path):
    torch.manual_seed(0)
    legacy = build_model("tiny", "dvos", attention_bias="temporal").eval()
    assert legacy.decoder.latent_fuse.temporal[3].bias is not None
    assert legacy.decoder.latent_fuse.spatial[4].bias is None
    path = save_checkpoint(tmp_path / "old.pt", legacy)
    payload = torch.load(path, weights_only=True)  # rewrite it as dvos 0.1 wrote it
    payload["format_version"] = 1
    del payload["config"]["attention_bias"], payload["config"]["stem_blocks"]
    payload["config"]["extra"] = {}
    torch.save(payload, path)
    model, _ = load_checkpoint(path)
    x = torch.randn(1, 4, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x)["mask"], legacy(x)["mask"])
    fresh = build_model("tiny", "dvos")
    assert fresh.decoder.latent_fuse.spatial[4].bias is not None and fresh.decoder.latent_fuse.temporal[3].bias is None
    payload["format_version"] = 99
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="newer than this dvos"):
        load_checkpoint(path)
