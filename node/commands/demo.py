"""``confide demo``: a local data space of three nodes runs the proof of concept."""

from __future__ import annotations

import argparse
from pathlib import Path


def _demo(args: argparse.Namespace) -> int:
    from node.demo import run_demo

    directory = None if args.dir is None else Path(args.dir)
    return run_demo(keep=args.keep, people=args.people, seed=args.seed, directory=directory)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``confide demo`` to the command parser."""
    demo = commands.add_parser(
        "demo", help="three nodes on loopback run the proof of concept and a monitoring query"
    )
    demo.add_argument("--keep", action="store_true", help="leave the nodes running afterwards")
    demo.add_argument("--people", type=int, default=1000, help="size of the LEA's list")
    demo.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    demo.add_argument("--dir", help="put the node homes here (an empty or new directory)")
    demo.set_defaults(handler=_demo)
