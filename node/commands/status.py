"""``confide status``: the running node's id, name, version and peer address."""

from __future__ import annotations

import argparse
from typing import Any

from node.commands.remote import add_common, call, fields


def _status(args: argparse.Namespace) -> int:
    def render(body: dict[str, Any]) -> str:
        return fields(body, ["node_id", "name", "version", "peer_url", "started_at", "now"])

    return call(args, lambda client: client.get("/status"), render)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``confide status`` to the command parser."""
    parser = commands.add_parser("status", help="the running node: id, name, version, address")
    add_common(parser)
    parser.set_defaults(handler=_status)
