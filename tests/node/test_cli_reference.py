"""The CLI reference pages against the argument parser: generated usage, commands, top line."""

from __future__ import annotations

import re
from pathlib import Path

from node.cli_reference import leaf_commands, reference

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reference"


def test_generated_usage_page_matches_the_parser() -> None:
    """docs/reference/cli-usage.md is exactly what the parser prints now."""
    page = (DOCS / "cli-usage.md").read_text(encoding="utf-8")
    assert page == reference(), (
        "docs/reference/cli-usage.md is stale: "
        "run `python -m node.cli_reference > docs/reference/cli-usage.md`"
    )


def test_cli_page_names_every_command() -> None:
    """Every command a user can run has a row or section in docs/reference/cli.md."""
    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    missing = [c for c in leaf_commands() if f"`{c}" not in page]
    assert missing == []


def test_cli_page_top_usage_line_is_the_real_one() -> None:
    """The usage line at the top of cli.md lists the commands the parser has."""
    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    wrapped = reference().split("usage: ", 1)[1].split("\n\n", 1)[0]
    usage = " ".join(wrapped.split())  # argparse wraps a long usage over several lines
    first_block = re.search(r"```\n(confide .*?)\n```", page)
    assert first_block is not None
    assert first_block.group(1) == usage
