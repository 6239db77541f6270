"""Masks exported from a video added with other --start/--step than the video they are imported into: the export's
listing (masks.csv, a COCO file's dvos entries) says which source frame each mask came from, and the import places
them there (names carry the stored numbers of the video they were exported from: other footage frames)."""

import warnings

import numpy as np
import pytest
from conftest import write_video

from dvos_core.io import export_masks, import_masks, import_video
from dvos_core.store import Project

FRAMES = (0, 2, 3, 4)  # stored frames of the --start 2 --step 2 video: source frames 2, 6, 8, 10


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("footage") / "plot é 1.avi", 12, "MJPG")


def _mask(k: int, hw) -> np.ndarray:
    m = np.zeros(hw, np.uint8)
    m[5 + 3 * k : 20 + 3 * k, 10 + 5 * k : 30 + 5 * k] = 1
    return m


def _masked(video) -> dict:
    return {t: m for t in range(len(video)) if (m := video.mask(t)) is not None}


@pytest.fixture
def stepped(tmp_path, footage):
    """Project 'a' whose plot1 was added with --start 2 --step 2, masks on FRAMES (mask k on source frame k)."""
    project = Project.create(tmp_path / "a.dvos")
    video = import_video(project, footage, "plot1", start=2, step=2)
    for t in FRAMES:
        video.set_mask(t, _mask(2 + 2 * t, video.shape[1:3]), "manual")
    return project


@pytest.mark.parametrize("fmt", ["png", "coco"])
def test_masks_go_to_the_source_frame_the_export_lists(tmp_path, footage, stepped, fmt):
    """They went, with no warning, onto stored frames 0, 2, 3, 4 of a video of the same footage added with default
    settings (source frames 0, 2, 3, 4), while masks.csv said source frames 2, 6, 8, 10."""
    out = tmp_path / "out"
    paths = export_masks(stepped, "plot1", out, fmt=fmt)
    source = paths[0] if fmt == "coco" else out
    other = Project.create(tmp_path / "b.dvos")
    video = import_video(other, footage, "plot1")
    with pytest.warns(UserWarning, match=r"placed 4 mask\(s\) by the source frame .*0->2, 2->6, 3->8, 4->10"):
        assert sorted(import_masks(other, "plot1", source)) == [2, 6, 8, 10]
    masks = _masked(video)
    assert sorted(masks) == [2, 6, 8, 10]
    for s, m in masks.items():
        assert np.array_equal(m > 0, _mask(s, m.shape) > 0)
    # --numbering stored places them by the numbers in their names, as asked
    again = import_video(other, footage, "plot2")
    assert sorted(import_masks(other, "plot2", source, from_video="plot1", numbering="stored")) == list(FRAMES)
    # the same footage added again in one project, with --from-video
    copy = import_video(stepped, footage, "copy")
    with pytest.warns(UserWarning, match="placed 4 mask"):
        import_masks(stepped, "copy", source, from_video="plot1")
    assert sorted(_masked(copy)) == [2, 6, 8, 10]
    assert sorted(_masked(again)) == list(FRAMES)


@pytest.mark.parametrize("fmt", ["png", "coco"])
def test_a_source_frame_the_video_does_not_hold_is_refused(tmp_path, footage, stepped, fmt):
    """A mask of source frame 3 (exported from a default video) has no frame in a --start 2 --step 2 video: it was
    put on another footage frame; now the import is refused, naming it, and writes nothing."""
    project = Project.create(tmp_path / "b.dvos")
    video = import_video(project, footage, "plot1")
    for s in (2, 3, 6):
        video.set_mask(s, _mask(s, video.shape[1:3]), "manual")
    paths = export_masks(project, "plot1", tmp_path / "out", fmt=fmt)
    source = paths[0] if fmt == "coco" else tmp_path / "out"
    with pytest.raises(ValueError, match=r"plot1_000003\.png \(source frame 3\).*--start 2 --step 2"):
        import_masks(stepped, "plot1", source, overwrite=True)
    masks = _masked(stepped.video("plot1"))  # untouched
    assert sorted(masks) == list(FRAMES)
    assert all(np.array_equal(masks[t], _mask(2 + 2 * t, masks[t].shape)) for t in FRAMES)


def test_masks_imported_back_into_their_own_video_are_not_moved(tmp_path, stepped):
    """The common case, export and import into the same video: its numbers agree, nothing is said."""
    export_masks(stepped, "plot1", tmp_path / "out")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sorted(import_masks(stepped, "plot1", tmp_path / "out")) == list(FRAMES)
    # --numbering source reads the listed source frames, not the stored numbers in the names
    assert sorted(import_masks(stepped, "plot1", tmp_path / "out", numbering="source")) == list(FRAMES)
