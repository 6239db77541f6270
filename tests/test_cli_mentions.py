"""Every `dvos COMMAND --flag` that the docs, the README or a message in the code tells the user to run names a
command and flags that exist (a renamed flag left in an error message sent users to an option that was gone)."""

import argparse
import re
from pathlib import Path

import pytest

from dvos_core.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
# the measurement log quotes commands as they were at the time; everything else must be current
SOURCES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted(ROOT.glob("dvos_*/**/*.py"))]
SOURCES = [p for p in SOURCES if p.name != "benchmarks.md"]
INLINE = re.compile(r"`(dvos (?:--debug )?[a-z][^`]*)`")  # a code span in prose, a docstring or a message
LINE = re.compile(r"^\s*(dvos (?:--debug )?[a-z].*)$", re.M)  # a line of a fenced code block
FENCE = re.compile(r"^```[a-z]*\n(.*?)^```", re.M | re.S)


def _commands() -> dict:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    top = {s for a in parser._actions for s in a.option_strings}
    return {name: top | {s for a in p._actions for s in a.option_strings} for name, p in sub.choices.items()}


def mentions(text: str) -> list:
    """(command, flags) of each ``dvos COMMAND ...`` in ``text``: code spans, and lines of fenced code blocks."""
    found = INLINE.findall(text) + [line for block in FENCE.findall(text) for line in LINE.findall(block)]
    out = []
    for mention in found:
        words = [w for w in mention.split()[1:] if w != "--debug"]  # the global flag may come first
        if not words or not re.fullmatch(r"[a-z][a-z-]*", words[0]):
            continue
        flags = {w.split("=")[0] for w in words[1:] if re.fullmatch(r"--[a-z][a-z0-9-]*(=.*)?", w)}
        out.append((words[0], sorted(flags)))
    return out


def test_mentions_are_found():
    text = (
        "run `dvos train --phase image` first, `dvos --debug evaluate P`\n```bash\ndvos predict P m --videos a\n```\n"
    )
    text += "dvos segments heads (prose, not a command)\n"
    assert mentions(text) == [("train", ["--phase"]), ("evaluate", []), ("predict", ["--videos"])]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_mentioned_command_and_flag_exists(path):
    commands = _commands()
    wrong = []
    for command, flags in mentions(path.read_text(encoding="utf-8")):
        if command not in commands:
            wrong.append(f"dvos {command} (no such command)")
        else:
            wrong += [f"dvos {command} {f}" for f in flags if f not in commands[command]]
    assert not wrong, f"{path.name} names what the CLI does not have: {sorted(set(wrong))}"
