"""Heads painted as a label map (one number per head), as dvos reads them: touching heads are warned about, since the
store keeps one binary mask and they become one head."""

import warnings

import numpy as np
import pytest
from PIL import Image

from dvos_core.cli import main

H, W = 40, 48


@pytest.fixture
def video(tmp_project):
    rng = np.random.default_rng(0)
    return tmp_project.add_video_array("v", rng.integers(0, 256, (3, H, W, 3), dtype=np.uint8))


def _touching_labels() -> np.ndarray:
    lab = np.zeros((H, W), np.uint8)
    lab[5:15, 5:15], lab[5:15, 15:25] = 1, 2  # side by side: one shape
    lab[20:25, 5:10], lab[25:30, 10:15] = 3, 4  # corner to corner: one shape (8-connected), too
    lab[30:38, 30:40] = 5  # alone
    return lab


def test_touching_heads_of_a_label_map_are_warned_about_at_import(tmp_project, video, tmp_path, capsys):
    """Heads painted with different numbers that touch were stored as one shape and cut out as one head, in
    silence; the import now says so once, naming the frames, the heads that merge and the fix."""
    d = tmp_path / "labels"
    d.mkdir()
    Image.fromarray(_touching_labels()).save(d / "m_000001.png")
    apart = np.zeros((H, W), np.uint8)
    apart[5:15, 5:15], apart[5:15, 16:25] = 1, 2  # a gap of 1 px: two heads
    Image.fromarray(apart).save(d / "m_000002.png")
    assert main(["import-masks", str(tmp_project.path), "v", str(d), "--labels"]) == 0
    err = capsys.readouterr().err
    assert err.count("painted with different numbers touch") == 1
    assert "4 heads painted with different numbers touch in 1 frame(s) (frames 1; e.g. m_000001.png)" in err
    assert "as 2 head(s)" in err and "gap of background at least 1 px" in err and "--overwrite" in err
    assert np.array_equal(video.mask(1), (_touching_labels() > 0).astype(np.uint8))  # stored as before: binary


def test_set_mask_with_labels_warns_of_touching_heads_and_not_of_heads_apart(video):
    with pytest.warns(UserWarning, match=r"mask for v\[0\]: 4 heads painted with different numbers touch.*as 2 head"):
        video.set_mask(0, _touching_labels(), allow_labels=True)
    apart = np.zeros((H, W), np.uint16)
    apart[5:15, 5:15], apart[16:20, 16:25], apart[30:38, 30:40] = 1, 2, 1  # one number in two places: not touching
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        video.set_mask(1, apart, allow_labels=True)
        video.set_mask(2, (apart > 0) * 255, allow_labels=True)  # a binary mask: nothing to merge


def test_negative_mask_values_do_not_point_to_labels_which_refuse_them_too():
    """A mask of -1/0 was told to pass allow_labels=True, which refuses negative values as well."""
    from dvos_core.store.arrays import as_uint8_mask

    for dtype in (np.int8, np.int64):
        m = np.zeros((H, W), dtype)
        m[5:15, 5:15] = -1
        with pytest.raises(ValueError, match=r"negative values \(\[-1, 0\]\).*mask != 0") as e:
            as_uint8_mask(m, (H, W), "m.tif")
        assert "allow_labels" not in str(e.value) and "--labels" not in str(e.value)
        with pytest.raises(ValueError, match=r"whole numbers 0 and up"):
            as_uint8_mask(m, (H, W), "m.tif", allow_labels=True)


def test_a_label_map_with_a_head_numbered_255_is_not_called_soft_edges(tmp_project, video, tmp_path, capsys):
    """A uint8 label map whose head 255 is a quarter of the heads or more was read as a mask with soft edges and
    told to threshold at 128 - which deletes head 3; heads that are whole shapes of one value name --labels."""
    from dvos_core.store.arrays import as_uint8_mask

    lab = np.zeros((H, W), np.uint8)
    lab[0:30, 0:40], lab[32:37, 42:47] = 255, 3
    with pytest.raises(ValueError, match=r"For an instance label map pass allow_labels=True") as e:
        as_uint8_mask(lab, (H, W), "m.png")
    assert "mask >= 128" not in str(e.value)
    Image.fromarray(lab).save(tmp_path / "m_000000.png")
    assert main(["import-masks", str(tmp_project.path), "v", str(tmp_path / "m_000000.png")]) != 0
    assert "--labels" in capsys.readouterr().err
    assert main(["import-masks", str(tmp_project.path), "v", str(tmp_path / "m_000000.png"), "--labels"]) == 0
    assert video.mask(0).sum() == 30 * 40 + 25
    ring = np.zeros((H, W), np.uint8)  # a core of 255 hugged by one grey value: an edge, still
    ring[8:22, 8:22], ring[10:20, 10:20] = 128, 255
    with pytest.raises(ValueError, match=r"grey values between 0 and 255 .*mask >= 128"):
        as_uint8_mask(ring, (H, W), "r.png")
