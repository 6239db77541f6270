"""A checkpoint that is no PyTorch file at all (``echo hello > models/m/best.pt``) was refused with what torch's loader
stumbled on reading the text as its legacy pickle, "KeyError: 101": the error now says the file is not a PyTorch
checkpoint, what it is, and what to do instead, in every command that reads it."""

import pytest

from dvos_core.cli import main
from dvos_core.store import Project


@pytest.fixture
def text_model(tmp_path, monkeypatch, video_mp4):
    """A project of one video whose model 'm' has a best.pt of text; the test runs from its folder."""
    monkeypatch.chdir(tmp_path)
    p = Project.create(tmp_path / "p.dvos")
    assert main(["add-video", "p.dvos", str(video_mp4)]) == 0
    (p.model_dir("m", create=True) / "best.pt").write_text("hello\n")
    return p


@pytest.mark.parametrize(
    "command, fix",
    [
        (["predict", "p.dvos", "m"], "use another checkpoint, or train the model again"),
        (["check", "p.dvos"], "use another checkpoint, or train the model again"),
        (["train", "p.dvos", "--phase", "image", "--init-from", "m"], "give --init-from (init_from) another"),
        (["info", "p.dvos"], "nor a readable last.pt"),
    ],
)
def test_a_text_file_named_best_pt_is_called_no_pytorch_checkpoint(text_model, capsys, command, fix):
    main(command)
    out = capsys.readouterr()
    text = out.out + out.err
    assert "not a PyTorch checkpoint: a text file beginning 'hello'" in text and fix in text
    assert "KeyError" not in text
    if command[0] != "info":  # info names the model ("m: its best.pt ...") in its list of the project's models
        assert str(text_model.model_dir("m") / "best.pt") in text


def test_what_a_file_that_torch_did_not_write_is():
    from dvos_core.checkpoint_header import not_torch_file

    assert not_torch_file(b"PK\x03\x04 a zip archive") is None and not_torch_file(b"\x80\x02 a pickle") is None
    assert not_torch_file(b"") == "an empty file"
    assert not_torch_file(b"\n\n  version https://git-lfs\n") == "a text file beginning 'version https://git-lfs'"
    assert not_torch_file(b"\x89PNG\r\n\x1a\n\x00\x00") == "a file of another kind"
