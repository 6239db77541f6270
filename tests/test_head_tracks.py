"""Heads followed from frame to frame: the number of different heads under a moving camera, gaps, outputs."""

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from dvos_core.evaluate.head_tracks import link_heads, track_heads


@pytest.fixture(scope="module")
def nuclei():
    """stardist's nuclei image and its real annotation (fetched by tests/fetch_testdata.sh); skips when absent."""
    import tifffile

    root = Path(os.environ.get("DVOS_TESTDATA", ".cache/testdata"))
    if not (root / "nuclei_mask.tif").exists():
        pytest.skip(f"real annotated image absent: run tests/fetch_testdata.sh (looked in {root})")
    img = tifffile.imread(root / "nuclei_image.tif").astype(np.float32)
    grey = (255 * img / img.max()).astype(np.uint8)
    return np.repeat(grey[..., None], 3, -1), (tifffile.imread(root / "nuclei_mask.tif") > 0).astype(np.uint8)


def _filmed(image, mask, start, step, n, size=160):
    """A camera moving over the image by ``step`` px per frame: frames, masks and the true number of different
    parts (8-connected, in the whole image) seen with at least 16 px in at least 2 frames."""
    _, parts = cv2.connectedComponents(mask, connectivity=8)
    frames, masks, seen = [], [], {}
    for t in range(n):
        y, x = start[0] + step[0] * t, start[1] + step[1] * t
        frames.append(image[y : y + size, x : x + size])
        masks.append(mask[y : y + size, x : x + size])
        ids, counts = np.unique(parts[y : y + size, x : x + size], return_counts=True)
        for i in ids[(ids > 0) & (counts >= 16)]:
            seen[i] = seen.get(i, 0) + 1
    return frames, masks, sum(1 for v in seen.values() if v >= 2)


@pytest.mark.parametrize("start,step,n", [((20, 20), (3, 2), 20), ((340, 20), (-2, 5), 20), ((20, 340), (20, -17), 12)])
def test_different_heads_are_counted_once_under_a_moving_camera(nuclei, start, step, n):
    frames, masks, truth = _filmed(*nuclei, start, step, n)
    tracks = link_heads(zip(frames, masks), n)
    assert abs(tracks.n_heads - truth) <= 1  # a part cut in two by the frame's edge may count twice
    per_frame = tracks.per_frame()
    assert per_frame.sum() > 3 * tracks.n_heads  # what summing the per-frame counts would have said
    assert tracks.summary()["heads"] == tracks.n_heads and len(per_frame) == n


def test_a_head_missed_for_a_frame_keeps_its_track_within_max_gap():
    frames = [np.full((64, 64, 3), 90, np.uint8)] * 7
    masks = [np.zeros((64, 64), np.uint8) for _ in range(7)]
    for t, m in enumerate(masks):
        m[20:30, 10 + 2 * t : 20 + 2 * t] = 1  # one head drifting right
    masks[3] = None  # a frame without a mask: no evidence either way, not part of a gap
    masks[4][:] = 0  # a frame where it was missed: a gap of one
    still = lambda a, b: np.eye(2, 3)  # noqa: E731 - a still camera
    whole = link_heads(zip(frames, masks), 7, max_gap=1, align=still)
    assert whole.n_heads == 1 and list(whole.lengths().values()) == [5]
    split = link_heads(zip(frames, masks), 7, max_gap=0, align=still)
    assert split.n_heads == 2 and list(split.lengths().values()) == [3, 2]
    assert link_heads(zip(frames, masks), 7, max_gap=0, min_frames=3, align=still).n_heads == 1
    s = whole.summary()
    assert s["frames"] == 7 and s["frames_with_masks"] == 6 and s["heads_per_frame"] == round(5 / 6, 2)
    with pytest.raises(ValueError, match="min_overlap"):
        link_heads(zip(frames, masks), 7, min_overlap=0)


