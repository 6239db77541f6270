"""The correction loop: corrected masks enter the trainer's samples as human labels, survive relabelling, and a mask
written over another never keeps the replaced mask's quality score."""

import numpy as np
import pytest
import torch
from stub_models import BrightIsHead

from dvos_core.data import split_samples
from dvos_core.infer import pseudo_label
from dvos_core.store import Project

torch.set_num_threads(1)

H, W = 32, 40


def _project(tmp_path, n=8):
    frames = np.full((n, H, W, 3), 30, np.uint8)
    for t in range(n):
        frames[t, 4 + t : 12 + t, 6:16] = 230
    p = Project.create(tmp_path / "loop.dvos")
    return p, p.add_video_array("v", frames, split="train")


def _mask(y0=2):
    m = np.zeros((H, W), np.uint8)
    m[y0 : y0 + 6, 20:30] = 1
    return m


def test_a_mask_written_without_a_score_does_not_keep_the_score_of_the_mask_it_replaced(tmp_path):
    p, v = _project(tmp_path)
    v.set_mask(1, _mask(), "pseudo", quality=0.1)  # a poor pseudo-label
    v.set_mask(2, _mask(), "pseudo", quality=0.1)
    v.set_mask(3, _mask(), "pseudo", quality=0.9)
    # frame 1 replaced by a pseudo mask from elsewhere (import-masks --provenance pseudo), frame 2 corrected by a
    # person: neither new mask has a score, so the old one (of the mask replaced) must not stick to it
    assert v.set_mask(1, _mask(5), "pseudo", overwrite=True)
    assert v.set_mask(2, _mask(5), "corrected", overwrite=True)
    assert np.isnan(v.quality[1]) and np.isnan(v.quality[2])
    train, _ = split_samples(p, 2, 1, "real", pseudo_quality_min=0.5, val_fraction=0)
    assert {s.t for s in train} == {1, 2, 3}  # frame 1 is no longer filtered by the replaced mask's 0.1
    # a score given with the mask is kept; a refused write (a pseudo mask over a correction) changes nothing
    v.set_mask(4, _mask(), "pseudo", quality=0.7)
    assert v.quality[4] == np.float32(0.7)
    v.set_quality(2, 0.8)
    assert not v.set_mask(2, _mask(), "pseudo", quality=0.2)
    assert v.quality[2] == np.float32(0.8) and v.provenance[2] == 4


def test_corrections_are_trained_on_as_human_labels_and_survive_relabelling(tmp_path):
    p, v = _project(tmp_path)
    pseudo_label(p, "v", (BrightIsHead(), {}), device="cpu", n_passes=1)
    fixed = _mask(9)
    assert v.set_mask(5, fixed, "corrected", overwrite=True)  # what napari's Save correction writes
    df = pseudo_label(p, "v", (BrightIsHead(), {}), device="cpu", n_passes=1, overwrite=True)
    assert df.set_index("frame").loc[5, "status"] == "protected"
    assert np.array_equal(v.mask(5), fixed) and v.provenance[5] == 4
    train, _ = split_samples(p, 2, 1, "real", val_fraction=0)
    weights = {s.t: (s.provenance, s.weight) for s in train}
    assert weights[5] == (4, 3.0) and weights[4] == (2, 1.0)  # corrected: weighted as painted frames


def test_a_correction_is_saved_even_when_the_quality_scores_file_is_damaged(tmp_path):
    _, v = _project(tmp_path)
    v.set_mask(1, _mask(), "pseudo", quality=0.3)
    chunks = [f for f in (tmp_path / "loop.dvos" / "videos" / "v" / "quality").rglob("*") if f.is_file()]
    chunks = [f for f in chunks if f.name != "zarr.json"]
    assert chunks
    for f in chunks:
        f.write_bytes(b"not a chunk")
    assert v.set_mask(1, _mask(7), "corrected", overwrite=True)  # the person's work is kept
    assert np.array_equal(v.mask(1), _mask(7)) and v.provenance[1] == 4


def _project_with_labels(tmp_path):
    """A training video with a pseudo-label on frames 0-2, a correction on frame 3 and a painted frame 4."""
    from dvos_core.store import Project

    p = Project.create(tmp_path / "rt.dvos")
    v = p.add_video_array("plot", np.zeros((6, 16, 16, 3), np.uint8), split="train")
    for t, kind in enumerate(("pseudo", "pseudo", "pseudo", "corrected", "manual")):
        m = np.zeros((16, 16), np.uint8)
        m[t : t + 5, 2:9] = 1
        v.set_mask(t, m, kind)
    return p, v


def test_an_export_and_import_keeps_what_made_each_mask(tmp_path, capsys):
    """Exported masks imported again all became 'manual': pseudo-labels counted as painted truth (and the video
    could then become a test video of pseudo-labels). masks.csv says what made each; --provenance still decides."""
    from dvos_core.cli import main

    p, v = _project_with_labels(tmp_path)
    before = v.provenance_counts()
    out = tmp_path / "out"
    assert main(["export-masks", str(p.path), "plot", str(out)]) == 0
    v.clear_masks(["pseudo", "corrected", "manual"])
    assert main(["import-masks", str(p.path), "plot", str(out)]) == 0
    assert "wrote 5 masks (1 corrected, 1 manual, 3 pseudo)" in capsys.readouterr().out
    assert p.video("plot").provenance_counts() == before
    v.clear_masks(["pseudo", "corrected", "manual"])
    assert main(["import-masks", str(p.path), "plot", str(out), "--provenance", "manual"]) == 0
    assert p.video("plot").provenance_counts()["manual"] == 5  # said outright: as asked


