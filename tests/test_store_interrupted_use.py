"""The leftover of an interrupted import (import_complete False) is refused by every command that uses a video's
frames, masks or predictions (one check, ``Video.require_complete``), left out when chosen by split or by default,
and stays replaceable: ``dvos info``, ``dvos delete`` and adding the video again still work on it."""

import numpy as np
import pytest

from dvos_core.store import InterruptedImportError, Project, StoreError

HW = (16, 16)


def _frames(n, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (n, *HW, 3), dtype=np.uint8)


def _mask(t):
    m = np.zeros(HW, np.uint8)
    m[2 + t : 8 + t, 3:9] = 1
    return m


@pytest.fixture
def project(tmp_path):
    """A finished video 'good' (4 frames, 2 painted, predicted by 'm') and the leftover 'half' of a killed import
    (2 frames of its 4 written, no masks)."""
    p = Project.create(tmp_path / "p.dvos")
    good = p.add_video_array("good", _frames(4))
    for t in (0, 1):
        good.set_mask(t, _mask(t))
    preds = good.predictions["m"]
    preds.start({"kind": "image"}, "f")
    preds.set_many(range(4), np.stack([_mask(t % 2).astype(np.float32) for t in range(4)]))
    half = p.create_video("half", *HW, import_complete=False)
    half.append_frames(iter(_frames(2, 1)), n_total=4)
    assert not p.video("half").import_complete
    return p


def _refused(excinfo, project):
    msg = str(excinfo.value)
    assert isinstance(excinfo.value, InterruptedImportError) and isinstance(excinfo.value, StoreError)
    assert "video 'half' is an interrupted import (2 of its frames were written)" in msg
    assert f"dvos add-video {project.path} FILE --id half" in msg and f"dvos delete {project.path} video half" in msg
    assert "\n" not in msg


def test_import_masks_is_refused_and_the_leftover_stays_replaceable(project, tmp_path):
    import cv2

    from dvos_core.io import import_masks

    src = tmp_path / "masks"
    src.mkdir()
    cv2.imwrite(str(src / "half_000.png"), _mask(0) * 255)
    with pytest.raises(InterruptedImportError) as e:
        import_masks(project, "half", src)
    _refused(e, project)
    assert not project.video("half").provenance.any()
    # the advertised recovery still works: adding the video again under its id replaces the leftover
    v = project.add_video_array("half", _frames(4, 1))
    assert v.import_complete and len(v) == 4
    assert import_masks(project, "half", src) == [0]


def test_set_split_and_mask_readers_are_refused(project):
    from dvos_core.io.mask_source import stored_masks

    half = project.video("half")
    for call in (
        lambda: half.set_split("train"),
        lambda: stored_masks(project, half, "labels", None),  # export-video, count-heads
        lambda: stored_masks(project, half, "predictions", None),
    ):
        with pytest.raises(InterruptedImportError) as e:
            call()
        _refused(e, project)
    assert project.video("half").split == "unassigned"
    read, what = stored_masks(project, project.video("good"), "labels", None)  # a finished video: as before
    assert read(0, 4)[1].tolist() == [True, True, False, False] and what == "stored masks"


def test_predict_pseudo_label_and_smooth_refuse_before_any_work(project):
    from dvos_core.infer.predict import predict_video
    from dvos_core.infer.pseudo import pseudo_label
    from dvos_core.infer.smooth import smooth_predictions

    before = sorted(p.name for p in (project.path / "videos" / "half").iterdir())
    for call in (
        lambda: predict_video(project, "half", "no-such-checkpoint.pt", device="cpu"),
        lambda: pseudo_label(project, ["half"], "no-such-checkpoint.pt", device="cpu"),
        lambda: smooth_predictions(project, "half", "m"),
    ):
        with pytest.raises(InterruptedImportError) as e:
            call()
        _refused(e, project)
    assert sorted(p.name for p in (project.path / "videos" / "half").iterdir()) == before  # no predictions made


def test_evaluate_refuses_a_named_leftover_and_leaves_one_of_the_split_out(project):
    from dvos_core.evaluate.compare import compare_models
    from dvos_core.evaluate.summary import evaluate

    project.video("good").set_split("test")
    project.video("half").update_attrs(split="test")  # as an import with --split test leaves it
    with pytest.raises(InterruptedImportError) as e:
        evaluate(project, ["good", "half"], save=False, min_area=1)
    _refused(e, project)
    with pytest.raises(InterruptedImportError):
        compare_models(project, video_ids=["half"], save=False)
    with pytest.warns(UserWarning, match=r"left out the interrupted import\(s\) \['half'\] of split 'test'"):
        rep = evaluate(project, split="test", save=False, min_area=1)
    assert rep.overall["videos"] == ["good"]


def test_the_command_line_prints_a_warning_as_one_line(project, capsys):
    """A warning of a command (here: a leftover left out of the split) is one line naming the command, not
    Python's file:line form."""
    from dvos_core.cli import main

    project.video("good").set_split("test")
    project.video("half").update_attrs(split="test")
    assert main(["evaluate", str(project.path), "--no-plots", "--min-area", "1", "--name", "r"]) == 0
    err = capsys.readouterr().err
    assert "dvos evaluate: warning: " in err and "left out the interrupted import(s) ['half']" in err
    assert "UserWarning" not in err and ".py:" not in err


def test_extract_objects_refuses_a_named_leftover_and_skips_it_by_default(project):
    from dvos_core.extract.heads import extract_heads

    project.video("half").set_mask(0, _mask(0))  # what an older dvos let import-masks do
    with pytest.raises(InterruptedImportError):
        extract_heads(project, ["half"], fakes_per_head=0, min_area=1)
    with pytest.warns(UserWarning, match=r"painted frames of the interrupted import\(s\) \['half'\]"):
        df = extract_heads(project, fakes_per_head=0, min_area=1)
    assert set(df["video"]) == {"good"}
    # a leftover holding masks says how to keep them
    with pytest.raises(InterruptedImportError, match=r"holds masks of 1 frame\(s\).*dvos export-masks"):
        project.video("half").require_complete()


def test_info_delete_and_the_importer_are_not_blocked(project, capsys):
    from dvos_core.cli import main

    assert project.video("half").name == "half"  # the lookup itself never refuses
    rows = {v["id"]: v for v in project.summary()["videos"]}
    assert rows["half"]["complete"] is False and rows["half"]["frames"] == 2
    # an import in progress (the importer writes frames and masks while import_complete is False)
    v = project.create_video("busy", *HW, import_complete=False)
    v.append_frames(iter(_frames(2)), n_total=2)
    v.set_mask(1, _mask(1))
    v.mark_complete()
    assert project.video("busy").require_complete().n_frames == 2
    assert main(["count-heads", str(project.path), "half"]) == 2
    err = capsys.readouterr().err
    assert "interrupted import (2 of its frames were written)" in err and "unexpected error type" not in err
    assert main(["delete", str(project.path), "video", "half", "--yes"]) == 0
    assert "half" not in project.video_ids()
