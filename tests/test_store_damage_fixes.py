"""Damaged stores, second round: repairs that dvos names work on undecodable files too, one damaged part hides no
other in ``dvos check`` and ``dvos info``, and a note or a resumed run does not misreport what it met."""

import json

import numpy as np
import pytest
import torch
from stub_models import BrightIsHead

from dvos_core.store import DamagedStoreError, Project

torch.set_num_threads(1)
HW = (16, 16)


def _frames(n, seed=0):
    return np.random.default_rng(seed).integers(1, 255, (n, *HW, 3), dtype=np.uint8)


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    for name, seed in (("v", 0), ("other", 1)):
        v = p.add_video_array(name, _frames(5, seed))
        v.set_mask(1, np.zeros(HW, np.uint8))
        v.set_mask(2, np.eye(16, dtype=np.uint8))
    s = p.video("v").predictions["m"]
    s.start({"kind": "image"}, "f")
    s.set_many(range(5), np.full((5, *HW), 0.8, np.float32))
    return p


def _truncate(path, size=20):
    with open(path, "r+b") as f:
        f.truncate(size)


def test_relabelling_makes_an_undecodable_quality_chunk_again(project):
    """A truncated quality chunk crashed relabelling with a bare blosc RuntimeError after every frame was predicted
    (only a missing chunk was made again); each score written into it is refused by name, and the relabelling run
    makes it again as unknown before it predicts, with a warning naming the frames."""
    from dvos_core.infer import pseudo_label

    chunk = project.path / "videos/v/quality/c/0"
    _truncate(chunk)
    v = project.video("v")
    with pytest.raises(DamagedStoreError, match="quality/c/0 is damaged"):
        v.set_quality(3, 0.5)
    with pytest.raises(DamagedStoreError, match="quality/c/0 is damaged"):
        v.set_mask(3, np.eye(16, dtype=np.uint8), "pseudo", quality=0.5)
    assert v.mask(3) is None
    with pytest.warns(UserWarning, match="quality scores of frames 0-4 were missing or could not be read"):
        df = pseudo_label(project, "v", (BrightIsHead(), {}), device="cpu", n_passes=1, overwrite=True)
    q = project.video("v").quality
    written = df["status"].to_numpy() == "written"
    assert written.any() and np.isfinite(q[written]).all()
    assert project.video("v").reset_missing_quality() == []


def _edit(path, fn):
    meta = json.loads(path.read_text())
    fn(meta)
    path.write_text(json.dumps(meta))


def _project_with_parts(tmp_path):
    """The fixture's project with a background clip and a synthetic set of one finished clip."""
    from dvos_core.store import Project

    p = Project.create(tmp_path / "parts.dvos")
    for name, seed in (("v", 0), ("other", 1)):
        v = p.add_video_array(name, _frames(5, seed))
        for t in (1, 2, 3):
            v.set_mask(t, np.eye(16, dtype=np.uint8))
    p.video("v").predictions["m"].start({"kind": "image"}, "f")
    p.video("v").predictions["m"].set_many(range(5), np.full((5, *HW), 0.8, np.float32))
    bg = p.create_background("bg", *HW)
    bg.append_frames(_frames(3, 2))
    bg.mark_complete()
    s = p.create_synthetic("syn", n_clips=1, n_frames=2, height=HW[0], width=HW[1])
    s.write_clip(0, _frames(2, 3), np.zeros((2, *HW), np.uint8))
    return p


