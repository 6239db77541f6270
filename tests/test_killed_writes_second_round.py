"""Leftovers of killed writes found by the second kill-fuzz round: a killed delete of predictions leaves its set in
the trash until the next write (a rerun of the delete, which finds nothing to delete, now clears it); a CSV export
killed while writing the CSV leaves the old CSV whole."""

import numpy as np
import pandas as pd
import pytest

from dvos_core.io.csv_layout import export_reference_csv
from dvos_core.store import Project
from dvos_core.store.fsops import TRASH
from dvos_core.store.schema import NotInStoreError


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "field.dvos")
    v = p.add_video_array("v", np.zeros((6, 16, 16, 3), np.uint8), split="train")
    mask = np.zeros((16, 16), np.uint8)
    mask[4:9, 4:9] = 1
    for t in range(6):
        v.set_mask(t, mask, "manual")
    return p


def test_rerun_of_a_killed_delete_of_predictions_clears_the_trash(project):
    moved = project.path / TRASH / "img-0123"  # the set a killed delete had moved before it could remove it
    moved.mkdir(parents=True)
    (moved / "probability").write_bytes(b"x" * 1000)
    with pytest.raises(NotInStoreError, match="holds predictions"):
        project.delete_predictions("img", ["v"])  # nothing left to delete: said, and the trash is gone
    assert not (project.path / TRASH).exists()


def test_a_csv_export_stopped_while_writing_the_csv_keeps_the_old_one(project, tmp_path, monkeypatch):
    out = tmp_path / "export"
    csv = export_reference_csv(project, out, clip_length=3)
    old = csv.read_bytes()

    def half_then_killed(self, path, **kw):
        with open(path, "w") as f:
            f.write("VID,FID\n1,")
        raise KeyboardInterrupt  # the process stopped half-way through the CSV

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_killed)
    with pytest.raises(KeyboardInterrupt):
        export_reference_csv(project, out, clip_length=2)
    assert csv.read_bytes() == old
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_rerun_of_a_killed_csv_import_keeps_the_finished_videos_and_finishes_the_rest(project, tmp_path, monkeypatch):
    import warnings

    from dvos_core.io.csv_layout import _import_group, _read_rows, _video_groups, import_reference_csv
    from dvos_core.store.sequence import FrameSequence

    csv = export_reference_csv(project, tmp_path / "export", clip_length=3)  # two clips: two videos
    target = Project.create(tmp_path / "target.dvos")
    plan, _, ids = _video_groups(target, csv, _read_rows(csv), "")
    assert len(ids) == 2
    _import_group(target, csv, *plan[0], "manual", None, [])  # the first video finished
    with monkeypatch.context() as m:  # the second: frames and masks written, killed before its commit
        m.setattr(FrameSequence, "mark_complete", lambda self: None)
        _import_group(target, csv, *plan[1], "manual", None, [])
    first_created = target.video(ids[0]).attrs["created"]
    assert not target.video(ids[1]).import_complete and target.video(ids[1]).provenance.any()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        videos = import_reference_csv(target, csv)  # the same command again
    assert [v.name for v in videos] == ids and all(v.import_complete for v in videos)
    assert target.video(ids[0]).attrs["created"] == first_created  # kept, not imported again
    assert any("kept, not imported again" in str(w.message) for w in caught)
    assert all(v.provenance_counts()["manual"] == 3 for v in videos)


def test_check_names_import_csv_for_the_leftover_of_a_killed_csv_import(project, tmp_path):
    from dvos_core.store.check import check_project

    csv = tmp_path / "d.csv"
    project.create_video("clip", 16, 16, source=str(csv.resolve()), source_vid="clip", import_complete=False)
    found = [f for f in check_project(project, models=False) if f.where == "video clip"]
    assert len(found) == 1 and f"dvos import-csv {project.path} {csv.resolve()}" in found[0].message


def test_a_prediction_set_killed_as_it_was_created_is_no_damage_and_is_predicted_again(project, monkeypatch):
    """Its ``done`` array was created before its zeros were written: a kill in between left a set whose flags'
    chunk was missing, which `dvos check` called damage and `dvos predict` could not resume."""
    import dvos_core.store.predictions as predictions
    from dvos_core.store.check import check_project

    v = project.video("v")
    real = predictions.os.rename

    def killed(src, dst):
        raise SystemExit("killed")

    monkeypatch.setattr(predictions.os, "rename", killed)
    with pytest.raises(SystemExit):
        v.predictions["m"].start({"kind": "frame", "checkpoint": "x"}, "f")
    monkeypatch.setattr(predictions.os, "rename", real)
    again = Project.open(project.path)
    assert "m" not in again.video("v").predictions.models() or not again.video("v").predictions["m"].exists()
    assert not [f for f in check_project(again, models=False) if f.kind == "damaged"]
    pred = again.video("v").predictions["m"]
    pred.start({"kind": "frame", "checkpoint": "x"}, "f")  # created again, over the leftover
    pred.set_many(range(6), np.zeros((6, 16, 16), np.float32))
    assert pred.frames().tolist() == list(range(6))
    assert check_project(Project.open(project.path), models=False) == []


def test_a_set_killed_before_it_said_whose_it_is_is_taken_over_by_smoothing(project):
    """`dvos smooth` killed after the set's flags were cleared, before its attributes, could not be run again:
    "already has the prediction set ... (predicted by None)"; `dvos info` said to predict it again."""
    from dvos_core.infer import smooth_predictions
    from dvos_core.store.notes import unfinished_note

    v = project.video("v")
    src = v.predictions["image"]
    src.start({"kind": "frame", "checkpoint": "image.pt", "threshold": 0.5}, "f")
    src.set_many(range(6), np.full((6, 16, 16), 0.9, np.float32))
    v.predictions["image_smoothed"].arrays(create=True)  # killed before start() recorded anything
    row = Project.open(project.path).summary()["videos"][0]["predictions_unfinished"]
    note = unfinished_note(project.path, "v", "image_smoothed", row["image_smoothed"])
    assert "it holds nothing yet: run the command that made it again" in note and "dvos delete" in note
    assert smooth_predictions(project, "v", "image") == 6
    assert Project.open(project.path).video("v").predictions["image_smoothed"].attrs["source"] == "image"
