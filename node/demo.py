"""``confide demo``: a local data space of three real nodes computes the proof of concept.

What it does, each step through the same interfaces an operator uses (``docs/tutorial.md``):

1. generates realistic lists (``node.synthetic.proof_of_concept``): an LEA and two NGOs whose
   clients partly overlap with it, names with accents and spelling variants, dates of birth,
   exploitation types, regions, each organisation's own CSV dialect;
2. starts a local data space (``node.localspace``): three ``confide run`` processes on loopback,
   one data space ``nl-human-trafficking`` governed by the LEA;
3. imports each organisation's CSV and its standing policies through its node's admin API;
4. proposes, at the LEA's node, the proof-of-concept query (``set_difference``, limit 5, the LEA
   the only recipient) and a deduplicated monitoring aggregate, shows consent and progress from
   the LEA's event stream, and prints each result beside the plaintext answer (``node.oracle``)
   and whether they match;
5. stops every node with SIGTERM — or, with ``keep``, leaves them running and prints how to
   reach each admin API.

The plaintext answers exist only because a demo knows every list; no node ever computes them.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TextIO

from node import localqueries
from node.errors import NodeError
from node.localqueries import EventFollower, Query, Timed
from node.localspace import LocalDataSpace, default_members
from node.synthetic.config import proof_of_concept
from node.synthetic.generate import Synthetic, generate

DEFAULT_PEOPLE: Final = 1000
RUN_TIMEOUT: Final = 300.0
SHOWN_CELLS: Final = 6

Write = Callable[[str], None]


def run_demo(
    *,
    keep: bool = False,
    people: int = DEFAULT_PEOPLE,
    seed: int = 0,
    directory: Path | None = None,
    out: TextIO | None = None,
) -> int:
    """Run the demo; 0 if every result matches its plaintext answer."""
    write = _writer(out or sys.stdout)
    data = generate(proof_of_concept(people, seed=seed))
    root = directory or Path(tempfile.mkdtemp(prefix="confide-demo-"))
    space = LocalDataSpace(root, default_members(len(data.organisations)), keep=keep)
    write("Confide demo: a local data space of three nodes, each its own process on 127.0.0.1")
    code = 1
    kept = False
    try:
        code = _run(space, data, write)
        if keep and code == 0:
            _print_kept(space, write)
            space.detach()
            kept = True
    except NodeError as error:
        write(f"\nthe demo stopped: {error.message}")
    except KeyboardInterrupt:
        write("\ninterrupted")
        code = 130
    finally:
        if not kept:
            codes = space.stop()
            clean = all(c == 0 for c in codes.values())
            write("\nall nodes stopped cleanly" if clean else f"\nnodes stopped: {codes}")
            if directory is None and clean:
                shutil.rmtree(root, ignore_errors=True)
    return code


def _run(space: LocalDataSpace, data: Synthetic, write: Write) -> int:
    now = int(time.time())
    space.create(now)
    write(f"\n1. nodes (homes under {space.root})")
    space.start(now)
    for node in space.nodes:
        member = node.member
        write(f"   {member.name:<6} {member.role:<4} pid {node.pid}  node {node.node_id[:12]}…")
    write("   all three joined nl-human-trafficking and found each other")
    write("\n2. each organisation imports its own CSV and sets its standing policies")
    rows: dict[str, int] = {}
    for org in data.organisations:
        report = space.import_dataset(
            org.name, org.name, org.csv, schema=org.schema, delimiter=org.delimiter
        )
        rows[org.name] = int(report["dataset"]["row_count"])
        policies = space.create_policies(org.name, org.name)
        names = ", ".join(p["policy"]["id"] for p in policies)
        write(f"   {org.name:<6} {rows[org.name]:>5} rows ({org.delimiter!r}-separated); {names}")
    slugs = [node.member.slug for node in space.nodes]
    queries = [localqueries.proof_of_concept(slugs), localqueries.monitoring(slugs)]
    follower = EventFollower(space.nodes[0].client())
    members = {node.node_id: node.member.name for node in space.nodes}
    ok = True
    for number, query in enumerate(queries, start=3):
        write(f"\n{number}. the LEA proposes: {query.title}")
        started = time.monotonic()
        followed = follower.run(
            localqueries.draft(space, query, rows), RUN_TIMEOUT, _progress(write, members, started)
        )
        write(
            f"   consent took {followed.consent_seconds:.2f} s, "
            f"the computation {followed.compute_seconds:.2f} s"
        )
        body = localqueries.result(follower.client, followed.manifest_id)
        answer = localqueries.expected(query, data, space.node_ids())
        ok = _report(query, body, answer, write) and ok
    write("\nall results match the plaintext answers" if ok else "\nSOME RESULTS DO NOT MATCH")
    return 0 if ok else 1


def _progress(write: Write, names: dict[str, str], started: float) -> Callable[[Timed], None]:
    """Print the computation's consent steps and run progress as the LEA's node sees them."""

    def show(item: Timed) -> None:
        kind, data = item.event["event"], item.event["data"]
        at = f"{item.at - started:6.2f} s"
        if kind == "computation.proposed":
            write(f"   {at}  proposed: manifest {data['manifest_id'][:14]}…")
        elif kind == "negotiation.updated" and data.get("role") == "proposer":
            state = data.get("state")
            if state in ("AGREED", "TERMINATED"):
                who = names.get(data.get("provider", ""), "a provider")
                verdict = "agreed (its policy allows it)" if state == "AGREED" else "refused"
                write(f"   {at}  consent: {who} {verdict}")
        elif kind == "agreement.finalized":
            write(f"   {at}  agreement finalized: every provider signed, the LEA counter-signed")
        elif kind == "run.started":
            write(f"   {at}  run {data['run_id'][:10]}… started")
        elif kind in ("run.progressed", "run.completed"):
            write(f"   {at}  {data.get('percent', 0):>3} %  {data.get('phase')}")

    return show


def _report(query: Query, body: dict[str, Any], answer: Any, write: Write) -> bool:
    match = localqueries.compare(query, body, answer)
    if query.kind == "set_difference":
        write(f"   result (to the LEA only): {len(body.get('identifiers', []))} names")
        for identifier in body.get("identifiers", []):
            write(f"      {identifier}")
        write(
            f"   plaintext: {answer.size} of the LEA's names are on no NGO list; any "
            f"{answer.expected_count} of them is a correct answer"
        )
    else:
        cells = {tuple(c["group"]): c["value"] for c in body.get("cells", [])}
        shown = answer.shown
        write(
            f"   result (to the LEA only): {len(cells)} cells, one per exploitation type and region"
        )
        suppressed = len(answer.cells) - len(shown)
        write(
            f"   plaintext: {len(shown)} cells shown, {suppressed} suppressed (fewer than 5 people)"
        )
        write(f"      {'exploitation type / region':<34}{'result':>10}{'plaintext':>14}")
        largest = sorted(shown, key=lambda key: -shown[key])[:SHOWN_CELLS]
        hidden = [key for key, value in answer.cells.items() if value is None][:2]
        for key in [*largest, *hidden]:
            ours = cells.get(key)
            truth = answer.cells[key]
            write(
                f"      {' / '.join(key):<34}{_cell(ours):>10}"
                f"{_cell(truth, answer.counts[key]):>14}"
            )
    write(f"   match: {'yes' if match else 'NO'}")
    return match


def _cell(value: int | None, count: int | None = None) -> str:
    """A cell as printed: its value, or ``hidden`` (with the plaintext's true count)."""
    if value is not None:
        return str(value)
    return "hidden" if count is None else f"hidden ({count})"


def _print_kept(space: LocalDataSpace, write: Write) -> None:
    write("\nThe nodes keep running (--keep). Reach each admin API with:")
    for node in space.nodes:
        url = node.client().base_url
        write(f"   {node.member.name:<6} {url}/api/v1   confide status --home {node.home}")
    write("Token: the admin-token file in each home (Authorization: Bearer <token>).")
    pids = " ".join(str(node.pid) for node in space.nodes)
    write(f"Stop them with: kill -TERM {pids}")


def _writer(stream: TextIO) -> Write:
    def write(line: str) -> None:
        stream.write(line + "\n")
        stream.flush()

    return write