def test_check_reports_every_damaged_part_not_only_the_first(tmp_path):
    """`dvos check` stopped listing the project at the first part it could not list (a prediction set's edited
    ``done`` zarr.json): the other videos' frames, the backgrounds, the synthetic clips were never read. Every damaged
    part is reported; so is every damaged mask of a batch (the batch's reads stopped at the first)."""
    from dvos_core.store.check import check_project

    p = _project_with_parts(tmp_path)
    _edit(p.path / "videos/v/predictions/m/done/zarr.json", lambda m: m.update(data_type="int16"))
    (p.path / "videos/other/frames/c/3/0/0/0").unlink()
    (p.path / "backgrounds/bg/frames/c/1/0/0/0").unlink()
    next((p.path / "synthetic/syn/masks/c").rglob("*/0/0/0")).unlink()
    for t in (1, 3):
        _truncate(p.path / f"videos/v/masks/c/{t}/0/0", 10)
    found = check_project(Project.open(p.path, mode="r"), models=False)
    where = sorted(f.where for f in found)
    assert where == [
        "background bg, frames 0-2",
        "synthetic set syn, clip 0",
        "video other, frames 0-4",
        "video v, masks of frames 1-3",
        "video v, predictions m",
    ], [f.line() for f in found]
    masks = next(f.message for f in found if "masks" in f.where)
    assert "masks/c/1/0/0" in masks and "masks/c/3/0/0" in masks
    assert all(f.kind == "damaged" for f in found)


def test_a_damaged_prediction_set_leaves_its_video_readable(project, capsys):
    """One prediction set's corrupt zarr.json made its whole video unreadable in `dvos info` (0 frames, split
    "unreadable") and `dvos check` skipped its frames. The video reads; the set is named as damaged with its fix,
    which works; a smoothed set made from it is not called stale by a source "deleted since"."""
    from dvos_core.cli import main
    from dvos_core.store.check import check_project

    meta = project.path / "videos/v/predictions/m/zarr.json"
    meta.write_text('{"zarr_format": 3, "node_type": "group", "attributes": {"checkpoint": \n')
    (project.path / "videos/v/frames/c/4/0/0/0").unlink()
    s = project.summary()
    row = next(r for r in s["videos"] if r["id"] == "v")
    assert row["frames"] == 5 and row["split"] != "unreadable" and "unreadable" not in row
    fix = f"dvos delete {project.path} predictions m --videos v --yes"
    assert len(s["unreadable"]) == 1 and fix in s["unreadable"][0]
    found = check_project(Project.open(project.path, mode="r"), models=False)
    assert sorted(f.where for f in found) == ["video v, frames 0-4", "video v, predictions m"]
    assert main(["info", str(project.path)]) == 0
    out = capsys.readouterr().out
    assert "5 frames" in out and f"unreadable: {meta}" in out
    assert main(["delete", str(project.path), "predictions", "m", "--videos", "v", "--yes"]) == 0
    assert project.summary()["unreadable"] == []


def test_info_counts_objects_when_the_videos_folder_file_is_gone(project, capsys):
    """A missing videos/zarr.json made `dvos info` show "objects: 0 heads, 0 fakes" (the search for objects of
    deleted videos failed in the same step as the counts) and named that file twice."""
    from dvos_core.cli import main

    project.objects.add([(np.full((4, 4, 4), 200, np.uint8), {"kind": "head", "video": "v", "frame": 2})] * 3)
    (project.path / "videos/zarr.json").unlink()
    s = project.summary()
    assert s["objects"] == {"head": 3, "fake": 0}
    assert len(s["unreadable"]) == 1 and "videos/zarr.json" in s["unreadable"][0]
    assert main(["info", str(project.path)]) == 0
    out = capsys.readouterr().out
    assert "objects: 3 heads, 0 fakes" in out and out.count("videos/zarr.json") == 1


