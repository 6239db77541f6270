"""Ground truth whose every head is under evaluate's --min-area: no head counted, and the count columns meaningless,
in silence; now a warning names --min-area and the largest head."""

import warnings

import numpy as np
import pytest

from dvos_core.cli import main as dvos
from dvos_core.evaluate import compare_models, evaluate
from dvos_core.store import Project


def _project(tmp_path, side: int) -> Project:
    p = Project.create(tmp_path / "field.dvos")
    masks = np.zeros((3, 24, 24), np.uint8)
    masks[:, 4 : 4 + side, 4 : 4 + side] = 1  # side 3: 9 px, under the default 16
    masks[:, 15:17, 15:17] = 1  # 4 px
    v = p.add_video_array("v", np.zeros((3, 24, 24, 3), np.uint8), split="test")
    for t in range(3):
        v.set_mask(t, masks[t], "manual")
    v.predictions["m"].start({"kind": "test"}, None)
    v.predictions["m"].set_many(range(3), masks.astype(np.float32))
    return p


def test_ground_truth_heads_all_under_min_area_are_warned_about_once(tmp_path, capsys):
    p = _project(tmp_path, 3)
    assert dvos(["evaluate", str(p.path), "--no-plots"]) == 0
    err = capsys.readouterr().err
    assert err.count("no head is counted") == 1
    assert "every part of them is smaller than --min-area 16 px (the largest is 9 px)" in err
    assert "--min-area 9`" in err
    with pytest.warns(UserWarning, match=r"smaller than --min-area 16 px \(the largest is 9 px\)"):
        compare_models(p, save=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert evaluate(p, save=False, min_area=9).frames["count_gt"].tolist() == [1, 1, 1]  # the advice works


def test_heads_of_min_area_and_more_are_not_warned_about(tmp_path):
    p = _project(tmp_path, 4)  # 16 px: counted, the 4-px speck is not
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert evaluate(p, save=False).frames["count_gt"].tolist() == [1, 1, 1]
        compare_models(p, save=False)


def test_the_panel_words_the_advice_as_a_terminal_command_not_the_extract_steps_setting():
    """The panel turned evaluate's --min-area into the Extract step's 'smallest head (px)', a setting the Review step
    does not have."""
    pytest.importorskip("napari")
    from dvos_core.evaluate.summary import UncountedTruth
    from dvos_napari._errors import plain_words

    watch = UncountedTruth(16)
    watch.largest = 9
    with pytest.warns(UserWarning) as caught:
        watch.warn("/p/field.dvos")
    said = plain_words(str(caught[0].message))
    assert "smallest head (px)" not in said and "smaller than 16 px (the smallest head counted)" in said, said
    assert "`dvos evaluate /p/field.dvos --min-area 9` in a terminal" in said, said


def test_the_advice_keeps_the_options_that_chose_what_was_scored(tmp_path, capsys):
    """The command named dropped --videos/--split/--model/--gt/--tolerance: run as written it scored other videos
    (or none: 'no videos with split test')."""
    import shlex

    p = _project(tmp_path, 3)
    p.set_split("v", "val")
    argv = ["evaluate", str(p.path), "--split", "val", "--model", "m", "--gt", "manual", "--tolerance", "1"]
    assert dvos([*argv, "--no-save"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    said = err.split("score again with a lower one (`")[1].split("`")[0]
    kept = "--split val --model m --gt manual --tolerance 1"
    assert said == f"dvos evaluate {shlex.quote(str(p.path))} {kept} --min-area 9"
    assert dvos([*shlex.split(said)[1:], "--no-save"]) == 0  # the advice, run as written, counts the heads
    assert "no head is counted" not in capsys.readouterr().err
