"""``confide approvals``: requests waiting for a person — list with summaries, approve, refuse."""

from __future__ import annotations

import argparse
from typing import Any

from node.commands.remote import add_common, call


def _list(args: argparse.Namespace) -> int:
    def render(body: dict[str, Any]) -> str:
        if not body["approvals"]:
            return "(none)"
        blocks = [
            f"{a['manifest_id']}  {a['kind']}  deadline {a['deadline']}\n  {a['summary']}"
            for a in body["approvals"]
        ]
        return "\n\n".join(blocks)

    return call(args, lambda client: client.get("/approvals"), render)


def _decided(body: dict[str, Any]) -> str:
    reason = f" ({body['reason']})" if body.get("reason") else ""
    return f"{body['manifest_id']}  {body['state']}{reason}"


def _approve(args: argparse.Namespace) -> int:
    terms: dict[str, Any] = {}
    if args.valid_until is not None:
        terms["valid_until"] = args.valid_until
    if args.max_runs is not None:
        terms["max_runs"] = args.max_runs
    return call(args, lambda client: client.post(f"/approvals/{args.id}/approve", terms), _decided)


def _refuse(args: argparse.Namespace) -> int:
    body = {"reason": args.reason} if args.reason else {}
    return call(args, lambda client: client.post(f"/approvals/{args.id}/refuse", body), _decided)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``confide approvals`` and its actions to the command parser."""
    approvals = commands.add_parser("approvals", help="requests waiting for a person")
    actions = approvals.add_subparsers(dest="action", required=True)

    listing = actions.add_parser("list", help="pending requests with what they would reveal")
    add_common(listing)
    listing.set_defaults(handler=_list)

    approve = actions.add_parser("approve", help="approve a pending request")
    approve.add_argument("id", help="the manifest id")
    approve.add_argument("--valid-until", type=int, help="an earlier end (Unix seconds)")
    approve.add_argument("--max-runs", type=int, help="fewer runs than the policies allow")
    add_common(approve)
    approve.set_defaults(handler=_approve)

    refuse = actions.add_parser("refuse", help="refuse a pending request")
    refuse.add_argument("id", help="the manifest id")
    refuse.add_argument("--reason", help="a snake_case reason code the proposer sees")
    add_common(refuse)
    refuse.set_defaults(handler=_refuse)
