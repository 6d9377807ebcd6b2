"""``confide init``: create a node home (keys, admin token, node.toml, store)."""

from __future__ import annotations

import argparse
import json
import sys


def _init(args: argparse.Namespace) -> int:
    from node.config import parse_config
    from node.errors import NodeError
    from node.home import create_home

    document: dict[str, dict[str, object]] = {
        "node": {"name": args.name},
        "peer": {"host": args.peer_host, "port": args.peer_port},
        "admin": {"port": args.admin_port},
        "discovery": {"bootstrap": list(args.bootstrap or [])},
    }
    if args.data_space is not None:
        document["node"]["data_space"] = args.data_space
    if args.advertise is not None:
        document["peer"]["advertise"] = args.advertise
    try:
        config = parse_config(document)
        home, identity = create_home(args.home, config)
    except NodeError as error:
        sys.stderr.write(f"confide: {error.message}\n")
        return 1
    address = f"{identity.node_id}@{config.peer.address(config.peer.port)}"
    if args.json:
        sys.stdout.write(
            json.dumps({"home": str(home.path), "node_id": identity.node_id, "address": address})
            + "\n"
        )
    else:
        sys.stdout.write(
            f"created node home {home.path}\n"
            f"node id:      {identity.node_id}\n"
            f"peer address: {address}\n"
            f"start it with: confide run --home {home.path}\n"
        )
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``confide init`` to the command parser."""
    init = commands.add_parser("init", help="create a node home: keys, token, node.toml, store")
    init.add_argument("--home", required=True, help="directory to create (must not exist)")
    init.add_argument("--name", required=True, help="the organisation's name, e.g. 'NGO A'")
    init.add_argument("--data-space", help="default data space of `confide dataspace` commands")
    init.add_argument("--peer-host", default="127.0.0.1", help="address the peer port binds")
    init.add_argument("--peer-port", type=int, default=7400, help="peer port (0: any free)")
    init.add_argument("--advertise", help="peer address others dial, ws://host:port/confide/v1")
    init.add_argument("--admin-port", type=int, default=7401, help="admin API port (0: any)")
    init.add_argument(
        "--bootstrap",
        action="append",
        metavar="NODE_ID@URL",
        help="a node to dial at start, NODE_ID@ws://host:port/confide/v1 (repeatable)",
    )
    init.add_argument("--json", action="store_true", help="print one JSON object")
    init.set_defaults(handler=_init)
