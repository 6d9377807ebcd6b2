"""Shared helpers for the node tests: running the CLI in a fresh interpreter, bench row fields."""

from __future__ import annotations

import subprocess
import sys

ROW_FIELDS = frozenset(
    {
        "name",
        "parties",
        "size",
        "seconds",
        "rounds",
        "bytes_per_party",
        "anchor",
        "anchor_seconds",
        "ratio",
    }
)
"""Fields every row of every `confide bench` suite carries."""


def confide(*args: str, timeout: float = 240.0) -> subprocess.CompletedProcess[str]:
    """Run the console entry point in a fresh interpreter."""
    return subprocess.run(  # our own interpreter and module
        [sys.executable, "-m", "node.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
