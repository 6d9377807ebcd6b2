"""The query catalogue end to end on corner-case data, over three separate `confide run` processes.

One local data space (an LEA and two NGOs; all three compute) holds every corner case of
``node.synthetic.edgecases`` as its own datasets, with the standing policies. In sequence, each
result is checked against ``node.oracle``: ``intersection_size``, ``union_size`` and
``overlap_matrix`` on identical and disjoint lists, all cells suppressed, ``set_difference``
with fewer non-members than ``limit`` and with empty NGO lists (header-only CSVs), and
``intersection``, which a person at each other provider approves. Then the refusals: an
intersection under policies that do not name it, and a recipient the providers do not allow.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from node import oracle
from node.localspace import MONITORING, OUTREACH, LocalDataSpace, default_members
from node.synthetic import edgecases
from node.synthetic.generate import IDENTIFIER, Synthetic, generate
from tests.node.e2e_helpers import run_ended, wait_for

pytestmark = pytest.mark.processes

SLUGS = ("lea", "ngo-a", "ngo-b")
BOUND = 100


@contextmanager
def corner_cases(root: Path) -> Iterator[tuple[LocalDataSpace, dict[str, Synthetic]]]:
    """Three node processes holding every corner case's lists as ``<case>-<slug>`` datasets."""
    scenarios = {s.name: generate(s.config) for s in edgecases.edge_cases(seed=2)}
    space = LocalDataSpace(root, default_members(3))
    now = int(time.time())
    space.create(now)
    try:
        space.start(now)
        for name, data in scenarios.items():
            for org in data.organisations:
                dataset = f"{name}-{org.name}"
                report = space.import_dataset(
                    org.name, dataset, org.csv, schema=org.schema, delimiter=org.delimiter
                )
                assert report["dataset"]["row_count"] == len(org.identifiers)
                space.create_policies(org.name, dataset)
        yield space, scenarios
    finally:
        space.stop()


def draft(
    space: LocalDataSpace,
    case: str,
    kind: str,
    parameters: Mapping[str, Any],
    *,
    recipient: str = "lea",
    purpose: str = MONITORING,
    columns: tuple[str, ...] = (IDENTIFIER,),
) -> dict[str, Any]:
    """A manifest draft over the three lists of ``case``, computed by all three nodes."""
    ids = space.node_ids()
    return {
        "kind": kind,
        "parameters": dict(parameters),
        "inputs": [
            {
                "provider": ids[slug],
                "dataset": f"{case}-{slug}",
                "columns": sorted(columns),
                "bound": BOUND,
            }
            for slug in SLUGS
        ],
        "compute_parties": sorted(ids.values()),
        "recipients": [ids[recipient]],
        "purpose": purpose,
        "data_space": space.data_space,
    }


def run(space: LocalDataSpace, body: Mapping[str, Any], *, proposer: str = "lea") -> Any:
    """Propose ``body`` at ``proposer``, wait for a completed run, and return its result."""
    client = space.node(proposer).client()
    manifest_id = client.post("/computations", dict(body))["manifest_id"]
    done = wait_for(client, manifest_id, run_ended, 120)
    assert done["run"] is not None, done
    assert done["run"]["state"] == "completed", done
    return client.get(f"/computations/{manifest_id}/result")["result"]


def lists(data: Synthetic) -> list[list[str]]:
    """The three organisations' identifiers, in :data:`SLUGS` order."""
    return [data.organisation(slug).identifiers for slug in SLUGS]


def matrix(space: LocalDataSpace, body: Mapping[str, Any]) -> dict[tuple[int, int], int | None]:
    """An overlap matrix result keyed by list positions, as ``oracle.overlap_matrix`` keys it."""
    position = {space.node(slug).node_id: i for i, slug in enumerate(SLUGS)}
    cells: dict[tuple[int, int], int | None] = {}
    for cell in body["cells"]:
        a, b = sorted((position[cell["a"]], position[cell["b"]]))
        cells[(a, b)] = cell["count"]
    return cells


def intersection_policy(dataset: str, **changes: Any) -> dict[str, Any]:
    """A standing (``auto``) policy naming ``intersection``, for the LEA as recipient."""
    policy: dict[str, Any] = {
        "id": f"{dataset}-intersection",
        "dataset": dataset,
        "permission": {
            "action": ["intersection"],
            "constraints": [
                {"left": "purpose", "op": "eq", "right": OUTREACH},
                {"left": "recipient_role", "op": "isPartOf", "right": ["lea"]},
            ],
        },
        "approval": "auto",
    }
    policy.update(changes)
    return policy


