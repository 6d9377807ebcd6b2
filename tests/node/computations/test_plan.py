"""Plans: party numbering, refused shapes, and whole party programs run in memory."""

from __future__ import annotations

import pytest

from network.identity import Identity
from node.computations.inputs import ProviderInput
from node.computations.plan import party_program, plan_for
from node.consent.manifest import parse_manifest
from node.errors import InvalidError
from protocols.program import Context
from protocols.randomness import InsecureSeededRandomSource
from protocols.runner import Runner
from tests.node.computations.harness import set_difference_of


def ids(count: int) -> list[str]:
    """``count`` node ids, sorted."""
    return sorted(Identity.generate().node_id for _ in range(count))


def test_committee_first_then_outside_participants() -> None:
    """Compute parties are 0..n-1 (sorted); providers outside the committee follow."""
    lea, *rest = ids(5)
    compute = [lea, rest[0], rest[1]]
    plan = plan_for(set_difference_of(lea, rest[2:], compute, 5))
    assert plan.parties[:3] == tuple(sorted(compute))
    assert plan.parties[3:] == tuple(sorted(rest[2:]))
    assert plan.n_compute == 3
    assert plan.providers == tuple(sorted(plan.index(n) or 0 for n in [lea, *rest[2:]]))
    assert plan.recipients == (plan.index(lea),)
    assert plan.index(ids(1)[0]) is None


def test_shapes_this_node_cannot_run_are_refused() -> None:
    """Revealing the size, and kinds without an engine program, are unsupported."""
    nodes = ids(3)
    body = set_difference_of(nodes[0], nodes[1:], nodes, 5).to_json()
    body["parameters"] = {"limit": 5, "reveal_size": True}
    with pytest.raises(InvalidError) as error:
        plan_for(parse_manifest(body))
    assert error.value.code == "unsupported_computation"
    body["kind"], body["parameters"] = "intersection", {}
    with pytest.raises(InvalidError):
        plan_for(parse_manifest(body))


def run_in_memory(lists: dict[str, list[str]], compute: list[str], lea: str) -> Runner:
    """Every party's whole program over the in-memory runner; returns it for its deliveries."""
    manifest = set_difference_of(lea, [n for n in lists if n != lea], compute, 3, bound=16)
    plan = plan_for(manifest)
    programs = []
    for index, node in enumerate(plan.parties):
        mine = None
        if node in lists:
            mine = ProviderInput("people", "name", 16, tuple(lists[node]))
        ctx = Context(
            index,
            plan.committee,
            InsecureSeededRandomSource(index),
            n_participants=len(plan.parties),
        )
        programs.append(party_program(ctx, plan, mine, lambda phase: None))
    runner = Runner()
    results = runner.run(programs)
    querier = plan.positions[lea]
    assert results[querier] is not None
    assert set(results[querier]["identifiers"]) == {"anna", "olena"}
    assert all(r is None for i, r in enumerate(results) if i != querier)
    return runner


def test_outside_providers_share_in_and_never_see_the_key_holders_output() -> None:
    """NGOs outside the committee only send; compute parties without a list get no key."""
    lea, helper_a, helper_b, ngo_a, ngo_b = ids(5)
    lists = {
        lea: ["anna", "jose", "olena", "lin"],
        ngo_a: ["jose", "chidi"],
        ngo_b: ["lin", "yusuf"],
    }
    runner = run_in_memory(lists, [lea, helper_a, helper_b], lea)
    plan = plan_for(set_difference_of(lea, [ngo_a, ngo_b], [lea, helper_a, helper_b], 3, 16))
    for node in (ngo_a, ngo_b):
        labels = [d.label for d in runner.received_by(plan.positions[node])]
        assert not any(label.startswith("out:") for label in labels)
    for node in (helper_a, helper_b):
        labels = [d.label for d in runner.received_by(plan.positions[node])]
        assert not any(label.startswith("enckey:") for label in labels)
