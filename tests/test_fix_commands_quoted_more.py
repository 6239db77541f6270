"""Fix commands in messages quote project paths and names (dvos_core.shell.quote), so a project in a folder with a
space still pastes as one argument: they were printed bare, e.g. `dvos split /tmp/my fields/p.dvos train VIDEO`."""

import shlex
from types import SimpleNamespace

import numpy as np
import pytest

from dvos_core.store import Project


@pytest.fixture
def spaced(tmp_path):
    return Project.create(tmp_path / "my fields" / "p.dvos")


def test_run_all_check_quotes_the_project(spaced):
    from dvos_core.run_all import RunAllConfig, check_project

    with pytest.raises(ValueError) as e:
        check_project(spaced, RunAllConfig(predict=["nope"]))
    assert f"dvos add-video {shlex.quote(str(spaced.path))} FILE" in str(e.value), str(e.value)
    v = spaced.add_video_array("plot1", np.zeros((2, 8, 8, 3), np.uint8))
    v.set_mask(0, np.ones((8, 8), np.uint8), "manual")
    spaced.set_split(["plot1"], "val")
    with pytest.raises(ValueError) as e:
        check_project(spaced, RunAllConfig())
    assert f"`dvos split {shlex.quote(str(spaced.path))} train VIDEO`" in str(e.value), str(e.value)


def test_resized_video_note_quotes_the_project(spaced):
    from dvos_core.io.masks import _resized_note

    video = SimpleNamespace(name="plot1", attrs={"preprocessing": {"height": 20}})
    note = _resized_note(spaced, video)
    assert f"`dvos delete {shlex.quote(str(spaced.path))} video plot1 --yes`" in note, note


def test_reference_weights_already_dvos_quotes_the_file(tmp_path):
    from dvos_core.model import build_model, save_checkpoint
    from dvos_core.model.reference import CheckpointError, load_reference_state_dict

    path = save_checkpoint(tmp_path / "my models" / "best.pt", build_model("tiny", "frame"))
    with pytest.raises(CheckpointError) as e:
        load_reference_state_dict(path)
    assert f"dvos import-weights {shlex.quote(str(path))} --project PROJECT" in str(e.value), str(e.value)


def test_napari_deleted_video_message_quotes_the_project(spaced):
    """napari: the video shown was deleted by another program; the example command names the project quoted."""
    pytest.importorskip("napari")
    from dvos_napari._state import DvosState

    state = object.__new__(DvosState)  # no viewer: require_video reads the project and the video id only
    state.project, state.video_id = spaced, "plot1"
    with pytest.raises(ValueError) as e:
        state.require_video()
    assert f"`dvos delete {shlex.quote(str(spaced.path))} video plot1 --yes`" in str(e.value), str(e.value)


# ---- a command with options is in backquotes ----------------------------------------------------------------------
def test_a_read_only_project_names_the_scoring_command_in_backquotes_which_the_panel_does_not_garble(tmp_path):
    """The panel rewrites ``--x`` as "the 'x' option"; a command written bare came out as "dvos evaluate the
    'no-save' option". In backquotes the command line keeps it whole, and the panel replaces it as one."""
    import errno

    pytest.importorskip("napari")
    from dvos_core.store.lock import lock_error
    from dvos_napari._errors import user_message

    e = lock_error(tmp_path / "p.dvos", tmp_path / "p.dvos" / ".lock", OSError(errno.EROFS, "Read-only file system"))
    assert "`dvos evaluate --no-save`" in str(e), str(e)
    assert "dvos evaluate the 'no-save' option" not in user_message(e).text, user_message(e).text


def _message_strings(tree):
    """(line, text) of each string of a module but its docstrings, config fields' help (``doc(...)``, never
    rewritten by the panel) and whole commands (``"dvos ..."``, put in backquotes where they are used); an
    f-string's values read as 1."""
    import ast

    skip = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            skip.add(id(body[0].value))  # a docstring (or a bare string statement)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("doc", "_doc"):
            skip.update(id(a) for a in node.args)
        if isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in node.values)  # read with their f-string
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "1" for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        if not text.startswith(("dvos ", "# ")):  # a command built to be quoted by its user; a config file's comment
            yield node.lineno, text


def test_no_core_message_names_a_command_with_options_the_panel_garbles():
    """The panel rewrites ``--x`` as "the 'x' option" (dvos_napari._errors.plain_words): `dvos CMD ... --opt`
    written bare in a message of the core read "dvos CMD ... the 'opt' option" there. In backquotes the panel
    replaces the whole command (or keeps it, to run in a terminal)."""
    import ast
    import re
    from pathlib import Path

    from test_cli_mentions import _commands

    pytest.importorskip("napari")
    from dvos_napari._errors import plain_words

    root = Path(__file__).resolve().parents[1] / "dvos_core"
    names = "|".join(sorted(_commands(), key=len, reverse=True))
    garbled = re.compile(rf"(?<![\w/.-])dvos (?:{names})(?![\w-])[^;,()`]*? the '[a-z][a-z0-9-]*' option")
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("cli/"):  # the command line's own help and output never reach the panel
            continue
        for line, text in _message_strings(ast.parse(path.read_text(encoding="utf-8"))):
            m = garbled.search(plain_words(text))
            if m:
                found.append(f"{rel}:{line}: {m.group(0)}")
    assert not found, found
