"""Words of the command lines dvos prints in its messages (``dvos delete PROJECT video ID --yes`` and the like)."""

from __future__ import annotations

import shlex


def quote(word) -> str:
    """``word`` (a path, a name) as one word of a shell command line, quoted where it needs it: a project path with
    a space or a non-ASCII character in it still pastes as one argument. ``None`` is the placeholder ``PROJECT`` (a
    project not opened from a folder)."""
    return "PROJECT" if word is None else shlex.quote(str(word))
