"""The README's commands as a user runs them: separate processes over real loopback sockets."""

from __future__ import annotations

import json

import pytest

from tests.node.helpers import ROW_FIELDS, confide

pytestmark = pytest.mark.processes


@pytest.mark.timeout(300)
def test_bench_engine_json_with_anchor() -> None:
    """`bench engine --quick --json` prints one JSON document with a ratio per anchored row."""
    done = confide("bench", "engine", "--quick", "--json", "--only", "sum", "--only", "eq")
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads(done.stdout)
    assert document["suite"] == "engine"
    rows = document["results"]
    assert [r["name"] for r in rows] == ["sum", "eq"]
    for row in rows:
        assert set(row) >= ROW_FIELDS
        assert row["parties"] == 3
        assert row["correct"] is True
        assert row["anchor"] == "mpyc-0.11"
        assert row["seconds"] > 0
        assert row["anchor_seconds"] > 0
        assert row["ratio"] == pytest.approx(row["anchor_seconds"] / row["seconds"])
        assert row["bytes_per_party"] > 0
        assert row["rounds"] > 0


@pytest.mark.timeout(300)
def test_bench_engine_table_without_anchor() -> None:
    """Without --json the bench prints a readable table; membership has no anchor at 100k."""
    done = confide("bench", "engine", "--quick", "--no-anchor", "--only", "membership")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["name", "size", "seconds"]
    assert sum(line.startswith("membership") for line in lines) == 2
    assert all(line.rstrip().endswith("yes") for line in lines[2:])


def test_unknown_suite_fails_with_one_line() -> None:
    """A wrong suite name exits non-zero with a one-line reason."""
    done = confide("bench", "nosuch")
    assert done.returncode != 0
    assert "invalid choice" in done.stderr


@pytest.mark.timeout(300)
def test_bench_engine_comparison_and_membership_over_links() -> None:
    """Comparison and both membership sizes run correctly between processes over the links."""
    done = confide("bench", "engine", "--quick", "--json", "--no-anchor", "--only", "lt",
                   "--only", "membership")  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(done.stdout)["results"]
    assert [r["name"] for r in rows] == ["lt", "membership", "membership"]
    assert all(r["correct"] is True for r in rows)
    assert rows[0]["bytes_per_party"] > 0
