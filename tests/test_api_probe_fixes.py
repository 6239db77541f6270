"""dvos_core used as a Python library: what a researcher's notebook meets (found by probing the API as documented)."""

import importlib
import re

import numpy as np
import pytest

import dvos_core
from dvos_core.store import NotInStoreError, Project, StoreError

H = W = 16


def _project(tmp_path, n=6):
    p = Project.create(tmp_path / "p.dvos")
    v = p.add_video_array("v", np.zeros((n, H, W, 3), np.uint8), split="train")
    return p, v


# ---- Project.create / open -------------------------------------------------------------------------------------
def test_a_leading_tilde_is_the_home_folder_not_a_folder_named_tilde(tmp_path, monkeypatch):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(), work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    Project.create("~/field.dvos")
    assert (home / "field.dvos" / "zarr.json").is_file()
    assert not (work / "~").exists()
    assert Project.open("~/field.dvos").path == home / "field.dvos"


def test_a_project_opened_by_a_relative_path_stays_where_it_was_after_chdir(tmp_path, monkeypatch):
    """The project keeps an absolute path: writes after os.chdir go to the project that was opened, not to
    whatever the relative path names from the new working folder (another project, or nothing)."""
    for d in ("d1", "d2", "d3"):
        (tmp_path / d).mkdir()
    Project.create(tmp_path / "d1" / "p.dvos")
    Project.create(tmp_path / "d2" / "p.dvos")
    monkeypatch.chdir(tmp_path / "d1")
    p = Project.open("p.dvos")
    assert p.path == tmp_path / "d1" / "p.dvos"
    for where in ("d2", "d3"):  # another project of that name there; nothing there
        monkeypatch.chdir(tmp_path / where)
        v = p.add_video_array(f"v_{where}", np.zeros((4, H, W, 3), np.uint8), split="train")
        m = np.zeros((H, W), np.uint8)
        m[5:10, 5:10] = 1
        v.set_mask(0, m, "manual")
    assert sorted(Project.open(tmp_path / "d1" / "p.dvos", "r").video_ids()) == ["v_d2", "v_d3"]
    assert Project.open(tmp_path / "d2" / "p.dvos", "r").video_ids() == []
    assert sorted(x.name for x in (tmp_path / "d3").iterdir()) == []  # no stray lock folder


def test_a_project_opened_through_a_symbolic_link_keeps_the_name_it_was_opened_by(tmp_path, monkeypatch):
    Project.create(tmp_path / "real.dvos")
    (tmp_path / "link.dvos").symlink_to(tmp_path / "real.dvos")
    monkeypatch.chdir(tmp_path)
    p = Project.open("link.dvos")
    assert p.path == tmp_path / "link.dvos"
    p.add_video_array("v", np.zeros((2, H, W, 3), np.uint8))
    assert Project.open(tmp_path / "real.dvos", "r").video_ids() == ["v"]


def test_a_leading_tilde_is_the_home_folder_in_every_input_path(tmp_path, monkeypatch):
    """``~`` was expanded in project paths but not in the files read into them: import_video(p, "~/v.mp4") and
    `dvos add-video P '~/v.mp4'` (quoted: the shell leaves it) said "no such file"."""
    import cv2

    from dvos_core.cli import main
    from dvos_core.infer.engine import resolve_checkpoint_path
    from dvos_core.io import import_masks, import_video
    from dvos_core.model import build_model, save_checkpoint
    from dvos_core.model.checkpoint import read_checkpoint

    home, work = tmp_path / "home", tmp_path / "work"
    (home / "frames").mkdir(parents=True)
    (home / "masks").mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    for t in range(3):
        cv2.imwrite(str(home / "frames" / f"{t:03d}.png"), np.full((H, W, 3), 40 * t, np.uint8))
    mask = np.zeros((H, W), np.uint8)
    mask[2:6, 2:6] = 1
    cv2.imwrite(str(home / "masks" / "000.png"), mask)
    save_checkpoint(home / "m.pt", build_model("tiny", "frame"))
    p = Project.create(work / "p.dvos")
    assert import_video(p, "~/frames", video_id="v").n_frames == 3
    assert main(["add-video", str(p.path), "~/frames", "--id", "w"]) == 0
    assert import_masks(p, "v", "~/masks", provenance="manual") and p.video("v").mask(0) is not None
    assert resolve_checkpoint_path(p, "~/m.pt") == home / "m.pt"
    assert read_checkpoint("~/m.pt")["format"] == "dvos-checkpoint"
    assert not (work / "~").exists()