def test_a_damaged_unrelated_set_gives_no_note_after_training_and_never_fails_it(tmp_path, monkeypatch):
    """`dvos train` exited 2 after it had saved the model: the note on the prediction sets an earlier version of it
    made read a damaged, unrelated set. The note passes over what cannot be read, and the run never fails on it."""
    from dvos_core.data.toy import make_toy_project
    from dvos_core.store import notes
    from dvos_core.train import TrainConfig, train

    p = make_toy_project(tmp_path / "toy.dvos", n_clips=4, n_frames=6, size=64, n_videos=2, video_frames=8)
    vids = p.video_ids()
    s = p.video(vids[0]).predictions["m"]
    s.start({"kind": "image"}, "f")
    (p.path / f"videos/{vids[0]}/predictions/zarr.json").write_text('{"zarr_format": 3, "node_')
    meta = p.path / f"videos/{vids[1]}/zarr.json"
    kept = meta.read_text()
    meta.write_text("{")
    assert notes.retrained_note(p, p.path / "models/ctx/best.pt") == ""
    meta.write_text(kept)  # (training reads the videos)

    def broken(*a, **k):
        raise DamagedStoreError("a damaged file")

    monkeypatch.setattr(notes, "retrained_note", broken)
    cfg = TrainConfig(
        phase="synthetic", preset="tiny", epochs=1, batch_size=2, size=64, max_steps_per_epoch=1, num_workers=0
    )
    best = train(p, cfg, "ctx", resume=False)
    assert best.is_file()


def test_a_resumed_prediction_that_writes_nothing_leaves_its_smoothed_set_current(tmp_path):
    """A `dvos predict` that resumed a finished set and predicted no frame gave the set a new run id, so its
    smoothed set was called out of date ("predicted again since") though nothing changed. The id changes when the run
    writes a frame; a resumed run killed after writing one still flags the smoothed set."""
    from dvos_core.infer import predict_video, smooth_predictions
    from dvos_core.model import build_model, save_checkpoint

    p = Project.create(tmp_path / "s.dvos")
    p.add_video_array("clip", np.random.default_rng(0).integers(0, 255, (4, 32, 32, 3), dtype=np.uint8))
    ckpt = save_checkpoint(p.model_dir("image", create=True) / "best.pt", build_model("tiny", "frame"))
    assert predict_video(p, "clip", ckpt, device="cpu") == 4
    smooth_predictions(p, "clip", "image")
    preds = p.video("clip").predictions
    stamp = preds["image"].stamp()
    assert predict_video(p, "clip", ckpt, device="cpu") == 0  # resumed: every frame already there
    assert preds["image"].stamp() == stamp and preds["image_smoothed"].stale_source() is None
    src = preds["image"]
    a = src.attrs
    assert src.start({k: v for k, v in a.items() if k not in ("fingerprint", "date")}, a["fingerprint"])  # resumed
    src.set_many([2], np.zeros((1, 32, 32), np.float32))  # one frame written, then the run is killed
    assert src.stamp() != stamp
    assert "'image' was predicted again" in preds["image_smoothed"].stale_source()
    stamp = src.stamp()
    src.set_many([3], np.zeros((1, 32, 32), np.float32))  # the same run's next frame: one run, one id
    assert src.stamp() == stamp


def test_a_damaged_inpainted_clip_names_the_command_that_makes_it_again(tmp_path, capsys):
    """A damaged clip inpainted from a painted frame said "delete the background and add it again", which no command
    does for such a clip; it names `dvos extract-backgrounds --from-annotated ... --replace` for its frame, which
    makes it again."""
    from dvos_core.cli import main
    from dvos_core.extract import backgrounds_from_annotated
    from dvos_core.store.check import check_project

    p = Project.create(tmp_path / "bg.dvos")
    v = p.add_video_array("plot", np.random.default_rng(0).integers(60, 120, (6, 48, 48, 3), dtype=np.uint8))
    m = np.zeros((48, 48), np.uint8)
    m[10:16, 10:16] = 1
    v.set_mask(2, m)
    (clip,) = backgrounds_from_annotated(p, clip_length=3, dilate_px=2, method="telea", motion="none")
    (p.path / f"backgrounds/{clip.name}/frames/c/1/0/0/0").unlink()
    (found,) = check_project(Project.open(p.path, mode="r"), models=False)
    command = (
        f"dvos extract-backgrounds {p.path} --from-annotated --videos plot --frames 2 --clip-length 3 --inpaint telea "
        f"--dilate 2 --motion none --replace"
    )
    assert command in found.message, found.message
    assert main(command.split()[1:]) == 0
    assert check_project(Project.open(p.path, mode="r"), models=False) == []
