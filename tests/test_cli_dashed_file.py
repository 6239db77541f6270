"""A file whose name starts with a dash (``-v.mp4``) is read by argparse as an option: the command failed with
"the following arguments are required: FILE" or "unrecognized arguments: -v.mp4" and no word of why. The error now
names the word and how to give it (``./-v.mp4``, or ``--`` before it)."""

import pytest

from dvos_core.cli import main

FIX = "{w} starts with a dash, so it is read as an option: to give the file {w}, write ./{w}"


@pytest.mark.parametrize(
    "argv, word, dash_dash",
    [
        (["add-video", "p.dvos", "-v.mp4"], "-v.mp4", True),  # a file that exists, FILE required
        (["extract-backgrounds", "p.dvos", "-v.mp4"], "-v.mp4", True),  # SOURCE optional: an unrecognized word
        (["new", "--overwrite", "-new.dvos"], "-new.dvos", True),  # a project to create: no such path yet
        (["train", "p.dvos", "--init-from", "-v.mp4"], "-v.mp4", False),  # an option's value: -- would not help
        (["train", "p.dvos", "--init", "-v.mp4"], "-v.mp4", False),  # the option shortened, as argparse allows
    ],
)
def test_a_file_named_with_a_leading_dash_is_named_with_how_to_give_it(
    tmp_path, monkeypatch, capsys, argv, word, dash_dash
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-v.mp4").write_bytes(b"")
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"; {FIX.format(w=word)}" in err
    assert ("or put -- before it (after the options)" in err) == dash_dash


def test_an_unknown_option_or_a_negative_number_gets_no_word_about_files(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for argv in (
        ["add-video", "p.dvos", "--bogus"],
        ["train", "p.dvos", "--lr", "-0.5", "--bogus"],
        ["train", "p.dvos", "--lr", "-1.5e-3"],  # a number in a form argparse does not take for one
        ["train", "p.dvos", "--eta-min", "-.5e-3"],
    ):
        with pytest.raises(SystemExit):
            main(argv)
        assert "starts with a dash" not in capsys.readouterr().err
