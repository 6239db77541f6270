"""The core's messages in the panel's words: the writer lock's holder named as the step whose job holds it, options
the panel does not have never named."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest

pytest.importorskip("napari")

BUSY = (
    "p.dvos is being written by process {pid} on {host} (`dvos-job dvos_core.synth:generate`, generate, since "
    "10:00). Let it finish, then run this again, or queue behind it with --wait (Python: wait=True); reading the "
    "project is not blocked"
)


class _Child:
    """A stand-in of a job of this napari running in a child process."""

    def __init__(self, pid):
        self.pid = pid

    def is_alive(self):
        return True


def test_a_busy_project_names_the_step_whose_job_writes_it_and_no_paint_unless_paint_was_saved(monkeypatch):
    from dvos_core.store.lock import StoreBusyError
    from dvos_napari import _errors
    from dvos_napari._errors import user_message
    from dvos_napari._writer import save_frames

    child = _Child(os.getpid() + 100000)
    monkeypatch.setattr(_errors, "STEP_CHILDREN", {child}, raising=False)
    raw = BUSY.format(pid=child.pid, host=socket.gethostname())
    text = user_message(StoreBusyError(raw), error_type="StoreBusyError").text
    assert text.startswith("the Synthesize step's Generate is writing p.dvos: wait until it finishes"), text
    assert "dvos-job" not in text and "painted" not in text and "--" not in text, text

    other = user_message(raw.replace(str(child.pid), "1"), error_type="StoreBusyError").text  # another napari's
    assert other.startswith("the Synthesize step's Generate of another napari window (process 1 on "), other
    assert "dvos-job" not in other and "painted" not in other, other

    class Video:  # a save of painted frames refused by the lock
        provenance = np.zeros(4, np.uint8)

        def set_mask(self, *args, **kwargs):
            raise StoreBusyError(raw)

    with pytest.raises(StoreBusyError) as caught:
        save_frames(Video(), np.ones((4, 8, 8), np.uint8), [1])
    painted = user_message(caught.value).text
    assert painted.startswith("the Synthesize step's Generate is writing p.dvos"), painted
    assert painted.endswith("what you painted stays unsaved in its layer, nothing is lost"), painted

    terminal = user_message(
        "p.dvos is being written by process 12 on vm (`dvos predict p.dvos m1`, predict_video, since 10:00). Let it "
        "finish, then run this again"
    ).text
    assert terminal.startswith("p.dvos is being written by process 12 on vm (`dvos predict p.dvos m1`"), terminal
    assert "painted" not in terminal, terminal


def test_messages_name_no_option_the_panel_lacks(tmp_path):
    from napari_helpers import tiny_clip

    from dvos_core.extract import extract_heads
    from dvos_core.store import Project
    from dvos_napari._errors import plain_words

    frames, gt = tiny_clip(4)
    p = Project.create(tmp_path / "p.dvos")
    v = p.add_video_array("plot", frames, split="train")
    v.set_mask(1, gt[1], "manual")
    extract_heads(p, fakes_per_head=0)
    with pytest.raises(ValueError) as caught:  # the Extract step's Extract heads: no max-area field
        extract_heads(p, fakes_per_head=0, min_area=10**6, replace=True)
    text = plain_words(str(caught.value))
    assert "cut no heads" in text and "'smallest head (px)'" in text and "max-area" not in text, text
    with pytest.raises(ValueError, match=r"over --max-area 1000000 px.*\(or raise --max-area\)"):  # given: named
        extract_heads(p, fakes_per_head=0, min_area=10**6, max_area=10**6, replace=True)

    # the Synthesize step's Generate into an existing set, asked for more clips: its field is 'set name'
    text = plain_words(
        "p.dvos: synthetic set 's' exists with a different n_clips (2 clips: a set does not grow; for more clips make "
        "another set with the same settings under a new --name: training reads every synthetic set unless told "
        "which); resume it with the same settings, choose another --name, or delete it"
    )
    assert "under a new 'set name'" in text and "the 'name' option" not in text and "--" not in text, text
    # the edge-cut heads warning (synth.bank) read "the the 'config' option file of the Synthesize step" in the panel
    text = plain_words(
        "set border_heads: use in the synthesis settings (the --config file of `dvos synth`; the Synthesize step's "
        "settings) to keep them"
    )
    assert text == "set border_heads: use in the synthesis settings (the Synthesize step's settings) to keep them"


def test_the_warning_on_a_video_with_heads_names_the_extract_steps_choice(tmp_path, qtbot):
    """extract_backgrounds' warning named the command-line flag and the Python function; the Extract step has a
    choice for it, and a job's warnings are shown in the panel's words (they were shown as the core wrote them)."""
    from napari_helpers import tiny_clip

    from dvos_core.extract import extract_backgrounds
    from dvos_core.store import Project
    from dvos_napari._errors import plain_words
    from dvos_napari._workers import Job
    from dvos_napari.docks.extract import BG_MODES

    frames, gt = tiny_clip(4)
    p = Project.create(tmp_path / "p.dvos")
    p.add_video_array("plot", frames, split="train").set_mask(1, gt[1], "manual")
    with pytest.warns(UserWarning, match="heads labelled") as caught:
        extract_backgrounds(p, "plot", clip_length=2)
    raw = next(str(w.message) for w in caught if "heads labelled" in str(w.message))
    text = plain_words(raw)
    assert f"(Extract backgrounds with 'make the clips from' set to '{BG_MODES[1]}', Extract step)" in text, text
    assert "--" not in text and "Python" not in text and "backgrounds_from_annotated" not in text, text
    job = Job("dvos_core.extract:extract_backgrounds", label="extract backgrounds")
    job._warned(raw)
    assert job.warnings == [text]


def _core_strings():
    """(file, line, text) of every string of dvos_core's code that is not a docstring; an f-string's fields as X."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for path in sorted((root / "dvos_core").rglob("*.py")):
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "X" for v in node.values)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                text = node.value
            else:
                continue
            yield path.relative_to(root), node.lineno, text


def test_no_core_message_puts_an_article_before_a_command_the_panel_rewrites():
    """The core's "a `dvos predict` stopped half-way" read "a the Predict step stopped half-way" in the panel: the panel
    turns a command into a noun phrase of its own ("the Predict step", "Evaluate (Review step)"), so an article before
    one doubles up. Every such phrase of the core's strings is rewritten here; the article must go with the command
    (only a command the panel keeps as written, to type in a terminal, may follow one)."""
    import re

    from dvos_napari._errors import plain_words

    garbled = []
    for path, line, text in _core_strings():
        for m in re.finditer(r"\b(?:a|an|the) `dvos [^`]*`", text, re.IGNORECASE):
            rewritten = plain_words(m.group(0))
            if "`dvos" not in rewritten:
                garbled.append(f"{path}:{line}: {m.group(0)!r} -> {rewritten!r}")
    assert garbled == []
    from dvos_core.evaluate.summary import warn_partial

    with pytest.warns(UserWarning) as said:
        warn_partial("m", {"v": [1, 3]}, "p.dvos")
    assert "(the Predict step stopped half-way, or was run on some frames only" in plain_words(str(said[0].message))
