"""`confide bench queries` over three real node processes: the document, setup phases, rows."""

from __future__ import annotations

import json

import pytest

from tests.node.helpers import ROW_FIELDS, confide

pytestmark = pytest.mark.processes


@pytest.mark.timeout(300)
def test_bench_queries_quick_json_document() -> None:
    """Every quick row runs, matches the plaintext answer and carries its measures."""
    done = confide("bench", "queries", "--quick", "--json", "--no-anchor", timeout=280)
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads(done.stdout)
    assert document["suite"] == "queries"
    assert document["quick"] is True
    assert document["setup"]["nodes"] == 3
    assert document["setup"]["start_seconds"] > 0
    rows = document["results"]
    assert [(r["name"], r["size"]) for r in rows] == [
        ("set_difference", 1000),
        ("set_difference", 2000),
        ("union_size", 2000),
        ("aggregate", 2000),
        ("set_difference", 100),
    ]
    for row in rows:
        assert set(row) >= ROW_FIELDS | {"consent_seconds", "import_seconds", "peak_rss_bytes"}
        assert row["parties"] == 3
        assert row["error"] is None
        assert row["correct"] is True, row
        assert row["import_seconds"] > 0
        assert row["consent_seconds"] > 0
        assert row["seconds"] == row["compute_seconds"] > 0
        assert row["rounds"] > 0
        assert row["bytes_per_party"] > 0
        assert set(row["peak_rss_by_node"]) == {"lea", "ngo-a", "ngo-b"}
        assert 0 < row["peak_rss_bytes"] == max(row["peak_rss_by_node"].values()) < 2 << 30
        assert row["anchor_seconds"] is None
    assert [r["met"] for r in rows[:4]] == [True] * 4
    assert rows[4]["met"] is None  # no ratio without the anchor run
