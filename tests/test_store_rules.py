"""Rules that protect data live in the core: test videos keep manual ground truth only (no pseudo-labels,
predictions as labels, corrections or head extraction), ids are checked exactly, hints name real commands, and
`dvos split` / `dvos delete` do what they say."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import store_digest
from stub_models import BrightIsHead

from dvos_core.cli import build_parser, main
from dvos_core.store import Project, StoreError, check_id, safe_id

torch.set_num_threads(1)


def _frames(n=4, h=32, w=40):
    f = np.full((n, h, w, 3), 30, np.uint8)
    f[:, 4:12, 6:16] = 230
    return f


@pytest.fixture
def test_video(tmp_project):
    v = tmp_project.add_video_array("held_out", _frames(), split="test")
    truth = np.zeros((32, 40), np.uint8)
    truth[4:12, 6:16] = 1
    v.set_mask(0, truth, "manual")
    return v


def test_core_pseudo_label_refuses_test_videos(tmp_project, test_video):
    from dvos_core.infer import pseudo_label

    before = store_digest(tmp_project.path)
    with pytest.raises(StoreError, match="held_out pseudo-labelling: 'held_out' is a test video.*manual masks only"):
        pseudo_label(tmp_project, ["held_out"], (BrightIsHead(), {}), device="cpu", n_passes=1)
    assert store_digest(tmp_project.path) == before


def test_predictions_as_labels_refused_on_test_videos_before_predicting(tmp_project, test_video):
    from dvos_core.infer import predict_video

    before = store_digest(tmp_project.path)
    with pytest.raises(StoreError, match="predictions as labels: 'held_out' is a test video"):
        predict_video(tmp_project, "held_out", (BrightIsHead(), {}), device="cpu", as_labels=True)
    assert store_digest(tmp_project.path) == before
    assert predict_video(tmp_project, "held_out", (BrightIsHead(), {}), device="cpu") == 4  # plain prediction is fine


def test_mask_import_of_model_output_refused_on_test_videos(tmp_project, test_video, tmp_path):
    import cv2

    from dvos_core.io import import_masks

    folder = tmp_path / "m"
    folder.mkdir()
    cv2.imwrite(str(folder / "m_000001.png"), np.full((32, 40), 255, np.uint8))
    before = store_digest(tmp_project.path)
    for prov in ("pseudo", "predicted", "corrected"):
        with pytest.raises(StoreError, match=f"test video.*not '{prov}'"):
            import_masks(tmp_project, "held_out", folder, provenance=prov)
    assert store_digest(tmp_project.path) == before
    assert import_masks(tmp_project, "held_out", folder) == [1]  # manual ground truth is welcome


def test_a_video_with_model_masks_cannot_become_a_test_video(tmp_project, capsys):
    v = tmp_project.add_video_array("v", _frames(), split="train")
    v.set_mask(1, np.ones((32, 40), np.uint8), "pseudo")
    with pytest.raises(StoreError, match="cannot make 'v' a test video: it holds 1 pseudo mask"):
        v.set_split("test")
    assert main(["split", str(tmp_project.path), "test", "v"]) == 2
    err = capsys.readouterr().err
    assert "1 pseudo mask" in err and f"`dvos clear-masks {tmp_project.path} v --provenance pseudo --yes`" in err
    assert tmp_project.video("v").split == "train"
    v.set_mask(2, np.ones((32, 40), np.uint8), "manual")
    assert main(["clear-masks", str(tmp_project.path), "v", "--provenance", "pseudo"]) == 1  # says what, clears nothing
    assert "would clear 1 pseudo mask(s); add --yes" in capsys.readouterr().out and v.mask(1) is not None
    assert main(["clear-masks", str(tmp_project.path), "v", "--provenance", "pseudo", "--yes"]) == 0
    assert "cleared 1 mask(s)" in capsys.readouterr().out
    assert v.mask(1) is None and v.mask(2) is not None  # the painted one stays
    assert main(["split", str(tmp_project.path), "test", "v"]) == 0
    assert tmp_project.video("v").split == "test"


def test_head_extraction_refuses_test_videos(tmp_project, test_video):
    from dvos_core.extract import extract_heads

    with pytest.raises(ValueError, match="'held_out' is a test video"):
        extract_heads(tmp_project, video_ids=["held_out"])
    assert len(tmp_project.objects) == 0


@pytest.mark.parametrize(
    "bad",
    ["plot1\n", "plot\n1", "zarr.json", "ZARR.JSON", ".zattrs", "nul", "COM1", "", "a/b", "../x", "-x", "x" * 129],
)
def test_ids_are_checked_exactly(tmp_project, bad):
    with pytest.raises(ValueError, match="invalid video id"):
        tmp_project.add_video_array(bad, _frames(1))
    assert tmp_project.video_ids() == []
    assert check_id(safe_id(bad)) == safe_id(bad)  # a derived id is always valid


def test_ids_from_accented_file_names_keep_their_letters():
    """A French or German file name gives a readable id ('Parcelle_t_2026' before), and always a valid one."""
    assert safe_id("Parcelle été 2026") == "Parcelle_ete_2026"
    assert safe_id("Weizen Ähre") == "Weizen_Ahre"
    assert safe_id("麦田") == "video"  # nothing to keep: the default
    for text in ("Parcelle été 2026", "Ångström-Feld", "ﬁeld", "e\u0301t\u00e9"):
        assert check_id(safe_id(text)) == safe_id(text)


def test_delete_every_kind_with_confirmation(tmp_project, capsys):
    p = tmp_project
    p.add_video_array("v", _frames(2))
    p.create_background("bg", 8, 8)
    p.create_synthetic("s", 1, 2, 16, 16)
    p.model_dir("m", create=True)
    (p.path / "reports" / "r").mkdir()
    before = store_digest(p.path)
    assert main(["delete", str(p.path), "video", "v"]) == 1  # without --yes: says what it would do
    assert "would delete video 'v'" in capsys.readouterr().out and store_digest(p.path) == before
    for kind, name in (("video", "v"), ("background", "bg"), ("synthetic", "s"), ("model", "m"), ("report", "r")):
        assert main(["delete", str(p.path), kind, name, "--yes"]) == 0, kind
    s = Project.open(p.path).summary()
    assert s["videos"] == [] and s["backgrounds"] == {} and s["synthetic"] == {} and s["reports"] == []
    assert not (p.path / "models" / "m").exists()
    assert main(["delete", str(p.path), "video", "v", "--yes"]) == 2
    assert "no video 'v'" in capsys.readouterr().err


def _commands() -> set:
    parser = build_parser()
    return set(parser._subparsers._group_actions[0].choices)


def test_every_dvos_command_named_in_a_message_exists():
    """Hints such as "assign one with `dvos split ...`" must name commands that exist."""
    root = Path(__file__).resolve().parents[1]
    named = set()
    for f in list((root / "dvos_core").rglob("*.py")) + list((root / "dvos_napari").rglob("*.py")):
        named |= {(m, f.name) for m in re.findall(r"`dvos ([a-z][a-z-]*)", f.read_text())}
    known = _commands()
    missing = sorted((cmd, where) for cmd, where in named if cmd not in known)
    assert not missing, f"messages name dvos commands that do not exist: {missing}"
    assert {"split", "delete"} <= {cmd for cmd, _ in named}
