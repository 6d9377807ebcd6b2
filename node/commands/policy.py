"""``confide policy``: create, validate, list, show, update, retire and explain consent policies."""

from __future__ import annotations

import argparse
import json
from typing import Any

from node.commands.remote import add_common, call, read_json_file, table


def _render_stored(body: dict[str, Any]) -> str:
    policy = body["policy"]
    state = "retired" if body["retired_at"] is not None else "active"
    return f"{policy['id']} version {policy['version']} on {policy['dataset']} ({state})"


def _list(args: argparse.Namespace) -> int:
    def render(body: dict[str, Any]) -> str:
        rows = [
            (
                p["policy"]["id"],
                p["policy"]["version"],
                p["policy"]["dataset"],
                p["policy"]["approval"],
                "retired" if p["retired_at"] is not None else "active",
            )
            for p in body["policies"]
        ]
        return table(rows, ["id", "version", "dataset", "approval", "state"])

    query = {"dataset": args.dataset, "retired": args.retired or None}
    return call(args, lambda client: client.get("/policies", query=query), render)


def _show(args: argparse.Namespace) -> int:
    query = {"version": args.version}
    return call(
        args,
        lambda client: client.get(f"/policies/{args.id}", query=query),
        lambda body: json.dumps(body["policy"], indent=2, ensure_ascii=False),
    )


def _create(args: argparse.Namespace) -> int:
    return call(
        args, lambda client: client.post("/policies", read_json_file(args.file)), _render_stored
    )


def _update(args: argparse.Namespace) -> int:
    return call(
        args,
        lambda client: client.put(f"/policies/{args.id}", read_json_file(args.file)),
        _render_stored,
    )


def _validate(args: argparse.Namespace) -> int:
    def render(body: dict[str, Any]) -> str:
        if body["valid"]:
            return "valid"
        problems = body.get("details", {}).get("errors") or []
        lines = [f"{p.get('path', '$')}: {p.get('message', p.get('reason', ''))}" for p in problems]
        return "\n".join(["not valid: " + body.get("message", ""), *lines])

    outcome = {"valid": False}

    def action(client: Any) -> Any:
        body = client.post("/policies/validate", read_json_file(args.file))
        outcome["valid"] = bool(body["valid"])
        return body

    code = call(args, action, render)
    # An invalid policy is a failure for scripts too (the report was printed).
    return code or (0 if outcome["valid"] else 1)


def _retire(args: argparse.Namespace) -> int:
    return call(args, lambda client: client.post(f"/policies/{args.id}/retire"), _render_stored)


def _explain(args: argparse.Namespace) -> int:
    from node.errors import InvalidError

    def action(client: Any) -> Any:
        if args.manifest:
            body: dict[str, Any] = {"manifest": read_json_file(args.manifest)}
        else:
            if not args.data_space:
                raise InvalidError("data_space_missing", "--requester needs --data-space")
            requester: dict[str, Any] = {"node_id": args.requester, "data_space": args.data_space}
            if args.role:
                requester["roles"] = args.role
            body = {"requester": requester}
        return client.post(f"/policies/{args.id}/explain", body)

    def render(body: dict[str, Any]) -> str:
        rows = [(c["path"], c["outcome"], c["reason"]) for c in body["checks"]]
        verdict = f"{body['policy_id']} version {body['policy_version']}: {body['outcome']}"
        return verdict + "\n" + table(rows, ["part", "outcome", "why"])

    return call(args, action, render)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``confide policy`` and its actions to the command parser."""
    policy = commands.add_parser("policy", help="consent policies: create, explain, retire")
    actions = policy.add_subparsers(dest="action", required=True)

    listing = actions.add_parser("list", help="current version of each policy")
    listing.add_argument("--dataset", help="only policies on this dataset")
    listing.add_argument("--retired", action="store_true", help="include retired policies")
    add_common(listing)
    listing.set_defaults(handler=_list)

    show = actions.add_parser("show", help="print a policy")
    show.add_argument("id")
    show.add_argument("--version", type=int, help="an earlier version")
    add_common(show)
    show.set_defaults(handler=_show)

    for name, handler, text in (
        ("create", _create, "create a policy from a JSON file (- for stdin)"),
        ("validate", _validate, "check a policy file without storing it"),
    ):
        sub = actions.add_parser(name, help=text)
        sub.add_argument("file")
        add_common(sub)
        sub.set_defaults(handler=handler)

    update = actions.add_parser("update", help="store the next version of a policy")
    update.add_argument("id")
    update.add_argument("file")
    add_common(update)
    update.set_defaults(handler=_update)

    retire = actions.add_parser("retire", help="retire a policy now")
    retire.add_argument("id")
    add_common(retire)
    retire.set_defaults(handler=_retire)

    explain = actions.add_parser("explain", help="which constraint passes or fails, and why")
    explain.add_argument("id")
    target = explain.add_mutually_exclusive_group(required=True)
    target.add_argument("--manifest", help="a manifest JSON file")
    target.add_argument("--requester", help="a would-be requester's node id")
    explain.add_argument("--data-space", help="the requester's data space")
    explain.add_argument(
        "--role", action="append", help="a role of the requester (default: as verified)"
    )
    add_common(explain)
    explain.set_defaults(handler=_explain)
