"""``confide query``: propose a computation, follow it, read its result, retry a run.

``propose FILE`` sends a draft (the manifest without proposer, times and nonce; ``-`` for stdin;
see docs/reference/api.md) to the running node and prints the manifest id. With ``--wait`` it
follows the computation until its run ends, printing each change of state or phase, and exits
1 with the reason if a provider refused or the run aborted.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from node.commands.remote import add_common, call, fields, read_json_file, table

POLL_SECONDS = 0.2


def describe(view: dict[str, Any]) -> str:
    """One line: the negotiation state and the latest run's state, phase and percentage."""
    run = view.get("run")
    text = f"{view['manifest_id']}  {view['state']}"
    if run is not None:
        text += f"  run {run['state']} {run['phase']} {run['percent']}%"
        if run["reason"]:
            text += f" ({run['reason']})"
    return text


def failure(view: dict[str, Any]) -> str | None:
    """Why the computation failed, in one line, or ``None`` if it has not failed."""
    if view["state"] in ("TERMINATED", "RETIRED"):
        ended = [n for n in view["negotiations"] if n["state"] == "TERMINATED"]
        first = ended[0] if ended else {}
        reason = first.get("reason") or "ended"
        where = f" at {first['constraint']}" if first.get("constraint") else ""
        return f"the negotiation ended: {reason}{where}"
    run = view.get("run")
    if run is not None and run["state"] == "aborted":
        return f"the run aborted: {run['reason']}"
    return None


def done(view: dict[str, Any]) -> bool:
    """Whether there is nothing more to wait for."""
    run = view.get("run")
    return failure(view) is not None or (run is not None and run["state"] == "completed")


def _propose(args: argparse.Namespace) -> int:
    from node.errors import UnavailableError

    def action(client: Any) -> Any:
        view = client.post("/computations", read_json_file(args.file))
        if args.wait is None:
            return view
        deadline = time.monotonic() + args.wait
        shown = ""
        while True:
            line = describe(view)
            if line != shown and not args.json:
                sys.stderr.write(line + "\n")
                shown = line
            reason = failure(view)
            if reason is not None:
                raise UnavailableError("computation_failed", reason)
            if done(view):
                return view
            if time.monotonic() > deadline:
                raise UnavailableError("wait_timeout", "the computation did not end in time")
            time.sleep(POLL_SECONDS)
            view = client.get(f"/computations/{view['manifest_id']}")

    return call(args, action, lambda view: str(view["manifest_id"]))


def _status(args: argparse.Namespace) -> int:
    def render(view: dict[str, Any]) -> str:
        head = fields(view, ["manifest_id", "kind", "purpose", "state", "roles"])
        rows = [
            (n["provider"][:16], n["state"], n["reason"], n["constraint"])
            for n in view["negotiations"]
        ]
        runs = [
            (r["run_id"][:16], r["state"], r["phase"], f"{r['percent']}%", r["reason"])
            for r in view.get("runs", [])
        ]
        return "\n\n".join(
            [
                head,
                table(rows, ["provider", "state", "reason", "constraint"]),
                table(runs, ["run", "state", "phase", "progress", "reason"]),
                view["summary"],
            ]
        )

    return call(args, lambda client: client.get(f"/computations/{args.id}"), render)


def _list(args: argparse.Namespace) -> int:
    def render(body: dict[str, Any]) -> str:
        rows = []
        for view in body["computations"]:
            run = view["run"]
            progress = "-" if run is None else f"{run['state']} {run['percent']}%"
            rows.append((view["manifest_id"], view["kind"], view["state"], progress, view["roles"]))
        return table(rows, ["manifest", "kind", "state", "run", "roles"])

    query = {"role": args.role}
    return call(args, lambda client: client.get("/computations", query=query), render)


def render_result(body: dict[str, Any]) -> str:
    """A result as text: identifiers one per line, a size, or a table of cells."""
    result = body["result"]
    lines = []
    if "identifiers" in result:
        lines += [str(i) for i in result["identifiers"]] or ["(no identifiers)"]
    if "size" in result:
        lines.append(f"size: {result['size']}")
    if "cells" in result and body["kind"] == "aggregate":
        scale = result.get("scale", 1)
        rows = [
            (
                *cell["group"],
                "suppressed" if cell["value"] is None else _scaled(cell["value"], scale),
            )
            for cell in result["cells"]
        ]
        lines.append(table(rows, [*result["group_by"], result["statistic"]]))
    elif "cells" in result:
        rows = [(c["a"][:16], c["b"][:16], c["count"]) for c in result["cells"]]
        lines.append(table(rows, ["a", "b", "count"]))
    return "\n".join(lines)


def _scaled(value: int, scale: int) -> str:
    return str(value) if scale == 1 else f"{value / scale:.2f}"


def _result(args: argparse.Namespace) -> int:
    return call(args, lambda client: client.get(f"/computations/{args.id}/result"), render_result)


def _retry(args: argparse.Namespace) -> int:
    return call(
        args,
        lambda client: client.post(f"/computations/{args.id}/runs", {}),
        lambda body: f"run {body['run_id']} started",
    )


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``confide query`` and its actions to the command parser."""
    query = commands.add_parser("query", help="computations: propose, follow, read the result")
    actions = query.add_subparsers(dest="action", required=True)

    propose = actions.add_parser("propose", help="propose a computation from a draft JSON file")
    propose.add_argument("file", help="the draft (- for stdin)")
    propose.add_argument(
        "--wait", type=float, metavar="SECONDS", help="follow it until its run ends"
    )
    add_common(propose)
    propose.set_defaults(handler=_propose)

    listing = actions.add_parser("list", help="every computation this node takes part in")
    listing.add_argument("--role", choices=["proposer", "provider", "compute_party", "recipient"])
    add_common(listing)
    listing.set_defaults(handler=_list)

    for name, handler, text in (
        ("status", _status, "negotiation per provider, runs and progress"),
        ("result", _result, "the result (at a recipient)"),
        ("retry", _retry, "start another run of an agreed computation"),
    ):
        sub = actions.add_parser(name, help=text)
        sub.add_argument("id", help="the manifest id")
        add_common(sub)
        sub.set_defaults(handler=handler)
