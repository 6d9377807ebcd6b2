"""``confide audit``: show the audit log, verify it, export the evidence of one id."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from node.commands.remote import add_common, call, table


def _show(args: argparse.Namespace) -> int:
    query = {"event": args.event, "since": args.since, "limit": args.limit}

    def render(body: dict[str, Any]) -> str:
        rows = [
            (e["seq"], e["time"], e["event"], e["actor"][:12], json.dumps(e["details"]))
            for e in body["entries"]
        ]
        return table(rows, ["seq", "time", "event", "actor", "details"])

    return call(args, lambda client: client.get("/audit", query=query), render)


def _verify(args: argparse.Namespace) -> int:
    outcome = {"ok": False}

    def action(client: Any) -> Any:
        report = client.post("/audit/verify")
        outcome["ok"] = bool(report["ok"])
        return report

    def render(report: dict[str, Any]) -> str:
        head = (
            f"{report['entries']} entries, last seq {report['last_seq']}, "
            f"signed up to {report['last_checkpoint_seq']}"
        )
        if report["ok"]:
            return f"ok: {head}"
        damage = [f"seq {d['seq']}: {d['kind']} ({d['reason']})" for d in report["damage"]]
        return "\n".join([f"DAMAGED: {head}", *damage])

    code = call(args, action, render)
    return code or (0 if outcome["ok"] else 1)


def _export(args: argparse.Namespace) -> int:
    def render(document: dict[str, Any]) -> str:
        text = json.dumps(document, indent=2, ensure_ascii=False)
        if args.out is None:
            return text
        with open(args.out, "x", encoding="utf-8") as file:
            file.write(text + "\n")
        return f"evidence for {args.subject} written to {args.out}"

    try:
        return call(args, lambda client: client.get(f"/audit/evidence/{args.subject}"), render)
    except FileExistsError:
        sys.stderr.write(f"confide: {args.out} exists; not overwritten\n")
        return 1


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``confide audit`` and its actions to the command parser."""
    audit = commands.add_parser("audit", help="the audit log: show, verify, export evidence")
    actions = audit.add_subparsers(dest="action", required=True)

    show = actions.add_parser("show", help="entries, oldest first")
    show.add_argument("--event", help="only this event or events under it (e.g. policy)")
    show.add_argument("--since", type=int, help="entries after this seq")
    show.add_argument("--limit", type=int, default=100, help="at most this many (1-1000)")
    add_common(show)
    show.set_defaults(handler=_show)

    verify = actions.add_parser("verify", help="check the chain and signatures; exit 1 if damaged")
    add_common(verify)
    verify.set_defaults(handler=_verify)

    export = actions.add_parser("export", help="the evidence for one agreement or manifest id")
    export.add_argument("subject", help="the agreement or manifest id")
    export.add_argument("--out", help="write to this new file instead of stdout")
    add_common(export, json_output=False)
    export.set_defaults(handler=_export)
