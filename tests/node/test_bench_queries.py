"""The queries suite without processes: its rows, lists, targets and table."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psutil

from node.bench import queries
from node.bench.anchor_mpyc import party_vector
from node.bench.queries import SUITE, QueryCase, anchor_lists, format_table, lists
from node.commands.bench import ROWS
from node.localspace import LocalDataSpace, default_members


def test_rows_of_the_command_match_the_suite() -> None:
    """`--only` choices are exactly the suite's row names."""
    assert ROWS["queries"] == tuple(dict.fromkeys(case.name for case in SUITE))


def test_lists_give_every_party_its_size_and_overlap() -> None:
    """Each organisation holds `size` people; the NGOs share half of theirs with the LEA."""
    data = lists(400, seed=2)
    assert [o.rows for o in data.organisations] == [400, 400, 400]
    lea = set(data.organisation("lea").persons.tolist())
    ngo = set(data.organisation("ngo-a").persons.tolist())
    assert len(lea & ngo) == 200


def test_anchor_lists_are_mpyc_membership_lists() -> None:
    """The anchored row computes on exactly the identifiers MPyC's anchor inputs."""
    got = anchor_lists(50, seed=4)
    assert got["ngo-b"] == [str(v) for v in party_vector("membership", 50, 4, 2).tolist()]
    assert len(set(got["lea"])) == 50


def test_targets_count_seconds_memory_and_ratio() -> None:
    """A row meets its target only within its seconds (consent included), its RSS and ratio."""
    big = QueryCase("set_difference", 10, 1, "t", 30.0, rss_limit=100)
    assert queries._met(big, {"seconds": 29.0, "consent_seconds": 0.5, "peak_rss_bytes": 99})
    assert not queries._met(big, {"seconds": 29.0, "consent_seconds": 1.5, "peak_rss_bytes": 9})
    assert queries._met(big, {"seconds": 29.0, "peak_rss_bytes": 101}) is False
    assert queries._met(big, {"seconds": 31.0, "peak_rss_bytes": 1}) is False
    anchored = QueryCase("set_difference", 10, 1, "t", None, anchored=True)
    assert queries._met(anchored, {"ratio": 150.0}) is True
    assert queries._met(anchored, {"ratio": 99.0}) is False
    assert queries._met(anchored, {"ratio": None}) is None


def test_table_shows_errors_and_figures() -> None:
    """The table prints a row's error code in place of a verdict, and its figures."""
    row = {"name": "union_size", "size": 2000, "import_seconds": 0.5, "consent_seconds": 0.25,
           "seconds": 1.5, "rounds": 41, "bytes_per_party": 2_500_000,
           "peak_rss_bytes": 200 << 20, "anchor_seconds": None, "ratio": None,
           "correct": True, "met": True, "error": None, "target": "≤ 30 s"}  # fmt: skip
    failed = {**row, "correct": False, "met": None, "error": "run_aborted", "seconds": None}
    text = format_table({"results": [row, failed], "setup": {"nodes": 3, "start_seconds": 1.0}})
    lines = text.splitlines()
    assert lines[2].split()[:10] == [
        "union_size", "2,000", "0.50", "0.25", "1.50", "41", "2.5", "200", "yes", "yes"
    ]  # fmt: skip
    assert "run_aborted" in lines[3]


def test_peak_rss_reads_this_process_high_water_mark() -> None:
    """The kernel's high-water mark of a process is read in bytes and bounds its current RSS."""
    pid = os.getpid()
    with queries._PeakRss({"me": pid}) as rss:
        ballast = bytearray(64 << 20)
    assert rss.peaks["me"] >= len(ballast)
    assert queries._high_water_mark(pid) >= psutil.Process(pid).memory_info().rss * 0.5
    assert queries._high_water_mark(2**22 + 12345) == 0  # no such process


def test_run_summaries_take_each_node_line_of_that_run(tmp_path: Path) -> None:
    """Summary lines are found by run id and event; other runs and broken lines are skipped."""
    space = LocalDataSpace(tmp_path / "space", default_members(3))
    space.create(1_780_000_000)
    line = {"event": "run.completed", "run_id": "r-1", "rounds": 7, "traffic": []}
    for i, node in enumerate(space.nodes):
        other = {**line, "run_id": "r-2", "rounds": 99}
        node.log_path.write_text(
            "\n".join(["{not json r-1 \"run.completed\"", json.dumps({**line, "rounds": 7 + i}),
                       json.dumps(other)]) + "\n"
        )  # fmt: skip
    found = queries.run_summaries(space, "r-1", timeout=0.1)
    assert [entry["rounds"] for entry in found] == [7, 8, 9]
    assert queries.run_summaries(space, "r-3", timeout=0.1) == []
