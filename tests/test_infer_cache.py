"""The encoder feature cache: encode/decode halves equal the forward, each frame tile is encoded once, memory stays
bounded, results equal the plain path within 1e-5; batched prediction writes."""

from typing import ClassVar

import numpy as np
import pytest
import torch

import dvos_core.infer.predict as predict_mod
from dvos_core.infer import Predictor, predict_array, predict_video
from dvos_core.infer.window import FeatureCache
from dvos_core.model import build_model, to_model_input
from dvos_core.store import Project

torch.set_num_threads(1)


def _frames(n, h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (n, h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("kind", ["dvos", "frame"])
def test_encode_then_decode_equals_forward(kind):
    torch.manual_seed(0)
    model = build_model("tiny", kind).eval()
    n_win, tau = 3, model.tau or 1
    x = torch.randn(n_win * tau, 3, 64, 96)
    with torch.inference_mode():
        ref = model(x.reshape(n_win, tau, 3, 64, 96) if kind == "dvos" else x)
        feats = model.encode_frames(x)
        assert len(feats) == n_win * tau and len(feats[0]) == 6  # latent + 5 skips per frame
        out = model.decode_windows([feats[i * tau : (i + 1) * tau] for i in range(n_win)])
        mask_only = model.decode_windows([feats[i * tau : (i + 1) * tau] for i in range(n_win)], heads=("mask",))
    for key in ("mask", "frame"):
        assert torch.allclose(out[key], ref[key], atol=1e-6)
    assert set(mask_only) == {"mask"} and torch.allclose(mask_only["mask"], ref["mask"], atol=1e-6)
    with pytest.raises(ValueError, match="windows of"):
        model.decode_windows([feats[:2]])  # a window of the wrong length


def test_feature_split_keeps_state_dict_keys():
    model = build_model("tiny", "dvos")
    keys = list(model.state_dict())
    assert keys == list(build_model("tiny", "dvos").state_dict()) and not any("cache" in k for k in keys)
    assert "decoder.skip_fuse.4.spatial.4.weight" in keys and "heads.frame.conv.weight" in keys


class RecordingFeatures(FeatureCache):
    made: ClassVar[list] = []

    def __init__(self):
        super().__init__()
        RecordingFeatures.made.append(self)


@pytest.fixture()
def recording(monkeypatch):
    RecordingFeatures.made = []
    monkeypatch.setattr(predict_mod, "FeatureCache", RecordingFeatures)
    return RecordingFeatures.made


def test_each_frame_encoded_once_and_results_equal_the_plain_path(recording):
    torch.manual_seed(0)
    model, image = build_model("tiny", "dvos").eval(), build_model("tiny", "frame").eval()
    frames = _frames(14, 64, 96)
    kw = {"device": "cpu", "batch_size": 3, "tile_size": 128}
    plain = predict_array((model, {}), frames, image_model=(image, {}), optimize=False, **kw)
    cached = predict_array((model, {}), frames, image_model=(image, {}), **kw)
    assert np.abs(plain - cached).max() < 1e-5
    assert [c.encoded for c in recording[:2]] == [0, 0]  # the plain run encodes window by window, uncached
    video, image_cache = recording[2:4]  # the optimised run's caches for the DVOS and the image model
    assert video.encoded == 13  # frames 0 .. 12 (13 feeds no window); uncached: 10 targets x 4 = 40 encodings
    assert image_cache.encoded == 4  # the image model's frames 0 .. 3
    assert video.max_resident <= 4 + 3 - 1


def test_tiled_frames_hold_one_tile_and_match_the_plain_path(recording):
    torch.manual_seed(1)
    model = build_model("tiny", "dvos").eval()
    frames = _frames(20, 70, 100, seed=1)  # padded to 96 x 128: 2 x 3 tiles of 64 with overlap 16
    kw = {"device": "cpu", "batch_size": 2, "tile_size": 64, "overlap": 16}
    plain = predict_array((model, {}), frames, optimize=False, **kw)
    cached = predict_array((model, {}), frames, **kw)
    assert np.abs(plain - cached).max() < 1e-5
    cache = next(c for c in recording if c.encoded)
    assert cache.max_resident <= 4 + 2 - 1  # one tile's features at a time, whatever the number of tiles
    assert len(Predictor(model, {}, "cpu", tile_size=64, overlap=16).tiles(70, 100)[2]) == 6
    # chunks of 4 * tau = 16 targets, tile by tile: targets 0-15 need frames 0-14 and targets 16-19 frames 12-18,
    # so the 3 frames shared by both chunks are encoded twice (per tile), every other frame once
    assert cache.encoded == 6 * (15 + 7)


def test_feature_cache_evicts_and_owns_its_tensors():
    cache = FeatureCache()
    calls = []

    def encode(keys):
        calls.append(list(keys))
        batch = torch.zeros(len(keys), 4, 8, 8)
        return [(batch[i], batch[i, :2]) for i in range(len(keys))]

    a = cache.get([1, 2, 3], encode)
    assert calls == [[1, 2, 3]] and a[0][0].untyped_storage().nbytes() == 4 * 8 * 8 * 4  # copied out of the batch
    b = cache.get([3, 4, 3], encode)
    assert calls[-1] == [4] and b[0] is b[2] and set(cache.items) == {3, 4}
    assert cache.encoded == 4 and cache.max_resident == 3
    with pytest.raises(ValueError, match="returned 0 features"):
        cache.get([9], lambda keys: [])


def test_stochastic_passes_reuse_features_and_flips_do_not():
    torch.manual_seed(0)
    model = build_model("tiny", "frame").eval()
    frames = dict(enumerate(_frames(3, 64, 64)))
    windows = [[0], [1], [2]]
    p = Predictor(model, {}, "cpu")
    features = FeatureCache()
    det = p.predict_windows(frames, windows, features)
    assert features.encoded == 3
    sto = p.predict_windows(frames, windows, features, stochastic=True)
    assert features.encoded == 3 and np.allclose(det, sto, atol=1e-6)  # a frame model has no stochastic path
    flipped = p.predict_windows(frames, windows, features, flip="h")
    assert features.encoded == 6 and flipped.shape == det.shape


def test_set_predictions_writes_a_batch_then_commits(tmp_path):
    p = Project.create(tmp_path / "w.dvos")
    v = p.add_video_array("v", _frames(8, 20, 24))
    probs = np.random.default_rng(2).random((4, 20, 24)).astype(np.float32)
    v.predictions.latest().set_many([1, 2, 3, 6], probs, threshold=0.4)
    assert v.predictions.frames().tolist() == [1, 2, 3, 6]
    mask, prob = v.predictions.get(6)
    assert np.allclose(prob, probs[3], atol=1e-3) and np.array_equal(mask, (probs[3] >= 0.4).astype(np.uint8))
    with pytest.raises(ValueError, match="shape"):
        v.predictions.latest().set_many([0], probs)
    with pytest.raises(IndexError, match="out of range"):
        v.predictions.latest().set_many([7, 8], probs[:2])
    assert v.predictions.frames().tolist() == [1, 2, 3, 6]  # nothing written by the failed calls


def test_predict_video_optimized_matches_plain(tmp_path):
    p = Project.create(tmp_path / "v.dvos")
    p.add_video_array("v", _frames(9, 64, 64, seed=3))
    torch.manual_seed(2)
    model = (build_model("tiny", "dvos").eval(), {})
    predict_video(p, "v", model, device="cpu", batch_size=2, optimize=False)
    plain = np.stack([p.video("v").predictions.get(t)[1] for t in range(9)])
    predict_video(p, "v", model, device="cpu", batch_size=2, resume=False, threads=1)
    fast = np.stack([p.video("v").predictions.get(t)[1] for t in range(9)])
    assert np.abs(plain - fast).max() < 1e-3  # float16 storage; the float32 maps agree within 1e-5 (above)


def test_large_cpu_tiles_are_encoded_one_at_a_time_with_the_same_features(monkeypatch):
    from dvos_core.infer import engine

    torch.manual_seed(2)
    model = build_model("tiny", "dvos").eval()
    predictor = engine.Predictor(model, {}, "cpu", tile_size=128)
    tiles = list(_frames(3, 128, 128))
    batched = model.encode_frames(to_model_input(torch.from_numpy(np.stack(tiles))))
    sizes = []
    encode = predictor.net.encode_frames
    monkeypatch.setattr(predictor.net, "encode_frames", lambda t: sizes.append(len(t)) or encode(t))
    one_by_one = predictor._encode(tiles)
    assert sizes == [1, 1, 1]  # the first step of a video (tau frames) needs no more memory than the next ones
    assert all(torch.allclose(a, b, atol=1e-5) for fa, fb in zip(one_by_one, batched) for a, b in zip(fa, fb))
    monkeypatch.setattr(engine, "SINGLE_TILE_PIXELS", 256 * 256)  # smaller tiles: one batch
    sizes.clear()
    predictor._encode(tiles)
    assert sizes == [3]


def test_feature_cache_copies_new_features_into_a_dropped_frames_tensors():
    cache = FeatureCache()

    def encode(keys):  # per key: two maps whose values name the key; key 9 has another shape
        shape = (2, 5, 5) if keys[0] != 9 else (2, 4, 4)
        with torch.inference_mode():
            return [(torch.full(shape, float(k)), torch.full((3, 2, 2), -float(k))) for k in keys]

    first = cache.get([0, 1], encode)
    places = [t.data_ptr() for t in first[0]]
    second = cache.get([1, 2], encode)  # 0 dropped: 2 lands in 0's tensors, with 2's values
    assert [t.data_ptr() for t in second[1]] == places
    assert torch.equal(second[1][0], torch.full((2, 5, 5), 2.0)) and torch.equal(
        second[1][1], torch.full((3, 2, 2), -2.0)
    )
    assert torch.equal(second[0][0], torch.full((2, 5, 5), 1.0))  # 1 kept as it was
    third = cache.get([2, 9], encode)  # 1 dropped, but 9 is laid out otherwise: its own tensors
    assert torch.equal(third[1][0], torch.full((2, 4, 4), 9.0)) and third[1][0].data_ptr() not in places
    assert cache.encoded == 4 and cache.max_resident == 2
    other = FeatureCache()  # features that are not all tensors are held as they are
    assert other.get([0], lambda keys: [("meta", torch.ones(2))])[0][0] == "meta"
    assert other.get([1], lambda keys: [("meta", torch.zeros(2))])[0][1].sum() == 0
    # tensors after such a set was dropped get their own storage
    assert torch.equal(other.get([2], lambda keys: [(torch.ones(3),)])[0][0], torch.ones(3))


def test_cpu_decodes_large_tiles_one_window_at_a_time(monkeypatch):
    """On a CPU the windows of a tile of at least SINGLE_TILE_PIXELS are decoded one at a time (a batch only adds
    memory there), smaller tiles together; either way the probabilities are those of the plain path."""
    import dvos_core.infer.engine as engine

    torch.manual_seed(0)
    model = build_model("tiny", "dvos").eval()
    frames = _frames(7, 64, 64, seed=3)
    windows = [list(range(t - 4, t)) for t in range(4, 7)]
    sizes = []
    decode = Predictor._decode

    def counting(self, wins, stochastic):
        sizes.append(len(wins))
        return decode(self, wins, stochastic)

    monkeypatch.setattr(Predictor, "_decode", counting)
    plain = Predictor(model, optimize=False).predict(np.stack([frames[w] for w in windows]))
    held = {i: frames[i] for i in range(7)}
    together = Predictor(model).predict_windows(held, windows, batch_size=4)
    assert sizes == [3]  # 64^2 tiles: below the threshold
    sizes.clear()
    monkeypatch.setattr(engine, "SINGLE_TILE_PIXELS", 64 * 64)
    apart = Predictor(model).predict_windows(held, windows, batch_size=4)
    assert sizes == [1, 1, 1]
    assert Predictor(model).at_once(64 * 64, 3) == 1 and Predictor(model).at_once(32 * 64, 3) == 3
    np.testing.assert_allclose(apart, together, atol=1e-5)  # kernels may round differently per batch size
    np.testing.assert_allclose(apart, plain, atol=1e-5)
