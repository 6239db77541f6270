"""predict_video / predict_array: window semantics, first frames, streaming bound, resume, cancel, bad checkpoints."""

import tracemalloc

import numpy as np
import pytest
import torch

import dvos_core.infer.predict as predict_mod
from dvos_core.infer import predict_array, predict_video, prediction_name
from dvos_core.infer.window import FrameCache, plan_batches, window_sources
from dvos_core.model import CheckpointError, build_model, save_checkpoint, to_model_input
from dvos_core.progress import Cancelled, CancelToken
from dvos_core.store import Project
from dvos_core.store.schema import PROVENANCE_NAMES

torch.set_num_threads(1)
H, W = 40, 50


class LastFrameProbe(torch.nn.Module):
    """Stand-in DVOS model: mask logit = the newest window frame's normalised red channel."""

    kind = "dvos"

    def __init__(self, tau=3):
        super().__init__()
        self.tau = tau
        self.p = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x, stochastic=False):
        return {"mask": x[:, -1, :1] + 0 * self.p, "frame": x[:, -1]}


class NegFrameProbe(LastFrameProbe):
    """Stand-in image model: mask logit = minus frame t's red channel."""

    kind, tau = "frame", 0

    def __init__(self):
        super().__init__(0)

    def forward(self, x, stochastic=False):
        return {"mask": -x[:, :1] + 0 * self.p, "frame": x}


def _frames(n):
    """Frame t is constant (10 * t) % 250, so the predicted value tells which frame was seen."""
    return np.stack([np.full((H, W, 3), (10 * t) % 250, np.uint8) for t in range(n)])


def _expected(value, sign=1.0):
    x = to_model_input(np.full((1, 1, 3), value, np.uint8))[0, 0, 0].item()
    return 1 / (1 + np.exp(-sign * x))


