"""Every computation kind over five separate `confide run` processes, checked against the oracle.

One local data space: an LEA, NGO A and NGO B (the compute committee), a care provider and a
municipality (providers outside the committee, who secret-share their lists into it). The lists
(a few hundred rows each) overlap strongly so that every kind has something to find. In
sequence, each result is checked against ``node.oracle``: ``intersection_size``,
``union_size``, ``overlap_matrix`` (some pairs suppressed), ``aggregate`` sum and mean
(deduplicated by person, two group-by columns, small cells suppressed) and ``intersection``,
which a person at each of the four other providers approves (decision 39). Last, a refusal: the
care provider's policy lets only LEA and care nodes hold its shares, so a committee with NGOs is
refused with the reason code and the failing constraint's path visible at the proposer.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from node import localqueries, oracle
from node.client import AdminClient
from node.localqueries import Query
from node.localspace import DATA_SPACE, MONITORING, MONITORING_COLUMNS, OUTREACH, LocalDataSpace
from node.synthetic.config import (
    EXCEL_NL,
    POLICE_EXPORT,
    SPREADSHEET_EN,
    WEB_EXPORT_EN,
    OrganisationSpec,
    SyntheticConfig,
)
from node.synthetic.generate import IDENTIFIER, Synthetic
from tests.node.e2e_helpers import expected, run_ended, running_space, wait_for

pytestmark = pytest.mark.processes

SLUGS = ("lea", "ngo-a", "ngo-b", "care", "municipality")
COMMITTEE = ("lea", "ngo-a", "ngo-b")
GROUP_BY = ("exploitation_type", "region")
MIN_GROUP_SIZE = 12


def five_lists(seed: int) -> SyntheticConfig:
    """Five organisations, each drawing 90 % of its people from the earlier ones' lists."""
    return SyntheticConfig(
        (
            OrganisationSpec("lea", "lea", 300, style=POLICE_EXPORT, duplicates=0.02),
            OrganisationSpec("ngo-a", "ngo", 200, 0.9, EXCEL_NL, 0.02),
            OrganisationSpec("ngo-b", "ngo", 200, 0.9, WEB_EXPORT_EN, 0.01),
            OrganisationSpec("care", "care", 150, 0.9, SPREADSHEET_EN, 0.02),
            OrganisationSpec("municipality", "municipality", 150, 0.9, EXCEL_NL),
        ),
        seed=seed,
    )


def query(kind: str, parameters: Mapping[str, Any], columns: tuple[str, ...]) -> Query:
    """``kind`` over all five lists, proposed by and opened to the LEA."""
    purpose = OUTREACH if kind == "intersection" else MONITORING
    return Query(kind, kind, dict(parameters), "lea", SLUGS, columns, ("lea",), purpose)


def run(space: LocalDataSpace, body: Mapping[str, Any]) -> Any:
    """Propose ``body`` at the LEA, wait for a completed run, and return its result."""
    client = space.node("lea").client()
    manifest_id = client.post("/computations", dict(body))["manifest_id"]
    done = wait_for(client, manifest_id, run_ended, 120)
    assert done["run"] is not None, done
    assert done["run"]["state"] == "completed", done
    return localqueries.result(client, manifest_id)


def lists(data: Synthetic) -> list[list[str]]:
    """The five organisations' identifiers, in :data:`SLUGS` order."""
    return [data.organisation(slug).identifiers for slug in SLUGS]


def queued(client: AdminClient, timeout: float) -> list[str]:
    """The manifests waiting for a person at this node, once there is one (or after timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        waiting = [a["manifest_id"] for a in client.get("/approvals")["approvals"]]
        if waiting or time.monotonic() > deadline:
            return waiting
        time.sleep(0.1)


def age_policy(dataset: str) -> dict[str, Any]:
    """A standing policy letting the data space sum and average ages, small cells suppressed."""
    return {
        "id": f"{dataset}-ages",
        "dataset": dataset,
        "permission": {
            "action": ["aggregate"],
            "constraints": [
                {"left": "purpose", "op": "eq", "right": MONITORING},
                {"left": "columns", "op": "isPartOf", "right": [*MONITORING_COLUMNS, "age"]},
                {"left": "min_group_size", "op": "gteq", "right": 5},
                {"left": "data_space", "op": "eq", "right": DATA_SPACE},
            ],
        },
        "approval": "auto",
    }


def intersection_policy(dataset: str) -> dict[str, Any]:
    """A policy naming ``intersection`` for the LEA as recipient (a person still approves)."""
    return {
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


def committee_policy(dataset: str) -> dict[str, Any]:
    """Counting allowed, but only LEA and care nodes may hold this dataset's shares."""
    return {
        "id": f"{dataset}-committee",
        "dataset": dataset,
        "permission": {
            "action": ["union_size"],
            "constraints": [
                {"left": "purpose", "op": "eq", "right": MONITORING},
                {"left": "compute_party_role", "op": "isPartOf", "right": ["care", "lea"]},
            ],
        },
        "approval": "auto",
    }


