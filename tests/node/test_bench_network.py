"""`confide bench network`: the suite's JSON shape, its table, its options and its byte counter."""

from __future__ import annotations

import json
import socket

import pytest

from node.bench import network
from node.bench.net_party import tcp_bytes
from node.cli import ROWS
from tests.node.helpers import ROW_FIELDS as BASE_ROW_FIELDS
from tests.node.helpers import confide

ROW_FIELDS = BASE_ROW_FIELDS | {"target", "target_met", "correct"}
ANCHORED = {"handshake", "rtt", "throughput"}


@pytest.mark.processes
@pytest.mark.timeout(300)
def test_bench_network_quick_json_over_processes() -> None:
    """`bench network --quick --json`: every row, positive figures, a ratio where anchored."""
    done = confide("bench", "network", "--quick", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads(done.stdout)
    assert document["suite"] == "network"
    assert document["quick"] is True
    rows = document["results"]
    assert [r["name"] for r in rows] == list(ROWS["network"])
    for row in rows:
        assert set(row) >= ROW_FIELDS, row["name"]
        assert row["correct"] is True, row["name"]
        for field in ("parties", "size", "seconds", "rounds", "bytes_per_party"):
            assert row[field] > 0, (row["name"], field)
        if row["name"] in ANCHORED:
            assert row["anchor"].startswith("aiohttp-")
            assert row["anchor_seconds"] > 0
            assert row["ratio"] == pytest.approx(row["anchor_seconds"] / row["seconds"])
        else:
            assert row["anchor"] is None
            assert row["ratio"] is None
    by_name = {row["name"]: row for row in rows}
    assert by_name["throughput"]["mb_per_s"] > 0
    assert by_name["throughput"]["anchor_mb_per_s"] > 0
    assert by_name["rtt_under_load"]["load_mb_per_s"] > 0
    mesh = by_name["mesh_30"]
    assert (mesh["parties"], mesh["size"], mesh["records_held"]) == (30, 870, 900)
    assert (mesh["bootstrap_addresses"], mesh["processes"]) == (1, 3)
    assert mesh["target"] == "≤ 5 s"
    assert mesh["target_met"] is (mesh["seconds"] <= 5.0)


@pytest.mark.processes
@pytest.mark.timeout(120)
def test_bench_network_table_and_progress() -> None:
    """Without --json one row prints as a table on stdout and progress goes to stderr."""
    done = confide("bench", "network", "--quick", "--no-anchor", "--only", "rtt")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0].split()[:4] == ["name", "parties", "size", "confide"]
    assert len(lines) == 3
    assert lines[2].startswith("rtt ")
    assert lines[2].rstrip().endswith("yes")
    assert "rtt 300: confide" in done.stderr


def test_cli_row_names_match_the_suite() -> None:
    """The CLI's list of network rows (kept to keep --help fast) matches the suite."""
    assert ROWS["network"] == tuple(case.name for case in network.SUITE)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bench", "engine", "--only", "rtt"), "invalid choice: 'rtt'"),
        (("bench", "network", "--only", "sum"), "invalid choice: 'sum'"),
        (("bench", "engine", "--transport", "links"), "unrecognized arguments: --transport"),
    ],
)
def test_options_of_the_other_suite_are_usage_errors(args: tuple[str, ...], message: str) -> None:
    """A row name of the other suite, or the removed --transport, exits 2 before running."""
    done = confide(*args, timeout=60)
    assert done.returncode == 2
    assert message in done.stderr


def test_format_table_shows_units_targets_and_blanks() -> None:
    """The table shows ms, MB/s and s as fits each row, and leaves missing anchors blank."""
    base = {"parties": 2, "bytes_per_party": 1000, "correct": True, "anchor_seconds": None}
    rows = [
        {**base, "name": "rtt", "size": 10, "seconds": 0.0004, "anchor_seconds": 0.0001,
         "ratio": 0.25, "target": "ratio ≥ 0.5 (≤ 2x raw)", "target_met": False},
        {**base, "name": "throughput", "size": 100, "seconds": 0.5, "ratio": None,
         "target": "ratio ≥ 0.6 (MB/s)", "target_met": None},
        {**base, "name": "mesh_30", "parties": 30, "size": 870, "seconds": 1.5,
         "ratio": None, "target": "≤ 5 s", "target_met": True},
    ]  # fmt: skip
    table = network.format_table({"suite": "network", "quick": True, "results": rows})
    lines = table.splitlines()
    assert "0.400 ms" in lines[2]
    assert "0.100 ms" in lines[2]
    assert "0.25x" in lines[2]
    assert "NO" in lines[2]
    assert "210 MB/s" in lines[3]
    assert "1.50 s" in lines[4]
    assert "≤ 5 s" in lines[4]
    assert "yes" in lines[4]


@pytest.mark.processes
@pytest.mark.timeout(120)
def test_bench_network_mesh_30_over_processes() -> None:
    """`--only mesh_30`: 30 nodes in 3 processes hold all 30 records from one bootstrap."""
    done = confide("bench", "network", "--only", "mesh_30", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    (row,) = json.loads(done.stdout)["results"]
    assert row["name"] == "mesh_30"
    assert row["correct"] is True
    assert row["records_held"] == 30 * 30
    assert 0 < row["seconds"] < 60
    assert row["bytes_per_party"] > 0


@pytest.mark.processes
def test_tcp_bytes_counts_payload_on_a_loopback_socket() -> None:
    """The TCP_INFO counter sees exactly the payload bytes sent and received on a socket."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = server.accept()
            with accepted:
                before = tcp_bytes({port})
                client.sendall(b"x" * 12_345)
                received = 0
                while received < 12_345:
                    received += len(accepted.recv(65_536))
                accepted.sendall(b"y" * 77)
                assert client.recv(100) == b"y" * 77
                after = tcp_bytes({port})
    assert (after[0] - before[0], after[1] - before[1]) == (12_345, 77)
