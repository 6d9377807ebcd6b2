"""``confide demo``: a local data space of three real nodes computes the proof of concept.

What it does, each step through the same interfaces an operator uses (``docs/tutorial.md``):

1. generates realistic lists (``node.synthetic.proof_of_concept``): an LEA and two NGOs whose
   clients partly overlap with it, names with accents and spelling variants, dates of birth,
   exploitation types, regions, each organisation's own CSV dialect;
2. starts a local data space (``node.localspace``): three ``confide run`` processes on loopback,
   one data space ``nl-human-trafficking`` governed by the LEA;
3. imports each organisation's CSV and its standing policies through its node's admin API;
4. proposes, at the LEA's node, the proof-of-concept query (``set_difference``, limit 5, the LEA
   the only recipient) and a deduplicated monitoring aggregate, shows their progress from the
   event stream, and prints each result beside the plaintext answer (``node.oracle``) and
   whether they match;
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
            write("all nodes stopped cleanly" if clean else f"nodes stopped: {codes}")
            if directory is None and clean:
                shutil.rmtree(root, ignore_errors=True)
    return code


def _run(space: LocalDataSpace, data: Synthetic, write: Callable[[str], None]) -> int:
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
    lea = space.nodes[0].client()
    ok = True
    for number, query in enumerate(queries, start=3):
        write(f"\n{number}. the LEA proposes: {query.title}")
        follower = EventFollower(lea)
        manifest_id = localqueries.propose(lea, localqueries.draft(space, query, rows))
        write(f"   manifest {manifest_id[:14]}…; consent and run:")
        follower.until_done(manifest_id, RUN_TIMEOUT, _progress(write))
        body = localqueries.result(lea, manifest_id)
        ok = _report(query, body, localqueries.expected(query, data), write) and ok
    write("\nall results match the plaintext answers" if ok else "\nSOME RESULTS DO NOT MATCH")
    return 0 if ok else 1


def _progress(write: Callable[[str], None]) -> Callable[[Timed], None]:
    def show(item: Timed) -> None:
        data = item.event["data"]
        if item.event["event"] == "run.progressed":
            write(f"     {data.get('percent', 0):>3} %  {data.get('phase')}")
        elif item.event["event"] == "run.completed":
            write("     100 %  completed")

    return show


def _report(query: Query, body: dict[str, Any], answer: Any, write: Callable[[str], None]) -> bool:
    match = localqueries.compare(query, body, answer)
    verdict = "match" if match else "MISMATCH"
    if query.kind == "set_difference":
        found = ", ".join(body.get("identifiers", []))
        write(f"   result:    {found}")
        write(f"   plaintext: {answer.size} names of the LEA are on no NGO list; any")
        write(f"              {answer.expected_count} of them is a correct answer  -> {verdict}")
    else:
        shown = {k: v for k, v in answer.cells.items() if v is not None}
        write(f"   result:    {len(body.get('cells', []))} cells")
        write(
            f"   plaintext: {len(shown)} cells shown, {len(answer.cells) - len(shown)} suppressed"
        )
        for key, value in sorted(shown.items(), key=lambda kv: -kv[1])[:5]:
            write(f"              {' / '.join(key):<40} {value:>5}")
        write(f"              -> {verdict}")
    return match


def _print_kept(space: LocalDataSpace, write: Callable[[str], None]) -> None:
    write("\nThe nodes keep running (--keep). Reach each admin API with:")
    for node in space.nodes:
        url = node.client().base_url
        write(f"   {node.member.name:<6} {url}/api/v1   confide status --home {node.home}")
    pids = " ".join(str(node.pid) for node in space.nodes)
    write(f"Token: the admin-token file in each home. Stop them with: kill -TERM {pids}")


def _writer(stream: TextIO) -> Callable[[str], None]:
    def write(line: str) -> None:
        stream.write(line + "\n")
        stream.flush()

    return write