@pytest.mark.timeout(300)
def test_five_processes_run_every_kind_with_outside_providers_and_refuse_a_committee(
    tmp_path: Path,
) -> None:
    """Sizes, overlap matrix, sum and mean, intersection match the oracle over 5 processes;
    a provider restricting its share holders refuses, reason and path seen at the proposer."""
    with running_space(tmp_path / "space", five_lists(seed=1)) as (space, data, rows):
        ids = space.node_ids()
        lea = space.node("lea").client()
        every = lists(data)

        # sizes: the committee of three, two providers outside it
        body = localqueries.draft(space, query("intersection_size", {}, (IDENTIFIER,)), rows)
        assert sorted(body["compute_parties"]) == sorted(ids[slug] for slug in COMMITTEE)
        size = run(space, body)["size"]
        assert size == oracle.intersection_size(every) > 0
        body = localqueries.draft(space, query("union_size", {}, (IDENTIFIER,)), rows)
        assert run(space, body)["size"] == oracle.union_size(every)

        # overlap matrix: ten pairs, the smaller ones suppressed inside the MPC
        overlap = {"min_group_size": 60}
        body = localqueries.draft(space, query("overlap_matrix", overlap, (IDENTIFIER,)), rows)
        position = {ids[slug]: i for i, slug in enumerate(SLUGS)}
        cells = {
            tuple(sorted((position[c["a"]], position[c["b"]]))): c["count"]
            for c in run(space, body)["cells"]
        }
        want = oracle.overlap_matrix(every, 60)
        assert cells == want
        assert None in want.values()
        assert any(v is not None for v in want.values())

        # aggregate sum and mean of ages: each person once, two group-by, small cells hidden
        for slug in SLUGS:
            space.node(slug).client().post("/policies", age_policy(slug))
        for statistic in ("sum", "mean"):
            parameters = {
                "statistic": statistic,
                "value_column": "age",
                "group_by": list(GROUP_BY),
                "dedup_by": IDENTIFIER,
                "min_group_size": MIN_GROUP_SIZE,
            }
            wanted = query("aggregate", parameters, (IDENTIFIER, "age", *GROUP_BY))
            result = run(space, localqueries.draft(space, wanted, rows))
            answer = expected(space, wanted, data)
            assert localqueries.compare(wanted, result, answer), (statistic, result)
            assert answer.shown
            assert len(answer.shown) < len(answer.cells)

        # intersection: a person at every provider but the proposer approves, then it runs
        for slug in SLUGS:
            space.node(slug).client().post("/policies", intersection_policy(slug))
        body = localqueries.draft(space, query("intersection", {}, (IDENTIFIER,)), rows)
        manifest_id = lea.post("/computations", body)["manifest_id"]
        pending = wait_for(lea, manifest_id, lambda v: v["state"] != "REQUESTED", 60)
        assert pending["state"] == "PENDING_APPROVAL", pending
        for slug in SLUGS[1:]:
            client = space.node(slug).client()
            assert queued(client, 30) == [manifest_id]
            client.post(f"/approvals/{manifest_id}/approve", {})
        done = wait_for(lea, manifest_id, run_ended, 120)
        assert done["run"]["state"] == "completed", done
        common = localqueries.result(lea, manifest_id)["identifiers"]
        assert len(common) == len(set(common)) == size
        assert set(common) == oracle.intersection(every)

        # a provider that lets only LEA and care nodes hold its shares refuses this committee
        care = data.organisation("care")
        space.import_dataset("care", "care-strict", care.csv, schema=care.schema,
                             delimiter=care.delimiter)  # fmt: skip
        space.node("care").client().post("/policies", committee_policy("care-strict"))
        body = localqueries.draft(space, query("union_size", {}, (IDENTIFIER,)), rows)
        strict = next(i for i in body["inputs"] if i["provider"] == ids["care"])
        strict["dataset"] = "care-strict"
        refused = lea.post("/computations", body)["manifest_id"]
        ended = wait_for(lea, refused, run_ended, 60)
        assert ended["state"] == "TERMINATED", ended
        assert ended["run"] is None
        by_provider = {n["provider"]: n for n in ended["negotiations"]}
        assert by_provider[ids["care"]]["reason"] == "constraint_failed"
        assert by_provider[ids["care"]]["constraint"] == "$.permission.constraints[1]"
        for slug in SLUGS:
            assert by_provider[ids[slug]]["state"] == "TERMINATED"
            if slug != "care":
                assert by_provider[ids[slug]]["reason"] == "provider_refused"
