"""backgrounds_from_annotated with n_clips (--clips): only the frames it chooses are read and checked. It read
every painted mask twice and checked (and warned about) every frame before choosing: one clip of a project of
3240 painted frames took a minute and printed warnings about frames it never used."""

import re
import warnings

import numpy as np

from dvos_core.extract import backgrounds_from_annotated
from dvos_core.store.sequence import Video


def _videos(project, full=()):
    """Videos a, b, c of 4 noise frames, frames 0 and 2 painted with one small head (``full``: (video, frame) pairs
    painted whole, which leave no field to make a clip from)."""
    rng = np.random.default_rng(0)
    for vid in "abc":
        v = project.add_video_array(vid, rng.integers(0, 256, (4, 24, 24, 3), dtype=np.uint8), split="train")
        for t in (0, 2):
            m = np.ones((24, 24), np.uint8) if (vid, t) in full else np.zeros((24, 24), np.uint8)
            m[4:9, 4:9] = 1
            v.set_mask(t, m, "manual")


def _run(project, monkeypatch, **kw):
    """The clips made, the (video, frame) masks read (but for those of the frames that gave a clip before, read to
    tell whether they were repainted since), and dvos' warnings."""
    before = {(a["source"], a["frame"]) for a in project.inpainted_clips().values()}
    reads = []
    mask = Video.mask
    monkeypatch.setattr(Video, "mask", lambda self, t: reads.append((self.name, int(t))) or mask(self, t))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clips = backgrounds_from_annotated(project, clip_length=2, motion="none", **kw)
    monkeypatch.setattr(Video, "mask", mask)
    said = [str(w.message) for w in caught if str(project.path) in str(w.message)]
    return [(c.attrs["source"], c.attrs["frame"]) for c in clips], set(reads) - before, said


def test_clips_reads_only_the_frames_it_uses_and_warns_only_about_those_tried(tmp_project, monkeypatch):
    _videos(tmp_project, full={("b", 0), ("c", 2)})
    made, reads, said = _run(tmp_project, monkeypatch, n_clips=1)
    assert made == [("a", 0)] and reads == {("a", 0)}  # the first frame still to do
    assert said == []  # b 0 and c 2 leave no field, but were never tried
    # the 5 frames left: 2 spread evenly are a 2 and c 2; c 2 is skipped and gives its place to c 0, its neighbour
    made, reads, said = _run(tmp_project, monkeypatch, n_clips=2)
    assert made == [("a", 2), ("c", 0)] and reads == {("a", 2), ("c", 2), ("c", 0)}
    assert len(said) == 1 and "video 'c' frame 2 skipped" in said[0]
    # without --clips every frame left is tried, as before
    made, reads, said = _run(tmp_project, monkeypatch)
    assert made == [("b", 2)] and reads == {("b", 0), ("b", 2), ("c", 2)}
    assert sorted(re.search(r"video '(\w)' frame (\d) skipped", s).groups() for s in said) == [("b", "0"), ("c", "2")]
