"""Warnings that point at the caller's line: the first frame outside ``dvos_core`` (what Python 3.12's
``skip_file_prefixes`` does), so a warning raised deep in the core, or under a decorator such as
:func:`dvos_core.store.lock.writes_store`, names the notebook cell or script line that called dvos."""

from __future__ import annotations

import os
import sys
import warnings

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_CLI = os.path.join(_PACKAGE, "cli") + os.sep


def _inside_package(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_PACKAGE)


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn(message, category)`` located at the nearest caller outside ``dvos_core``; under the ``dvos``
    command (a call through ``dvos_core.cli``), where the caller is the command itself, at the dvos line that warns
    (shown with ``--debug``; the command prints warnings without a place otherwise)."""
    level, frame = 2, sys._getframe(1)
    while frame.f_back is not None and _inside_package(frame.f_code.co_filename):
        if os.path.abspath(frame.f_code.co_filename).startswith(_CLI):
            level = 2
            break
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


def debug_from_environment() -> bool:
    """True when the environment sets DVOS_DEBUG to anything but 0/false/no/off (the ``--debug`` of every door that
    has no option for it: the full traceback, and the log lines of OpenCV and FFmpeg)."""
    return os.environ.get("DVOS_DEBUG", "").strip().lower() not in ("", "0", "false", "no", "off")
