"""`dvos --debug` / DVOS_DEBUG=1 show full tracebacks; without them a user error is one line and a possible bug is
one line plus a hint to rerun with --debug."""

import argparse

import numpy as np
import pytest

from dvos_core.cli import main
from dvos_core.cli._common import run_command
from dvos_core.progress import Cancelled


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _args(func, debug=False) -> argparse.Namespace:
    return argparse.Namespace(command="test", func=func, debug=debug)


def _bug_key(args):
    return {"epochs": 3}["epoch"]  # a typo in a key: a programming error


def _bug_type(args):
    return len(None)


def _bad_value(args):
    raise ValueError("--size must be a multiple of 32, got 100")


def _cancelled(args):
    raise Cancelled("cancelled by user")


@pytest.fixture(autouse=True)
def _no_debug_env(monkeypatch):
    monkeypatch.delenv("DVOS_DEBUG", raising=False)


def test_user_error_is_one_line_without_traceback(tmp_path, capsys):
    assert main(["info", str(tmp_path / "none.dvos")]) == 2
    err = capsys.readouterr().err
    assert len(_lines(err)) == 1 and "no dvos project here" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv", [["--debug", "info", "{p}"], ["info", "{p}", "--debug"], ["info", "{p}"]], ids=["before", "after", "env"]
)
def test_debug_flag_or_env_shows_the_traceback(tmp_path, capsys, monkeypatch, argv):
    if "--debug" not in argv:
        monkeypatch.setenv("DVOS_DEBUG", "1")
    assert main([a.format(p=tmp_path / "none.dvos") for a in argv]) == 2  # same exit code as without --debug
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "StoreError" in err
    assert _lines(err)[-1].startswith("dvos info: error:") and "no dvos project here" in _lines(err)[-1]


@pytest.mark.parametrize("value", ["0", "false", ""])
def test_dvos_debug_off_values_keep_one_line(tmp_path, capsys, monkeypatch, value):
    monkeypatch.setenv("DVOS_DEBUG", value)
    assert main(["info", str(tmp_path / "none.dvos")]) == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("func, name", [(_bug_key, "KeyError"), (_bug_type, "TypeError")])
def test_programming_error_names_its_type_and_hints_at_debug(capsys, func, name):
    assert run_command(_args(func)) == 2  # a failure like any other for scripts
    err = capsys.readouterr().err
    lines = _lines(err)
    assert len(lines) == 2 and "Traceback" not in err
    assert lines[0].startswith("dvos test: error:") and f"({name})" in lines[0]
    assert "--debug" in lines[1] and "DVOS_DEBUG=1" in lines[1]


def test_programming_error_with_debug_prints_the_traceback_down_to_the_bug(capsys):
    assert run_command(_args(_bug_key, debug=True)) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "in _bug_key" in err
    assert "KeyError: 'epoch'" in err and "rerun with --debug" not in err


def test_value_error_and_cancel_stay_one_line(capsys):
    assert run_command(_args(_bad_value)) == 2
    err = capsys.readouterr().err
    assert _lines(err) == ["dvos test: error: --size must be a multiple of 32, got 100"]
    assert run_command(_args(_cancelled)) == 130
    err = capsys.readouterr().err
    assert len(_lines(err)) == 1 and "cancelled" in err and "Traceback" not in err
    assert run_command(_args(_cancelled, debug=True)) == 130
    assert "Traceback" in capsys.readouterr().err


def test_a_name_the_project_does_not_hold_is_a_user_error(tmp_project, capsys):
    """A video (model, clip, set, object) the store does not hold: one line that lists what it has - no 'unexpected
    error type' hint - and still a KeyError for code that looks things up."""
    from dvos_core.store import NotInStoreError

    tmp_project.add_video_array("plot", np.zeros((2, 32, 32, 3), np.uint8))
    assert main(["export-masks", str(tmp_project.path), "plots", str(tmp_project.path.parent / "out")]) == 2
    err = capsys.readouterr().err
    assert _lines(err) == [f"dvos export-masks: error: {tmp_project.path}: no video 'plots'; videos are ['plot']"]
    with pytest.raises(KeyError, match="no video 'x'") as caught:
        tmp_project.video("x")
    assert isinstance(caught.value, NotInStoreError) and str(caught.value).startswith(str(tmp_project.path))


