"""Small tests that catch plausible bugs in the prediction scales, pseudo-label quality, sliding windows and frame
caches (boundaries of the scale rule, averaging, flicker and uncertainty) that the other infer tests let through."""

import numpy as np
import pytest

from dvos_core.infer.scales import Scales


def test_the_trained_scale_joins_at_exactly_auto_max_zoom_and_not_at_same_scale():
    # "both where the trained scale is at most 0.6 of the frame's own" (docs/evaluation.md): 192 / 320 = 0.6
    assert Scales("auto", 192, 512).zooms(320, 400) == (1.0, 0.6)
    assert Scales("auto", 193, 512).zooms(320, 400) == (1.0,)  # 0.603: own alone
    # a trained scale 0.98 of the frame's own (SAME_SCALE) is the frame's own, even when both are asked for
    assert Scales("both", 98, 512).zooms(100, 100) == (1.0,)
    assert Scales("both", 97, 512).zooms(100, 100) == (1.0, 0.97)


def test_zoomed_shape_rounds_to_the_nearest_pixel():
    from dvos_core.infer.scales import shrink, zoomed_shape

    assert zoomed_shape(100, 15, 0.25) == (25, 4)  # 3.75 px -> 4, not 3
    assert zoomed_shape(3, 3, 0.1) == (1, 1)  # never below a pixel
    assert shrink(np.zeros((2, 100, 15, 3), np.uint8), 0.25).shape == (2, 25, 4, 3)


def test_shrinking_averages_the_pixels_it_merges():
    from dvos_core.infer.scales import shrink

    frame = np.zeros((8, 8, 3), np.uint8)
    frame[:, 3::4] = 200  # columns 0, 0, 0, 200: a quarter of them bright
    out = shrink(frame, 0.25)
    assert out.shape == (2, 2, 3) and np.abs(out.astype(int) - 50).max() <= 1
    maps = np.zeros((8, 8), np.float32)
    maps[3::4] = 1.0
    assert np.allclose(shrink(maps, 0.25, frames=False), 0.25)


def test_a_non_square_training_size_counts_by_its_longer_side():
    assert Scales.from_info({"input_size": [128, 256]}).size == 256
    assert Scales.from_info({"train_config": {"size": 96, "augment": {"eval_crop": 300}}}).eval_crop == 300


