"""Query drafts against the manifest format, plaintext answers and result comparison."""

from __future__ import annotations

from pathlib import Path

import pytest

from node import localqueries
from node.consent.manifest import parse_manifest
from node.localqueries import bound_for
from node.localspace import LocalDataSpace, default_members
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
