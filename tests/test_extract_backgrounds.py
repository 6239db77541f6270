"""Background clips: consecutive source frames, from a file or a stored video; errors and cancel."""

import numpy as np
import pytest
from conftest import decode_frame_code

from dvos_core import Cancelled, CancelToken
from dvos_core.extract import extract_backgrounds
from dvos_core.io import Preprocess


def test_clips_from_file_are_consecutive_frames(tmp_project, video_mp4):
    clips = extract_backgrounds(tmp_project, str(video_mp4), clip_length=30, n_clips=3, start=5, stride=35)
    assert [c.name for c in clips] == ["field_plot_bg_000", "field_plot_bg_001", "field_plot_bg_002"]
    for c, s in zip(clips, (5, 40, 75)):
        assert c.attrs["start"] == s and c.attrs["source"] == str(video_mp4.resolve())
        assert [decode_frame_code(f) for f in c.read_frames()] == list(range(s, s + 30))
    more = extract_backgrounds(tmp_project, str(video_mp4), clip_length=30, n_clips=1)
    assert more[0].name == "field_plot_bg_003"  # existing ids are not reused


def test_clips_from_stored_video_with_preprocess(tmp_project, video_avi):
    from dvos_core.io import import_video

    import_video(tmp_project, video_avi, video_id="bare")
    clips = extract_backgrounds(tmp_project, "bare", clip_length=10, preprocess=Preprocess(crop=(64, 64)))
    assert len(clips) == 4 and clips[0].shape == (10, 64, 64, 3)
    stored = tmp_project.video("bare").read_frames(10, 20)
    assert np.array_equal(clips[1].read_frames(), stored[:, 16:80, 48:112])


def test_too_short_source(tmp_project, video_avi):
    with pytest.raises(ValueError, match="field_plot.avi.*fewer than one clip of 60"):
        extract_backgrounds(tmp_project, str(video_avi), clip_length=60)
    with pytest.raises(FileNotFoundError, match="nosuch"):
        extract_backgrounds(tmp_project, "nosuch")
    assert tmp_project.background_ids() == []


def test_cancel_removes_only_the_unfinished_clip(tmp_project, video_mp4):
    token = CancelToken()

    def progress(done, total, msg):
        if done >= 25:
            token.cancel()

    with pytest.raises(Cancelled):
        extract_backgrounds(tmp_project, str(video_mp4), clip_length=20, progress=progress, cancel=token)
    ids = tmp_project.background_ids()
    assert ids == ["field_plot_bg_000"] and len(tmp_project.background(ids[0])) == 20


