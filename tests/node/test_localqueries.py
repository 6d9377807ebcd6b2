"""Query drafts against the manifest format, plaintext answers and result comparison."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node import localqueries, oracle
from node.consent.manifest import parse_manifest
from node.localqueries import bound_for
from node.localspace import LocalDataSpace, LocalSpaceError, default_members
from node.synthetic.config import proof_of_concept
from node.synthetic.generate import generate

NOW = 1_780_000_000
SLUGS = ["lea", "ngo-a", "ngo-b"]


@pytest.fixture(scope="module")
def data():  # type: ignore[no-untyped-def]
    """A small generated PoC data space."""
    return generate(proof_of_concept(300, seed=5))


def test_bounds_round_up_to_a_hundred() -> None:
    """A bound is never below the rows it covers and never below 100."""
    assert [bound_for(n) for n in (0, 1, 100, 101, 999)] == [100, 100, 100, 200, 1000]


@pytest.mark.parametrize("make", [localqueries.proof_of_concept, localqueries.monitoring,
                                  localqueries.union_size])  # fmt: skip
def test_drafts_complete_to_valid_manifests(tmp_path: Path, make) -> None:  # type: ignore[no-untyped-def]
    """Each draft, completed by the proposer's fields, passes the manifest validation."""
    space = LocalDataSpace(tmp_path / "space", default_members(3))
    space.create(NOW)
    query = make(SLUGS)
    document = localqueries.draft(space, query, {"lea": 306, "ngo-a": 121, "ngo-b": 91})
    document.update(
        version=1,
        proposer=space.node("lea").node_id,
        created_at=NOW,
        expires_at=NOW + 3600,
        nonce="0" * 32,
    )
    manifest = parse_manifest(document)
    assert manifest.kind == query.kind
    assert len(manifest.compute_parties) == 3
    assert manifest.recipients == (space.node("lea").node_id,)
    assert sorted(i.bound for i in manifest.inputs) == [100, 200, 400]


def test_set_difference_results_are_checked_against_the_candidates(data) -> None:  # type: ignore[no-untyped-def]
    """Five candidates match; a name some NGO knows, or too few names, do not."""
    query = localqueries.proof_of_concept(SLUGS)
    answer = localqueries.expected(query, data)
    assert answer.size > 5
    chosen = sorted(answer.candidates)[:5]
    assert localqueries.compare(query, {"identifiers": chosen}, answer)
    assert not localqueries.compare(query, {"identifiers": chosen[:4]}, answer)
    known = data.organisation("ngo-a").identifiers[0]
    assert not localqueries.compare(query, {"identifiers": [*chosen[:4], known]}, answer)


def test_union_and_aggregate_results_are_compared_cell_by_cell(data) -> None:  # type: ignore[no-untyped-def]
    """The union size must be exact; every aggregate cell, suppressed ones included, must agree."""
    union = localqueries.union_size(SLUGS)
    size = localqueries.expected(union, data)
    assert localqueries.compare(union, {"size": size}, size)
    assert not localqueries.compare(union, {"size": size + 1}, size)
    query = localqueries.monitoring(SLUGS)
    answer = localqueries.expected(query, data)
    assert any(v is None for v in answer.cells.values())
    cells = [{"group": list(k), "value": v} for k, v in answer.cells.items()]
    assert localqueries.compare(query, {"cells": cells}, answer)
    shown = next(i for i, c in enumerate(cells) if c["value"] is not None)
    cells[shown] = {**cells[shown], "value": cells[shown]["value"] + 1}
    assert not localqueries.compare(query, {"cells": cells}, answer)


def test_aggregate_oracle_takes_the_providers_in_node_id_order(data) -> None:  # type: ignore[no-untyped-def]
    """With node ids, a deduplicated aggregate counts each person at the lowest node id first."""
    query = localqueries.monitoring(SLUGS)
    ids = {"lea": "cfd1z", "ngo-a": "cfd1m", "ngo-b": "cfd1a"}
    ordered = localqueries.expected(query, data, ids)
    tables = [data.organisation(slug).columns for slug in ("ngo-b", "ngo-a", "lea")]
    truth = oracle.aggregate(
        tables,
        statistic="count",
        group_by=("exploitation_type", "region"),
        dedup_by="name_dob",
        min_group_size=5,
        vocabularies=localqueries._vocabularies(data, "lea"),
    )
    assert ordered.cells == truth.cells
    assert ordered.cells != localqueries.expected(query, data).cells  # the order matters here
    same = {"lea": "cfd1a", "ngo-a": "cfd1b", "ngo-b": "cfd1c"}
    assert (
        localqueries.expected(query, data, same).cells == localqueries.expected(query, data).cells
    )


