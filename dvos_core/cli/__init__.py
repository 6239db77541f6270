"""The `dvos` command line: thin wrappers over core functions, heavy modules imported lazily per subcommand."""

from __future__ import annotations

import argparse
import importlib
import sys

# Each module defines register(subparsers) adding its subcommands; each subcommand sets `func(args) -> int`.
COMMAND_MODULES = (
    "store_cmds",
    "io_cmds",
    "extract_cmds",
    "synth_cmds",
    "train_cmds",
    "model_cmds",
    "infer_cmds",
    "count_cmd",
    "run_all_cmd",
    "demo_cmd",
)
DEBUG_HELP = "on an error, print the full Python traceback (same as the environment variable DVOS_DEBUG=1)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dvos",
        description="Segment wheat heads in field videos from a few painted frames (DVOS). Typical loop: "
        "dvos new -> add-video -> (paint seed frames in napari) -> extract-objects / extract-backgrounds "
        "-> synth -> train -> predict -> evaluate, or all of it at once with `dvos run-all`. Run `dvos demo` to see "
        "the whole loop on sample data.",
    )
    from dvos_core import __version__

    parser.add_argument("--version", action="version", version=f"dvos {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"dvos_core.cli.{name}").register(sub)
    for command_parser in sub.choices.values():  # `dvos COMMAND ... --debug` works too
        command_parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    from dvos_core.cli._common import run_command

    return run_command(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
