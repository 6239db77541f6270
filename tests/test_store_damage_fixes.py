"""Damaged stores, second round: repairs that dvos names work on undecodable files too, one damaged part hides no
other in ``dvos check`` and ``dvos info``, and a note or a resumed run does not misreport what it met."""

import numpy as np
import pytest
import torch
from stub_models import BrightIsHead

from dvos_core.store import DamagedStoreError, Project

torch.set_num_threads(1)
HW = (16, 16)


def _frames(n, seed=0):
    return np.random.default_rng(seed).integers(1, 255, (n, *HW, 3), dtype=np.uint8)


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    for name, seed in (("v", 0), ("other", 1)):
        v = p.add_video_array(name, _frames(5, seed))
        v.set_mask(1, np.zeros(HW, np.uint8))
        v.set_mask(2, np.eye(16, dtype=np.uint8))
    s = p.video("v").predictions["m"]
    s.start({"kind": "image"}, "f")
    s.set_many(range(5), np.full((5, *HW), 0.8, np.float32))
    return p


def _truncate(path, size=20):
    with open(path, "r+b") as f:
        f.truncate(size)


def test_relabelling_makes_an_undecodable_quality_chunk_again(project):
    """A truncated quality chunk crashed relabelling with a bare blosc RuntimeError after every frame was predicted
    (only a missing chunk was made again); each score written into it is refused by name, and the relabelling run
    makes it again as unknown before it predicts, with a warning naming the frames."""
    from dvos_core.infer import pseudo_label

    chunk = project.path / "videos/v/quality/c/0"
    _truncate(chunk)
    v = project.video("v")
    with pytest.raises(DamagedStoreError, match="quality/c/0 is damaged"):
        v.set_quality(3, 0.5)
    with pytest.raises(DamagedStoreError, match="quality/c/0 is damaged"):
        v.set_mask(3, np.eye(16, dtype=np.uint8), "pseudo", quality=0.5)
    assert v.mask(3) is None
    with pytest.warns(UserWarning, match="quality scores of frames 0-4 were missing or could not be read"):
        df = pseudo_label(project, "v", (BrightIsHead(), {}), device="cpu", n_passes=1, overwrite=True)
    q = project.video("v").quality
    written = df["status"].to_numpy() == "written"
    assert written.any() and np.isfinite(q[written]).all()
    assert project.video("v").reset_missing_quality() == []
