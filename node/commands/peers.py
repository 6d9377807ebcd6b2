"""``confide peers``: the nodes the running node knows, their liveness and links."""

from __future__ import annotations

import argparse
from typing import Any

from node.commands.remote import add_common, call, table


def _peers(args: argparse.Namespace) -> int:
    def render(body: dict[str, Any]) -> str:
        rows = [(p["node_id"], p["state"], p["linked"], p["discovered"]) for p in body["peers"]]
        return table(rows, ["node id", "state", "linked", "discovered"])

    return call(args, lambda client: client.get("/peers"), render)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``confide peers`` to the command parser."""
    parser = commands.add_parser("peers", help="known peers: liveness, open links")
    add_common(parser)
    parser.set_defaults(handler=_peers)
