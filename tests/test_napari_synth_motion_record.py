"""The Synthesize step's set records whether its motion was matched, and to which videos (``motion_matched_to``,
read by `dvos run-all`), as `dvos synth` and run-all do (run with xvfb-run): it recorded nothing."""

from __future__ import annotations

import os

import numpy as np
import pytest
from napari_helpers import dock, tiny_clip, wait_job

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


@pytest.fixture
def ready(tmp_project):
    """A panning training video with painted frames, its heads and 64x64 background clips."""
    from dvos_core.extract import extract_backgrounds, extract_heads

    big, gt = tiny_clip(8, size=160, seed=4)
    pan = np.ascontiguousarray(np.stack([big[t, 20:116, 5 + 4 * t : 101 + 4 * t] for t in range(8)]))
    masks = np.ascontiguousarray(np.stack([gt[t, 20:116, 5 + 4 * t : 101 + 4 * t] for t in range(8)]))
    v = tmp_project.add_video_array("plot", pan, split="train")
    for t in (1, 4, 7):
        v.set_mask(t, masks[t], "manual")
    extract_heads(tmp_project, min_area=5, fakes_per_head=1)
    extract_backgrounds(tmp_project, "plot", clip_length=4)
    return tmp_project


def test_the_set_records_the_videos_its_motion_was_matched_to(make_napari_viewer, qtbot, ready):
    syn = dock(make_napari_viewer(), "Synthesize")
    syn.state.set_project(ready)
    syn.n_clips.setValue(1)

    def made(name: str):
        syn.set_name.setText(name)
        wait_job(qtbot, syn.guard(syn.generate))
        return ready.synthetic(name).attrs

    syn.form.set_values({"height": 64, "width": 64, "n_frames": 2})
    assert made("plain")["motion_matched_to"] == []  # never matched, the engine's motion
    wait_job(qtbot, syn.guard(syn.match_motion))
    assert syn.config().camera_speed > 2.0
    assert made("matched")["motion_matched_to"] == ["plot"]
    syn.form.set_values({"camera_shake_px": syn.config().camera_shake_px + 1.0})  # edited after matching
    assert "motion_matched_to" not in made("edited")  # not known
    from dvos_core.motion.matching import MATCHED_FIELDS
    from dvos_core.synth import SynthConfig

    syn.form.set_values({k: getattr(SynthConfig(), k) for k in MATCHED_FIELDS})  # back to the engine's motion
    assert made("reset")["motion_matched_to"] == []
