"""`dvos import-weights --project P --name NAME --overwrite` replaces the whole model folder (no stale last.pt for
`dvos train` to resume), all or nothing; --input-size must be a usable size, checked before any work."""

import pytest
import torch

from dvos_core.cli import main
from dvos_core.model import build_model, save_checkpoint
from dvos_core.store import Project

torch.set_num_threads(1)


@pytest.fixture
def fake_import(monkeypatch):
    """import_reference_weights writing a tiny video checkpoint (no reference file needed); a source named
    'broken*' fails as a bad file would."""
    from dvos_core.model import reference

    def fake(src, out, kind="video", preset="paper", reduction="adjacent", input_size=None):
        if "broken" in str(src):
            raise reference.CheckpointError(f"{src}: not a reference state_dict")
        return save_checkpoint(out, build_model("tiny", "dvos"), imported_from=str(src))

    monkeypatch.setattr(reference, "import_reference_weights", fake)


@pytest.fixture
def trained(tmp_path):
    """A project whose models/ow holds a (fake) finished training run of a frame model."""
    p = Project.create(tmp_path / "p.dvos")
    d = p.model_dir("ow", create=True)
    for f in ("best.pt", "last.pt"):
        save_checkpoint(d / f, build_model("tiny", "frame"), phase="image")
    (d / "config.yaml").write_text("phase: image\n")
    (d / "metrics.json").write_text("{}")
    return p, d


def _import(p, src, *more):
    return main(["import-weights", str(src), "--kind", "video", "--project", str(p.path), "--name", "ow", *more])


def test_overwrite_replaces_the_whole_model_folder(trained, fake_import, tmp_path, capsys):
    p, d = trained
    assert _import(p, tmp_path / "ref.tar", "--overwrite") == 0
    assert sorted(x.name for x in d.iterdir()) == ["best.pt"]
    assert torch.load(d / "best.pt", weights_only=True)["kind"] == "dvos"
    assert "removed config.yaml, last.pt, metrics.json" in capsys.readouterr().out


def test_without_overwrite_or_with_a_failing_import_the_old_model_stays(trained, fake_import, tmp_path, capsys):
    p, d = trained
    before = {x.name: x.read_bytes() for x in d.iterdir()}
    assert _import(p, tmp_path / "ref.tar") != 0
    assert "already holds a model" in capsys.readouterr().err
    assert _import(p, tmp_path / "broken.tar", "--overwrite") != 0
    assert {x.name: x.read_bytes() for x in d.iterdir()} == before
    assert main(["import-weights", "broken.tar", "--kind", "video", "--project", str(p.path), "--name", "new"]) != 0
    assert not (p.path / "models" / "new").exists()  # the folder a failed import made is gone


def test_overwrite_is_explained_in_the_help(capsys):
    with pytest.raises(SystemExit):
        main(["import-weights", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "replace the whole model folder" in help_text and "last.pt" in help_text


@pytest.mark.parametrize("size", ["-64", "0", "48", "100000"])
def test_input_size_must_be_a_positive_multiple_of_32(size, fake_import, tmp_path, capsys):
    out = tmp_path / "x.pt"
    rc = main(["import-weights", "ref.tar", "--kind", "video", "--input-size", size, "--out", str(out)])
    assert rc == 2 and not out.exists()
    err = capsys.readouterr().err
    assert "--input-size must be a multiple of 32" in err and "unexpected" not in err


def test_import_into_a_project_holds_its_writer_lock(trained, monkeypatch, tmp_path):
    """The import writes models/NAME: it holds the project's writer lock meanwhile, so a `dvos train --name NAME` or a
    second import started at the same time stops with an error naming it instead of writing the same folder."""
    from dvos_core.model import reference
    from dvos_core.store.lock import writer_lock

    p, _d = trained
    seen = []

    def fake(src, out, kind="video", preset="paper", reduction="adjacent", input_size=None):
        lock = writer_lock(p.path)
        seen.append((lock.held, (lock.holder() or {}).get("operation")))
        return save_checkpoint(out, build_model("tiny", "dvos"), imported_from=str(src))

    monkeypatch.setattr(reference, "import_reference_weights", fake)
    assert _import(p, tmp_path / "ref.tar", "--overwrite") == 0
    assert seen == [(True, "import-weights ow")]
    assert not writer_lock(p.path).held
