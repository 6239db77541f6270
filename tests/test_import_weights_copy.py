"""`dvos import-weights OLD.dvos/models/NAME/best.pt --project NEW.dvos --name NEW_NAME` (no --kind): a dvos model of
another project (last season's) copied in, so that the new project holds it itself - best.pt byte for byte, its run's
config.yaml and metrics.json, never last.pt - under the writer lock, all or nothing, an existing model kept unless
--overwrite; the same :func:`dvos_core.model.install.copy_model` behind the command."""

import shutil

import pytest
import torch
import yaml

from dvos_core.cli import main
from dvos_core.model import build_model, save_checkpoint
from dvos_core.model.checkpoint import file_fingerprint
from dvos_core.model.install import copy_model
from dvos_core.store import Project

torch.set_num_threads(1)


@pytest.fixture
def old(tmp_path):
    """Last season's project: model image2 (fine-tuned from its image model) with its whole training run."""
    a = Project.create(tmp_path / "a.dvos")
    d = a.model_dir("image2", create=True)
    for f in ("best.pt", "last.pt"):
        save_checkpoint(d / f, build_model("tiny", "frame"), phase="image")
    (d / "config.yaml").write_text(
        "# dvos training configuration\n# doc\nphase: image\n# doc\ninit_from: models/image/best.pt\n"
    )
    (d / "metrics.json").write_text('[{"epoch": 1}]')
    return a, d


@pytest.fixture
def new(tmp_path):
    return Project.create(tmp_path / "b.dvos")


