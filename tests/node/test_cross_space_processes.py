"""Computations across two data spaces joined by a signed link, over separate node processes.

Space A (an LEA, NGO A) and space B (NGO B, a care provider): a computation proposed in A with
providers from both runs and matches plaintext when every provider's policy names the other
space; a provider whose policy does not is refused with its reason and failing constraint at
the proposer; after the link is removed a new proposal is refused with a clear reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from node import oracle
from node.localspace import LocalNode
from tests.node.cross_space import (
    SPACE_A,
    SPACE_B,
    cross_policy,
    draft,
    generated,
    linked_spaces,
)
from tests.node.e2e_helpers import run_ended, wait_for

pytestmark = pytest.mark.processes


@pytest.mark.timeout(400)
def test_a_computation_across_linked_spaces_runs_refuses_and_stops_at_unlink(
    tmp_path: Path,
) -> None:
    """Opted in everywhere: runs and matches plaintext. A provider whose policy keeps to its own
    space: refused with constraint_failed at its data_space constraint. Unlinked: refused by
    the proposer's own policy (participant_not_admitted) and the cross links closed."""
    data = generated(240, seed=5)
    with linked_spaces(tmp_path, data) as (a, b, rows):
        lea, ngo_a = a.nodes
        ngo_b, care = b.nodes
        both = [SPACE_A, SPACE_B]
        for node in (lea, ngo_a, ngo_b):
            slug = node.member.slug
            node.client().post("/policies", cross_policy(slug, ["intersection_size"], both))
            node.client().post("/policies", cross_policy(slug, ["union_size"], both))
        care.client().post("/policies", cross_policy("care", ["union_size"], both))
        care.client().post("/policies", cross_policy("care", ["intersection_size"], [SPACE_B]))
        providers = [lea, ngo_a, ngo_b, care]
        compute = [lea, ngo_a, ngo_b]
        client = lea.client()

        # every provider opts in to the other space: the run crosses the link
        union = client.post("/computations", draft("union_size", providers, compute, rows))
        done = wait_for(client, union["manifest_id"], run_ended, 180)
        assert done["run"] is not None, done
        assert done["run"]["state"] == "completed", done["run"]
        lists = [data.organisation(node.member.slug).identifiers for node in providers]
        result = client.get(f"/computations/{union['manifest_id']}/result")["result"]
        assert result["size"] == oracle.union_size(lists)
        for node in (ngo_b, care):
            own = node.client().get(f"/computations/{union['manifest_id']}")
            assert own["state"] == "FINALIZED"
            assert own["data_space"] == SPACE_A

        # the care provider's policy on intersections keeps to its own space
        refused = client.post("/computations", draft("intersection_size", providers, compute, rows))
        ended = wait_for(client, refused["manifest_id"], run_ended, 60)
        assert ended["state"] == "TERMINATED"
        by_provider = {n["provider"]: n for n in ended["negotiations"]}
        assert by_provider[care.node_id]["reason"] == "constraint_failed"
        assert by_provider[care.node_id]["constraint"] == "$.permission.constraints[2]"
        assert ended["run"] is None

        # every member stops honouring the link: the cross links close, a proposal is refused
        for node in providers:
            node.client().delete(f"/dataspaces/{SPACE_A}/links/{SPACE_B}")
        wait_for(
            client,
            union["manifest_id"],
            lambda _: not linked(lea, ngo_b) and not linked(lea, care),
            30,
        )
        again = client.post("/computations", draft("union_size", providers, compute, rows))
        after = wait_for(client, again["manifest_id"], run_ended, 60)
        assert after["state"] == "TERMINATED"
        own = {n["provider"]: n for n in after["negotiations"]}[lea.node_id]
        assert own["reason"] == "participant_not_admitted"
        assert own["constraint"] == "$.permission.constraints[2]"
        assert after["run"] is None


def linked(node: LocalNode, other: LocalNode) -> bool:
    """Whether ``node`` holds an open link to ``other`` (from its ``/peers``)."""
    peers = {p["node_id"]: p for p in node.client().get("/peers")["peers"]}
    return bool(peers.get(other.node_id, {}).get("linked"))
