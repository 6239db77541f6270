"""A best.pt saved again (training renames a new file over it) after `dvos predict` or `dvos pseudo-label` loaded
the model was recorded as the checkpoint that made the predictions or labels: both hashed the path again after
loading. They now record the SHA-256 of the very bytes the model was loaded from."""

import numpy as np
import pytest
import torch

import dvos_core.infer.predict as predict_mod
import dvos_core.infer.pseudo as pseudo_mod
from dvos_core.infer import predict_video, pseudo_label
from dvos_core.model import build_model, load_checkpoint, save_checkpoint
from dvos_core.model.checkpoint import file_fingerprint
from dvos_core.store import Project

torch.set_num_threads(1)


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("a", np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3), np.uint8))
    torch.manual_seed(0)
    save_checkpoint(p.model_dir("img", create=True) / "best.pt", build_model("tiny", "frame"), phase="image")
    return p


def _swap_after_loading(monkeypatch, module):
    """Make ``module``'s load_model save a new best.pt over the path right after it loaded the model."""
    real = module.load_model

    def load_then_retrain(checkpoint, device="auto"):
        loaded = real(checkpoint, device)
        torch.manual_seed(7)
        save_checkpoint(checkpoint, build_model("tiny", "frame"), phase="image")  # trained again meanwhile
        return loaded

    monkeypatch.setattr(module, "load_model", load_then_retrain)


def test_predict_records_the_checkpoint_it_loaded_not_the_one_saved_since(project, monkeypatch):
    ckpt = project.model_dir("img") / "best.pt"
    old = file_fingerprint(ckpt)
    _swap_after_loading(monkeypatch, predict_mod)
    assert predict_video(project, "a", ckpt, device="cpu", tile_size=32, overlap=0, scales="own") == 2
    new = file_fingerprint(ckpt)
    assert new != old
    recorded = project.video("a").predictions["img"].attrs["fingerprint"]
    assert recorded.startswith(old + "/") and new not in recorded


def test_pseudo_label_records_the_checkpoint_it_loaded_not_the_one_saved_since(project, monkeypatch):
    ckpt = project.model_dir("img") / "best.pt"
    old = file_fingerprint(ckpt)
    _swap_after_loading(monkeypatch, pseudo_mod)
    pseudo_label(project, "a", ckpt, device="cpu", n_passes=1, tile_size=32, overlap=0, scales="own")
    assert file_fingerprint(ckpt) != old
    assert project.video("a").attrs["pseudo_label"]["checkpoint_sha256"] == old


def test_the_loaded_model_carries_the_hash_of_the_bytes_it_was_built_from(project):
    ckpt = project.model_dir("img") / "best.pt"
    assert load_checkpoint(ckpt)[1]["file_sha256"] == file_fingerprint(ckpt)
