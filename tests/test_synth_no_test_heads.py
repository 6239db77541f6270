"""Heads cut from a video that is (now) a test video never reach synthetic training clips: its masks are the ground
truth it is scored against. The bank can hold such heads (cut by an older dvos, or before the video became a test
video); making the video a test video says so, and synthesis leaves them out and says so."""

import numpy as np
import pytest

from dvos_core.extract import extract_heads
from dvos_core.store import Project
from dvos_core.synth.bank import check_training_objects, synthesis_objects


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    rng = np.random.default_rng(0)
    m = np.zeros((48, 48), np.uint8)
    m[10:20, 10:20] = m[30:40, 28:40] = 1
    for vid in ("plot1", "plot2"):
        v = p.add_video_array(vid, rng.integers(60, 200, (3, 48, 48, 3), dtype=np.uint8), split="train")
        for t in range(3):
            v.set_mask(t, m, "manual")
    extract_heads(p, min_area=5, fakes_per_head=1)
    return p


def test_a_video_made_a_test_video_after_extraction_keeps_its_heads_out_of_synthesis(project):
    heads = len(synthesis_objects(project)[0])
    assert heads == project.objects.count("head") == 12
    with pytest.warns(UserWarning, match=r"objects were cut from the new test video\(s\) plot2 \(6 heads, \d+ fakes\)"):
        project.set_split("plot2", "test")
    with pytest.warns(UserWarning, match=r"6 heads of the object bank were cut from test video\(s\) plot2"):
        check_training_objects(project)
    kept = synthesis_objects(project)[0]
    assert len(kept) == 6
    recs = [r for _, r in project.objects.load("head")]
    assert sum(r["video"] == "plot1" for r in recs) == 6


def test_a_synthetic_set_made_from_a_video_made_a_test_video_later_is_named(project, tmp_path):
    """A set built from a video's heads kept feeding every training after the video became a test video (its only
    warning was about future synthesis): the set records the videos its heads came from, and dvos split and
    training name it."""
    from dvos_core.data.clips import split_samples
    from dvos_core.synth import SynthConfig, generate

    bg = project.create_background("field", 64, 64)
    bg.append_frames(np.full((4, 64, 64, 3), 90, np.uint8))
    s = generate(project, "syn", 2, SynthConfig(n_frames=2, height=48, width=48, n_heads=(1, 2)), backend="serial")
    assert s.attrs["inputs"]["head_videos"] == ["plot1", "plot2"]
    with pytest.warns(UserWarning, match=r"synthetic set\(s\) syn \(heads of plot2\) were made with heads cut from"):
        project.set_split("plot2", "test")
    with pytest.warns(UserWarning, match=r"syn \(heads of plot2\).*training on them learns the test ground truth"):
        split_samples(project, 0, 1, "image", video_ids=[], val_fraction=0)
