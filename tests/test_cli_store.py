"""The `dvos` entry point: help, new, info, clean errors and cheap imports."""

import json
import subprocess
import sys

import numpy as np
import pytest

from dvos_core.cli import main
from dvos_core.store import Project, StoreError


def test_help_lists_every_step(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for cmd in (
        "new",
        "info",
        "add-video",
        "extract-objects",
        "extract-backgrounds",
        "synth",
        "train",
        "predict",
        "smooth",
        "pseudo-label",
        "evaluate",
        "demo",
        "migrate",
    ):
        assert cmd in out, cmd


def test_new_then_info_json(tmp_path, capsys):
    path = tmp_path / "field.dvos"
    assert main(["new", str(path)]) == 0
    p = Project.open(path)
    v = p.add_video_array("plot1", np.zeros((3, 32, 32, 3), np.uint8), split="test")
    v.set_mask(1, np.ones((32, 32), np.uint8), "manual")
    capsys.readouterr()
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["videos"][0]["id"] == "plot1"
    assert info["videos"][0]["provenance"] == {"manual": 1}
    assert info["videos"][0]["split"] == "test"
    assert info["videos"][0]["predicted_by"] == []
    for model in ("image", "context"):  # which models predicted the video, oldest first
        v.predictions[model].start({"kind": "test"}, None)
        v.predictions[model].set(0, np.ones((32, 32), np.float32))
    assert main(["info", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["videos"][0]["predicted_by"] == ["image", "context"]
    assert main(["info", str(path)]) == 0
    assert "predicted by image, context" in capsys.readouterr().out


def test_new_refuses_to_clobber(tmp_path, capsys):
    path = tmp_path / "field.dvos"
    assert main(["new", str(path)]) == 0
    Project.open(path).add_video_array("keep", np.ones((2, 32, 32, 3), np.uint8))
    assert main(["new", str(path)]) == 2
    err = capsys.readouterr().err
    # the command's own fix first, the Python names in brackets (it named Project.open and overwrite=True first)
    assert "already exists" in err and f"`dvos new {path} --overwrite` (Python: Project.open(path)" in err, err
    assert Project.open(path).video("keep").n_frames == 2  # nothing lost
    with pytest.raises(StoreError, match="open it with Project.open, or pass overwrite=True to replace it$"):
        Project.create(path)  # from Python: the Python names


def test_info_on_missing_project_is_a_clear_error(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nope.dvos")]) == 2
    err = capsys.readouterr().err
    assert "nope.dvos" in err and "dvos new" in err


def test_import_dvos_core_is_cheap():
    code = (
        "import sys, dvos_core, dvos_core.cli; "
        "print(','.join(m for m in ('torch', 'zarr', 'cv2', 'napari', 'qtpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_split_takes_the_split_before_or_after_the_videos(tmp_path, capsys):
    path = tmp_path / "field.dvos"
    p = Project.create(path)
    for vid in ("plot1", "plot2"):
        p.add_video_array(vid, np.zeros((3, 32, 32, 3), np.uint8))
    assert main(["split", str(path), "val", "plot1"]) == 0
    assert main(["split", str(path), "plot2", "plot1", "train"]) == 0  # the split last reads as meant
    assert [Project.open(path).video(v).split for v in ("plot1", "plot2")] == ["train", "train"]
    capsys.readouterr()
    assert main(["split", str(path), "plot1", "plot2"]) == 2  # no split named: nothing changes
    err = capsys.readouterr().err
    assert "name one of train, val, test, unassigned" in err and "dvos split PROJECT test plot1" in err
    assert main(["split", str(path), "test", "nope"]) == 2
    assert [Project.open(path).video(v).split for v in ("plot1", "plot2")] == ["train", "train"]


def test_delete_a_models_predictions(tmp_path, capsys):
    """`dvos delete P predictions MODEL`: a model's prediction sets go from every video (or --videos), whole; the
    other models' sets stay; without --yes nothing is deleted; unknown models and videos are refused first."""
    path = tmp_path / "field.dvos"
    p = Project.create(path)
    for vid in ("plot1", "plot2"):
        v = p.add_video_array(vid, np.zeros((3, 16, 16, 3), np.uint8))
        for model in ("old", "new"):
            v.predictions[model].start({"kind": "test"}, None)
            v.predictions[model].set_many(range(3), np.full((3, 16, 16), 0.8, np.float32))
    models = lambda: {v: Project.open(path).video(v).predictions.models() for v in ("plot1", "plot2")}  # noqa: E731
    assert main(["delete", str(path), "predictions", "old"]) == 1  # without --yes: only says what would go
    assert "from 2 video(s): plot1, plot2" in capsys.readouterr().out
    assert models() == {"plot1": ["old", "new"], "plot2": ["old", "new"]}
    assert main(["delete", str(path), "predictions", "old", "--videos", "plot2", "--yes"]) == 0
    assert models() == {"plot1": ["old", "new"], "plot2": ["new"]}
    assert main(["delete", str(path), "predictions", "old", "--videos", "plot1", "nope", "--yes"]) == 2
    assert "no video 'nope'" in capsys.readouterr().err and models()["plot1"] == ["old", "new"]
    assert main(["delete", str(path), "predictions", "old", "--yes"]) == 0
    assert models() == {"plot1": ["new"], "plot2": ["new"]}
    assert not (path / ".trash").exists()  # each set went through the trash, which is empty again
    assert main(["delete", str(path), "predictions", "old", "--yes"]) == 2
    assert "no video holds predictions of 'old'; predictions there are of ['new']" in capsys.readouterr().err
    np.testing.assert_allclose(Project.open(path).video("plot2").predictions["new"].get(2)[1], 0.8, atol=1e-3)


def test_split_of_several_videos_changes_none_when_one_is_refused(tmp_path, capsys):
    """`dvos split P test a b` where b holds pseudo-labels (a test video's masks are its ground truth): b is refused,
    and a stays as it was instead of becoming a test video on its own."""
    path = tmp_path / "field.dvos"
    p = Project.create(path)
    for vid in ("a", "b"):
        p.add_video_array(vid, np.zeros((3, 32, 32, 3), np.uint8), split="train")
    p.video("a").set_mask(0, np.ones((32, 32), np.uint8), "manual")
    p.video("b").set_mask(0, np.ones((32, 32), np.uint8), "pseudo")
    assert main(["split", str(path), "test", "a", "b"]) == 2
    assert "cannot make 'b' a test video" in capsys.readouterr().err
    assert [Project.open(path).video(v).split for v in ("a", "b")] == ["train", "train"]
    with pytest.raises(Exception, match="cannot make 'b' a test video"):
        Project.open(path).video("b").check_split("test")
    Project.open(path).video("a").check_split("test")  # a may be: checking changes nothing
    assert Project.open(path).video("a").split == "train"


def test_add_video_skip_existing_skips_only_the_same_file_added_before(tmp_path, capsys):
    """A script's retry of a file list failed on the first file added already (no way to say "skip those");
    --skip-existing skips a file whose id holds a video added from that file, and refuses another file's id."""
    from PIL import Image

    folders = {}
    for name, value in (("a", 10), ("b", 200)):
        d = tmp_path / "src" / name
        d.mkdir(parents=True)
        for t in range(2):
            Image.fromarray(np.full((16, 16, 3), value + t, np.uint8)).save(d / f"{t}.png")
        folders[name] = str(d)
    other = tmp_path / "other" / "a"  # another file that gives the id 'a'
    other.mkdir(parents=True)
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(other / "0.png")
    path = str(tmp_path / "p.dvos")
    assert main(["new", path]) == 0 and main(["add-video", path, folders["a"]]) == 0
    capsys.readouterr()
    assert main(["add-video", path, folders["a"], folders["b"]]) == 2  # as before: refused, nothing added
    err = " ".join(capsys.readouterr().err.split())
    assert "already in" in err and Project.open(path).video_ids() == ["a"]
    assert "a was added from the same file before" in err and "run it again with --skip-existing" in err  # the fix
    assert main(["add-video", path, folders["a"], folders["b"], "--skip-existing"]) == 0
    said = capsys.readouterr()
    assert f"skipped a: added from {folders['a']} already" in said.err and "added b: 2 frames" in said.out
    assert sorted(Project.open(path).video_ids()) == ["a", "b"]
    assert main(["add-video", path, folders["a"], folders["b"], "--skip-existing"]) == 0  # all there: nothing to do
    assert main(["add-video", path, str(other), "--skip-existing"]) == 2  # the id of a video of another file
    err = capsys.readouterr().err
    assert "already in" in err and "--skip-existing)" not in err


def test_create_on_a_file_or_other_folder_does_not_suggest_overwrite(tmp_path, capsys):
    """Project.create on an existing file or a folder that is no dvos project said "pass overwrite=True to replace
    it", which is then refused (dvos deletes only its own projects); now it says to choose another path."""
    afile = tmp_path / "notes.txt"
    afile.write_text("keep")
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"x")
    for path in (afile, folder):
        for overwrite in (False, True):
            with pytest.raises(StoreError, match="is not a dvos project.*choose another path") as e:
                Project.create(path, overwrite=overwrite)
            assert "overwrite" not in str(e.value)
        assert main(["new", str(path)]) == 2
        err = capsys.readouterr().err
        assert "choose another path" in err and "--overwrite" not in err, err
    assert afile.read_text() == "keep" and (folder / "a.jpg").exists()
