"""``confide demo``: three parties compute together on loopback."""

from __future__ import annotations

import argparse


def _demo(args: argparse.Namespace) -> int:
    from node.demo import run_demo

    return run_demo()


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``confide demo`` to the command parser."""
    demo = commands.add_parser("demo", help="three parties compute together on loopback")
    demo.set_defaults(handler=_demo)
