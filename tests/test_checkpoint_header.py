"""A checkpoint's header (kind, config, info) is read from its pickle alone, without torch and without its tensors:
the napari model lists, run-all's note on a kept model and evaluate's warning on a model trained on a test video read
only the header (they loaded every weight of a model of hundreds of MB to read its data summary)."""

import subprocess
import sys
import warnings
import zipfile
from types import SimpleNamespace

import pytest
import torch

from dvos_core.checkpoint_header import checkpoint_data_videos, read_checkpoint_header
from dvos_core.model import build_model, read_checkpoint, save_checkpoint
from dvos_core.model.checkpoint import CheckpointError

torch.set_num_threads(1)
DATA = {"train": {"videos": ["a", "b"], "frames": 6}, "val": {"videos": ["c"]}}


def _saved(tmp_path):
    path = tmp_path / "m" / "best.pt"
    save_checkpoint(path, build_model("tiny", "frame"), data=DATA, epoch=3)
    return path


def _damage_weights(path):
    """Flip bytes inside the largest tensor entry of the archive: its pickle stays intact."""
    with zipfile.ZipFile(path) as archive:
        entry = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
        with open(path, "rb") as f:
            f.seek(entry.header_offset + 26)
            skip = int.from_bytes(f.read(2), "little") + int.from_bytes(f.read(2), "little")
        start = entry.header_offset + 30 + skip
    data = bytearray(path.read_bytes())
    data[start + 16 : start + 48] = bytes(b ^ 0xFF for b in data[start + 16 : start + 48])
    path.write_bytes(bytes(data))


def test_the_header_holds_what_a_full_read_holds_without_reading_a_tensor(tmp_path, monkeypatch):
    path = _saved(tmp_path)
    full = read_checkpoint(path)

    def no_load(*args, **kwargs):
        raise AssertionError("torch.load called")

    monkeypatch.setattr(torch, "load", no_load)
    header = read_checkpoint_header(path)
    assert header["kind"] == full["kind"] == "frame"
    assert header["config"] == full["config"] and header["format_version"] == full["format_version"]
    assert header["info"]["data"] == full["info"]["data"] == DATA and header["info"]["epoch"] == 3
    assert set(header["state_dict"]) == set(full["state_dict"])  # the names, not the weights
    assert not any(isinstance(w, torch.Tensor) for w in header["state_dict"].values())
    assert checkpoint_data_videos(path) == {"a", "b", "c"} and checkpoint_data_videos(path, ("train",)) == {"a", "b"}


def test_the_header_of_a_checkpoint_whose_weights_are_damaged_is_read(tmp_path):
    path = _saved(tmp_path)
    _damage_weights(path)
    with pytest.raises(CheckpointError, match="checksum"):
        read_checkpoint(path)
    assert read_checkpoint_header(path)["info"]["data"] == DATA


def test_no_header_is_read_from_what_is_no_dvos_checkpoint(tmp_path):
    (tmp_path / "text.pt").write_text("not a checkpoint")
    torch.save({"encoder.backbone.w": torch.zeros(2)}, tmp_path / "bare.pt")  # the authors' bare state_dict
    torch.save({"format": "other"}, tmp_path / "other.pt")
    names = ("text.pt", "bare.pt", "other.pt", "none.pt")
    assert [read_checkpoint_header(tmp_path / n) for n in names] == [None] * 4
    assert read_checkpoint_header(tmp_path) is None  # a folder
    assert checkpoint_data_videos(tmp_path / "bare.pt") is None
    save_checkpoint(tmp_path / "imported.pt", build_model("tiny", "frame"))  # no data summary
    assert checkpoint_data_videos(tmp_path / "imported.pt") is None


def test_the_header_reader_and_the_napari_model_list_load_no_torch():
    code = "import sys, dvos_core.checkpoint_header, dvos_napari._models; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_run_all_and_evaluate_read_the_data_summary_from_the_header(tmp_path, monkeypatch):
    """Both read it from a checkpoint whose weights are damaged (or never loaded): they loaded the whole model."""
    from dvos_core.evaluate.summary import warn_trained_on
    from dvos_core.run_all import _unseen_videos

    path = _saved(tmp_path)
    _damage_weights(path)
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load called"))
    assert _unseen_videos(path, ["a", "c", "d"]) == ["d"]
    video = SimpleNamespace(split="test", path=tmp_path, name="b")
    sets = [SimpleNamespace(video=video, attrs={"checkpoint": str(path)}, model="m")]
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        warn_trained_on(sets)
    assert any("'m' was trained on the test video(s) b" in str(w.message) for w in said)
