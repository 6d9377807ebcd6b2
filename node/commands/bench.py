"""``confide bench``: measure against the anchors, as ratios."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

ROWS = {
    "engine": ("sum", "mul", "lt", "eq", "membership"),
    # Kept here so `confide --help` need not import the suite; a test checks it matches SUITE.
    "network": ("handshake", "rtt", "throughput", "rtt_under_load", "mesh_30"),
    "queries": ("set_difference", "union_size", "aggregate"),
}


def _check_options(args: argparse.Namespace) -> None:
    """Refuse ``--only`` names of the other suite."""
    parser: argparse.ArgumentParser = args.bench_parser
    choices = ROWS[args.suite]
    for name in args.only or ():
        if name not in choices:
            listed = ", ".join(repr(choice) for choice in choices)
            parser.error(f"argument --only: invalid choice: {name!r} (choose from {listed})")


def _bench(args: argparse.Namespace) -> int:
    from node.bench import engine, network, queries
    from node.errors import NodeError

    _check_options(args)
    progress = (lambda _: None) if args.json else engine.stderr_progress
    try:
        if args.suite == "queries":
            document = queries.run_suite(
                quick=args.quick,
                seed=args.seed,
                with_anchor=not args.no_anchor,
                only=args.only or (),
                progress=progress,
            )
        elif args.suite == "network":
            document = network.run_suite(
                quick=args.quick,
                seed=args.seed,
                with_anchor=not args.no_anchor,
                only=args.only or (),
                progress=progress,
            )
        else:
            document = engine.run_suite(
                quick=args.quick,
                seed=args.seed,
                with_anchor=not args.no_anchor,
                only=args.only or (),
                progress=progress,
            )
    except NodeError as error:
        sys.stderr.write(f"\nconfide: bench failed: {error.message}\n")
        return 1
    except (RuntimeError, TimeoutError, subprocess.TimeoutExpired) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        sys.stderr.write(f"\nconfide: bench failed: {reason}\n")
        return 1
    if args.json:
        sys.stdout.write(json.dumps(document) + "\n")
    else:
        sys.stderr.write("\r\033[K")
        tables = {"network": network.format_table, "queries": queries.format_table}
        table = tables.get(args.suite, engine.format_table)
        sys.stdout.write(table(document) + "\n")
    return 0 if all(row["correct"] for row in document["results"]) else 1


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``confide bench`` to the command parser."""
    bench = commands.add_parser("bench", help="measure against the anchors, as ratios")
    bench.add_argument("suite", choices=list(ROWS), help="which suite to run")
    bench.add_argument("--json", action="store_true", help="print one JSON document")
    bench.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    bench.add_argument(
        "--no-anchor", action="store_true", help="skip the anchor runs (MPyC; raw aiohttp)"
    )
    bench.add_argument(
        "--only",
        action="append",
        choices=[name for names in ROWS.values() for name in names],
        help="run only this row of the suite (repeatable)",
    )
    bench.add_argument("--seed", type=int, default=1, help="input generation seed")
    bench.set_defaults(handler=_bench, bench_parser=bench)
