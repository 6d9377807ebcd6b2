"""Faults end to end over node processes: a compute party killed mid-run, then a retry."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from node import localqueries
from node.synthetic.config import proof_of_concept
from tests.node.e2e_helpers import expected, run_ended, running_space, start, stop, wait_for

pytestmark = pytest.mark.processes


@pytest.mark.timeout(400)
def test_a_party_killed_mid_run_aborts_everywhere_releases_usage_and_a_retry_succeeds(
    tmp_path: Path,
) -> None:
    """kill -9 of NGO B while computing: every node records the abort with a reason, usage is
    given back, and after NGO B restarts a new run of the same agreement completes."""
    with running_space(tmp_path / "space", proof_of_concept(4000, seed=11)) as (
        space,
        data,
        rows,
    ):
        lea, ngo_a, ngo_b = space.nodes
        slugs = [node.member.slug for node in space.nodes]
        poc = localqueries.proof_of_concept(slugs)
        client = lea.client()
        manifest_id = client.post("/computations", localqueries.draft(space, poc, rows))[
            "manifest_id"
        ]
        wait_for(
            client,
            manifest_id,
            lambda v: v["run"] is not None and v["run"]["phase"] in ("keys", "computing"),
            120,
        )
        assert ngo_b.process is not None
        ngo_b.process.send_signal(signal.SIGKILL)
        ngo_b.process.wait(timeout=30)
        stop(ngo_b)

        aborted = wait_for(client, manifest_id, run_ended, 60)["run"]
        assert aborted["state"] == "aborted"
        assert aborted["reason"] in ("party_lost", "party_unreachable", "party_aborted")
        other = wait_for(ngo_a.client(), manifest_id, run_ended, 60)["run"]
        assert other["state"] == "aborted"
        assert other["reason"]
        for node in (lea, ngo_a):
            events = [e["event"] for e in node.client().get("/audit")["entries"]]
            assert "usage.released" in events

        start(space, ngo_b)
        restarted = ngo_b.client().get(f"/computations/{manifest_id}")["run"]
        assert restarted["state"] == "aborted"
        assert restarted["reason"] == "node_restarted"
        run_id = client.post(f"/computations/{manifest_id}/runs", {})["run_id"]
        done = wait_for(
            client, manifest_id, lambda v: v["run"]["run_id"] == run_id and run_ended(v), 180
        )
        assert done["run"]["state"] == "completed", done["run"]
        result = client.get(f"/computations/{manifest_id}/result")
        assert result["run_id"] == run_id
        assert localqueries.compare(poc, result["result"], expected(space, poc, data))