@pytest.fixture()
def project(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("v", _frames(12))
    return p


def test_window_sources_and_batches():
    assert window_sources(5, 3) == [2, 3, 4]
    assert window_sources(1, 3) == [0, 0, 0]
    assert window_sources(7, 0) == [7]
    b = plan_batches(range(8), 3, 2, image_first=True)
    assert [x.mode for x in b] == ["image", "image", "video", "video", "video"]
    assert b[0].targets == (0, 1) and b[1].targets == (2,)
    assert all(x.mode == "image" for x in plan_batches(range(5), 0, 2, image_first=False))


def test_dvos_window_never_sees_frame_t_and_image_model_covers_first_frames(project):
    n = predict_video(
        project, "v", (LastFrameProbe(3), {}), image_checkpoint=(NegFrameProbe(), {}), batch_size=4, device="cpu"
    )
    assert n == 12
    v = project.video("v")
    for t in range(12):
        prob = v.predictions.get(t)[1]
        if t < 3:  # image model on frame t itself
            assert prob.mean() == pytest.approx(_expected(10 * t, -1.0), abs=2e-3)
        else:  # DVOS: newest input frame is t-1
            assert prob.mean() == pytest.approx(_expected(10 * (t - 1)), abs=2e-3)
    assert v.predictions.models() == ["in_memory"]
    assert v.predictions["in_memory"].attrs["first_frames"] == "image model"


def test_clamped_window_without_image_model_and_predict_array_agree(project):
    frames = _frames(12)
    arr = predict_array((LastFrameProbe(3), {}), frames, device="cpu", batch_size=5)
    assert arr[0].mean() == pytest.approx(_expected(0), abs=2e-3)  # frame 0 repeated
    assert arr[2].mean() == pytest.approx(_expected(10), abs=2e-3)
    predict_video(project, "v", (LastFrameProbe(3), {}), device="cpu", batch_size=2)
    stored = np.stack([project.video("v").predictions.get(t)[1] for t in range(12)])
    assert np.allclose(stored, arr, atol=1e-3)  # float16 storage


def test_streaming_reads_a_bounded_window(tmp_path, monkeypatch):
    p = Project.create(tmp_path / "long.dvos")
    n, tau, batch = 64, 3, 4
    v = p.create_video("long", 32, 32)
    v.append_frames((np.full((32, 32, 3), t % 250, np.uint8) for t in range(n)), batch=32)
    caches, calls = [], []

    class Recording(FrameCache):
        def __init__(self, reader):
            def rec(a, b):
                calls.append(b - a)
                return reader(a, b)

            super().__init__(rec)
            caches.append(self)

    monkeypatch.setattr(predict_mod, "FrameCache", Recording)
    assert predict_video(p, "long", (LastFrameProbe(tau), {}), device="cpu", batch_size=batch) == n
    assert caches[0].max_resident <= tau + batch - 1
    assert max(calls) <= tau + batch
    assert sum(calls) <= n  # every frame read at most once
    assert caches[0].frames_read == sum(calls)  # the cache counts what it read
    assert len(p.video("long").predictions.frames()) == n


def _peak_traced_bytes(tmp_path, n, hw=256):
    """Peak Python/numpy memory (tracemalloc) of predicting an n-frame hw x hw store video."""
    p = Project.create(tmp_path / f"mem{n}.dvos")
    v = p.create_video("v", hw, hw)
    v.append_frames((np.full((hw, hw, 3), t % 250, np.uint8) for t in range(n)), batch=8)
    model = (LastFrameProbe(3), {})
    predict_video(p, "v", model, device="cpu", frames=[0])  # creates the arrays, warms caches (not measured)
    tracemalloc.start()
    try:
        assert predict_video(p, "v", model, device="cpu", batch_size=4) == n - 1
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_streaming_memory_does_not_grow_with_video_length(tmp_path):
    short, long_ = _peak_traced_bytes(tmp_path, 16), _peak_traced_bytes(tmp_path, 48)
    frame = 256 * 256 * 3
    # 32 more frames: holding them would add 6.3 MB of uint8 frames (8.4 MB of float32 probabilities)
    assert long_ - short < 1.5e6
    assert long_ < 48 * frame


def test_resume_and_cancel(project):
    model = (LastFrameProbe(3), {})
    token = CancelToken()

    def progress(done, total, msg):
        if done >= 4:
            token.cancel()

    with pytest.raises(Cancelled):
        predict_video(project, "v", model, device="cpu", batch_size=4, progress=progress, cancel=token)
    v = project.video("v")
    assert v.predictions.frames().tolist() == [0, 1, 2, 3]  # the finished batch is committed
    assert predict_video(project, "v", model, device="cpu", batch_size=4) == 8
    assert predict_video(project, "v", model, device="cpu") == 0
    assert predict_video(project, "v", model, device="cpu", resume=False, frames=[5, 6]) == 2


def test_as_labels_writes_provenance_predicted_and_keeps_higher_ranks(project):
    v = project.video("v")
    painted = np.zeros((H, W), np.uint8)
    painted[:5] = 1
    v.set_mask(2, painted, "manual")
    v.set_mask(3, painted, "pseudo", quality=0.9)
    said = []
    progress = lambda done, total, message="": said.append(message)  # noqa: E731
    predict_video(
        project, "v", (LastFrameProbe(3), {}), device="cpu", frames=range(6), as_labels=True, progress=progress
    )
    # the last word: what was copied and what was not (`dvos predict --as-labels` printed only the frames predicted)
    assert said[-1] == "v: 4 of 6 predicted masks copied into labels; 2 kept their own mask (painted, corrected, " + (
        "pseudo or synthetic)"
    )
    v = project.video("v")
    codes = [PROVENANCE_NAMES[int(c)] for c in v.provenance]
    assert codes[:6] == ["predicted", "predicted", "manual", "pseudo", "predicted", "predicted"]
    assert codes[6:] == ["none"] * 6  # frames not asked for stay unlabelled
    assert np.array_equal(v.mask(2), painted) and np.array_equal(v.mask(3), painted)
    for t in (0, 1, 4, 5):
        assert np.array_equal(v.mask(t), v.predictions.get(t)[0])
    assert v.predictions.get(5)[1].dtype == np.float32  # the probabilities are kept alongside


def test_tiny_dvos_model_on_odd_sized_tiled_frames(tmp_path):
    p = Project.create(tmp_path / "t.dvos")
    rng = np.random.default_rng(0)
    p.add_video_array("odd", rng.integers(0, 255, (6, 70, 100, 3), dtype=np.uint8))
    model = build_model("tiny", "dvos").eval()
    n = predict_video(p, "odd", (model, {"input_size": 32}), device="cpu", batch_size=2, overlap=16)
    assert n == 6
    pm, prob = p.video("odd").predictions.get(5)
    assert prob.shape == (70, 100) and np.isfinite(prob).all() and set(np.unique(pm)) <= {0, 1}


def test_bad_checkpoints(tmp_path, project):
    missing = tmp_path / "missing.pt"
    with pytest.raises(CheckpointError, match="missing.pt"):
        predict_video(project, "v", str(missing), device="cpu")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="corrupt.pt"):
        predict_video(project, "v", str(corrupt), device="cpu")
    dvos_ckpt = save_checkpoint(tmp_path / "dvos.pt", build_model("tiny", "dvos"))
    with pytest.raises(ValueError, match="frame"):  # a DVOS checkpoint given as the image model
        predict_video(project, "v", str(dvos_ckpt), image_checkpoint=str(dvos_ckpt), device="cpu")
    assert project.video("v").predictions.frames().size == 0
    with pytest.raises(ValueError, match="tile size"):
        predict_video(project, "v", (LastFrameProbe(3), {}), device="cpu", tile_size=100)
    for tile in (0, -32):  # 0 was taken for "automatic" without a word
        with pytest.raises(ValueError, match=r"tile size must be a positive multiple of 32 \(or None: automatic\)"):
            predict_video(project, "v", (LastFrameProbe(3), {}), device="cpu", tile_size=tile)


