"""Choosing what to score: ``--models all`` with other names is refused; the panel's words for "these videos were
last predicted by different models" name the Review step's controls, not command-line options."""

import numpy as np
import pytest

from dvos_core.cli import main as dvos
from dvos_core.evaluate import evaluate
from dvos_core.store import Project


@pytest.fixture
def two_models(tmp_path):
    p = Project.create(tmp_path / "field.dvos")
    masks = np.zeros((3, 16, 16), np.uint8)
    masks[:, 4:9, 4:9] = 1
    for vid, model in (("a", "first"), ("b", "second")):
        v = p.add_video_array(vid, np.zeros((3, 16, 16, 3), np.uint8), split="test")
        for t in range(3):
            v.set_mask(t, masks[t], "manual")
        v.predictions[model].start({"kind": "test"}, None)
        v.predictions[model].set_many(range(3), masks.astype(np.float32))
    return p


def test_all_with_other_model_names_is_refused(two_models, capsys):
    assert dvos(["evaluate", str(two_models.path), "--models", "all", "first", "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert "'all' means every model" in err and "--models all" in err
    assert dvos(["evaluate", str(two_models.path), "--models", "all"]) == 0  # alone it still compares them all


def test_the_panel_words_for_mixed_models_name_the_review_controls(two_models):
    pytest.importorskip("qtpy")
    from dvos_napari._errors import plain_words

    with pytest.raises(ValueError) as e:
        evaluate(two_models, save=False)
    text = plain_words(str(e.value))
    assert "a: first, b: second" in text
    assert "--model" not in text and "compare_models" not in text
    assert "'model:' list" in text and "Compare models" in text


def test_a_set_covering_fewer_ground_truth_frames_is_flagged(two_models, tmp_path):
    from dvos_core.evaluate import compare_models

    v = two_models.video("a")
    v.predictions["half"].start({"kind": "test"}, None)  # a predict stopped after one frame
    v.predictions["half"].set_many([0], np.ones((1, 16, 16), np.float32))
    with pytest.warns(
        UserWarning, match=r"'half' were scored on fewer ground-truth frames than there are \(1 of 3 in "
    ):
        cmp = compare_models(two_models, ["first", "half"], video_ids=["a"], save=False)
    assert cmp.info["partial"] == {"half": {"a": [1, 3]}}
    assert cmp.table.set_index("model").loc["half", "n_frames"] == 1


def test_a_model_with_no_predictions_in_one_of_the_videos_is_flagged(two_models):
    """Its row was scored on the other videos only, beside rows scored on all of them, without a word."""
    from dvos_core.evaluate import compare_models

    with pytest.warns(UserWarning, match=r"'first' were scored on fewer .* \(0 of 3 in video 'b'.*none in 'b'"):
        cmp = compare_models(two_models, ["first", "second"], video_ids=["a", "b"], save=False)
    assert cmp.info["partial"] == {"first": {"b": [0, 3]}, "second": {"a": [0, 3]}}


def test_a_negative_number_of_worst_frames_is_refused_before_anything_is_written(two_models, capsys):
    """`--worst -1` exited 0 and quietly wrote no overlays."""
    args = ["evaluate", str(two_models.path), "--model", "first", "--videos", "a", "--name", "neg"]
    assert dvos([*args, "--worst", "-1"]) == 2
    assert "--worst) must be 0 or more (0: no worst-frame overlays), got -1" in capsys.readouterr().err
    assert "neg" not in two_models.report_names()
    assert dvos([*args, "--worst", "0"]) == 0 and not (two_models.report_dir("neg") / "worst").exists()


def test_no_save_prints_the_scores_and_writes_nothing(two_models, capsys, monkeypatch):
    """A project one may only read (a colleague's, a read-only share) could not be scored: every evaluation wrote a
    report into it, under the writer lock."""
    from dvos_core.store.project import Project

    def refuse(*a, **k):
        raise AssertionError("a --no-save evaluation wrote into the project")

    monkeypatch.setattr(Project, "check_writable", refuse)
    monkeypatch.setattr("dvos_core.evaluate.report.write_report_folder", refuse)
    before = two_models.report_names()
    for chosen in (["--model", "first", "--videos", "a"], ["--models", "first", "second", "--videos", "a", "b"]):
        assert dvos(["evaluate", str(two_models.path), *chosen, "--no-save"]) == 0
        out = capsys.readouterr().out
        assert "1.000" in out and "no report saved (--no-save)" in out
    assert two_models.report_names() == before
    assert dvos(["evaluate", str(two_models.path), "--model", "first", "--no-save", "--name", "keep"]) == 2
    assert "--no-save writes no report: leave out --name keep" in capsys.readouterr().err


def test_reports_saved_without_a_name_in_one_second_keep_each_others(two_models, monkeypatch):
    """The default name is the time to the second: a loop over models evaluated in one second wrote every report
    into one folder, the last replacing the others unsaid (the first call's returned path then held another model)."""
    from dvos_core.evaluate import report

    monkeypatch.setattr(report, "_timestamp", lambda: "20261207-081151")
    for model, vid in (("first", "a"), ("second", "b"), ("first", "a")):
        evaluate(two_models, video_ids=[vid], model=model, plots=False)
    assert two_models.report_names() == ["eval-20261207-081151", "eval-20261207-081151-2", "eval-20261207-081151-3"]
    from dvos_core.evaluate import compare_models

    paths = [compare_models(two_models, ["first", "second"]).path for _ in range(2)]
    assert [p.name for p in paths] == ["compare-20261207-081151", "compare-20261207-081151-2"]


def test_a_set_another_process_is_writing_now_is_said_to_be(two_models):
    """Scored while `dvos predict` wrote the set, it was said to have "stopped half-way" without naming the run."""
    from other_writer import OtherWriter

    from dvos_core.evaluate import compare_models

    v = two_models.video("a")
    v.predictions["half"].start({"kind": "test"}, None)
    v.predictions["half"].set_many([0], np.ones((1, 16, 16), np.float32))
    said = r"'half' were scored on fewer .*being written now by .*score again once"
    with OtherWriter(two_models.path), pytest.warns(UserWarning, match=said):
        compare_models(two_models, ["first", "half"], video_ids=["a"], save=False)
