"""The Extract step's result names the frames repainted since they were cut (cut again) and those cut before dvos
recorded their masks, with the step's fix (run with xvfb-run)."""

from __future__ import annotations

import os

import pytest
from napari_helpers import dock

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


class _Table(list):
    def __init__(self, n, **attrs):
        super().__init__(range(n))
        self.attrs = attrs


def test_the_extract_step_says_which_frames_were_cut_again_after_a_repaint(make_napari_viewer, tmp_project):
    ext = dock(make_napari_viewer(), "Extract")
    ext.state.set_project(tmp_project)
    counts = {"heads": 3, "fakes": 6, "frames": 2, "too_small": 0}
    ext._extracted(_Table(9, **counts, skipped_frames=1, recut_frames=1, unfingerprinted_frames=0))
    text = ext.messages.text()
    assert "1 frame(s) repainted since they were extracted were cut again from their new masks" in text, text
    assert "1 frame(s) extracted before and not repainted since were skipped" in text, text
    ext._extracted(_Table(0, skipped_frames=3, recut_frames=0, unfingerprinted_frames=2))
    text = ext.messages.text()
    assert "no new objects: the 3 painted frame(s) were extracted before" in text, text
    assert "2 of the frames skipped were extracted before dvos recorded the masks they were cut from" in text
    assert "tick 'replace objects extracted before' (Advanced settings) to cut them from their masks" in text
    assert "--" not in text


def test_the_extract_step_names_the_frames_whose_objects_went_and_why(make_napari_viewer, tmp_project):
    """A run that only removed the objects of frames no longer a person's mask said "no new objects" and nothing of
    them (and elsewhere called every such frame "cleared"): it names each frame and why (cleared, or the model's
    mask it now holds)."""
    ext = dock(make_napari_viewer(), "Extract")
    ext.state.set_project(tmp_project)
    gone = [("plot", 9, "a pseudo-label"), ("plot", 3, "cleared")]
    ext._extracted(_Table(0, skipped_frames=2, recut_frames=0, withdrawn_frames=2, withdrawn=gone))
    text = " ".join(ext.messages.text().split())
    assert "the objects of 2 frame(s) removed, their masks no longer a person's" in text, text
    assert "'plot' frame 3 (cleared since), 'plot' frame 9 (now a pseudo-label)" in text, text
