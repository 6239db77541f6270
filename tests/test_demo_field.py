"""The procedural sample clips used by the demo and the sample data."""

import numpy as np

from dvos_core.demo.field import FieldSpec, render_field


def test_render_is_deterministic_and_masked():
    spec = FieldSpec(n_frames=4, height=64, width=96, n_heads=6)
    f1, m1 = render_field(spec, seed=3)
    f2, m2 = render_field(spec, seed=3)
    f3, _ = render_field(spec, seed=4)
    assert f1.shape == (4, 64, 96, 3) and f1.dtype == np.uint8 and m1.shape == (4, 64, 96)
    assert np.array_equal(f1, f2) and np.array_equal(m1, m2)
    assert not np.array_equal(f1, f3)
    assert set(np.unique(m1).tolist()) <= {0, 1}
    assert 0.01 < m1.mean() < 0.6
    # heads are brighter than the canopy on average: the mask marks real structure
    lum = f1.mean(-1)
    assert lum[m1 == 1].mean() > lum[m1 == 0].mean() + 20


def test_heads_move_smoothly_and_bare_field_has_none():
    spec = FieldSpec(n_frames=6, height=64, width=64, n_heads=6)
    _, m = render_field(spec, seed=1)
    change = [(m[t] != m[t + 1]).mean() for t in range(5)]
    assert 0 < max(change) < 0.2
    _, mb = render_field(FieldSpec(n_frames=3, height=64, width=64, heads=False), seed=1)
    assert mb.sum() == 0
