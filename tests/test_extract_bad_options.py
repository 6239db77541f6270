"""extract-objects / extract-backgrounds: every bad option is refused up front, naming the option, and before
anything is deleted; --replace replaces only once the new objects or clips are made."""

import numpy as np
import pytest

from dvos_core import Cancelled, CancelToken
from dvos_core.cli import main
from dvos_core.extract import backgrounds_from_annotated, extract_backgrounds, extract_heads


def _painted(project, vid="v", n=4, split="train", full=()):
    """A 40x48 video of ``n`` noise frames, frames 0 and 2 painted with two small heads (``full``: painted whole)."""
    rng = np.random.default_rng(1)
    v = project.add_video_array(vid, rng.integers(0, 256, (n, 40, 48, 3), dtype=np.uint8), split=split)
    for t in (0, 2):
        m = np.zeros((40, 48), np.uint8)
        m[5:13, 5:13] = m[20:30, 25:35] = 1
        v.set_mask(t, m, "manual")
    for t in full:
        v.set_mask(t, np.ones((40, 48), np.uint8), "manual")
    return v


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert "unexpected error type" not in err, err
    return err


def test_replace_with_a_bad_option_keeps_the_bank(tmp_project, capsys):
    _painted(tmp_project)
    extract_heads(tmp_project, min_area=10, fakes_per_head=1)
    before = tmp_project.objects.table()
    p = ["extract-objects", str(tmp_project.path), "--replace", "--min-area", "10"]
    for bad, option in (
        (["--seed", "-1"], "--seed"),
        (["--max-area", "-1"], "--max-area"),
        (["--max-area", "5"], "--max-area 5 is below --min-area 10"),
        (["--halo-px", "-1"], "--halo-px"),
        (["--fakes-per-head", "-2"], "--fakes-per-head"),
        (["--frames", "999"], "999 of video 'v' (4 frames"),
        (["--frames", "-1"], "-1 of video 'v'"),
    ):
        assert main([*p, *bad]) == 2
        assert option in _err(capsys), bad
        assert tmp_project.objects.table().equals(before), bad  # nothing deleted


def test_replace_deletes_the_old_objects_only_once_the_new_ones_are_made(tmp_project):
    _painted(tmp_project)
    first = extract_heads(tmp_project, min_area=10, fakes_per_head=1)
    old_ids = set(first["id"])
    token = CancelToken()
    calls = []

    def progress(done, total, msg=""):
        calls.append(done)
        if done == 1:  # the first frame of the new extraction is in the bank: stop here
            token.cancel()

    with pytest.raises(Cancelled):
        extract_heads(tmp_project, min_area=10, fakes_per_head=1, replace=True, progress=progress, cancel=token)
    assert set(tmp_project.objects.table()["id"]) == old_ids  # the new objects went, the old ones stayed
    with pytest.raises(ValueError, match="--replace cut no heads.*kept; lower --min-area"):
        extract_heads(tmp_project, min_area=10_000, replace=True)
    assert set(tmp_project.objects.table()["id"]) == old_ids
    new = extract_heads(tmp_project, min_area=10, fakes_per_head=1, replace=True)
    table = tmp_project.objects.table()
    assert set(table["id"]) == set(new["id"]) and not old_ids & set(new["id"])  # ids are never reused
    assert len(table) == len(first)


def test_frames_out_of_range_name_each_video(tmp_project):
    _painted(tmp_project, "a", n=4)
    _painted(tmp_project, "b", n=8)
    with pytest.raises(ValueError, match=r"5 of video 'a' \(4 frames, 0\.\.3\)") as e:
        extract_heads(tmp_project, frames=[2, 5])
    assert "'b'" not in str(e.value) and "--videos" in str(e.value)
    with pytest.raises(ValueError, match="--frames out of range.*'a'"):
        backgrounds_from_annotated(tmp_project, frames=[5], clip_length=2, motion="none")
    assert tmp_project.background_ids() == [] and len(tmp_project.objects) == 0