def test_compare_refuses_malformed_results(data) -> None:  # type: ignore[no-untyped-def]
    """No identifiers list, a repeated aggregate cell or a missing cell is never a match."""
    poc = localqueries.proof_of_concept(SLUGS)
    assert not localqueries.compare(poc, {"size": 3}, localqueries.expected(poc, data))
    query = localqueries.monitoring(SLUGS)
    answer = localqueries.expected(query, data)
    cells = [{"group": list(k), "value": v} for k, v in answer.cells.items()]
    assert not localqueries.compare(query, {"cells": [*cells, cells[0]]}, answer)
    assert not localqueries.compare(query, {"cells": cells[1:]}, answer)


class _ScriptedNode:
    """An admin client double: a proposal answers with a view, then the scripted events flow."""

    def __init__(self, script: list[tuple[str, dict[str, Any]]], *, hold: bool = False) -> None:
        self.script = script
        self.hold = hold
        self.subscribed = threading.Event()
        self.proposed = threading.Event()
        self.drafts: list[dict[str, Any]] = []

    def get(self, path: str) -> dict[str, Any]:
        assert path == "/status"
        return {"events": {"subscribers": int(self.subscribed.is_set())}}

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert path == "/computations"
        self.drafts.append(body)
        self.proposed.set()
        return {"manifest_id": "m-1", "state": "REQUESTED"}

    def events(self) -> Iterator[dict[str, Any]]:
        self.subscribed.set()
        self.proposed.wait(5)
        for kind, data in self.script:
            time.sleep(0.01)
            yield {"id": None, "event": kind, "data": data}
        if self.hold:  # the stream stays open and silent
            threading.Event().wait(10)


def _follow(
    script: list[tuple[str, dict[str, Any]]], *, hold: bool = False, timeout: float = 5
) -> localqueries.Followed:
    node = _ScriptedNode(script, hold=hold)
    follower = localqueries.EventFollower(node)  # type: ignore[arg-type]  # a test double
    followed = follower.run({"kind": "union_size"}, timeout=timeout)
    assert node.drafts == [{"kind": "union_size"}]
    return followed


def test_follower_splits_consent_from_compute_and_skips_other_computations() -> None:
    """Consent ends at run.started, compute at run.completed; other manifests are ignored."""
    followed = _follow([
        ("negotiation.updated", {"manifest_id": "m-1", "role": "proposer", "state": "AGREED"}),
        ("run.progressed", {"manifest_id": "m-0", "run_id": "r-0", "percent": 40}),
        ("run.started", {"manifest_id": "m-1", "run_id": "r-1"}),
        ("run.progressed", {"manifest_id": "m-1", "run_id": "r-1", "percent": 40}),
        ("run.completed", {"manifest_id": "m-1", "run_id": "r-1", "result": True}),
    ])  # fmt: skip
    assert followed.manifest_id == "m-1"
    assert followed.run_id == "r-1"
    kinds = [t.event["event"] for t in followed.events]
    assert kinds == ["negotiation.updated", "run.started", "run.progressed", "run.completed"]
    assert followed.consent_seconds >= 0.02
    assert 0.01 <= followed.compute_seconds < followed.consent_seconds + followed.compute_seconds


@pytest.mark.parametrize(
    ("kind", "data", "code"),
    [
        ("negotiation.updated", {"state": "TERMINATED", "reason": "constraint_failed"},
         "consent_refused"),
        ("run.start_failed", {"reason": "party_unreachable"}, "run_start_failed"),
        ("run.aborted", {"run_id": "r-1", "reason": "deadline_passed"}, "run_aborted"),
    ],
)  # fmt: skip
def test_follower_raises_on_refusal_failed_start_and_abort(
    kind: str, data: dict[str, Any], code: str
) -> None:
    """A refusal, a run that cannot start and an aborted run each raise with the reason code."""
    with pytest.raises(LocalSpaceError) as raised:
        _follow([(kind, {"manifest_id": "m-1", **data})])
    assert raised.value.code == code
    assert data["reason"] in raised.value.message


def test_follower_times_out_and_notices_the_stream_ending() -> None:
    """No end of the run in time is run_timeout; a stream that ends is events_ended."""
    with pytest.raises(LocalSpaceError) as raised:
        _follow([])
    assert raised.value.code == "events_ended"
    with pytest.raises(LocalSpaceError) as raised:
        _follow([("run.started", {"manifest_id": "m-1", "run_id": "r-1"})], hold=True, timeout=0.3)
    assert raised.value.code == "run_timeout"
