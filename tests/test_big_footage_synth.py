"""Matching the synthesis density on large frames: each coverage measurement renders clips (seconds each on
1080p-sized objects and banks), so progress names every head count measured, not only each end of the range."""

import numpy as np
from test_synth_density import BASE, discs, painted_project

from dvos_core.synth.density import match_density


def test_match_density_reports_each_count_it_measures(tmp_project):
    p = painted_project(tmp_project, [discs(14, 12, 2), discs(16, 12, 3)])
    seen = []
    m = match_density(p, base=BASE, progress=lambda d, t, msg: seen.append((d, t, msg)))
    counts = [(d, msg) for d, t, msg in seen if "heads per frame cover" in msg]
    assert len(counts) >= 3, seen  # every count rendered (the second end starts from the first's closest)
    for _d, msg in counts:
        assert msg.startswith("density, aiming at ") and msg.endswith(" %")
    first_end = seen.index(next(s for s in seen if s[2].startswith("density: heads per frame")))
    assert any("heads per frame cover" in s[2] for s in seen[:first_end])  # before the first end was reported
    assert [d for d, _, _ in seen] == sorted(d for d, _, _ in seen) and all(t == 3 for _, t, _ in seen)
    assert seen[-1] == (3, 3, "density matched") and m.config.n_heads[0] >= BASE.n_heads[0]
    assert np.isfinite(m.synthetic["low"])
