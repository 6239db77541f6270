"""A checkpoint is flushed to the disk before it replaces the old one, and its folder after (a rename alone survives
a killed process, not a power cut: the new name could point at a file whose bytes never reached the disk)."""

import os

import torch

from dvos_core.model import build_model, read_checkpoint, save_checkpoint

torch.set_num_threads(1)


def test_a_checkpoint_is_flushed_before_and_after_it_replaces_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "m" / "best.pt"
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        target = os.readlink(f"/proc/self/fd/{fd}")
        events.append(("fsync", "folder" if os.path.isdir(target) else os.path.basename(target)))
        real_fsync(fd)

    def replace(a, b):
        events.append(("replace", os.path.basename(b)))
        real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    save_checkpoint(path, build_model("tiny", "frame"), phase="image")
    assert [e[0] for e in events] == ["fsync", "replace", "fsync"]
    assert events[0][1].endswith(".tmp") and events[1] == ("replace", "best.pt") and events[2] == ("fsync", "folder")
    assert read_checkpoint(path)["kind"] == "frame"
