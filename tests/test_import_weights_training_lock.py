"""`dvos import-weights --project P --name NAME` and a training run of NAME: the import is refused while the run
holds the model's training lock, and the lock files a killed run leaves behind are not "a model"."""

import pytest
import torch

from dvos_core.cli import main
from dvos_core.model import build_model, save_checkpoint
from dvos_core.store import Project
from dvos_core.train.loop import TRAIN_HOLDER, TRAIN_LOCK, training_lock

torch.set_num_threads(1)


@pytest.fixture
def fake_import(monkeypatch):
    from dvos_core.model import reference

    def fake(src, out, kind="video", preset="paper", reduction="adjacent", input_size=None):
        return save_checkpoint(out, build_model("tiny", "dvos"), imported_from=str(src))

    monkeypatch.setattr(reference, "import_reference_weights", fake)


def _import(p, tmp_path):
    src = str(tmp_path / "ref.tar")
    return main(["import-weights", src, "--kind", "video", "--project", str(p.path), "--name", "m"])


def test_a_killed_runs_lock_files_are_not_a_model(fake_import, tmp_path, capsys):
    p = Project.create(tmp_path / "p.dvos")
    d = p.model_dir("m", create=True)
    (d / TRAIN_LOCK).write_text("")  # left by a training killed before its first checkpoint
    (d / TRAIN_HOLDER).write_text('{"pid": 1, "host": "x", "command": "dvos train", "since": "then"}')
    assert _import(p, tmp_path) == 0, capsys.readouterr().err
    assert sorted(x.name for x in d.iterdir()) == ["best.pt"]


def test_import_into_a_model_being_trained_is_refused(fake_import, tmp_path, capsys):
    p = Project.create(tmp_path / "p.dvos")
    with training_lock(p, "m"):  # a training run of model m
        assert _import(p, tmp_path) == 2
        assert "is being trained" in capsys.readouterr().err
        assert not (p.model_dir("m") / "best.pt").exists()
    assert _import(p, tmp_path) == 0  # once it has finished


def test_a_killed_imports_staged_checkpoint_is_not_a_model_and_goes(fake_import, tmp_path, capsys):
    p = Project.create(tmp_path / "p.dvos")
    d = p.model_dir("m", create=True)
    (d / ".best.pt.import.4242").write_bytes(b"half a checkpoint")  # an import killed before its rename
    (d / "..best.pt.import.4242.4242.tmp").write_bytes(b"half")  # ... or while its checkpoint was being written
    (d / ".last.pt.99.tmp").write_bytes(b"half")  # a training killed while saving
    assert _import(p, tmp_path) == 0, capsys.readouterr().err
    assert sorted(x.name for x in d.iterdir()) == ["best.pt"]


def test_deleting_a_model_being_trained_is_refused(tmp_path, capsys):
    """`dvos delete P model m --yes` went ahead under a running training, which then died on a missing file."""
    p = Project.create(tmp_path / "p.dvos")
    d = p.model_dir("m", create=True)
    save_checkpoint(d / "last.pt", build_model("tiny", "frame"))
    with training_lock(p, "m"):
        assert main(["delete", str(p.path), "model", "m", "--yes"]) == 2
        err = capsys.readouterr().err
        assert "model 'm' is being trained by" in err and "stop that training first" in err
        assert (d / "last.pt").is_file()
    assert main(["delete", str(p.path), "model", "m", "--yes"]) == 0  # once it has stopped
    assert not d.exists()


def test_deleting_a_synthetic_set_while_a_model_trains_is_refused(tmp_path, capsys):
    """`dvos delete P synthetic S --yes` went ahead under a training run reading the set, which then stopped calling
    the set's files missing (damaged) and told the user to restore them from a backup."""
    from dvos_core.data.toy import make_toy_project

    p = make_toy_project(tmp_path / "p.dvos", n_clips=1, n_frames=4, size=32, n_videos=0)
    p.model_dir("m", create=True)
    with training_lock(p, "m"):
        assert main(["delete", str(p.path), "synthetic", "toy", "--yes"]) == 2
        err = capsys.readouterr().err
        assert "model 'm' is being trained by" in err and "may be reading synthetic set 'toy'" in err
        assert p.synthetic_ids() == ["toy"]
    assert main(["delete", str(p.path), "synthetic", "toy", "--yes"]) == 0  # once it has stopped
    assert p.synthetic_ids() == []


def test_deleting_a_video_while_a_model_trains_is_refused(tmp_path, capsys):
    """Deleting a video under a training run reading it went ahead; the run then stopped saying a frame file was
    missing ("restore that file from a backup"), as if the disk were damaged."""
    import numpy as np

    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("plot", np.zeros((2, 8, 8, 3), np.uint8))
    p.model_dir("m", create=True)
    with training_lock(p, "m"):
        assert main(["delete", str(p.path), "video", "plot", "--yes"]) == 2
        err = capsys.readouterr().err
        assert "model 'm' is being trained by" in err and "may be reading video 'plot'" in err
        assert p.video_ids() == ["plot"]
    assert main(["delete", str(p.path), "video", "plot", "--yes"]) == 0
    assert p.video_ids() == []


def test_replacing_a_project_a_model_is_training_in_is_refused(tmp_path, capsys):
    """`dvos new P --overwrite` replaced the project under a running training, which then died with "a file is
    missing, restore it from a backup" although nothing was damaged."""
    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("plot", torch.zeros(2, 16, 16, 3, dtype=torch.uint8).numpy())
    with training_lock(p, "m"):
        assert main(["new", str(p.path), "--overwrite"]) == 2
        err = capsys.readouterr().err
        assert "model 'm' is being trained by" in err and "then replace the project" in err
        assert Project.open(p.path, mode="r").video_ids() == ["plot"]  # unchanged
    assert main(["new", str(p.path), "--overwrite"]) == 0  # once it has finished
    assert Project.open(p.path, mode="r").video_ids() == []