def test_open_refuses_a_mode_it_does_not_have(tmp_path):
    Project.create(tmp_path / "p.dvos")
    for mode in ("w", "rw", "a"):
        with pytest.raises(ValueError, match=r"mode must be 'r'.*'r\+'.*Project.create"):
            Project.open(tmp_path / "p.dvos", mode=mode)
    assert Project.open(tmp_path / "p.dvos", mode="r").mode == "r"


def test_opening_a_folder_inside_a_project_names_the_project(tmp_path):
    Project.create(tmp_path / "p.dvos")
    with pytest.raises(StoreError, match=r"inside the dvos project .*p\.dvos: open that"):
        Project.open(tmp_path / "p.dvos" / "videos")


# ---- a new video's attributes -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "attrs, message",
    [
        ({"split": "training"}, "split must be one of train, val, test, unassigned"),
        ({"tags": "flowering"}, "tags must be a dict"),
        ({"fps": "ten"}, "fps must be a positive number"),
        ({"fps": -5}, "fps must be a positive number"),
        ({"source": object()}, "source = .* cannot be stored"),
    ],
)
def test_a_new_video_with_bad_attributes_is_refused_before_anything_is_written(tmp_path, attrs, message):
    p, _ = _project(tmp_path)
    with pytest.raises(ValueError, match=message):
        p.add_video_array("bad", np.zeros((2, H, W, 3), np.uint8), **attrs)
    with pytest.raises(ValueError, match=message):
        p.create_video("bad2", H, W, **attrs)
    assert p.video_ids() == ["v"]
    assert [row["id"] for row in p.summary()["videos"]] == ["v"]  # dvos info still works


def test_numpy_numbers_are_stored_as_plain_ones(tmp_path):
    p, v = _project(tmp_path)
    w = p.add_video_array("w", np.zeros((2, H, W, 3), np.uint8), fps=np.float64(12.5), tags={"plot": np.int64(3)})
    assert w.attrs["fps"] == 12.5 and w.tags == {"plot": 3}
    v.set_tags(row=np.int32(7), rate=np.float32(0.5))
    assert Project.open(p.path).video("v").tags == {"row": 7, "rate": 0.5}


def test_a_tag_that_cannot_be_stored_leaves_the_handle_and_the_disk_as_they_were(tmp_path):
    p, v = _project(tmp_path)
    v.set_tags(stage="flowering")
    with pytest.raises(ValueError, match="tags: note = .* cannot be stored"):
        v.set_tags(note=object())
    assert v.tags == {"stage": "flowering"}
    assert Project.open(p.path).video("v").tags == {"stage": "flowering"}


# ---- masks, quality, indices ------------------------------------------------------------------------------------
def test_one_provenance_name_alone_is_one_provenance_not_its_letters(tmp_path):
    _, v = _project(tmp_path)
    v.set_mask(0, np.ones((H, W), bool), "manual")
    v.set_mask(1, np.ones((H, W), bool), "pseudo")
    assert v.labelled_frames("manual").tolist() == [0]
    assert v.clear_masks("pseudo") == 1
    assert v.labelled_frames(["manual", "pseudo"]).tolist() == [0]


