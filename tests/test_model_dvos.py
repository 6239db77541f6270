"""DVOSNet / FrameNet: exact paper parameter counts, shapes, determinism, frame->video init, checkpoints."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from dvos_core.model import (
    MEAN,
    STD,
    CheckpointError,
    build_model,
    describe_device,
    from_model_frame,
    init_from_frame_model,
    list_presets,
    load_checkpoint,
    save_checkpoint,
    select_device,
    to_model_input,
)

torch.set_num_threads(1)


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_paper_preset_parameter_counts_match_the_paper():
    assert n_params(build_model("paper", "dvos")) == 92_679_324
    assert n_params(build_model("paper", "frame")) == 16_328_604


def test_presets_and_small_sizes():
    assert {"paper", "small", "tiny"} <= set(list_presets())
    assert 1_000_000 <= n_params(build_model("small", "dvos")) <= 3_000_000
    assert 100_000 <= n_params(build_model("tiny", "dvos")) <= 300_000
    with pytest.raises(ValueError, match="unknown model preset"):
        build_model("huge")


def test_shapes_and_attributes():
    torch.manual_seed(0)
    d, f = build_model("tiny", "dvos").eval(), build_model("tiny", "frame").eval()
    assert (d.kind, d.tau, f.kind, f.tau) == ("dvos", 4, "frame", 0)
    assert d.config.to_dict()["name"] == "tiny"
    out = d(torch.randn(2, 4, 3, 64, 96))
    assert out["mask"].shape == (2, 1, 64, 96) and out["frame"].shape == (2, 3, 64, 96)
    out = f(torch.randn(3, 3, 32, 64))
    assert out["mask"].shape == (3, 1, 32, 64) and out["frame"].shape == (3, 3, 32, 64)


def test_bad_inputs_raise_clear_errors():
    d = build_model("tiny", "dvos")
    with pytest.raises(ValueError, match="multiples of 32"):
        d(torch.randn(1, 4, 3, 48, 64))
    with pytest.raises(ValueError, match="tau=4"):
        d(torch.randn(1, 3, 3, 64, 64))
    with pytest.raises(ValueError, match="FrameNet expects"):
        build_model("tiny", "frame")(torch.randn(1, 4, 3, 64, 64))


def test_eval_is_deterministic_and_stochastic_mode_is_not():
    torch.manual_seed(0)
    d = build_model("tiny", "dvos").eval()
    x = torch.randn(1, 4, 3, 64, 64)
    with torch.no_grad():
        a, b = d(x)["mask"], d(x)["mask"]
        c = d(x, stochastic=True)["mask"]
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    d.train()
    with torch.no_grad():
        assert not torch.allclose(d(x)["mask"], d(x)["mask"])  # skip diffusion on in training


def test_frame_model_initialises_video_model():
    torch.manual_seed(0)
    f = build_model("paper", "frame")
    d = build_model("paper", "dvos")
    r = init_from_frame_model(d, f)
    assert r["loaded"] == len(f.state_dict()) == 238
    assert r["unexpected"] == [] and r["mismatched"] == []
    assert len(r["missing"]) == 102 and all("fuse" in k for k in r["missing"])
    ds = d.state_dict()
    assert all(torch.equal(ds[k], v) for k, v in f.state_dict().items())


def test_temporal_reduction_is_a_mean_over_frames():
    from dvos_core.model.attention import SpatioTemporalAttention

    att = SpatioTemporalAttention(8, 4, reduction="tau_mean").eval()
    x = torch.randn(1, 32, 8, 8)
    with torch.no_grad():
        x1 = torch.nn.functional.silu(att.in_norm(x))
        y = x1 * att.spatial(x1) * att.temporal(x1.mean((2, 3)))[:, :, None, None]
        expected = y.view(1, 4, 8, 8, 8).mean(1)
        assert torch.allclose(att(x), expected, atol=1e-6)


def test_normalisation_round_trip():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    t = to_model_input(frames)
    assert t.shape == (2, 3, 32, 32)
    # channels first in memory, not a moved-axis view: otherwise every convolution after it runs channels-last
    assert t.is_contiguous() and t.stride() == (3 * 32 * 32, 32 * 32, 32, 1)
    assert torch.allclose(
        t[0, :, 0, 0],
        (torch.tensor(frames[0, 0, 0] / 255.0).float() - torch.tensor(MEAN)) / torch.tensor(STD),
        atol=1e-5,
    )
    assert np.array_equal(from_model_frame(t), frames)
    with pytest.raises(ValueError, match="uint8"):
        to_model_input(frames.astype(np.float32))


def test_checkpoint_round_trip_and_errors(tmp_path):
    torch.manual_seed(0)
    d = build_model("tiny", "dvos")
    path = save_checkpoint(tmp_path / "m.pt", d, epoch=2, metrics=[{"epoch": 1}], data={"samples": 3})
    assert not list(tmp_path.glob(".*tmp"))
    m, info = load_checkpoint(path)
    assert info["kind"] == "dvos" and info["epoch"] == 2 and info["tau"] == 4 and info["preset"] == "tiny"
    assert info["metrics"] == [{"epoch": 1}] and info["data"] == {"samples": 3} and info["dvos_version"]
    commit = info["code_commit"]  # the git commit when running from a checkout (as the tests do), else None
    assert commit is None or (len(commit) == 40 and int(commit, 16) >= 0)
    if (Path(__file__).resolve().parents[1] / ".git").exists() and shutil.which("git"):
        assert commit is not None
    assert all(torch.equal(a, b) for a, b in zip(d.state_dict().values(), m.state_dict().values()))
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt") as err:
        load_checkpoint(tmp_path / "junk.pt")
    assert "\n" not in str(err.value) and "\x1b" not in str(err.value)  # one readable line, no torch dump
    torch.save({"a": torch.zeros(1)}, tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match="not a dvos checkpoint"):
        load_checkpoint(tmp_path / "bare.pt")
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["heads.mask.conv.weight"] = torch.zeros(2, 2, 3, 3)
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="do not fit") as err:
        load_checkpoint(tmp_path / "bad.pt")
    assert "\n" not in str(err.value)


def test_weights_that_do_not_fit_are_named(tmp_path):
    """torch's error kept only its first line ("Error(s) in loading state_dict for FrameNet:"), naming no tensor."""
    path = save_checkpoint(tmp_path / "m.pt", build_model("tiny", "frame"))
    payload = torch.load(path, weights_only=True)
    own = payload["state_dict"]
    shape = tuple(own["heads.mask.conv.weight"].shape)
    own["heads.mask.conv.weight"] = torch.zeros(2, 2, 3, 3)
    del own["encoder.stem.bias"]
    own["extra.weight"] = torch.zeros(1)
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path / "bad.pt")
    said = str(err.value)
    assert f"size mismatch for heads.mask.conv.weight: checkpoint (2, 2, 3, 3), model {shape}" in said
    assert "missing from the checkpoint: encoder.stem.bias" in said and "not in the model: extra.weight" in said
    assert "\n" not in said and "Error(s) in loading" not in said


