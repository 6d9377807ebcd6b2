"""``confide agreement``: the finalised agreements this node holds — list, show, retire."""

from __future__ import annotations

import argparse
from typing import Any

from node.commands.remote import add_common, call, fields, table


def _list(args: argparse.Namespace) -> int:
    def render(body: dict[str, Any]) -> str:
        rows = [
            (a["manifest_id"], a["kind"], a["purpose"], a["state"], a["valid_until"])
            for a in body["agreements"]
        ]
        return table(rows, ["manifest", "kind", "purpose", "state", "valid until"])

    return call(args, lambda client: client.get("/agreements"), render)


def _show(args: argparse.Namespace) -> int:
    def render(body: dict[str, Any]) -> str:
        head = fields(
            body,
            ["manifest_id", "kind", "purpose", "state", "valid_from", "valid_until", "reason"],
        )
        rows = [(d["provider"][:16], d["valid_until"], d["max_runs"]) for d in body["decisions"]]
        return "\n\n".join(
            [head, table(rows, ["provider", "valid until", "max runs"]), body["summary"]]
        )

    return call(args, lambda client: client.get(f"/agreements/{args.id}"), render)


def _retire(args: argparse.Namespace) -> int:
    body = {"reason": args.reason} if args.reason else {}
    return call(
        args,
        lambda client: client.post(f"/agreements/{args.id}/retire", body),
        lambda view: f"{view['manifest_id']}  {view['state']}",
    )


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``confide agreement`` and its actions to the command parser."""
    agreement = commands.add_parser("agreement", help="finalised agreements: list, show, retire")
    actions = agreement.add_subparsers(dest="action", required=True)

    listing = actions.add_parser("list", help="every agreement, active or retired")
    add_common(listing)
    listing.set_defaults(handler=_list)

    show = actions.add_parser("show", help="an agreement's terms and signed decisions")
    show.add_argument("id", help="the manifest id")
    add_common(show)
    show.set_defaults(handler=_show)

    retire = actions.add_parser("retire", help="retire this node's consent now")
    retire.add_argument("id", help="the manifest id")
    retire.add_argument("--reason", help="a snake_case reason code (default retired)")
    add_common(retire)
    retire.set_defaults(handler=_retire)
