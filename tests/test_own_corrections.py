"""A correction records the prediction set it corrects (and the checkpoint that made it), and a model scored against
corrections of its own predictions is said to be: such frames score how little the person changed, not the model."""

import warnings

import numpy as np
import pytest
import torch

from dvos_core.evaluate import compare_models, evaluate
from dvos_core.infer import predict_video
from dvos_core.model import build_model, save_checkpoint
from dvos_core.store import Project
from dvos_core.store.predictions import checkpoint_sha

torch.set_num_threads(1)


@pytest.fixture
def project(tmp_path):
    """A val video predicted by two tiny frame models ('img' and 'other'); frames 0 and 1 corrected from 'img'
    (accepted as predicted), frame 2 corrected from 'other', frame 3 painted."""
    p = Project.create(tmp_path / "p.dvos")
    rng = np.random.default_rng(0)
    v = p.add_video_array("a", rng.integers(0, 255, (5, 64, 64, 3), np.uint8), split="val")
    for seed, name in ((0, "img"), (1, "other")):
        torch.manual_seed(seed)
        save_checkpoint(p.model_dir(name, create=True) / "best.pt", build_model("tiny", "frame"), phase="image")
        predict_video(p, "a", name, device="cpu", threshold=0.5)
    for t, name in ((0, "img"), (1, "img"), (2, "other")):
        assert v.set_mask(t, v.predictions[name].get(t)[0], "corrected", corrected_from=name)
    v.set_mask(3, np.eye(64, dtype=np.uint8), "manual")
    return p


def test_a_correction_records_its_set_and_checkpoint_until_the_frame_is_painted_again(project):
    v = project.video("a")
    sha = {m: checkpoint_sha(v.predictions[m].attrs["fingerprint"]) for m in ("img", "other")}
    assert sha["img"] and sha["img"] != sha["other"]
    assert project.video("a").correction_sources == {  # a new handle: read from the store
        0: {"set": "img", "checkpoint": sha["img"]},
        1: {"set": "img", "checkpoint": sha["img"]},
        2: {"set": "other", "checkpoint": sha["other"]},
    }
    v.set_mask(1, np.eye(64, dtype=np.uint8), "manual")  # painted over: no longer img's output
    v.set_mask(2, np.eye(64, dtype=np.uint8), "corrected")  # corrected again, not from a set: source unknown
    assert sorted(project.video("a").correction_sources) == [0]
    assert "1" not in v.attrs["corrected_from"] and "2" not in v.attrs["corrected_from"]
    v.clear_mask(0)
    assert project.video("a").correction_sources == {}


def test_a_source_is_refused_for_a_mask_that_is_no_correction_before_anything_is_written(project):
    v = project.video("a")
    with pytest.raises(ValueError, match="saved as 'manual'"):
        v.set_mask(4, np.ones((64, 64), np.uint8), "manual", corrected_from="img")
    with pytest.raises(ValueError):
        v.set_mask(4, np.ones((64, 64), np.uint8), "corrected", corrected_from="../x")
    assert int(v.provenance[4]) == 0


def test_evaluate_and_compare_name_the_frames_that_correct_the_scored_models_own_predictions(project):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = evaluate(project, split="val", model="img", save=False)
    assert rep.overall["own_corrections"] == {"a": [0, 1]}
    assert rep.frames.set_index("frame").loc[[0, 1], "dice"].min() > 0.99  # accepted as predicted: a perfect score
    said = [str(w.message) for w in caught if "own predictions" in str(w.message)]
    assert len(said) == 1 and "'img' was scored on 2 of 4 frames" in said[0] and "--gt manual" in said[0]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cmp = compare_models(project, ["img", "other"], split="val", save=False)
    assert cmp.info["own_corrections"] == {"img": {"a": [0, 1]}, "other": {"a": [2]}}
    said = sorted(str(w.message) for w in caught if "own predictions" in str(w.message))
    assert len(said) == 2 and "'other' was scored on 1 of 4 frames" in said[1]

    with warnings.catch_warnings(record=True) as caught:  # painted masks only: nothing of its own
        warnings.simplefilter("always")
        rep = evaluate(project, split="val", model="img", save=False, gt_provenances=["manual"])
    assert rep.overall["own_corrections"] == {} and not [w for w in caught if "own predictions" in str(w.message)]


def test_a_model_trained_again_under_the_same_name_is_not_scored_as_the_maker_of_older_corrections(project):
    torch.manual_seed(5)
    save_checkpoint(project.model_dir("img") / "best.pt", build_model("tiny", "frame"), phase="image")
    predict_video(project, "a", "img", device="cpu", replace=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = evaluate(project, split="val", model="img", save=False)
    assert rep.overall["own_corrections"] == {}


def test_a_correction_of_a_set_that_does_not_exist_is_refused(project):
    """A name that names no set was recorded (a set made later under that name, by any model, was then taken for the
    maker of the correction), then dropped in silence (a typo lost the record); it is refused, nothing written."""
    from dvos_core.store import NotInStoreError

    v = project.video("a")
    before = (v.provenance.copy(), v.read_masks(4, 5)[0].copy())
    with pytest.raises(NotInStoreError, match=r"no predictions of 'nosuch'; it has predictions of \['img', 'other'\]"):
        v.set_mask(4, np.eye(64, dtype=np.uint8), "corrected", corrected_from="nosuch")
    v = project.video("a")
    assert np.array_equal(v.provenance, before[0]) and np.array_equal(v.read_masks(4, 5)[0], before[1])
    assert 4 not in v.correction_sources and "4" not in v.attrs.get("corrected_from", {})


def test_the_warning_in_the_panels_words_names_a_terminal_command_not_a_panel_option():
    """The panel turned "--gt manual" into "the 'gt' option manual", a control the Review step does not have."""
    pytest.importorskip("napari")
    from dvos_core.evaluate.own_corrections import warn_own_corrections
    from dvos_napari._errors import plain_words

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_own_corrections("img", {"a": [1]}, 3)
    said = plain_words(str(caught[0].message))
    assert "`dvos evaluate PROJECT --gt manual` in a terminal" in said and "'gt' option" not in said, said
