"""Subcommands registered by this module (filled in by the module's owner)."""


def register(sub) -> None:
    """Add this module's subcommands to the `dvos` parser."""
