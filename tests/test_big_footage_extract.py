"""Extraction on crowded frames: the work per fake must not grow with the frame (a field frame holds hundreds of
heads, each with its fakes)."""

import numpy as np

from dvos_core.extract import extract_heads, make_fake_heads
from dvos_core.extract import fakes as fakes_mod


def _crowded(tmp_project, n_heads=40, size=(120, 160)):
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (1, *size, 3), dtype=np.uint8)
    v = tmp_project.add_video_array("crowd", frames)
    m = np.zeros(size, np.uint8)
    for i in range(n_heads):  # separate 4x5 heads on a grid
        y, x = 4 + 12 * (i // 12), 4 + 12 * (i % 12)
        m[y : y + 4, x : x + 5] = 1
    v.set_mask(0, m, "manual")
    return v, m


def test_heads_integral_is_made_once_per_frame_not_per_head(tmp_project, monkeypatch):
    _crowded(tmp_project)
    calls = []
    made = fakes_mod.heads_integral

    def counting(mask):
        calls.append(np.asarray(mask).shape)
        return made(mask)

    monkeypatch.setattr(fakes_mod, "heads_integral", counting)
    monkeypatch.setattr("dvos_core.extract.heads.heads_integral", counting)
    df = extract_heads(tmp_project, min_area=4, fakes_per_head=2, halo_px=0)
    assert df.attrs["heads"] == 40 and df.attrs["fakes"] == 80
    assert calls == [(120, 160)]  # one summed-area table for the frame's 40 heads (it was one per head)


def test_shared_integral_gives_the_same_fakes():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    heads = np.zeros((50, 70), bool)
    heads[5:30, 10:40] = True  # most of the frame is head: many tries overlap it
    sil = np.ones((6, 5), bool)
    alone, failed = make_fake_heads(frame, heads, sil, 6, np.random.default_rng(7), halo_px=2)
    shared, failed2 = make_fake_heads(
        frame, heads, sil, 6, np.random.default_rng(7), halo_px=2, integral=fakes_mod.heads_integral(heads)
    )
    assert failed == failed2 and len(alone) == len(shared) == 6
    for (a, ra), (b, rb) in zip(alone, shared):
        assert np.array_equal(a, b) and ra == rb
        assert ra["overlap"] < 0.1
    table = fakes_mod.heads_integral(heads)
    assert table[-1, -1] == heads.sum() and table[30, 40] - table[5, 40] - table[30, 10] + table[5, 10] == 25 * 30
