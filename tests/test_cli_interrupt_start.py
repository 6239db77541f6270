"""Ctrl+C before a command starts (while the parser is built or parses) ends with a word and exit code 130."""

import dvos_core.cli as cli


def test_ctrl_c_while_the_parser_is_built_is_not_a_traceback(monkeypatch, capsys):
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["info", "x.dvos"]) == 130
    assert capsys.readouterr().err.strip() == "dvos: interrupted"


def test_ctrl_c_after_the_command_finished_is_ignored(monkeypatch):
    """The console command ignores Ctrl+C once its command has returned (Python's shutdown would print a traceback,
    or exit -2 after a success)."""
    import signal

    monkeypatch.setattr(cli, "main", lambda argv=None: 0)
    old = signal.getsignal(signal.SIGINT)
    try:
        assert cli.entry() == 0
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, old)
