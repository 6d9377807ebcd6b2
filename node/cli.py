"""The ``confide`` command line: one parser, subcommands registered from ``node/commands``."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from node import logging as node_logging
from node.commands.bench import ROWS

__all__ = ["ROWS", "build_parser", "main"]

# One module per subcommand; each has ``register(commands)``. Keep the order of `--help`.
COMMAND_MODULES = (
    "node.commands.init",
    "node.commands.run",
    "node.commands.dataspace",
    "node.commands.status",
    "node.commands.peers",
    "node.commands.dataset",
    "node.commands.policy",
    "node.commands.query",
    "node.commands.approvals",
    "node.commands.agreement",
    "node.commands.audit",
    "node.commands.demo",
    "node.commands.bench",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``confide``."""
    parser = argparse.ArgumentParser(
        prog="confide", description="Secure multi-party computation for data spaces."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``confide`` console script."""
    node_logging.configure()
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