def test_tile_progress_counts_the_tiles_of_the_shrunk_frame():
    from dvos_core.infer.scales import reporters_by_scale

    seen = []
    tiles_of = lambda h, w: -(-h // 100) * -(-w // 100)  # noqa: E731  (100 px tiles)
    rep = reporters_by_scale(lambda j, n: seen.append((j, n)), (1.0, 0.5), 400, 400, tiles_of)
    rep[1.0](15, 16)  # the last of the own scale's 16 tiles
    rep[0.5](3, 4)  # the last of the 200 x 200 frame's 4 tiles
    assert seen == [(15, 20), (19, 20)]


class _Video:
    """What the pseudo-label finaliser touches of a video: masks written, qualities, provenance codes."""

    name = "v"

    def __init__(self, n=10):
        self.group = {"provenance": np.zeros(n, np.uint8)}
        self.quality = np.full(n, np.nan)
        self.written, self.cleared = {}, []

    def set_mask(self, t, mask, provenance, quality=None):
        self.written[t] = (mask, provenance)
        self.quality[t] = quality
        return True

    def set_quality(self, t, q):
        self.quality[t] = q

    def clear_mask(self, t):
        self.cleared.append(t)


def _rows(items, threshold=None, drop=False, video=None):
    from dvos_core.infer.pseudo import _Finaliser

    rows = []
    fin = _Finaliser(video or _Video(), threshold, drop, rows)
    for item in items:
        fin.push(item)
    fin.flush()
    return {r["frame"]: r for r in rows}


def test_pseudo_label_flicker_compares_only_frames_next_to_each_other():
    a = np.zeros((8, 8), np.uint8)
    a[2:4, 2:4] = 1  # 4 px
    b = np.zeros((8, 8), np.uint8)
    b[5:7, 5:7] = 1  # 4 px elsewhere: Dice (0 + 1) / (8 + 1)
    rows = _rows([(0, a, 0.0, "predict"), (5, b, 0.0, "predict"), (6, b, 0.0, "predict")])
    assert np.isnan(rows[0]["flicker"])  # frame 5 is no neighbour of frame 0
    assert rows[5]["flicker"] == pytest.approx(0.0) and rows[6]["flicker"] == pytest.approx(0.0)
    rows = _rows([(1, a, 0.0, "predict"), (2, b, 0.0, "predict")])
    assert rows[1]["flicker"] == pytest.approx(1 - 1 / 9) and rows[2]["flicker"] == pytest.approx(1 - 1 / 9)
    # quality (1 - uncertainty) * (1 - flicker)
    assert rows[1]["quality"] == pytest.approx(1 / 9)


def test_a_quality_exactly_at_the_threshold_is_not_below_it():
    a = np.zeros((8, 8), np.uint8)
    a[2:4, 2:4] = 1
    rows = _rows([(0, a, 0.5, "predict")], threshold=0.5, drop=True)  # no neighbour: quality 1 - 0.5 = 0.5
    assert rows[0]["quality"] == pytest.approx(0.5)
    assert not rows[0]["below_threshold"] and rows[0]["status"] == "written"
    rows = _rows([(0, a, 0.6, "predict")], threshold=0.5, drop=True)
    assert rows[0]["below_threshold"] and rows[0]["status"] == "dropped"


def test_dropping_a_poor_pseudo_label_never_clears_a_mask_painted_meanwhile():
    from dvos_core.store.schema import MANUAL, PSEUDO

    a = np.zeros((8, 8), np.uint8)
    video = _Video()
    video.group["provenance"][[0, 1]] = [MANUAL, PSEUDO]  # frame 0 painted since the run chose it
    rows = _rows([(0, a, 0.9, "predict"), (3, a, 0.9, "predict")], threshold=0.5, drop=True, video=video)
    assert rows[0]["status"] == rows[3]["status"] == "dropped"
    assert video.cleared == [3]  # the unlabelled frame's mask goes, the painted one stays


def test_flip_passes_go_through_every_flip_in_turn():
    from dvos_core.infer.engine import FLIPS
    from dvos_core.infer.pseudo import _passes
    from dvos_core.infer.window import FeatureCache

    class Flipper:  # a model without a stochastic path: the extra passes are flip test-time augmentation
        stochastic_capable = False

        def __init__(self):
            self.flips = []

        def predict_windows(self, frames, windows, features, stochastic=False, flip=None, **kw):
            self.flips.append(flip)
            return np.full((len(windows), 2, 2), len(self.flips), np.float32)

    p = Flipper()
    out = _passes(p, {0: None}, [0], FeatureCache(), 4)
    assert p.flips == [None, "h", "v", "hv"] == list(FLIPS)
    assert out.shape == (4, 1, 2, 2) and out[:, 0, 0, 0].tolist() == [1, 2, 3, 4]


def test_pseudo_label_targets_are_frames_of_the_video():
    from types import SimpleNamespace

    from dvos_core.infer.pseudo import _video_targets

    v = SimpleNamespace(n_frames=5)
    assert _video_targets(v, [7, 4, 0, 5, -1, 4]) == [0, 4]
    assert _video_targets(v, None) == [0, 1, 2, 3, 4]


def test_the_frame_window_holds_only_the_frames_asked_for():
    from dvos_core.infer.frame_window import FrameWindow

    reads = []

    def read(a, b):
        reads.append((a, b))
        return np.arange(a, b)[:, None] * np.ones((1, 2))

    w = FrameWindow(read)
    assert sorted(w.get([0, 1, 2])) == [0, 1, 2]
    got = w.get([2, 3, 4])
    assert sorted(got) == [2, 3, 4] and got[4][0] == 4 and reads == [(0, 3), (3, 5)]