@pytest.mark.timeout(600)
def test_every_set_kind_on_corner_cases_matches_plaintext_and_refuses_what_it_must(
    tmp_path: Path,
) -> None:
    """Set kinds on identical, disjoint, suppressed, few-missing and empty lists match the
    oracle; intersection waits for both NGOs' approval; refusals carry reason and path."""
    with corner_cases(tmp_path / "space") as (space, cases):
        # identical and disjoint lists: sizes and the overlap matrix
        for case in ("identical", "disjoint"):
            data = lists(cases[case])
            size = run(space, draft(space, case, "intersection_size", {}))
            assert size["size"] == oracle.intersection_size(data)
            union = run(space, draft(space, case, "union_size", {}))
            assert union["size"] == oracle.union_size(data)
            cells = run(space, draft(space, case, "overlap_matrix", {"min_group_size": 5}))
            assert matrix(space, cells) == oracle.overlap_matrix(data, 5)
        assert size["size"] == 0  # disjoint
        assert all(value is None for value in matrix(space, cells).values())

        # every cell below min_group_size: suppressed, never opened
        suppressed = cases["suppressed"]
        scenario = edgecases.suppressed()
        minimum = {"min_group_size": scenario.min_group_size}
        cells = run(space, draft(space, "suppressed", "overlap_matrix", minimum))
        assert matrix(space, cells) == oracle.overlap_matrix(lists(suppressed), 10)
        assert {cell["count"] for cell in cells["cells"]} == {None}

        # set difference: fewer non-members than limit, and NGOs with empty lists
        outreach = {"limit": 5, "reveal_size": False}
        for case in ("few_missing", "empty"):
            data = lists(cases[case])
            body = draft(space, case, "set_difference", outreach, purpose=OUTREACH)
            found = run(space, body)["identifiers"]
            assert oracle.set_difference(data[0], data[1:], 5).accepts(found)
        assert len(found) == 5  # empty: every LEA name is a non-member
        empty = lists(cases["empty"])
        assert empty[1:] == [[], []]
        union = run(space, draft(space, "empty", "union_size", {}))
        assert union["size"] == oracle.union_size(empty)

        # intersection: a policy that does not name it refuses; one that does waits for a person
        lea = space.node("lea").client()
        body = draft(space, "identical", "intersection", {}, purpose=OUTREACH)
        refused = lea.post("/computations", body)["manifest_id"]
        ended = wait_for(lea, refused, run_ended, 60)
        assert ended["state"] == "TERMINATED"
        assert ended["run"] is None
        reasons = {n["reason"] for n in ended["negotiations"]}
        assert reasons >= {"action_not_permitted"}

        for slug in SLUGS:
            space.node(slug).client().post("/policies", intersection_policy(f"identical-{slug}"))
        manifest_id = lea.post("/computations", body)["manifest_id"]
        pending = wait_for(lea, manifest_id, lambda v: v["state"] != "REQUESTED", 60)
        assert pending["state"] == "PENDING_APPROVAL"
        for slug in ("ngo-a", "ngo-b"):
            client = space.node(slug).client()
            queue = client.get("/approvals")["approvals"]
            assert [a["manifest_id"] for a in queue] == [manifest_id]
            client.post(f"/approvals/{manifest_id}/approve", {})
        done = wait_for(lea, manifest_id, run_ended, 120)
        assert done["run"]["state"] == "completed", done
        common = lea.get(f"/computations/{manifest_id}/result")["result"]["identifiers"]
        assert set(common) == oracle.intersection(lists(cases["identical"]))
        assert common

        # a recipient the other providers do not allow: NGO A asks for the intersection for
        # itself (its own policy lets it); the first refusal names its reason and constraint
        ngo_a = space.node("ngo-a").client()
        roles = {"left": "recipient_role", "op": "isPartOf", "right": ["lea", "ngo"]}
        mine = intersection_policy("identical-ngo-a", id="identical-ngo-a-own")
        mine["permission"]["constraints"][1] = roles
        ngo_a.post("/policies", mine)
        body = draft(space, "identical", "intersection", {}, recipient="ngo-a", purpose=OUTREACH)
        refused = ngo_a.post("/computations", body)["manifest_id"]
        ended = wait_for(ngo_a, refused, run_ended, 60)
        assert ended["state"] == "TERMINATED"
        assert ended["run"] is None
        by_provider = {n["provider"]: n for n in ended["negotiations"]}
        others = [space.node(slug).node_id for slug in ("lea", "ngo-b")]
        first = [
            by_provider[node_id]
            for node_id in others
            if by_provider[node_id]["reason"] != "provider_refused"
        ]
        assert first  # LEA, NGO B or both refused before the other heard of it
        for refusal in first:
            assert refusal["reason"] == "constraint_failed"
            assert refusal["constraint"] == "$.permission.constraints[1]"
        assert by_provider[space.node("ngo-a").node_id]["reason"] == "provider_refused"