def test_painted_frames_far_apart_still_link_and_the_count_says_what_it_saw():
    """Stored masks on every fifth frame: the heads are carried across the frames without a mask."""
    from dvos_core.evaluate.head_tracks import describe_count

    frames = [np.full((48, 64, 3), 90, np.uint8)] * 15
    masks = [None] * 15
    for t in range(0, 15, 5):
        masks[t] = np.zeros((48, 64), np.uint8)
        masks[t][5:15, 5:15] = masks[t][30:40, 40:52] = 1
    still = lambda a, b: np.eye(2, 3)  # noqa: E731
    tracks = link_heads(zip(frames, masks), 15, align=still)
    assert tracks.n_heads == 2 and tracks.summary()["heads_per_frame"] == 2.0
    text = describe_count(tracks.summary())
    assert text.startswith("2 different heads in 15 frames") and "only 3 of the 15 frames have a mask" in text
    assert "predict the whole video and count its predictions" in text  # stored masks: predict the video
    partial = describe_count({**tracks.summary(), "masks": "predictions of 'context'"})
    assert "finish the prediction of the whole video" in partial  # predictions already: finish the set
    one = link_heads(zip(frames[:1], masks[:1]), 1, align=still)
    assert one.n_heads == 0 and "fewer than the 2 a head must be seen in" in describe_count(one.summary())


def test_a_thin_head_swaying_by_most_of_its_width_keeps_its_track():
    """A head 6 px wide moving 5 px sideways per frame shares 1 px column with its last place (IoU 0.09): the grown
    last place and the overlap over the smaller region keep it one track; without growing it breaks into many."""
    frames = [np.full((64, 96, 3), 90, np.uint8)] * 8
    masks = []
    for t in range(8):
        m = np.zeros((64, 96), np.uint8)
        x = 10 + 5 * t if t < 5 else 30 - 5 * (t - 4)  # out and back, as in a gust
        m[20:40, x : x + 6] = 1
        masks.append(m)
    still = lambda a, b: np.eye(2, 3)  # noqa: E731
    kept = link_heads(zip(frames, masks), 8, align=still)
    assert kept.n_heads == 1 and list(kept.lengths().values()) == [8]
    assert len(link_heads(zip(frames, masks), 8, align=still, grow_px=0, min_overlap=0.5).lengths()) > 4


def test_a_speck_beside_a_large_head_does_not_take_its_track():
    """A speck lying wholly inside a large head's carried place matched it fully (1.0 over the smaller part) and took
    its track from the head's own continuation (just under 1): the count went up and the track jumped 130 px."""
    frame = np.zeros((160, 160, 3), np.uint8)
    masks = []
    for t in range(4):
        m = np.zeros((160, 160), np.uint8)
        m[10:100, 10 + 3 * t : 110 + 3 * t] = 1
        masks.append(m)
    masks[0][100:110, 10:110] = 1  # frame 0: the head reaches 10 px lower
    masks[1][103:109, 50:56] = 1  # frame 1 only: a 36 px speck below it
    tracks = link_heads(((frame, m) for m in masks), 4, align=lambda a, b: np.float32([[1, 0, 0], [0, 1, 0]]))
    assert tracks.n_heads == 1
    big = [r for r in tracks.rows if r[4] > 1000]
    assert len({r[0] for r in big}) == 1 and len(big) == 4  # the head keeps one track over the four frames