def test_a_bare_state_dict_is_told_how_to_become_a_checkpoint(tmp_path, monkeypatch):
    """A torch.save(model.state_dict()) file was refused with "pass a best.pt / last.pt written by `dvos train`"
    alone; the refusal now gives the Python that makes a checkpoint of it, which works."""
    torch.manual_seed(0)
    model = build_model("tiny", "frame")
    torch.save(model.state_dict(), tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match="bare.pt: not a dvos checkpoint.*weights alone") as err:
        load_checkpoint(tmp_path / "bare.pt")
    code = str(err.value).split("`")[1].replace('"PRESET"', '"tiny"').replace('"KIND"', '"frame"')
    monkeypatch.chdir(tmp_path)
    exec(code, {})
    loaded, info = load_checkpoint(tmp_path / "bare_dvos.pt")
    assert info["kind"] == "frame"
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))


def test_device_selection():
    assert select_device("cpu").type == "cpu"
    assert select_device("auto").type in ("cpu", "cuda", "mps")
    assert describe_device("cpu").startswith("CPU (")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            select_device("cuda")
    with pytest.raises(ValueError, match=r"unknown device 'gpu'; use auto, cpu, cuda, cuda:N"):  # was a RuntimeError
        select_device("gpu")
    with pytest.raises(ValueError, match=r"device 'meta' is not one dvos runs on"):
        select_device("meta")


@pytest.mark.skipif(not shutil.which("git"), reason="needs git")
def test_code_commit_only_for_a_tracked_source(tmp_path):
    """dvos installed (not editable) into a virtual environment inside the user's own repository: the user's HEAD is
    not dvos's commit. Only a source file the checkout tracks gives its commit."""
    import subprocess

    from dvos_core.model.checkpoint import code_commit

    def git(*args):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True, capture_output=True
        )

    git("init", "-q")
    (tmp_path / "notes.txt").write_text("user's project")
    git("add", "notes.txt")
    git("commit", "-qm", "user")
    installed = tmp_path / ".venv" / "site-packages" / "dvos_core" / "model" / "checkpoint.py"
    installed.parent.mkdir(parents=True)
    installed.write_text("# an installed copy")
    assert code_commit(installed) is None
    tracked = tmp_path / "checkpoint.py"
    tracked.write_text("# a checkout")
    git("add", "checkpoint.py")
    git("commit", "-qm", "dvos")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert code_commit(tracked) == head
