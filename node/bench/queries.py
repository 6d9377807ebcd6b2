"""``confide bench queries``: whole computations on a local data space of three node processes.

One :class:`~node.localspace.LocalDataSpace` (an LEA and two NGOs, each a ``confide run``
process on loopback, over the real links) serves the whole suite. Each row generates its lists
(``node.synthetic``: ``size`` people per organisation, half of each NGO's also known to the
LEA), imports them through the admin APIs, proposes the computation at the LEA and follows it on
the event stream. Consent (proposal until ``run.started``) and compute (``run.started`` until
``run.completed``) are timed separately; ``seconds`` is the compute time. Each node's peak RSS
over the row's consent and compute is measured (:class:`_PeakRss`); ``peak_rss_bytes`` is the
largest. ``rounds`` and ``bytes_per_party`` come from the nodes' own ``run.completed`` summary
log lines (the most any party sent). Every result is checked against the plaintext answer
(``node.oracle``).

The anchored row runs ``set_difference`` on MPyC's own ``membership`` lists (the anchor's
sort-based membership, ``node.bench.anchor_mpyc``, on 31-bit identifiers) imported as CSVs, so
both sides compute on the same lists; ``ratio = anchor_seconds / seconds``. Nothing here fails
on timing: each row carries its target and whether it was met. A row that cannot run carries an
``error`` code and counts as not correct.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
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


class _PeakRss:
    """Each node's peak resident set size over one row's consent and compute.

    On Linux the kernel keeps each process's high-water mark (``VmHWM`` in
    ``/proc/PID/status``); writing ``5`` to ``/proc/PID/clear_refs`` resets it, so the peak
    excludes the import before the row. A psutil sample every 0.1 s runs as well (and alone
    where ``/proc`` is not there); each node's figure is the larger of the two.
    """

    def __init__(self, nodes: dict[str, int]) -> None:
        self.nodes = nodes
        self.peaks = dict.fromkeys(nodes, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> _PeakRss:
        for pid in self.nodes.values():
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        for slug, pid in self.nodes.items():
            self.peaks[slug] = max(self.peaks[slug], _high_water_mark(pid))

    def _sample(self) -> None:
        processes = {slug: psutil.Process(pid) for slug, pid in self.nodes.items()}
        while not self._stop.is_set():
            for slug, process in processes.items():
                with contextlib.suppress(psutil.Error):
                    self.peaks[slug] = max(self.peaks[slug], process.memory_info().rss)
            self._stop.wait(SAMPLE_SECONDS)


def _high_water_mark(pid: int) -> int:
    """``VmHWM`` of process ``pid`` in bytes (0 where ``/proc`` cannot tell)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def run_summaries(space: LocalDataSpace, run_id: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Each node's ``run.completed`` summary line of ``run_id`` (rounds, traffic per peer).

    The proposer's event can reach us before another party has written its line: wait up to
    ``timeout`` for every node's.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = [line for node in space.nodes if (line := _summary(node.log_path, run_id))]
        if len(found) == len(space.nodes) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _summary(log: Path, run_id: str) -> dict[str, Any] | None:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in reversed(text.splitlines()):
        if run_id in line and '"run.completed"' in line:
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("event") == "run.completed" and entry.get("run_id") == run_id:
                    return dict(entry)
    return None


class _Bench:
    """The suite's local data space, what it has loaded, and the LEA's event stream."""

    def __init__(self, space: LocalDataSpace) -> None:
        self.space = space
        self.with_policies: set[str] = set()
        self.follower = EventFollower(space.nodes[0].client())

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
        """Propose at the LEA and follow to the end: the row's measures and the result body."""
        pids = {n.member.slug: n.pid for n in self.space.nodes if n.pid is not None}
        with _PeakRss(pids) as rss:
            draft = localqueries.draft(self.space, query, rows)
            followed = self.follower.run(draft, RUN_TIMEOUT)
        summaries = run_summaries(self.space, followed.run_id)
        sent = [sum(int(t["sent"]) for t in line.get("traffic", [])) for line in summaries]
        measures = {
            "consent_seconds": followed.consent_seconds,
            "compute_seconds": followed.compute_seconds,
            "rounds": max((int(line["rounds"]) for line in summaries), default=None),
            "bytes_per_party": max(sent, default=None),
            "peak_rss_bytes": max(rss.peaks.values()),
            "peak_rss_by_node": rss.peaks,
        }
        return measures, localqueries.result(self.follower.client, followed.manifest_id)


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
        "bytes_per_party": None, "peak_rss_bytes": None, "peak_rss_by_node": None,
        "anchor": None,
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
        answer = localqueries.expected(query, data, bench.space.node_ids())
    progress(f"queries {case.name} {size:,}: importing")
    row["import_seconds"], rows = bench.load(tables)
    progress(f"queries {case.name} {size:,}: consent and run")
    try:
        measures, body = bench.run(query, rows)
    except NodeError as error:
        row["error"] = error.code
        return row
    row.update(measures)
    row["seconds"] = measures["compute_seconds"]
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
    """Whether the row met its target: consent and compute together within the seconds, every
    node within the RSS bound; for the anchored row, the ratio."""
    if case.anchored:
        return None if row["ratio"] is None else row["ratio"] >= 100
    waited = row["seconds"] + (row.get("consent_seconds") or 0.0)
    met = case.seconds_limit is None or waited <= case.seconds_limit
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
        f"{'name':<16}{'size':>9}{'import':>8}{'consent':>9}{'seconds':>9}{'rounds':>8}"
        f"{'MB/party':>10}{'RSS MB':>8}{'anchor':>9}{'ratio':>8}  ok   met  target"
    )
    lines = [head, "-" * len(head)]
    for row in document["results"]:
        ok = "yes" if row["correct"] else (row["error"] or "NO")
        met = {True: "yes", False: "NO", None: ""}[row.get("met")]
        lines.append(
            f"{row['name']:<16}{row['size']:>9,}{_number(row, 'import_seconds'):>8}"
            f"{_number(row, 'consent_seconds'):>9}{_number(row, 'seconds'):>9}"
            f"{_number(row, 'rounds', 1.0, 0):>8}{_number(row, 'bytes_per_party', 1e6, 1):>10}"
            f"{_number(row, 'peak_rss_bytes', 1 << 20, 0):>8}"
            f"{_number(row, 'anchor_seconds'):>9}{_number(row, 'ratio', 1.0, 1):>8}"
            f"  {ok:<4} {met:<4} {row['target']}"
        )
    setup = document["setup"]
    lines.append(f"\n{setup['nodes']} nodes started in {setup['start_seconds']:.2f} s")
    return "\n".join(lines)


def _number(row: dict[str, Any], key: str, scale: float = 1.0, places: int = 2) -> str:
    value = row.get(key)
    return "" if value is None else f"{value / scale:.{places}f}"