def test_importing_masks_again_keeps_a_correction_unless_told_to_replace_it(tmp_path):
    """import-masks replaced a corrected (or painted) mask with a different one and said nothing: human masks rank
    alike, so the store's rule let one replace the other. Identical masks are no change; --overwrite replaces."""
    from PIL import Image

    from dvos_core.io import import_masks

    p, v = _project_with_labels(tmp_path)
    corrected, painted = v.mask(3).copy(), v.mask(4).copy()
    src = tmp_path / "again"
    src.mkdir()
    other = np.zeros((16, 16), np.uint8)
    other[10:14, 10:14] = 255
    for t in (2, 3):
        Image.fromarray(other).save(src / f"m_{t:06d}.png")
    Image.fromarray(painted * 255).save(src / "m_000004.png")  # the same mask again
    with pytest.warns(UserWarning, match=r"1 frame\(s\) kept the masks they had \(frames 3\).*--overwrite"):
        assert import_masks(p, "plot", src) == [2, 4]
    v = p.video("plot")
    assert np.array_equal(v.mask(3), corrected) and v.provenance[3] == 4  # the correction stands
    assert np.array_equal(v.mask(2), other > 0) and v.provenance[2] == 1  # the pseudo-label was replaced
    assert import_masks(p, "plot", src, overwrite=True) == [2, 3, 4]
    assert np.array_equal(p.video("plot").mask(3), other > 0)


def test_training_again_under_the_same_name_says_which_new_labels_it_does_not_use(tmp_path):
    """After new corrections, `dvos train` (or run-all) again under the model's name kept the model and said only
    'nothing to do': the corrections looked used. The note now counts them and names the way to train on them."""
    from dvos_core.data.toy import make_toy_project
    from dvos_core.train import TrainConfig, train

    project = make_toy_project(tmp_path / "toy.dvos", n_clips=2, n_frames=6, size=64, n_videos=1, video_frames=8)
    vid = project.video_ids()[0]
    cfg = TrainConfig(phase="image", preset="tiny", epochs=1, batch_size=2, size=64, max_steps_per_epoch=1, seed=1)
    train(project, cfg, "img", resume=False)
    events = []
    train(project, cfg, "img", on_event=events.append)
    assert "nothing to do" in events[-1]["note"] and "painted or corrected since" not in events[-1]["note"]
    video = project.video(vid)
    t = int(np.flatnonzero(~np.isin(video.provenance, (1, 4)))[0])  # a frame no person has painted yet
    mask = np.zeros(video.shape[1:3], np.uint8)
    mask[10:20, 10:20] = 1
    video.set_mask(t, mask, "corrected", overwrite=True)
    events = []
    train(project, cfg, "img", on_event=events.append)
    assert "1 frame(s) were painted or corrected since it trained" in events[-1]["note"], events[-1]["note"]
    assert "--name NEW" in events[-1]["note"]


def test_exported_masks_fixed_in_another_program_come_back_as_corrections(tmp_path, capsys):
    """A pseudo-label exported, fixed in a paint program and imported came back as 'pseudo' (the next pseudo-label
    --overwrite replaced the fix); a changed file is a correction now, an unchanged one keeps what it was."""
    from PIL import Image

    from dvos_core.cli import main

    p, v = _project_with_labels(tmp_path)
    out = tmp_path / "out"
    assert main(["export-masks", str(p.path), "plot", str(out)]) == 0
    fixed = np.array(Image.open(out / "plot_000001.png"))
    fixed[12:15, 12:15] = 255  # a head the model missed, painted in
    Image.fromarray(fixed).save(out / "plot_000001.png")
    v.clear_masks(["pseudo", "corrected", "manual"])
    assert main(["import-masks", str(p.path), "plot", str(out)]) == 0
    assert "wrote 5 masks (2 corrected, 1 manual, 2 pseudo)" in capsys.readouterr().out
    assert p.video("plot").provenance[1] == 4 and p.video("plot").provenance[0] == 2


def test_masks_listed_as_pseudo_are_refused_by_a_test_video_naming_the_list_and_the_fix(tmp_path, capsys):
    from dvos_core.cli import main

    p, _v = _project_with_labels(tmp_path)
    p.add_video_array("held", np.zeros((6, 16, 16, 3), np.uint8), split="test")
    out = tmp_path / "out"
    assert main(["export-masks", str(p.path), "plot", str(out)]) == 0
    for f in out.glob("plot_*.png"):
        f.rename(out / f.name.replace("plot_", "held_"))
    listing = out / "masks.csv"
    listing.write_text(listing.read_text().replace("plot", "held"))  # video and file names
    assert main(["import-masks", str(p.path), "held", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(listing) in err and "--provenance manual" in err
    assert main(["import-masks", str(p.path), "held", str(out), "--provenance", "manual"]) == 0