def test_wrong_preset_and_bare_state_dict_checkpoints(tmp_path, project):
    from dvos_core.model import PRESETS

    good = save_checkpoint(tmp_path / "tiny.pt", build_model("tiny", "dvos"))
    payload = torch.load(good, weights_only=True)
    payload["config"] = PRESETS["small"].to_dict()  # tiny weights described as the small preset
    torch.save(payload, tmp_path / "wrong_preset.pt")
    with pytest.raises(CheckpointError, match="wrong_preset.pt.*do not fit"):
        predict_video(project, "v", str(tmp_path / "wrong_preset.pt"), device="cpu")
    torch.save(build_model("tiny", "dvos").state_dict(), tmp_path / "bare.pt")  # reference-code style file
    with pytest.raises(CheckpointError, match="bare.pt: not a dvos checkpoint"):
        predict_video(project, "v", str(tmp_path / "bare.pt"), device="cpu")
    v = project.video("v")
    assert v.predictions.arrays() is None and "prediction" not in v.attrs  # nothing written on failure


def test_bf16_autocast_only_where_cuda_supports_it(monkeypatch):
    import dvos_core.model.device as device_mod
    from dvos_core.infer import Predictor

    probe = LastFrameProbe(3)
    assert not Predictor(probe, {}, "cpu").amp
    monkeypatch.setattr(device_mod, "supports_bf16", lambda dev: dev.type == "cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a Predictor refuses a device the machine lacks
    assert Predictor(probe, {}, "cuda").amp and not Predictor(probe, {}, "cuda", amp=False).amp
    assert not Predictor(probe, {}, "cuda", precision="fp32").amp
    monkeypatch.setattr(device_mod, "supports_bf16", lambda dev: False)  # e.g. a pre-Ampere GPU
    assert not Predictor(probe, {}, "cuda").amp
    with pytest.raises(ValueError, match="precision 'bf16' needs native bfloat16.*use precision 'auto' or 'fp32'"):
        Predictor(probe, {}, "cuda", precision="bf16")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bf16_prediction_matches_cpu():
    model = build_model("tiny", "dvos").eval()
    frames = np.random.default_rng(0).integers(0, 255, (6, 64, 96, 3), dtype=np.uint8)
    cpu = predict_array((model, {}), frames, device="cpu")
    gpu = predict_array((model, {}), frames, device="cuda")
    assert np.abs(gpu - cpu).max() < 0.05  # bf16 rounding only


def test_checkpoint_file_round_trip_and_name_resolution(tmp_path, project):
    from dvos_core.infer import resolve_checkpoint_path

    d = project.model_dir("m1", create=True)
    save_checkpoint(d / "best.pt", build_model("tiny", "frame"))
    path = resolve_checkpoint_path(project, "m1")
    assert path == d / "best.pt"
    assert predict_video(project, "v", str(path), device="cpu", frames=[0, 1]) == 2
    assert project.video("v").predictions.models() == ["m1"]  # the default set name is the model's
    assert predict_video(project, "v", str(path), device="cpu", frames=[0], name="other") == 1
    assert project.video("v").predictions.models() == ["m1", "other"]
    assert prediction_name(str(path)) == "m1" and prediction_name(str(path), "other") == "other"
    assert prediction_name(tmp_path / "run3.pt") == "run3"
    # a copied model folder (dvos predict P ./imgcopy) named its set "best", as every other copy's
    assert prediction_name(tmp_path / "imgcopy" / "best.pt") == "imgcopy"
    assert prediction_name(tmp_path / "imgcopy" / "last.pt") == "imgcopy"
    with pytest.raises(FileNotFoundError, match="m1"):
        resolve_checkpoint_path(project, "nope")
