"""Which mask wins, what is ground truth, and how masks are read: small hand-made cases that a plausible one-token
bug would change (written by hand-made mutation testing: each failed with such a bug and passes on the code)."""

import numpy as np
import pytest

from dvos_core.store.schema import PROVENANCE

RANKED = ["predicted", "pseudo", "synthetic", "manual"]  # docs/store.md: predicted 1 < pseudo 2 < synthetic 3 < 4


def _video(project, n=2, split="train"):
    return project.add_video_array("v", np.full((n, 6, 8, 3), 90, np.uint8), split=split)


@pytest.mark.parametrize("lower,higher", [(a, b) for i, a in enumerate(RANKED) for b in RANKED[i + 1 :]])
def test_a_lower_ranked_mask_never_replaces_a_higher_ranked_one(tmp_project, lower, higher):
    v = _video(tmp_project)
    first = np.zeros((6, 8), np.uint8)
    first[1:3, 1:3] = 1
    assert v.set_mask(0, first, higher)
    assert v.set_mask(0, np.ones((6, 8)), lower) is False
    assert np.array_equal(v.mask(0), first) and v.provenance[0] == PROVENANCE[higher]
    assert v.provenance_counts()[higher] == 1
    assert v.set_mask(1, first, lower) and v.set_mask(1, np.ones((6, 8)), higher)  # and the other way it does
    assert v.mask(1).all() and v.provenance_counts()[higher] == 2


def test_manual_and_corrected_replace_each_other(tmp_project):
    v = _video(tmp_project)
    a = np.zeros((6, 8), np.uint8)
    a[0, 0] = 1
    assert v.set_mask(0, a, "corrected") and v.set_mask(0, np.ones((6, 8)), "manual")
    assert v.mask(0).all() and v.provenance_counts()["manual"] == 1
    assert v.set_mask(0, a, "corrected") and v.provenance_counts()["corrected"] == 1


def test_labelled_frames_by_default_are_every_label_kind_but_predicted(tmp_project):
    v = _video(tmp_project, n=6)
    m = np.zeros((6, 8), np.uint8)
    m[2, 2] = 1
    for t, prov in enumerate(["manual", "pseudo", "corrected", "synthetic", "predicted"]):
        assert v.set_mask(t, m, prov)
    assert v.labelled_frames().tolist() == [0, 1, 2, 3]  # frame 5: no mask at all
    assert v.labelled_frames("predicted").tolist() == [4]


def test_one_provenance_code_alone_is_one_provenance(tmp_project):
    from dvos_core.store import PROVENANCE

    v = _video(tmp_project, n=3)
    v.set_mask(1, np.ones((6, 8)), "pseudo")
    v.set_mask(2, np.ones((6, 8)), "manual")
    assert v.labelled_frames(PROVENANCE["pseudo"]).tolist() == [1]
    assert v.labelled_frames(np.uint8(PROVENANCE["manual"])).tolist() == [2]
    assert v.clear_masks(PROVENANCE["pseudo"]) == 1 and v.labelled_frames().tolist() == [2]


def test_a_quality_score_of_exactly_zero_is_a_score(tmp_project):
    v = _video(tmp_project)
    v.set_mask(0, np.ones((6, 8)), "pseudo", quality=0.0)
    v.set_quality(1, 1.0)
    assert v.quality[:2].tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match=r"quality must be a number in \[0, 1\]"):
        v.set_quality(0, -0.01)


def test_a_missing_mask_chunk_is_found_when_reading_a_range_that_starts_later(tmp_project):
    """read_masks(start, stop) checks the chunks of the painted frames inside the range (not the frames at the same
    offsets from 0): frames 0 and 2 are painted, frame 2's mask file is gone."""
    from dvos_core.store.schema import DamagedStoreError

    v = _video(tmp_project, n=4)
    v.set_mask(0, np.ones((6, 8)), "manual")
    v.set_mask(2, np.ones((6, 8)), "manual")
    (tmp_project.path / "videos/v/masks/c/2/0/0").unlink()
    with pytest.raises(DamagedStoreError, match="frame 2"):
        v.read_masks(2, 4)  # not zeros: frame 2's painted mask is lost, not empty
    assert v.read_masks(0, 2)[0].all()


def test_the_counted_from_one_hint_is_given_only_for_masks_numbered_1_to_n():
    from dvos_core.io.masks import _from_one_note

    def items(numbers):
        return [(t, None, f"mask_{t}.png") for t in numbers]

    assert "--first-number 1" in _from_one_note(items(range(1, 6)), 5)  # 1..5 of a 5-frame video
    assert _from_one_note(items(range(6)), 5) == ""  # 0..5: frame 0 has a mask, so not counted from 1
    assert _from_one_note(items(range(1, 5)), 5) == ""  # 1..4: nothing past the end
