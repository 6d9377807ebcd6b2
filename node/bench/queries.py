"""``confide bench queries``: whole computations on a local data space of three node processes.

One :class:`~node.localspace.LocalDataSpace` (an LEA and two NGOs, each a ``confide run``
process on loopback, over the real links) serves the whole suite. Each row generates its lists
(``node.synthetic``: ``size`` people per organisation, half of each NGO's also known to the
LEA), imports them through the admin APIs, proposes the computation at the LEA and follows it on
the event stream. Consent (proposal until the run's first phase) and compute (first phase until
``run.completed``) are timed separately; ``seconds`` is the compute time. Each node's RSS is
sampled with psutil during the row; ``peak_rss_bytes`` is the largest sample of any node.
Every result is checked against the plaintext answer (``node.oracle``).

The anchored row runs ``set_difference`` on MPyC's own ``membership`` lists (the anchor's
sort-based membership, ``node.bench.anchor_mpyc``, on 31-bit identifiers) imported as CSVs, so
both sides compute on the same lists; ``ratio = anchor_seconds / seconds``. Nothing here fails
on timing: each row carries its target and whether it was met. A row that cannot run carries an
``error`` code and counts as not correct.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import psutil

from node import localqueries, oracle
from node.bench.anchor_mpyc import party_vector, run_anchor
from node.errors import NodeError
from node.localqueries import EventFollower, Query
from node.localspace import LocalDataSpace, default_members
from node.synthetic.config import OrganisationSpec, SyntheticConfig
from node.synthetic.generate import IDENTIFIER, Synthetic, generate

GIB: Final = 1 << 30
RUN_TIMEOUT: Final = 900.0
SAMPLE_SECONDS: Final = 0.1
ANCHOR: Final = "mpyc-0.11"


@dataclass(frozen=True)
class QueryCase:
    """One row: the query kind, sizes per party, and its target."""

    name: str
    size: int
    quick_size: int
    target: str
    seconds_limit: float | None
    rss_limit: int | None = None
    anchored: bool = False


SUITE: Final = (
    QueryCase("set_difference", 10_000, 1_000, "≤ 5 s", 5.0),
    QueryCase("set_difference", 100_000, 2_000, "≤ 30 s, peak RSS ≤ 2 GB per node", 30.0, 2 * GIB),
    QueryCase("union_size", 100_000, 2_000, "≤ 30 s", 30.0),
    QueryCase("aggregate", 100_000, 2_000, "≤ 60 s (dedup, 2 group-by)", 60.0),
    QueryCase("set_difference", 1_000, 100, "ratio ≥ 100 vs MPyC sort-based", None, anchored=True),
)
_QUERIES: Final[dict[str, Callable[[Sequence[str]], Query]]] = {
    "set_difference": localqueries.proof_of_concept,
    "union_size": localqueries.union_size,
    "aggregate": localqueries.monitoring,
}


def lists(size: int, seed: int) -> Synthetic:
    """Three organisations of ``size`` people each; half of each NGO's people the LEA knows."""
    return generate(
        SyntheticConfig(
            (
                OrganisationSpec("lea", "lea", size),
                OrganisationSpec("ngo-a", "ngo", size, 0.5),
                OrganisationSpec("ngo-b", "ngo", size, 0.5),
            ),
            seed=seed,
        )
    )


def anchor_lists(size: int, seed: int) -> dict[str, list[str]]:
    """The MPyC anchor's ``membership`` lists, as identifier text per member."""
    slugs = ("lea", "ngo-a", "ngo-b")
    return {s: [str(v) for v in party_vector("membership", size, seed, p).tolist()]
            for p, s in enumerate(slugs)}  # fmt: skip


_ANCHOR_SCHEMA: Final = {
    "version": 1,
    "columns": [{"name": IDENTIFIER, "type": "identifier", "source": "id"}],
}


@contextmanager
def _sampling(pids: Sequence[int]) -> Iterator[list[int]]:
    """Sample each process's RSS every 0.1 s in a thread; yields ``[peak bytes]``."""
    peak = [0]
    stop = threading.Event()
    processes = [psutil.Process(pid) for pid in pids]

    def sample() -> None:
        while not stop.is_set():
            for process in processes:
                try:
                    peak[0] = max(peak[0], process.memory_info().rss)
                except psutil.Error:
                    continue
            stop.wait(SAMPLE_SECONDS)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()