def test_tracks_from_the_store_and_the_command_line(tmp_project, tmp_path, capsys):
    from dvos_core.cli import main

    frames = np.full((5, 48, 64, 3), 90, np.uint8)
    video = tmp_project.add_video_array("plot", frames)
    m = np.zeros((48, 64), np.uint8)
    m[5:15, 5:15] = m[30:40, 40:52] = 1
    for t in range(5):
        video.set_mask(t, m, "manual")
    tracks = track_heads(tmp_project, "plot")  # the stored masks by default, as `dvos count-heads`
    assert tracks.n_heads == 2 and tracks.settings["masks"] == "stored masks"
    with pytest.raises(ValueError, match="no predictions yet"):
        track_heads(tmp_project, "plot", which="predictions")
    from dvos_napari._tasks import count_heads  # the Predict step's job: no predictions yet -> the stored masks

    assert count_heads(tmp_project, "plot", model="image")["summary"]["masks"] == "stored masks"
    video.predictions["image"].start({"kind": "test"}, None)
    video.predictions["image"].set(2, m.astype(np.float32))
    # a set the video has: followed; one it lacks (reviewed elsewhere): its most recent set instead
    assert count_heads(tmp_project, "plot", model="image")["summary"]["masks"] == "predictions of 'image'"
    assert count_heads(tmp_project, "plot", model="other")["summary"]["masks"] == "predictions of 'image'"
    data = tracks.napari_tracks()
    assert data.shape == (10, 4) and list(data[:5, 1]) == [0, 1, 2, 3, 4]
    out = tmp_path / "t.csv"
    assert main(["count-heads", str(tmp_project.path), "plot", "--out", str(out)]) == 0
    assert "plot: 2 different heads in 5 frames (stored masks" in capsys.readouterr().out
    lines = out.read_text().splitlines()
    assert lines[0] == "track_id,frame,y,x,area" and len(lines) == 11 and lines[1] == "1,0,9.5,9.5,100"
    assert main(["count-heads", str(tmp_project.path), "plot", "--model", "x"]) == 2
    assert "add --predictions" in capsys.readouterr().err
    meta = (tmp_project.path / "zarr.json").read_bytes()  # the tracks never go into the project (its metadata)
    assert main(["count-heads", str(tmp_project.path), "plot", "--out", str(tmp_project.path / "zarr.json")]) == 2
    assert "lies inside the project folder" in capsys.readouterr().err
    assert (tmp_project.path / "zarr.json").read_bytes() == meta
    assert main(["count-heads", str(tmp_project.path), "plot", "--out", str(tmp_path)]) == 2
    assert "is a folder; give a file name" in capsys.readouterr().err
    few = tmp_project.add_video_array("painted", frames)
    for t in (0, 1):  # two painted frames of five
        few.set_mask(t, m, "manual")
    assert main(["count-heads", str(tmp_project.path), "painted"]) == 0
    assert "2 different heads in 5 frames" in (text := capsys.readouterr().out)
    assert "only 2 of the 5 frames have a mask, so heads that show only in the others are not counted" in text
    # a video whose every frame has a mask but fewer frames than --min-frames: the fix is the setting
    assert main(["count-heads", str(tmp_project.path), "plot", "--min-frames", "9"]) == 0
    text = capsys.readouterr().out
    assert "0 different heads" in text and "5 of the 5 frames have a mask, fewer than the 9" in text
    assert "lower --min-frames" in text and "predict the whole video" not in text
    assert main(["count-heads", str(tmp_project.path), "plot", "--grow-px", "100000"]) == 2  # was a MemoryError
    assert "grow_px must be at most 64" in capsys.readouterr().err


def test_a_wrong_call_names_the_call_link_heads_expects(tmp_project):
    """link_heads(masks, frames) failed with Python's bare "too many values to unpack"."""
    from dvos_core.store.schema import NotInStoreError

    frames, masks = np.zeros((4, 32, 32, 3), np.uint8), np.zeros((4, 32, 32), np.uint8)
    masks[:, 5:12, 5:12] = 1
    assert link_heads(zip(frames, masks), len(frames)).summary()["heads"] == 1  # the call the message gives
    expected = r"link_heads\(zip\(frames, masks\), len\(frames\)\)"
    with pytest.raises(TypeError, match=r"n_frames must be the number of \(frame, mask\) pairs.*" + expected):
        link_heads(masks, frames)
    with pytest.raises(TypeError, match=r"item 0 .* shape \(32, 32\), not a \(frame, mask\) pair.*" + expected):
        link_heads(masks, 4)
    with pytest.raises(ValueError, match=r"frame 0 is \(32, 32\) and its mask \(32, 32, 3\).*" + expected):
        link_heads(zip(masks, frames), 4)
    # docs/store.md: masks(frames) of a set that is not there names the sets the video has
    v = tmp_project.add_video_array("v", frames)
    with pytest.raises(NotInStoreError, match="has no predictions of 'nope'"):
        v.predictions["nope"].masks([0])
