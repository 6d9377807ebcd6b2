"""Computations end to end: separate `confide run` processes, proposed and read through the CLI
and the API, every result checked against the plaintext oracle; a restart keeps everything."""

from __future__ import annotations

from pathlib import Path

import pytest

from node import localqueries
from node.client import ApiError
from node.synthetic.config import monitoring, proof_of_concept
from tests.node.e2e_helpers import (
    cli,
    expected,
    logs,
    restart,
    run_ended,
    running_space,
    wait_for,
    write_json,
)

pytestmark = pytest.mark.processes


@pytest.mark.timeout(300)
def test_poc_via_cli_and_aggregate_via_api_match_plaintext_and_survive_a_restart(
    tmp_path: Path,
) -> None:
    """set_difference limit 5 and a deduplicated 2-way aggregate; results kept across a restart."""
    with running_space(tmp_path / "space", proof_of_concept(300, seed=3)) as (space, data, rows):
        lea, ngo_a = space.nodes[0], space.nodes[1]
        slugs = [node.member.slug for node in space.nodes]
        poc = localqueries.proof_of_concept(slugs)
        draft = write_json(tmp_path / "poc.json", localqueries.draft(space, poc, rows))
        code, view, err = cli(lea, "query", "propose", draft, "--wait", "180")
        assert code == 0, err
        assert view["run"]["state"] == "completed"
        assert [n["state"] for n in view["negotiations"]] == ["FINALIZED"] * 3
        code, body, err = cli(lea, "query", "result", view["manifest_id"])
        assert code == 0, err
        assert localqueries.compare(poc, body["result"], localqueries.expected(poc, data))
        assert len(body["result"]["identifiers"]) == 5
        code, _, err = cli(ngo_a, "query", "result", view["manifest_id"])
        assert code == 1
        assert err.strip() == "confide: this node is not a recipient of the computation"

        aggregate = localqueries.monitoring(slugs)
        client = lea.client()
        proposed = client.post("/computations", localqueries.draft(space, aggregate, rows))
        done = wait_for(client, proposed["manifest_id"], run_ended, 180)
        assert done["run"]["state"] == "completed", done
        result = client.get(f"/computations/{proposed['manifest_id']}/result")["result"]
        assert localqueries.compare(aggregate, result, expected(space, aggregate, data))
        assert any(cell["value"] is None for cell in result["cells"])

        text = logs(space)
        for identifier in body["result"]["identifiers"]:
            assert identifier not in text

        restart(space, lea, connected=False)  # its store alone answers what follows
        client = lea.client()
        again = client.get(f"/computations/{view['manifest_id']}/result")
        assert again["result"] == body["result"]
        held = {a["manifest_id"]: a["state"] for a in client.get("/agreements")["agreements"]}
        assert held == {view["manifest_id"]: "active", proposed["manifest_id"]: "active"}
        listed = client.get("/computations", query={"role": "proposer"})["computations"]
        assert {c["manifest_id"] for c in listed} == set(held)


@pytest.mark.timeout(300)
def test_five_nodes_compute_the_poc_and_a_monitoring_aggregate(tmp_path: Path) -> None:
    """An LEA, two NGOs, a care provider and a municipality; three of them compute."""
    with running_space(tmp_path / "space", monitoring(200, seed=5)) as (space, data, rows):
        slugs = [node.member.slug for node in space.nodes]
        client = space.nodes[0].client()
        for query in (localqueries.proof_of_concept(slugs), localqueries.monitoring(slugs)):
            proposed = client.post("/computations", localqueries.draft(space, query, rows))
            done = wait_for(client, proposed["manifest_id"], run_ended, 240)
            assert done["run"]["state"] == "completed", done
            result = client.get(f"/computations/{proposed['manifest_id']}/result")["result"]
            assert localqueries.compare(query, result, expected(space, query, data))
        with pytest.raises(ApiError) as error:
            space.nodes[4].client().get(f"/computations/{proposed['manifest_id']}/result")
        assert error.value.code == "not_recipient"