def test_a_bool_is_no_frame_index(tmp_path):
    """``set_mask(True, mask, 'manual')`` wrote frame 1: a bool passed the whole-number check."""
    _, v = _project(tmp_path)
    with pytest.raises(TypeError, match=r"frame index must be a whole number \(int\), got True \(bool\)"):
        v.set_mask(True, np.ones((H, W), bool), "manual")
    assert not v.provenance.any()  # nothing was written
    for read in (v.frame, v.mask):
        with pytest.raises(TypeError, match=r"got False \(bool\)"):
            read(False)
    with pytest.raises(TypeError, match=r"stop index must be a whole number \(int\), got True"):
        v.read_frames(0, True)
    assert v.frame(np.int64(1)).shape == (H, W, 3)  # numpy integers stay indices


def test_a_quality_score_outside_zero_to_one_is_refused(tmp_path):
    _, v = _project(tmp_path)
    for bad in (5, -3, "good"):
        with pytest.raises(ValueError, match=r"quality must be a number in \[0, 1\]"):
            v.set_mask(2, np.ones((H, W), bool), "pseudo", quality=bad)
        with pytest.raises(ValueError, match=r"quality must be a number in \[0, 1\]"):
            v.set_quality(2, bad)
    assert v.provenance[2] == 0  # nothing was written
    v.set_mask(2, np.ones((H, W), bool), "pseudo", quality=0.25)
    v.set_quality(3, float("nan"))
    assert v.quality[2] == 0.25 and np.isnan(v.quality[3])


def test_frame_indices_are_whole_numbers_counted_from_zero(tmp_path):
    _, v = _project(tmp_path)
    with pytest.raises(TypeError, match=r"frame index must be a whole number.*2\.7"):
        v.mask(2.7)
    with pytest.raises(TypeError, match="frame index must be a whole number"):
        v.frame(2.0)
    with pytest.raises(IndexError, match=r"frame -1 out of range \(negative.*valid: 0-5"):
        v.frame(-1)
    with pytest.raises(ValueError, match="provenance is None"):
        v.set_mask(0, np.ones((H, W), bool), None)
    assert v.frame(np.int64(5)).shape == (H, W, 3)


# ---- two handles on one project ---------------------------------------------------------------------------------
def test_a_kept_handle_reaches_frames_another_handle_appended(tmp_path):
    p, v = _project(tmp_path)
    other = Project.open(p.path).video("v")
    other.append_frames(np.full((2, H, W, 3), 7, np.uint8))
    assert v.frame(7)[0, 0, 0] == 7  # was: "frame 7 out of range; 'v' has 6 frames"
    assert v.set_mask(7, np.ones((H, W), bool), "manual")
    assert other.mask(7).all()


def test_a_kept_handle_of_a_moved_project_says_the_project_moved(tmp_path):
    """A project moved (mv) while `dvos predict` ran: it stopped saying the video had been deleted."""
    import shutil

    p, v = _project(tmp_path)
    shutil.move(p.path, tmp_path / "moved.dvos")
    with pytest.raises(NotInStoreError, match="the project is no longer there \\(moved, renamed or deleted"):
        v.frame(0)
    assert Project.open(tmp_path / "moved.dvos").video("v").n_frames == 6  # nothing lost


def test_a_kept_handle_of_a_deleted_video_says_so(tmp_path):
    p, v = _project(tmp_path)
    Project.open(p.path).delete("video", "v")
    for read in (lambda: v.frame(0), lambda: v.mask(0), lambda: v.attrs):
        with pytest.raises(NotInStoreError, match="video 'v' is no longer in the project"):
            read()
    with pytest.raises(NotInStoreError, match="no longer in the project"):
        v.set_mask(1, np.ones((H, W), bool), "manual")
    assert p.video_ids() == []  # nothing came back


