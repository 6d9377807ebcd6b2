"""Consent end to end over separate node processes: a refusal with its reason, manual approval
with `confide approvals`, an approval timeout (its exact code), and a retired agreement refusing
a later run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from node import localqueries
from node.localspace import LocalDataSpace, standing_policies
from node.synthetic.config import proof_of_concept
from tests.node.e2e_helpers import cli, expected, run_ended, running_space, wait_for, write_json

pytestmark = pytest.mark.processes


def manual_outreach(space: LocalDataSpace, slug: str) -> None:
    """A second outreach policy at ``slug`` asking for a person: the stricter one wins."""
    roles = sorted({m.role for m in space.members})
    policy: dict[str, Any] = standing_policies(slug, roles)[0]
    policy["id"] = f"{slug}-outreach-reviewed"
    policy["approval"] = "manual"
    space.node(slug).client().post("/policies", policy)


@pytest.mark.timeout(300)
def test_refusal_manual_approval_timeout_and_retirement(tmp_path: Path) -> None:
    """Each consent path, as the proposer and the providers see it through the CLI."""
    with running_space(tmp_path / "space", proof_of_concept(150, seed=7)) as (space, data, rows):
        lea, ngo_a, ngo_b = space.nodes
        slugs = [node.member.slug for node in space.nodes]
        poc = localqueries.proof_of_concept(slugs)
        body = localqueries.draft(space, poc, rows)

        # a refusal: the standing policies allow at most 5 names
        wide = {**body, "parameters": {"limit": 10, "reveal_size": False}}
        code, _, err = cli(lea, "query", "propose", write_json(tmp_path / "wide.json", wide))
        assert code == 0, err
        code, listed, _ = cli(lea, "query", "list", "--role", "proposer")
        manifest_id = listed["computations"][0]["manifest_id"]
        view = wait_for(lea.client(), manifest_id, run_ended, 60)
        assert view["state"] == "TERMINATED"
        reasons = {n["reason"] for n in view["negotiations"]}
        assert "constraint_failed" in reasons
        refusal = next(n for n in view["negotiations"] if n["reason"] == "constraint_failed")
        assert refusal["constraint"].startswith("$.permission.constraints[")
        assert view["run"] is None

        # manual approval at NGO A with `confide approvals approve`
        manual_outreach(space, "ngo-a")
        code, view, err = cli(lea, "query", "propose", write_json(tmp_path / "poc.json", body))
        assert code == 0, err
        manifest_id = view["manifest_id"]
        pending = wait_for(lea.client(), manifest_id, lambda v: v["state"] != "REQUESTED", 60)
        assert pending["state"] == "PENDING_APPROVAL"
        code, queue, err = cli(ngo_a, "approvals", "list")
        assert [a["manifest_id"] for a in queue["approvals"]] == [manifest_id]
        assert "would learn up to 5 identifiers" in queue["approvals"][0]["summary"]
        code, decided, err = cli(ngo_a, "approvals", "approve", manifest_id)
        assert code == 0, err
        assert decided["state"] == "AGREED"
        done = wait_for(lea.client(), manifest_id, run_ended, 120)
        assert done["run"]["state"] == "completed", done
        result = lea.client().get(f"/computations/{manifest_id}/result")["result"]
        assert localqueries.compare(poc, result, expected(space, poc, data))

        # retirement: NGO B retires its consent; a further run is refused at once
        code, _, err = cli(ngo_b, "agreement", "retire", manifest_id)
        assert code == 0, err
        state = wait_for(lea.client(), manifest_id, lambda v: v["state"] == "RETIRED", 30)
        assert state["agreement"]["state"] == "retired"
        code, _, err = cli(lea, "query", "retry", manifest_id)
        assert code == 1
        assert err.strip() == "confide: the agreement was retired"

        # an approval that never comes: the proposal expires with approval_timeout
        short = {**body, "expires_in": 5}
        code, view, err = cli(lea, "query", "propose", write_json(tmp_path / "short.json", short))
        assert code == 0, err
        time.sleep(1)
        code, queue, _ = cli(ngo_a, "approvals", "list")
        assert view["manifest_id"] in [a["manifest_id"] for a in queue["approvals"]]
        ended = wait_for(lea.client(), view["manifest_id"], run_ended, 30)
        assert ended["state"] == "TERMINATED"
        # the approval deadline ends it: the other providers' waits outlast the expiry
        reasons = {n["provider"]: n["reason"] for n in ended["negotiations"]}
        assert reasons == {
            ngo_a.node_id: "approval_timeout",
            lea.node_id: "provider_terminated",
            ngo_b.node_id: "provider_terminated",
        }
        code, queue, _ = cli(ngo_a, "approvals", "list")
        assert queue["approvals"] == []
        own = ngo_a.client().get(f"/computations/{ended['manifest_id']}")
        assert own["state"] == "TERMINATED"
        assert own["negotiations"][0]["reason"] == "approval_timeout"

        # the refusals never reached the recipient's result
        code, _, err = cli(lea, "query", "result", ended["manifest_id"])
        assert code == 1
        assert "no run of this computation has delivered a result" in err
