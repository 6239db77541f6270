"""Heads under --min-area: extraction and synthesis that find none say why and name --min-area."""

import numpy as np
import pytest

from dvos_core.cli import main
from dvos_core.extract import extract_heads
from dvos_core.synth import SynthConfig, generate, preview


def _tiny_heads(tmp_project):
    rng = np.random.default_rng(0)
    v = tmp_project.add_video_array("v", rng.integers(0, 256, (2, 48, 64, 3), dtype=np.uint8))
    m = np.zeros((48, 64), np.uint8)
    m[5:10, 5:11] = 1  # 30 px
    m[30:34, 40:44] = 1  # 16 px
    v.set_mask(0, m, "manual")
    return v


def test_extraction_whose_every_blob_is_under_min_area_names_it(tmp_project, capsys):
    """Every painted blob under --min-area: 'skipped 2 blobs under 50 px', exit 0, and synthesis then said to paint
    frames and extract heads - which the user had done."""
    _tiny_heads(tmp_project)
    assert main(["extract-objects", str(tmp_project.path)]) == 0
    err = capsys.readouterr().err
    assert "all 2 blobs painted there are smaller than --min-area 50 px (the largest is 30 px)" in err
    assert "--min-area 30" in err
    cfg = SynthConfig(n_frames=2, height=32, width=32)
    for make in (lambda: generate(tmp_project, "s", 1, cfg, backend="serial"), lambda: preview(tmp_project, cfg)):
        with pytest.raises(
            ValueError,
            match=r"no real heads.*all under the --min-area of `dvos extract-objects` \(50 px by default; the "
            r"largest is 30 px\).*--min-area 30",
        ):
            make()
    assert extract_heads(tmp_project, min_area=30).attrs["heads"] == 1  # the advice works


def test_synthesis_without_extraction_says_to_extract_the_painted_frames(tmp_project):
    v = _tiny_heads(tmp_project)
    m = np.zeros((48, 64), np.uint8)
    m[10:30, 10:30] = 1
    v.set_mask(1, m, "manual")
    with pytest.raises(ValueError, match=r"extract heads from the 2 painted frame\(s\) of training videos first"):
        generate(tmp_project, "s", 1, SynthConfig(n_frames=2, height=32, width=32), backend="serial")