def test_a_kept_handle_of_a_video_deleted_and_added_again_writes_nothing_into_the_new_one(tmp_path):
    """Its mask went into the new video of the same id, which it never held."""
    p, v = _project(tmp_path)
    other = Project.open(p.path)
    other.delete("video", "v")
    other.add_video_array("v", np.zeros((5, H, W, 3), np.uint8))
    with pytest.raises(NotInStoreError, match="video 'v' was deleted and added again after this handle was opened"):
        v.set_mask(3, np.ones((H, W), bool), "manual")
    with pytest.raises(NotInStoreError, match="deleted and added again"):
        _ = v.attrs
    assert other.video("v").mask(3) is None
    fresh = Project.open(p.path).video("v")
    assert fresh.set_mask(3, np.ones((H, W), bool), "manual")  # a handle opened since writes as usual


def test_a_video_deleted_and_added_again_while_a_write_waits_for_the_lock_is_not_written(tmp_path, monkeypatch):
    """The check ran before the writer lock was taken: a write that waited for the lock (another process deleting
    and adding the video again meanwhile) went into the new video."""
    import contextlib

    from dvos_core.store import sequence

    p, v = _project(tmp_path)
    real, once = sequence.store_write, []

    @contextlib.contextmanager
    def waited(*args, **kwargs):  # the other process works while this one waits for the lock
        if not once:
            once.append(True)
            other = Project.open(p.path)
            other.delete("video", "v")
            other.add_video_array("v", np.zeros((5, H, W, 3), np.uint8))
        with real(*args, **kwargs):
            yield

    monkeypatch.setattr(sequence, "store_write", waited)
    with pytest.raises(NotInStoreError, match="deleted and added again"):
        v.set_mask(0, np.ones((H, W), bool), "manual")
    monkeypatch.setattr(sequence, "store_write", real)
    assert Project.open(p.path).video("v").mask(0) is None


# ---- prediction sets --------------------------------------------------------------------------------------------
def test_reading_a_prediction_set_that_is_not_there_names_the_sets_there_are(tmp_path):
    _, v = _project(tmp_path)
    v.predictions["img"].set(0, np.full((H, W), 0.75, np.float32))
    for read in (lambda: v.predictions["imgg"].masks([0]), lambda: v.predictions["imgg"].read("masks", 0)):
        with pytest.raises(NotInStoreError, match=r"no predictions of 'imgg'; it has predictions of \['img'\]"):
            read()
    with pytest.raises(NotInStoreError, match="no predictions of 'imgg'"):
        v.predictions.delete("imgg")
    v.predictions.delete("img")
    assert v.predictions.models() == []


def test_masks_of_frames_a_model_did_not_predict_are_refused(tmp_path):
    _, v = _project(tmp_path)
    s = v.predictions["m"]
    s.start({"kind": "image"}, "first")
    s.set_many([0, 1, 2], np.ones((3, H, W), np.float32))
    s.start({"kind": "image"}, "second")  # another checkpoint: frames 0-2 are no longer this set's
    s.set(0, np.zeros((H, W), np.float32))
    assert s.masks([0]).sum() == 0
    with pytest.raises(ValueError, match=r"2 of the frames asked for are not predicted by 'm' \(frames 1, 2\)"):
        s.masks(range(3))  # frames 1-2 still hold the first checkpoint's all-ones masks


def test_probabilities_must_lie_in_zero_to_one(tmp_path):
    _, v = _project(tmp_path)
    s = v.predictions["m"]
    with pytest.raises(ValueError, match=r"values from 0 to 255.*divide by 255"):
        s.set(0, np.full((H, W), 255, np.uint8) * (np.arange(W) % 2))
    with pytest.raises(ValueError, match="hold NaN"):
        s.set(0, np.full((H, W), np.nan, np.float32))
    assert not s.exists()  # refused before the set was made
    s.set_many([], np.zeros((0, H, W), np.float32))  # nothing to write: no IndexError
    s.set(0, np.full((H, W), 1.0, np.float32))
    assert s.frames().tolist() == [0]


