"""Deleting a video takes the objects cut from it and the clips inpainted from it, all or nothing; a video added later
under the same id is never taken for one already extracted."""

import shutil

import numpy as np
import pytest

from dvos_core.cli import main
from dvos_core.extract import backgrounds_from_annotated, extract_heads


def _painted(project, vid, seed=1):
    rng = np.random.default_rng(seed)
    v = project.add_video_array(vid, rng.integers(0, 256, (3, 40, 48, 3), dtype=np.uint8), split="train")
    m = np.zeros((40, 48), np.uint8)
    m[5:13, 5:13] = m[20:30, 25:35] = 1
    v.set_mask(0, m, "manual")
    return v


def test_delete_video_removes_what_was_made_from_it(tmp_project, capsys):
    _painted(tmp_project, "a")
    _painted(tmp_project, "b", seed=2)
    extract_heads(tmp_project, min_area=10, fakes_per_head=1)
    clips = {c.attrs["source"]: c.name for c in backgrounds_from_annotated(tmp_project, clip_length=2, motion="none")}
    kept_b = tmp_project.objects.table().query("video == 'b'")
    assert main(["delete", str(tmp_project.path), "video", "a"]) == 1  # the dry run names what goes with it
    out = capsys.readouterr().out
    assert "the 2 heads and 2 fakes cut from it" in out and f"background clip {clips['a']} inpainted" in out
    assert len(tmp_project.objects) == 8 and len(tmp_project.background_ids()) == 2  # nothing deleted yet
    assert main(["delete", str(tmp_project.path), "video", "a", "--yes"]) == 0
    assert "with the 2 heads and 2 fakes" in capsys.readouterr().out
    table = tmp_project.objects.table()
    assert set(table["video"]) == {"b"} and table["id"].tolist() == kept_b["id"].tolist()
    assert tmp_project.background_ids() == [clips["b"]] and tmp_project.video_ids() == ["b"]
    assert tmp_project.objects.get(int(kept_b["id"].iloc[0])).shape[2] == 4  # the kept objects still read


def test_a_failed_object_removal_deletes_nothing(tmp_project, monkeypatch):
    from dvos_core.store.objects import ObjectBank

    _painted(tmp_project, "a")
    extract_heads(tmp_project, min_area=10, fakes_per_head=0)
    backgrounds_from_annotated(tmp_project, clip_length=2, motion="none")

    def fail(self, *a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ObjectBank, "remove", fail)
    with pytest.raises(OSError, match="deleting video 'a' failed.*Nothing was deleted"):
        tmp_project.delete("video", "a")
    assert tmp_project.video_ids() == ["a"] and len(tmp_project.background_ids()) == 1
    assert len(tmp_project.objects) == 2 and len(tmp_project.video("a")) == 3


def test_a_video_reusing_a_deleted_id_is_extracted_afresh(tmp_project):
    # a project whose video was deleted by an older dvos: its objects and inpainted clip stayed behind
    old = _painted(tmp_project, "v").attrs["created"]
    extract_heads(tmp_project, min_area=10, fakes_per_head=0)
    backgrounds_from_annotated(tmp_project, clip_length=2, motion="none")
    shutil.rmtree(tmp_project.path / "videos" / "v")
    new = _painted(tmp_project, "v", seed=5)
    new.update_attrs(created="2099-01-01T00:00:00+00:00")  # added in the same second in this test: tell them apart
    assert old != new.attrs["created"]
    again = extract_heads(tmp_project, min_area=10, fakes_per_head=0)
    assert again.attrs["heads"] == 2 and again.attrs["skipped_frames"] == 0
    assert set(again["video_created"]) == {"2099-01-01T00:00:00+00:00"}
    assert extract_heads(tmp_project, min_area=10).attrs["skipped_frames"] == 1  # now it is extracted
    [clip] = backgrounds_from_annotated(tmp_project, clip_length=2, motion="none")
    assert clip.attrs["video_created"] == "2099-01-01T00:00:00+00:00"
    assert backgrounds_from_annotated(tmp_project, clip_length=2, motion="none") == []


def test_deleting_a_model_says_its_predictions_stay(tmp_project, capsys):
    """`dvos delete P model image --yes` said nothing of the model's prediction sets, which stay (and `dvos info`
    kept listing "predicted by image")."""
    from dvos_core.model import build_model, save_checkpoint

    v = tmp_project.add_video_array("plot", np.zeros((2, 8, 8, 3), np.uint8))
    v.predictions["image"].start({"kind": "test"}, None)
    v.predictions["image"].set_many([0, 1], np.zeros((2, 8, 8), np.float32))
    save_checkpoint(tmp_project.model_dir("image", create=True) / "best.pt", build_model("tiny", "frame"))
    assert main(["delete", str(tmp_project.path), "model", "image"]) == 1
    assert "the predictions it made of plot stay" in capsys.readouterr().out
    assert main(["delete", str(tmp_project.path), "model", "image", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "the predictions it made of plot stay" in out and "predictions image --yes" in out
    assert "image" in tmp_project.video("plot").predictions.models()