def test_a_model_of_another_project_is_copied_in(old, new, capsys):
    a, d = old
    assert main(["import-weights", str(d / "best.pt"), "--project", str(new.path), "--name", "image_2025"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    got = new.model_dir("image_2025")
    assert sorted(p.name for p in got.iterdir()) == ["best.pt", "config.yaml", "metrics.json"]  # no last.pt
    assert (got / "best.pt").read_bytes() == (d / "best.pt").read_bytes()
    sha = file_fingerprint(d / "best.pt")
    assert f"sha256 {sha[:12]}" in out and "--init-from image_2025" in out and "--phase image" in out
    assert (got / "metrics.json").read_text() == (d / "metrics.json").read_text()
    text = (got / "config.yaml").read_text()
    assert text.startswith(f"# copied from {(d / 'best.pt').resolve()} (sha256 {sha})")
    config = yaml.safe_load(text)  # the starting checkpoint it names is the old project's, not this one's image
    assert config["phase"] == "image" and config["init_from"] == str(a.path.resolve() / "models/image/best.pt")


def test_a_model_folder_and_the_default_name(old, new):
    _, d = old
    done = copy_model(new.path, d)  # the Python door: a model folder, named as it was
    assert done.best == new.model_dir("image2") / "best.pt" and done.kind == "frame"
    assert done.copied == ["config.yaml", "metrics.json"] and done.sha256 == file_fingerprint(d / "best.pt")


def test_an_existing_model_is_kept_unless_overwrite(old, new, capsys):
    _, d = old
    mine = new.model_dir("m", create=True)
    for f in ("best.pt", "last.pt"):
        save_checkpoint(mine / f, build_model("tiny", "context"), phase="real")
    before = {p.name: p.read_bytes() for p in mine.iterdir()}
    assert main(["import-weights", str(d), "--project", str(new.path), "--name", "m"]) == 2
    assert "already holds a model" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == before
    assert main(["import-weights", str(d), "--project", str(new.path), "--name", "m", "--overwrite"]) == 0
    assert "removed last.pt" in capsys.readouterr().out  # the old run's last.pt: `dvos train --name m` won't resume it
    assert sorted(p.name for p in mine.iterdir()) == ["best.pt", "config.yaml", "metrics.json"]
    assert (mine / "best.pt").read_bytes() == (d / "best.pt").read_bytes()


@pytest.mark.parametrize(
    "more, words",
    [
        (["--kind", "image"], "already a dvos checkpoint: .*leaving out --kind"),
        (["--preset", "tiny"], "--preset: only for converting the authors' weights"),
        ([], "without --kind, import-weights copies a dvos model into a project: add --project"),
    ],
)
def test_wrong_options_are_refused_saying_what_to_do(old, new, more, words, capsys):
    _, d = old
    project = [] if not more else ["--project", str(new.path), "--name", "x"]
    assert main(["import-weights", str(d / "best.pt"), *project, *more]) == 2
    assert __import__("re").search(words, " ".join(capsys.readouterr().err.split()))
    assert new.model_names() == []


def test_reference_weights_without_kind_say_how_to_convert(new, tmp_path, capsys):
    src = tmp_path / "ckpt_best.tar"
    torch.save({"encoder.backbone.0.weight": torch.zeros(1)}, src)
    assert main(["import-weights", str(src), "--project", str(new.path)]) == 2
    assert "--kind video" in capsys.readouterr().err and new.model_names() == []


def test_the_copy_holds_the_writer_lock_and_a_failed_copy_leaves_nothing(old, new, monkeypatch):
    from dvos_core.store.lock import writer_lock

    _, d = old
    seen, real = [], shutil.copyfile

    def copyfile(src, dst):
        lock = writer_lock(new.path)
        seen.append((lock.held, (lock.holder() or {}).get("operation")))
        if "broken" in seen_names:
            raise OSError(28, "No space left on device")
        return real(src, dst)

    seen_names: list = []
    monkeypatch.setattr(shutil, "copyfile", copyfile)
    copy_model(new, d, "ok")
    assert seen == [(True, "import-weights ok (copy)")] and not writer_lock(new.path).held
    seen_names.append("broken")
    with pytest.raises(OSError):
        copy_model(new, d, "broken")
    assert not (new.path / "models" / "broken").exists()  # the folder the failed copy made is gone
    before = {p.name: p.read_bytes() for p in new.model_dir("ok").iterdir()}
    with pytest.raises(OSError):
        copy_model(new, d, "ok", overwrite=True)
    assert {p.name: p.read_bytes() for p in new.model_dir("ok").iterdir()} == before  # no staged file left


def test_a_model_is_not_copied_over_itself(old):
    a, d = old
    with pytest.raises(ValueError, match="is model 'image2' of this project itself"):
        copy_model(a, d, overwrite=True)
    assert (d / "last.pt").is_file()


@pytest.mark.parametrize("edit", ["kind", "weights"])
def test_a_checkpoint_that_cannot_be_loaded_is_refused_and_named_by_check(old, new, edit):
    """import-weights copied a checkpoint whose kind or weights were edited (only its format entry was read), named
    the made-up kind as a --video-model in its success line, and `dvos check` said every stored part reads; only the
    first prediction failed."""
    from dvos_core.model.checkpoint import CheckpointError
    from dvos_core.store.check import check_project

    _, d = old
    payload = torch.load(d / "best.pt", weights_only=False)
    if edit == "kind":
        payload["kind"] = "hologram"
    else:
        key = next(k for k, v in payload["state_dict"].items() if v.ndim == 4)
        payload["state_dict"][key] = payload["state_dict"][key][:1]
    bad = d.parent / "edited.pt"
    torch.save(payload, bad)
    with pytest.raises(CheckpointError, match=r"edited\.pt: (invalid model description|weights do not fit)"):
        copy_model(new.path, bad, name="edited")
    assert not new.model_dir("edited").exists()
    shutil.copy(bad, new.model_dir("planted", create=True) / "best.pt")  # put there by hand
    found = [f for f in check_project(new) if f.where == "model planted, best.pt"]
    assert len(found) == 1 and found[0].kind == "damaged"


def test_a_model_whose_training_was_stopped_is_copied_with_a_warning_saying_how_far_it_got(old, new, capsys):
    """A run stopped before its last epoch was copied without a word: the new project took it for a finished model."""
    a, d = old
    state = {"epoch": 3, "step": 5, "finished": False}
    save_checkpoint(d / "last.pt", build_model("tiny", "frame"), train_state=state, train_config={"epochs": 10})
    assert main(["import-weights", str(d / "best.pt"), "--project", str(new.path), "--name", "copy"]) == 0
    said = capsys.readouterr()
    err = " ".join(said.err.split())
    assert "warning:" in err and str(d.resolve()) in err and "unfinished" in err
    assert "stopped after 3 of 10 epoch(s) and 5 step(s)" in err
    assert f"dvos train {a.path.resolve()} --name image2 --config" in err and "--overwrite" in err
    assert (new.model_dir("copy") / "best.pt").read_bytes() == (d / "best.pt").read_bytes()  # still imported
    with pytest.warns(UserWarning, match=r"'again' is a copy of last.pt, the state it stopped in"):
        done = copy_model(new, d / "last.pt", "again")
    assert done.unfinished == "after 3 of 10 epoch(s) and 5 step(s)"

    # a finished run, and one of a dvos before the flag that trained all its epochs: no warning
    for state in ({"epoch": 10, "step": 0, "finished": True}, {"epoch": 10, "step": 0}):
        save_checkpoint(d / "last.pt", build_model("tiny", "frame"), train_state=state, train_config={"epochs": 10})
        done = copy_model(new, d, "done", overwrite=True)
        assert done.unfinished == ""
    assert "warning" not in capsys.readouterr().err
