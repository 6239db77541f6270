"""Words of the command lines dvos prints in its messages (``dvos delete PROJECT video ID --yes`` and the like)."""

from __future__ import annotations

import shlex
from pathlib import Path


def quote(word) -> str:
    """``word`` (a path, a name) as one word of a shell command line, quoted where it needs it: a project path with
    a space or a non-ASCII character in it still pastes as one argument. ``None`` is the placeholder ``PROJECT`` (a
    project not opened from a folder)."""
    return "PROJECT" if word is None else shlex.quote(str(word))


def user_path(path) -> Path:
    """A path the user named (a project, a video, a mask folder, a CSV, a checkpoint, a config file) as a Path, a
    leading ``~`` expanded to the home folder as the shell does it: Python does not, and a quoted ``'~/v.mp4'``
    reaches the command line unexpanded too; every reader of such a path takes it through here."""
    return Path(path).expanduser()