class _Bench:
    """The suite's local data space and what it has loaded."""

    def __init__(self, space: LocalDataSpace) -> None:
        self.space = space
        self.with_policies: set[str] = set()

    def load(
        self, tables: dict[str, tuple[bytes, dict[str, Any], str]]
    ) -> tuple[float, dict[str, int]]:
        """Import each member's CSV (replacing the last row's); seconds and row counts."""
        started = time.perf_counter()
        rows = {}
        for slug, (data, schema, delimiter) in tables.items():
            report = self.space.import_dataset(
                slug, slug, data, schema=schema, delimiter=delimiter, replace=True
            )
            rows[slug] = int(report["dataset"]["row_count"])
            if slug not in self.with_policies:
                self.space.create_policies(slug, slug)
                self.with_policies.add(slug)
        return time.perf_counter() - started, rows

    def run(self, query: Query, rows: dict[str, int]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Propose at the LEA and follow to the end: timings and the result body."""
        lea = self.space.nodes[0].client()
        follower = EventFollower(lea)
        pids = [node.pid for node in self.space.nodes if node.pid is not None]
        with _sampling(pids) as peak:
            proposed = time.monotonic()
            manifest_id = localqueries.propose(lea, localqueries.draft(self.space, query, rows))
            events = follower.until_done(manifest_id, RUN_TIMEOUT)
        first = events[0].at
        timing = {
            "consent_seconds": first - proposed,
            "compute_seconds": events[-1].at - first,
            "peak_rss_bytes": peak[0],
        }
        return timing, localqueries.result(lea, manifest_id)


def run_case(
    bench: _Bench, case: QueryCase, quick: bool, seed: int, with_anchor: bool,
    progress: Callable[[str], None],
) -> dict[str, Any]:  # fmt: skip
    """Measure one row; its result row."""
    size = case.quick_size if quick else case.size
    progress(f"queries {case.name} {size:,}: generating")
    slugs = [node.member.slug for node in bench.space.nodes]
    query = _QUERIES[case.name](slugs)
    row: dict[str, Any] = {
        "name": case.name, "parties": len(slugs), "size": size, "seconds": None,
        "consent_seconds": None, "compute_seconds": None, "rounds": None,
        "bytes_per_party": None, "peak_rss_bytes": None, "anchor": None,
        "anchor_seconds": None, "ratio": None, "target": case.target, "met": None,
        "correct": False, "error": None,
    }  # fmt: skip
    if case.anchored:
        identifiers = anchor_lists(size, seed)
        tables = {s: (_id_csv(v), _ANCHOR_SCHEMA, ",") for s, v in identifiers.items()}
        answer: Any = _anchor_answer(identifiers, query)
    else:
        data = lists(size, seed)
        tables = {o.name: (o.csv, o.schema, o.delimiter) for o in data.organisations}
        answer = localqueries.expected(query, data)
    progress(f"queries {case.name} {size:,}: importing")
    row["import_seconds"], rows = bench.load(tables)
    progress(f"queries {case.name} {size:,}: consent and run")
    try:
        timing, body = bench.run(query, rows)
    except NodeError as error:
        row["error"] = error.code
        return row
    row.update(timing)
    row["seconds"] = timing["compute_seconds"]
    row["correct"] = localqueries.compare(query, body, answer)
    if case.anchored and with_anchor:
        progress(f"queries {case.name} {size:,}: MPyC anchor")
        theirs = run_anchor("membership", size, seed, timeout=RUN_TIMEOUT)
        row.update(anchor=ANCHOR, anchor_seconds=theirs["seconds"])
        row["ratio"] = theirs["seconds"] / row["seconds"] if row["seconds"] else None
    row["met"] = _met(case, row)
    return row


def _id_csv(values: Sequence[str]) -> bytes:
    return ("id\n" + "\n".join(values) + "\n").encode("ascii")


def _anchor_answer(identifiers: dict[str, list[str]], query: Query) -> Any:
    lea, *others = (identifiers[s] for s in query.providers)
    return oracle.set_difference(lea, others, int(query.parameters["limit"]))


def _met(case: QueryCase, row: dict[str, Any]) -> bool | None:
    if case.anchored:
        return None if row["ratio"] is None else row["ratio"] >= 100
    met = case.seconds_limit is None or row["seconds"] <= case.seconds_limit
    if case.rss_limit is not None:
        met = met and row["peak_rss_bytes"] <= case.rss_limit
    return met


def run_suite(
    *,
    quick: bool,
    seed: int,
    with_anchor: bool = True,
    only: Sequence[str] = (),
    progress: Callable[[str], None] = lambda _: None,
    directory: Path | None = None,
) -> dict[str, Any]:
    """Start the local data space, run every selected row, stop it; the JSON document."""
    cases = [c for c in SUITE if not only or c.name in only]
    with tempfile.TemporaryDirectory(prefix="confide-bench-") as scratch:
        root = directory or Path(scratch) / "space"
        space = LocalDataSpace(root, default_members(3))
        progress("queries: starting three nodes")
        started = time.perf_counter()
        space.create(int(time.time()))
        with space:
            space.start(int(time.time()))
            setup = {"nodes": len(space.nodes), "start_seconds": time.perf_counter() - started}
            bench = _Bench(space)
            results = [run_case(bench, c, quick, seed, with_anchor, progress) for c in cases]
    return {"suite": "queries", "quick": quick, "setup": setup, "results": results}


def format_table(document: dict[str, Any]) -> str:
    """A readable table of the document's rows."""
    head = (
        f"{'name':<16}{'size':>9}{'import':>9}{'consent':>9}{'seconds':>9}"
        f"{'RSS MB':>8}{'anchor':>9}{'ratio':>8}  ok   target"
    )
    lines = [head, "-" * len(head)]
    for row in document["results"]:
        ok = "yes" if row["correct"] else (row["error"] or "NO")
        lines.append(
            f"{row['name']:<16}{row['size']:>9,}{_number(row, 'import_seconds'):>9}"
            f"{_number(row, 'consent_seconds'):>9}{_number(row, 'seconds'):>9}"
            f"{_number(row, 'peak_rss_bytes', 1 << 20, 0):>8}"
            f"{_number(row, 'anchor_seconds'):>9}{_number(row, 'ratio', 1.0, 1):>8}"
            f"  {ok:<4} {row['target']}"
        )
    setup = document["setup"]
    lines.append(f"\n{setup['nodes']} nodes started in {setup['start_seconds']:.2f} s")
    return "\n".join(lines)


def _number(row: dict[str, Any], key: str, scale: float = 1.0, places: int = 2) -> str:
    value = row.get(key)
    return "" if value is None else f"{value / scale:.{places}f}"
