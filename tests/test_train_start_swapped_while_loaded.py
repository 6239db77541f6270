"""A start model (--init-from) saved again after the training run loaded it was recorded as what the run began from
(the path was hashed again after loading): a resume then took weights the run never saw for its start."""

import torch
from conftest import tiny_train_config

import dvos_core.train.loop as loop
from dvos_core.data.toy import make_toy_project
from dvos_core.model import build_model, read_checkpoint, save_checkpoint
from dvos_core.model.checkpoint import file_fingerprint
from dvos_core.train import train

torch.set_num_threads(1)


def test_a_run_records_the_start_model_it_loaded_not_the_one_saved_since(tmp_path, monkeypatch):
    project = make_toy_project(tmp_path / "p.dvos", n_clips=2, n_frames=4, size=64, n_videos=0)
    start = project.model_dir("image", create=True) / "best.pt"
    torch.manual_seed(0)
    save_checkpoint(start, build_model("tiny", "frame"), kind="frame", input_size=64)
    old = file_fingerprint(start)
    real = loop.read_checkpoint

    def read_then_retrain(path, *a, **k):
        payload = real(path, *a, **k)
        if str(path) == str(start) and file_fingerprint(start) == old:
            torch.manual_seed(7)
            save_checkpoint(start, build_model("tiny", "frame"), kind="frame", input_size=64)  # trained again
        return payload

    monkeypatch.setattr(loop, "read_checkpoint", read_then_retrain)
    train(project, tiny_train_config(phase="synthetic", size=64, init_from=start), "ctx", resume=False)
    assert file_fingerprint(start) != old
    info = read_checkpoint(project.model_dir("ctx") / "best.pt")["info"]
    assert info["init"]["sha256"] == old