# ---- the object bank --------------------------------------------------------------------------------------------
def test_a_misspelt_object_kind_is_refused_not_read_as_an_empty_bank(tmp_path):
    p, _ = _project(tmp_path)
    p.objects.add([(np.full((3, 3, 4), 255, np.uint8), {"kind": "head"})])
    bank = p.objects
    for call in (
        lambda: bank.load("heads"),
        lambda: bank.count("heads"),
        lambda: bank.frames_with("heads"),
        lambda: bank.clear("heads"),
    ):
        with pytest.raises(ValueError, match=r"kind must be one of \('head', 'fake'\), got 'heads'"):
            call()
    assert len(bank.load("head")) == 1 and len(p.objects) == 1


def test_object_crops_of_floats_are_refused_not_cast_to_black(tmp_path):
    p, _ = _project(tmp_path)
    for crop in (np.full((3, 3, 4), 0.5, np.float32), np.full((3, 3, 4), 300, np.int32)):
        with pytest.raises(ValueError, match="uint8 RGBA .*scale it to 0-255"):
            p.objects.add([(crop, {"kind": "head"})])
    assert len(p.objects) == 0
    p.objects.add([(np.full((3, 3, 4), 200, np.int64), {"kind": "head"})])  # whole numbers 0-255 are fine
    assert p.objects.get(0)[0, 0, 0] == 200


def test_the_table_of_an_empty_bank_has_its_columns(tmp_path):
    p, _ = _project(tmp_path)
    table = p.objects.table()
    assert len(table) == 0 and {"id", "kind", "video", "frame"} <= set(table.columns)
    assert len(table[table.kind == "head"]) == 0


# ---- what a notebook shows ------------------------------------------------------------------------------------
def test_handles_show_what_they_are(tmp_path):
    p, v = _project(tmp_path)
    v.predictions["m"].set(1, np.zeros((H, W), np.float32))
    assert repr(v) == f"Video('v', 6 frames of {H}x{W}, split='train', project={str(p.path)!r})"
    assert repr(v.predictions) == "Predictions(video 'v': ['m'])"
    assert repr(v.predictions["m"]) == "ModelPredictions('m' of video 'v': 1 of 6 frames predicted)"
    assert repr(p.objects).startswith("ObjectBank(0 heads, 0 fakes")


def test_the_package_docstring_names_entry_points_that_exist():
    names = re.findall(r"``(dvos_core(?:\.\w+)+)", dvos_core.__doc__)
    assert len(names) >= 10
    for name in names:
        parts = name.split(".")
        for i in range(len(parts), 0, -1):  # the longest importable module, then attributes
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            for attr in parts[i:]:
                obj = getattr(obj, attr)
            break


def test_a_probability_map_as_a_mask_is_told_to_threshold(tmp_path):
    p = Project.create(tmp_path / "f.dvos")
    v = p.add_video_array("v", np.zeros((2, 8, 8, 3), np.uint8))
    prob = np.full((8, 8), 0.7, np.float32)
    with pytest.raises(ValueError, match=r"fractions .*threshold it first"):
        v.set_mask(0, prob, "manual")
    v.set_mask(0, (prob >= 0.5), "manual")  # what the message says works
    assert v.mask(0).all()


def test_a_synthetic_set_and_a_wrong_train_config_read_plainly(tmp_path):
    from dvos_core.data.toy import make_toy_project
    from dvos_core.train import train

    p = make_toy_project(tmp_path / "t.dvos", n_clips=2, n_frames=3, size=32, n_videos=1, video_frames=3)
    name = p.synthetic_ids()[0]
    text = repr(p.synthetic(name))
    assert text.startswith(f"SyntheticSet({name!r}, 2 of 2 clips done, 3 frames of 32x32")
    with pytest.raises(TypeError, match="config must be a TrainConfig"):
        train(p, None, "m")
