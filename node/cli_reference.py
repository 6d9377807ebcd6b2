"""The `confide` usage reference, generated from the argument parser so the docs cannot drift.

``python -m node.cli_reference > docs/reference/cli-usage.md`` writes the ``--help`` text of
every command and subcommand; ``tests/node/test_cli_reference.py`` fails when the file differs
from what the parser says now. The help is rendered at a fixed width (``WIDTH``) and with
``CONFIDE_HOME`` unset, so the text does not depend on the terminal or the environment.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from unittest import mock

from node.cli import build_parser

WIDTH = 100
HEADER = """# `confide` usage, every command

Generated from the argument parser by `python -m node.cli_reference > docs/reference/cli-usage.md`
(help at {width} columns, `CONFIDE_HOME` unset); a test fails when this page and the code differ.
What each command does, prints and exits with is in [cli.md](cli.md).
"""


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ("confide",)
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (command path, parser) pair under ``parser``, depth first, in ``--help`` order."""
    yield path, parser
    for action in parser._actions:  # argparse offers no public walk over subcommands
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name))


def leaf_commands() -> list[str]:
    """The commands a user runs (those without subcommands), e.g. ``confide dataset import``."""
    return [" ".join(path) for path, _, leaf in _rendered() if leaf]


def reference() -> str:
    """The Markdown page: one section per command with its ``--help`` text."""
    sections = [HEADER.format(width=WIDTH)]
    for path, text, _ in _rendered():
        sections.append(f"## `{' '.join(path)}`\n\n```text\n{text.rstrip()}\n```\n")
    return "\n".join(sections)


def _rendered() -> list[tuple[tuple[str, ...], str, bool]]:
    """(command path, help text, has no subcommands) for every command, at the fixed width."""
    environment = {k: v for k, v in os.environ.items() if k != "CONFIDE_HOME"}
    environment["COLUMNS"] = str(WIDTH)
    with mock.patch.dict(os.environ, environment, clear=True):
        return [
            (path, parser.format_help(), not _has_subcommands(parser))
            for path, parser in commands(build_parser())
        ]


def _has_subcommands(parser: argparse.ArgumentParser) -> bool:
    return any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


if __name__ == "__main__":
    print(reference(), end="")
