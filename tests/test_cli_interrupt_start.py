"""Ctrl+C before a command starts (while the parser is built or parses) ends with a word and exit code 130."""

import dvos_core.cli as cli


def test_ctrl_c_while_the_parser_is_built_is_not_a_traceback(monkeypatch, capsys):
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["info", "x.dvos"]) == 130
    assert capsys.readouterr().err.strip() == "dvos: interrupted"