def test_a_video_with_labelled_heads_is_said_to_teach_them_as_background(tmp_project):
    """Cutting clips from a training video with painted and pseudo-labelled heads went by without a word."""
    import warnings

    v = tmp_project.add_video_array("plot", np.zeros((6, 32, 32, 3), np.uint8), split="train")
    bare = tmp_project.add_video_array("bare", np.zeros((6, 32, 32, 3), np.uint8), split="train")
    mask = np.zeros((32, 32), np.uint8)
    mask[8:16, 8:16] = 1
    v.set_mask(1, mask, "manual")
    v.set_mask(2, mask, "pseudo")
    said = r"'plot' has heads labelled \(1 manual, 1 pseudo masks\).*--from-annotated; Python: backgrounds_from_annot"
    with pytest.warns(UserWarning, match=said):
        extract_backgrounds(tmp_project, "plot", clip_length=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(extract_backgrounds(tmp_project, bare.name, clip_length=3)) == 2


def test_clips_from_a_file_are_preprocessed_as_the_videos_were(tmp_project, video_mp4, video_avi):
    """Clips cut from a file without preprocessing kept its full resolution while the heads came from resized frames
    (pasted at another scale, without a word): they now take the videos' preprocessing, and other options warn."""
    import warnings

    from dvos_core.io import import_video

    pre = Preprocess(height=64, crop=(48, 48))
    import_video(tmp_project, video_avi, video_id="plot", preprocess=pre, split="train")
    clips = extract_backgrounds(tmp_project, str(video_mp4), clip_length=10, n_clips=1)
    assert clips[0].shape == (10, 48, 48, 3) and clips.from_videos and clips.preprocessing == pre
    with pytest.warns(UserWarning, match=r"videos \(plot\) were resized / cropped with --height 64 --crop 48 48"):
        clips = extract_backgrounds(tmp_project, str(video_mp4), clip_length=10, n_clips=1, preprocess=Preprocess())
    assert clips[0].shape[1:3] != (48, 48) and not clips.from_videos
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the videos' own options: nothing to say
        extract_backgrounds(tmp_project, str(video_mp4), clip_length=10, n_clips=1, start=10, preprocess=pre)
    import_video(tmp_project, video_avi, video_id="other", split="train")  # added as it is
    with pytest.warns(UserWarning, match=r"different preprocessing \(none: other; --height 64 --crop 48 48: plot\)"):
        clips = extract_backgrounds(tmp_project, str(video_mp4), clip_length=10, n_clips=1, start=20)
    assert clips[0].shape[1:3] != (48, 48)


def test_cli_says_the_clips_take_the_videos_preprocessing(tmp_project, video_mp4, video_avi, capsys):
    from dvos_core.cli import main
    from dvos_core.io import import_video

    import_video(tmp_project, video_avi, video_id="plot", preprocess=Preprocess(height=64, crop=(48, 48)))
    assert (
        main(["extract-backgrounds", str(tmp_project.path), str(video_mp4), "--clip-length", "10", "--clips", "1"]) == 0
    )
    assert "as the project's videos were when they were added (--height 64 --crop 48 48)" in capsys.readouterr().out
    assert tmp_project.background(tmp_project.background_ids()[0]).shape == (10, 48, 48, 3)
    assert (
        main(
            ["extract-backgrounds", str(tmp_project.path), str(video_mp4), "--clip-length", "10", "--clips", "1"]
            + ["--start", "10", "--no-preprocess"]
        )
        == 0
    )
    out = capsys.readouterr()
    assert "give --height 64 --crop 48 48" in out.err and "as the project's videos" not in out.out


def test_cli_says_how_the_clips_were_preprocessed_only_when_it_told_something(
    tmp_project, video_mp4, video_avi, capsys
):
    """The line "no preprocessing given: ... (--no-preprocess keeps the file's frames as they are)" came on every run:
    also a rerun that cut nothing (its clips were all cut before), and a file whose frames the videos' options leave
    as they are."""
    from dvos_core.cli import main
    from dvos_core.io import import_video

    import_video(tmp_project, video_avi, video_id="plot", preprocess=Preprocess(height=64, crop=(48, 48)))
    cut = ["extract-backgrounds", str(tmp_project.path), str(video_mp4), "--clip-length", "10", "--clips", "1"]
    assert main(cut) == 0
    said = capsys.readouterr().out
    assert "as the project's videos were when they were added (--height 64 --crop 48 48)" in said
    assert main(cut) == 0  # the same command again: the clip was cut before, nothing new to say about it
    out = capsys.readouterr().out
    assert "was cut before and kept" in out and "--no-preprocess" not in out and "resized" not in out
    assert f"the clips of {video_mp4} are resized / cropped from 96x160 to 48x48 pixels" in said

    tmp_project.delete_video("plot")
    import_video(tmp_project, video_avi, video_id="plot", preprocess=Preprocess(height=96))  # the file's own size
    assert main(cut + ["--start", "20"]) == 0
    out = capsys.readouterr().out
    assert "added 1 background clip" in out and "--no-preprocess" not in out and "resized" not in out
    assert tmp_project.background(tmp_project.background_ids()[-1]).shape == (10, 96, 160, 3)
