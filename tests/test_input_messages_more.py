"""Messages on odd input name the fix, and a folder of two recordings is said: found by a tester bringing videos as
users do."""

import warnings

import cv2
import numpy as np
import pytest
import tifffile

from dvos_core.io import import_video, open_video
from dvos_core.store import Project


def test_a_corrupt_image_and_a_float_frame_with_nan_name_the_fix(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for t in range(3):
        cv2.imwrite(str(frames / f"f_{t}.png"), np.full((8, 8, 3), 40 * t, np.uint8))
    (frames / "f_1.png").write_bytes((frames / "f_1.png").read_bytes()[:40])  # cut in half
    with pytest.raises(ValueError, match=r"f_1\.png: cannot decode this image .*copy it again.*move it out of"):
        reader = open_video(frames)
        [reader[t] for t in range(len(reader))]
    a = np.full((2, 8, 8), 0.5, np.float32)
    a[1, 0, 0] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", a)
    with pytest.raises(ValueError, match=r"NaN or infinite values .*numpy\.nan_to_num"):
        import_video(Project.create(tmp_path / "p.dvos"), tmp_path / "nan.tif")


def test_two_numbered_recordings_in_one_folder_are_said_to_be_joined(tmp_path):
    """left_1..2 and right_1..2 became one 4-frame video without a word (repeated numbers skip the numbering)."""
    frames = tmp_path / "frames"
    frames.mkdir()
    for side in ("left", "right"):
        for t in (1, 2):
            cv2.imwrite(str(frames / f"{side}_{t}.png"), np.zeros((8, 8, 3), np.uint8))
    p = Project.create(tmp_path / "p.dvos")
    with pytest.warns(UserWarning, match=r"2 numbered sequences \(left_\* \(2 files\), right_\* \(2 files\)\)"):
        assert len(import_video(p, frames)) == 4
    one = tmp_path / "one"
    one.mkdir()
    for t in range(3):
        cv2.imwrite(str(one / f"f_{t}.png"), np.zeros((8, 8, 3), np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        import_video(p, one)


def test_the_command_line_says_a_repeated_warning_once(capsys):
    """A warning about the run's options, raised for every video from lines Python's filter tells apart, was printed
    more than once by `dvos predict`."""
    from dvos_core.cli._common import _plain_warnings

    with _plain_warnings("predict", debug=False):
        warnings.warn("passes=2 do not apply", UserWarning, stacklevel=1)
        warnings.warn("passes=2 do not apply", UserWarning, stacklevel=1)
        warnings.warn("another", UserWarning, stacklevel=1)
    err = capsys.readouterr().err
    assert err.count("dvos predict: warning: passes=2 do not apply") == 1 and "warning: another" in err
