"""The `dvos` command line: thin wrappers over core functions, heavy modules imported lazily per subcommand."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import textwrap

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
# The same concept reads the same in every command that takes it.
DEVICE_HELP = "where the model runs: auto (a CUDA GPU, else MPS, else the CPU), cpu, cuda, cuda:N or mps"
SPLIT_WORDS = "train, val, test or unassigned"


def default_words(default) -> str | None:
    """How a parser default reads in help, or None when there is nothing to state (no value, a flag's False)."""
    if default is None or default is False or default is argparse.SUPPRESS or default in ("", [], ()):
        return None
    if isinstance(default, (list, tuple)):
        return " ".join(str(x) for x in default)
    return str(default)


class HelpFormatter(argparse.HelpFormatter):
    """The help layout of every `dvos` command: descriptions and epilogs wrap to the terminal width but keep their
    line breaks and indents (one example per line), words are never split at a hyphen (``--min-area`` stays
    whole), and an option whose help does not say its default gets ``(default: X)`` from the parser's default."""

    def _fill_text(self, text, width, indent):
        out = []
        for line in text.splitlines():
            body = line.lstrip()
            pad = indent + line[: len(line) - len(body)]
            body = self._whitespace_matcher.sub(" ", body).strip()
            if not body:
                out.append("")
                continue
            out.append(
                textwrap.fill(
                    body,
                    width,
                    initial_indent=pad,
                    subsequent_indent=pad + ("    " if line != body else ""),
                    break_on_hyphens=False,
                    break_long_words=False,
                )
            )
        return "\n".join(out)

    def _split_lines(self, text, width):
        text = self._whitespace_matcher.sub(" ", text).strip()
        return textwrap.wrap(text, width, break_on_hyphens=False) or [""]

    def _get_help_string(self, action):
        text = action.help or ""
        words = default_words(action.default)
        if not action.option_strings or words is None or "default" in text.lower():
            return text
        return f"{text} (default: {words.replace('%', '%%')})".lstrip()


class CommandParser(argparse.ArgumentParser):
    """The parser of one `dvos` command: an argument it does not know is its error, with its own usage line
    (``dvos evaluate: error: unrecognized arguments: img``), not the top-level one's (``usage: dvos [-h] ...``) that
    argparse gives when the extra words come back to the parser of ``dvos``. A file name that starts with a dash
    (``-v.mp4``), which argparse reads as an option, is named in the error with how to give it
    (:meth:`dashed_file`)."""

    words: tuple = ()  # the command's words, as the last parse got them

    def parse_known_args(self, args=None, namespace=None):
        self.words = tuple(sys.argv[1:] if args is None else args)
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras

    def dashed_file(self) -> str | None:
        """What to say of the first of the command's words (before a ``--``) that argparse reads as an option but
        that names a file or folder: one that exists, or that looks like a path (a dot or a slash in it, as in
        ``-new.dvos``) and is no option of the command nor a negative number; else None."""
        before = None
        for word in self.words:
            if word == "--":
                return None
            given, before = before, word
            if not word.startswith("-") or word == "-" or self._negative_number_matcher.match(word):
                continue
            option = word.split("=", 1)[0]
            if any(known.startswith(option) for known in self._option_string_actions):
                continue
            if not os.path.lexists(word) and (_is_number(word) or not any(c in option for c in "./\\")):
                continue  # (a number argparse does not take for one: -1.5e-3)
            action = self._action_of(given)
            if action is not None and action.nargs != 0:  # the value of an option (--init-from -x.pt)
                return f"{word} starts with a dash, so it is read as an option: to give the file {word}, write ./{word}"
            return (
                f"{word} starts with a dash, so it is read as an option: to give the file {word}, write ./{word}, or "
                f"put -- before it (after the options)"
            )
        return None

    def _action_of(self, word: str | None):
        """The option ``word`` names, written whole or shortened as argparse allows (``--init`` for ``--init-from``);
        None for a word that is no option, or that gives its value itself (``--init-from=x.pt``)."""
        if not word or not word.startswith("-") or "=" in word:
            return None
        exact = self._option_string_actions.get(word)
        found = {id(a): a for k, a in self._option_string_actions.items() if k.startswith(word)}
        return exact or (next(iter(found.values())) if len(found) == 1 else None)

    def error(self, message):
        said = self.dashed_file()
        super().error(message if said is None else f"{message}; {said}")


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dvos",
        description="Segment wheat heads in field videos from a few painted frames (DVOS). Typical loop: "
        "dvos new -> add-video -> (paint seed frames in napari) -> extract-objects / extract-backgrounds "
        "-> synth -> train -> predict -> evaluate, or all of it at once with `dvos run-all`. Run `dvos demo` to see "
        "the whole loop on sample data.",
        formatter_class=HelpFormatter,
    )
    from dvos_core import __version__

    parser.add_argument("--version", action="version", version=f"dvos {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"dvos_core.cli.{name}").register(sub)
    for command_parser in sub.choices.values():  # `dvos COMMAND ... --debug` works too
        command_parser.formatter_class = HelpFormatter
        command_parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return parser


def main(argv=None) -> int:
    try:  # Ctrl+C while the parser is built (imports) or the help prints: a word, not a traceback
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 1
        from dvos_core.cli._common import run_command
    except KeyboardInterrupt:
        print("dvos: interrupted", file=sys.stderr)
        return 130
    return run_command(args)


def entry() -> int:
    """The ``dvos`` console command: :func:`main` with its output safe to close or leave unread
    (:func:`dvos_core.cli._common.guard_standard_streams`), then Ctrl+C ignored while Python shuts down (the command
    has finished and printed its result; an interrupt in the interpreter's exit would print a traceback after it, or
    turn a success into exit status -2)."""
    from dvos_core.cli._common import flush_stdout, guard_standard_streams

    guard_standard_streams()
    try:
        rc = main()
    finally:  # also after --help and --version, which leave by SystemExit
        flush_stdout()
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return rc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(entry())
