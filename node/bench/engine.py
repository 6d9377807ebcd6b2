"""``confide bench engine``: the engine's tasks side by side with MPyC, as ratios.

Each task runs three Confide parties as separate OS processes, linked on loopback by the
encrypted links (websocket, Noise XX, frames; ``node.mesh``), then the
same task in MPyC 0.11 (three processes, vectorised secure arrays), in the same run. The ratio is
``anchor_seconds / seconds``: how many times faster Confide is.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from node.bench.processes import run_parties
from node.bench.tasks import N_PARTIES

PARTY_MODULE = "node.bench.party"


@dataclass(frozen=True)
class BenchCase:
    """One row of the suite: a task, its full and quick sizes, whether MPyC runs it too."""

    name: str
    task: str
    size: int
    quick_size: int
    anchor: bool


SUITE: tuple[BenchCase, ...] = (
    BenchCase("sum", "sum", 1_000_000, 100_000, True),
    BenchCase("mul", "mul", 1_000_000, 100_000, True),
    BenchCase("lt", "lt", 100_000, 5_000, True),
    BenchCase("eq", "eq", 100_000, 5_000, True),
    BenchCase("membership", "membership", 1_000, 100, True),
    BenchCase("membership", "membership", 100_000, 2_000, False),
)


def _anchor(task: str, size: int, seed: int, timeout: float) -> dict[str, Any]:
    from node.bench.anchor_mpyc import run_anchor

    return run_anchor(task, size, seed, timeout=timeout)


def run_case(
    case: BenchCase,
    quick: bool,
    seed: int,
    with_anchor: bool,
    progress: Callable[[str], None],
    timeout: float = 900.0,
) -> dict[str, Any]:
    """Measure one case (and its anchor) and return its result row."""
    size = case.quick_size if quick else case.size
    progress(f"{case.name} {size:,}: confide …")
    ours = run_parties(PARTY_MODULE, case.task, size, seed, timeout)
    row: dict[str, Any] = {
        "name": case.name,
        "parties": N_PARTIES,
        "size": size,
        "seconds": ours.seconds,
        "rounds": ours.rounds,
        "bytes_per_party": ours.bytes_per_party,
        "peak_rss_bytes": ours.peak_rss_bytes,
        "correct": ours.correct,
        "anchor": None,
        "anchor_seconds": None,
        "anchor_bytes_per_party": None,
        "ratio": None,
    }
    if case.anchor and with_anchor:
        progress(f"{case.name} {size:,}: MPyC …")
        theirs = _anchor(case.task, size, seed, timeout)
        row["anchor"] = "mpyc-0.11"
        row["anchor_seconds"] = theirs["seconds"]
        row["anchor_bytes_per_party"] = theirs.get("bytes_per_party")
        row["ratio"] = theirs["seconds"] / ours.seconds if ours.seconds > 0 else None
    return row


def run_suite(
    quick: bool,
    seed: int = 1,
    with_anchor: bool = True,
    only: Sequence[str] = (),
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Run every selected case; the JSON document of ``confide bench engine --json``."""
    cases = [c for c in SUITE if not only or c.name in only]
    results = [run_case(c, quick, seed, with_anchor, progress) for c in cases]
    return {"suite": "engine", "quick": quick, "results": results}


def format_table(document: dict[str, Any]) -> str:
    """The readable table of a suite's results."""
    header = (
        f"{'name':<11}{'size':>10}{'seconds':>10}{'rounds':>8}{'MB/party':>10}"
        f"{'RSS MB':>8}{'MPyC s':>9}{'ratio':>8}  ok"
    )
    lines = [header, "-" * len(header)]
    for row in document["results"]:
        anchor = "" if row["anchor_seconds"] is None else f"{row['anchor_seconds']:.2f}"
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.1f}x"
        lines.append(
            f"{row['name']:<11}{row['size']:>10,}{row['seconds']:>10.3f}{row['rounds']:>8}"
            f"{row['bytes_per_party'] / 1e6:>10.1f}{row['peak_rss_bytes'] / 2**20:>8.0f}"
            f"{anchor:>9}{ratio:>8}  {'yes' if row['correct'] else 'NO'}"
        )
    return "\n".join(lines)


def stderr_progress(message: str) -> None:
    """A one-line progress display on the terminal."""
    sys.stderr.write(f"\r\033[K{message}")
    sys.stderr.flush()
