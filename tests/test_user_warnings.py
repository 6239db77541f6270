"""A warning raised inside dvos names the caller's line (a notebook cell, a script), not a line of dvos."""

import warnings

import cv2
import numpy as np

from dvos_core.evaluate.summary import warn_partial
from dvos_core.io.import_video import import_video
from dvos_core.user_warnings import warn_user


def test_a_warning_under_the_store_lock_decorator_points_at_the_caller(tmp_project, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for n in range(1, 4):
        cv2.imwrite(str(frames / f"{n:06d}.png"), np.full((8, 8, 3), 40 * n, np.uint8))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = _line() + 1
        import_video(tmp_project, frames, "plot")  # numbered 1..3: a warning, from a @writes_store function
    numbering = [w for w in caught if "numbered 1..3" in str(w.message)]
    assert numbering and (numbering[0].filename, numbering[0].lineno) == (__file__, line)


def test_a_warning_of_a_helper_called_by_dvos_points_past_every_dvos_frame():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = _line() + 1
        warn_partial("'m'", {"v": [1, 3]}, "p.dvos")
    assert len(caught) == 1 and (caught[0].filename, caught[0].lineno) == (__file__, line)
    assert "1 of 3 in video 'v'" in str(caught[0].message)


def test_the_category_is_kept():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_user("slow", RuntimeWarning)
    assert caught[0].category is RuntimeWarning and caught[0].filename == __file__


def _line() -> int:
    import inspect

    return inspect.currentframe().f_back.f_lineno


def test_under_the_dvos_command_a_warning_names_the_dvos_line_that_warns(tmp_path, capsys):
    """The command prints warnings without a place; with --debug Python's form names where dvos warned (the first
    frame outside dvos_core would be the entry script or runpy, which says nothing)."""
    from dvos_core.cli import main as dvos

    frames = tmp_path / "frames"
    frames.mkdir()
    for n in range(1, 4):
        cv2.imwrite(str(frames / f"{n:06d}.png"), np.full((8, 8, 3), 40 * n, np.uint8))
    assert dvos(["new", str(tmp_path / "p.dvos")]) == 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert dvos(["add-video", str(tmp_path / "p.dvos"), str(frames), "--debug"]) == 0
    numbering = [w for w in caught if "numbered 1..3" in str(w.message)]
    assert numbering and numbering[0].filename.endswith("import_video.py")
