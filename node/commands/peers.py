"""``confide peers``: the nodes the running node knows, their liveness and links.

``confide peers catalog NODE_ID [--refresh]`` shows what that peer lets this node see of its
datasets (``GET /peers/{node_id}/catalog``): each dataset's name, rounded row count and columns.
"""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from node.commands.remote import add_common, call, table


def _peers(args: argparse.Namespace) -> int:
    if args.action == "catalog":
        return _catalog(args)
    if args.node_id is not None:
        args.parser.error("a node id is given only with `catalog`")

    def render(body: dict[str, Any]) -> str:
        rows = [(p["node_id"], p["state"], p["linked"], p["discovered"]) for p in body["peers"]]
        return table(rows, ["node id", "state", "linked", "discovered"])

    return call(args, lambda client: client.get("/peers"), render)


def _catalog(args: argparse.Namespace) -> int:
    if args.node_id is None:
        args.parser.error("`confide peers catalog` needs the peer's node id")
    path = f"/peers/{quote(args.node_id, safe='')}/catalog"
    query = {"refresh": True} if args.refresh else None

    def render(body: dict[str, Any]) -> str:
        rows = [
            (
                entry["dataset"],
                f"~{entry['rows']}",
                ", ".join(f"{c['name']} ({c['type']})" for c in entry["columns"]),
            )
            for entry in body["datasets"]
        ]
        cut = "\n(more datasets than one answer holds: list cut short)"
        note = cut if body["truncated"] else ""
        return table(rows, ["dataset", "rows (rounded up)", "columns"]) + note

    return call(args, lambda client: client.get(path, query), render)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``confide peers`` (and ``confide peers catalog NODE_ID``) to the command parser."""
    parser = commands.add_parser(
        "peers",
        help="known peers: liveness, open links; a peer's catalog",
    )
    parser.add_argument(
        "action", nargs="?", choices=["catalog"], help="catalog: ask a peer for its catalog"
    )
    parser.add_argument("node_id", nargs="?", help="the peer's node id (with `catalog`)")
    parser.add_argument(
        "--refresh", action="store_true", help="ask the peer again rather than use the cache"
    )
    add_common(parser)
    parser.set_defaults(handler=_peers, parser=parser)
