"""The queries suite without processes: its rows, lists, targets and table."""

from __future__ import annotations

from node.bench import queries
from node.bench.anchor_mpyc import party_vector
from node.bench.queries import SUITE, QueryCase, anchor_lists, format_table, lists
from node.commands.bench import ROWS


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
    """A row meets its target only within its seconds, its RSS bound and its ratio."""
    big = QueryCase("set_difference", 10, 1, "t", 30.0, rss_limit=100)
    assert queries._met(big, {"seconds": 29.0, "peak_rss_bytes": 99}) is True
    assert queries._met(big, {"seconds": 29.0, "peak_rss_bytes": 101}) is False
    assert queries._met(big, {"seconds": 31.0, "peak_rss_bytes": 1}) is False
    anchored = QueryCase("set_difference", 10, 1, "t", None, anchored=True)
    assert queries._met(anchored, {"ratio": 150.0}) is True
    assert queries._met(anchored, {"ratio": 99.0}) is False
    assert queries._met(anchored, {"ratio": None}) is None


def test_table_shows_errors_and_figures() -> None:
    """The table prints a row's error code in place of a verdict, and its figures."""
    row = {"name": "union_size", "size": 2000, "import_seconds": 0.5, "consent_seconds": 0.25,
           "seconds": 1.5, "peak_rss_bytes": 200 << 20, "anchor_seconds": None, "ratio": None,
           "correct": True, "error": None, "target": "≤ 30 s"}  # fmt: skip
    failed = {**row, "correct": False, "error": "run_aborted", "seconds": None}
    text = format_table({"results": [row, failed], "setup": {"nodes": 3, "start_seconds": 1.0}})
    lines = text.splitlines()
    assert lines[2].split()[:7] == ["union_size", "2,000", "0.50", "0.25", "1.50", "200", "yes"]
    assert "run_aborted" in lines[3]