def test_a_frame_painted_whole_is_skipped_with_a_warning(tmp_project, capsys):
    _painted(tmp_project, full=(1,))
    with pytest.warns(UserWarning, match="video 'v' frame 1 skipped.*grown by 6 px"):
        clips = backgrounds_from_annotated(tmp_project, clip_length=2, motion="none")
    assert sorted(c.attrs["frame"] for c in clips) == [0, 2]
    with pytest.raises(ValueError, match="'v' frame 1; lower --dilate.*--frames"):
        backgrounds_from_annotated(tmp_project, frames=[1], clip_length=2, motion="none")
    p = ["extract-backgrounds", str(tmp_project.path), "--from-annotated", "--clip-length", "2", "--motion", "none"]
    assert main([*p, "--dilate", "100000"]) == 2 and "--dilate must be at most 256" in _err(capsys)
    assert main([*p, "--dilate", "-2"]) == 2 and "--dilate must be >= 0" in _err(capsys)
    assert main([*p, "--seed", "-1"]) == 2 and "--seed must be >= 0" in _err(capsys)
    assert main([*p, "--frames", "9"]) == 2 and "9 of video 'v' (4 frames" in _err(capsys)
    assert main([*p, "--height", "0", "--crop", "10", "10"]) == 2 and "--height, --crop apply only" in _err(capsys)
    assert len(tmp_project.background_ids()) == 2


def test_replace_with_from_annotated_replaces_the_clips_of_those_frames(tmp_project):
    _painted(tmp_project)
    old = [c.name for c in backgrounds_from_annotated(tmp_project, clip_length=2, motion="none")]
    token = CancelToken()

    def progress(done, total, msg=""):
        if "heads inpainted" in msg and done > 3:  # the second new clip is under way: stop
            token.cancel()

    with pytest.raises(Cancelled):
        backgrounds_from_annotated(
            tmp_project, clip_length=2, motion="none", replace=True, progress=progress, cancel=token
        )
    assert tmp_project.background_ids() == old  # the new clip went, the old ones stayed
    new = backgrounds_from_annotated(tmp_project, frames=[2], clip_length=2, motion="none", replace=True)
    ids = tmp_project.background_ids()
    assert len(ids) == 2 and new[0].name in ids and old[0] in ids and old[1] not in ids


def test_bare_field_options_refuse_test_videos_and_negative_start(tmp_project, capsys):
    rng = np.random.default_rng(0)
    tmp_project.add_video_array("held_out", rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8), split="test")
    bare = tmp_project.add_video_array("bare", rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8), split="train")
    with pytest.raises(ValueError, match="'held_out' is a test video.*never feed training"):
        extract_backgrounds(tmp_project, "held_out", clip_length=2)
    with pytest.raises(ValueError, match="--start must be >= 0, got -5"):
        extract_backgrounds(tmp_project, bare.name, clip_length=2, start=-5)
    p = ["extract-backgrounds", str(tmp_project.path), "bare", "--clip-length", "2"]
    assert main([*p, "--seed", "3"]) == 2 and "--seed applies only to --from-annotated" in _err(capsys)
    assert tmp_project.background_ids() == []
    _painted(tmp_project, "painted_test", split="test")
    with pytest.raises(ValueError, match="no annotated frames"):  # the painted test video is left out
        backgrounds_from_annotated(tmp_project, clip_length=2, motion="none")
    with pytest.raises(ValueError, match="'painted_test' is a test video"):
        backgrounds_from_annotated(tmp_project, ["painted_test"], clip_length=2, motion="none")


def test_frames_in_memory_as_the_source_are_refused_naming_add_video_array(tmp_project):
    """An array (or anything but a video id or a path) failed deep inside with "expected str, bytes or os.PathLike
    object, not ndarray"."""
    frames = np.zeros((6, 16, 16, 3), np.uint8)
    with pytest.raises(
        TypeError,
        match=r"source must be a video id of .* or a video file's path, got ndarray; .*"
        r"add_video_array\('bare_field', frames\)\) and pass its id",
    ):
        extract_backgrounds(tmp_project, frames, clip_length=2)
    assert tmp_project.background_ids() == []


@pytest.mark.parametrize("replace", [False, True])
def test_a_read_only_project_is_refused_before_any_head_is_cut(tmp_project, monkeypatch, replace):
    """extract_heads on a project opened read-only cut every head first and only then said "opened read-only"."""
    import dvos_core.extract.heads as heads
    from dvos_core.store import Project, StoreError

    _painted(tmp_project)
    cut = []
    real = heads.frame_objects
    monkeypatch.setattr(heads, "frame_objects", lambda *a, **k: cut.append(1) or real(*a, **k))
    with pytest.raises(StoreError, match="opened read-only"):
        extract_heads(Project.open(tmp_project.path, mode="r"), min_area=10, fakes_per_head=1, replace=replace)
    assert cut == [] and len(tmp_project.objects) == 0