@pytest.mark.parametrize("name, rc, word", [("SIGTERM", 143, "SIGTERM"), ("SIGINT", 130, "Ctrl+C")])
def test_sigterm_cancels_like_ctrl_c_and_the_handlers_are_put_back(name, rc, word):
    """SIGTERM (timeout, docker stop, a batch scheduler) stops a command at its next safe point, as Ctrl+C does,
    instead of killing it mid-step; after the command the process's own handlers are back. The exit code is the
    shell's for the signal: 143 (128 + SIGTERM), 130 (128 + SIGINT)."""
    import signal
    import subprocess
    import sys
    import time

    code = (
        "import signal, sys, time, types\n"
        "from dvos_core.cli._common import cancel_on_sigint, run_command\n"
        "from dvos_core.progress import check\n"
        "def work(args):\n"
        "    token = cancel_on_sigint()\n"
        "    print('ready', flush=True)\n"
        "    while True:\n"
        "        check(token)\n"
        "        time.sleep(0.02)\n"
        "rc = run_command(types.SimpleNamespace(func=work, command='probe', debug=False))\n"
        "print('rc', rc, signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, flush=True)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    time.sleep(0.1)
    child.send_signal(getattr(signal, name))
    out, err = child.communicate(timeout=60)
    assert out.strip() == f"rc {rc} True", (out, err)
    assert f"cancelling on {word}" in err and "everything committed before the cancel is kept" in err


def test_output_into_a_closed_pipe_is_not_an_error(tmp_path):
    """`dvos info P | head`: the reader leaving early is not the command's error (it said 'Broken pipe')."""
    import subprocess
    import sys

    from dvos_core.store import Project

    Project.create(tmp_path / "p.dvos")
    cmd = [sys.executable, "-m", "dvos_core.cli", "info", str(tmp_path / "p.dvos")]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()
    err = child.stderr.read().decode()
    assert child.wait(timeout=60) == 0 and err == "", err


@pytest.mark.parametrize("name, rc", [("SIGTERM", 143), ("SIGINT", 130)])
def test_the_same_signal_sent_twice_at_once_still_cancels_cleanly_and_a_later_one_stops_at_once(name, rc):
    """GNU timeout sends its signal to the command and then to its process group: the second copy was taken as
    "send it again to stop at once", so `timeout -s TERM` killed dvos mid-step (exit 143 without cleanup) and
    `timeout -s INT` raised KeyboardInterrupt. A copy within REPEAT_GRACE_S is the same stop; a later one still
    stops at once."""
    import signal
    import subprocess
    import sys
    import time

    code = (
        "import signal, sys, time, types\n"
        "from dvos_core.cli._common import cancel_on_sigint, run_command\n"
        "from dvos_core.progress import check\n"
        "def work(args):\n"
        "    token = cancel_on_sigint()\n"
        "    print('ready', flush=True)\n"
        "    while not token.cancelled:\n"
        "        time.sleep(0.01)\n"
        "    print('cleaning up', flush=True)\n"
        "    time.sleep(float(sys.argv[1]))\n"
        "    check(token)\n"
        "rc = run_command(types.SimpleNamespace(func=work, command='probe', debug=False))\n"
        "print('rc', rc, flush=True)\n"
    )
    sig = getattr(signal, name)
    child = subprocess.Popen(
        [sys.executable, "-c", code, "0.8"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "ready"
    child.send_signal(sig)
    assert child.stdout.readline().strip() == "cleaning up"  # the first was handled (two at once may merge)
    child.send_signal(sig)  # timeout's second copy, a moment later
    out, err = child.communicate(timeout=60)
    assert "rc " + str(rc) in out and "dvos: cancelled" in err and "interrupted" not in err, (out, err)
    child = subprocess.Popen(
        [sys.executable, "-c", code, "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "ready"
    child.send_signal(sig)
    assert child.stdout.readline().strip() == "cleaning up"
    time.sleep(1.5)  # past the grace: a person's "stop now"
    child.send_signal(sig)
    out, err = child.communicate(timeout=20)
    assert "rc" not in out or "rc 130" in out, (out, err)
    assert child.returncode == -signal.SIGTERM if name == "SIGTERM" else "dvos: interrupted" in err, (out, err)
