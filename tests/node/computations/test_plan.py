"""Plans: party numbering, refused shapes, and whole party programs run in memory."""

from __future__ import annotations

from typing import Any

import pytest

from network.identity import Identity
from node.computations.inputs import ProviderInput
from node.computations.plan import party_program, plan_for
from node.consent.manifest import Manifest, parse_manifest
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
    """A set kind reads one identifier column per input; two are refused."""
    nodes = ids(3)
    body = set_difference_of(nodes[0], nodes[1:], nodes, 5).to_json()
    body["inputs"][0]["columns"] = ["name", "other"]
    with pytest.raises(InvalidError) as error:
        plan_for(parse_manifest(body))
    assert error.value.code == "unsupported_computation"
    body["kind"] = "union_size"
    body["parameters"] = {}
    with pytest.raises(InvalidError) as error:
        plan_for(parse_manifest(body))
    assert error.value.code == "unsupported_computation"


def test_set_difference_reveals_its_size_when_the_manifest_says_so() -> None:
    """With reveal_size the querier also learns the size of the whole difference."""
    lea, ngo_a, ngo_b = ids(3)
    body = set_difference_of(lea, [ngo_a, ngo_b], [lea, ngo_a, ngo_b], 2, bound=16).to_json()
    body["parameters"] = {"limit": 2, "reveal_size": True}
    plan = plan_for(parse_manifest(body))
    lists = {lea: ["anna", "jose", "olena", "lin", "mia"], ngo_a: ["jose"], ngo_b: ["lin"]}
    programs = []
    for index, node in enumerate(plan.parties):
        mine = ProviderInput("people", "name", 16, tuple(lists[node]))
        ctx = Context(index, plan.committee, InsecureSeededRandomSource(index), n_participants=3)
        programs.append(party_program(ctx, plan, mine, lambda phase: None))
    result = Runner().run(programs)[plan.positions[lea]]
    assert result["size"] == 3
    assert len(result["identifiers"]) == 2
    assert set(result["identifiers"]) <= {"anna", "olena", "mia"}


def manifest(kind: str, providers: list[str], compute: list[str], recipient: str) -> Manifest:
    """A manifest of ``kind`` over one ``people`` list per provider."""
    parameters: dict[str, object] = {"overlap_matrix": {"min_group_size": 2}}.get(kind, {})
    return parse_manifest(
        {
            "version": 1,
            "kind": kind,
            "parameters": parameters,
            "inputs": [
                {"provider": p, "dataset": "people", "columns": ["name"], "bound": 8}
                for p in providers
            ],
            "compute_parties": compute,
            "recipients": [recipient],
            "proposer": recipient,
            "purpose": "monitoring",
            "data_space": "test-space",
            "created_at": 1,
            "expires_at": 1 << 39,
            "nonce": "0" * 32,
        }
    )


def test_an_intersection_goes_to_a_recipient_with_a_list() -> None:
    """A recipient that provides no list cannot receive an intersection."""
    nodes = ids(4)
    with pytest.raises(InvalidError) as error:
        plan_for(manifest("intersection", nodes[:3], nodes[:3], nodes[3]))
    assert error.value.code == "unsupported_computation"


def run_kind(kind: str, lists: dict[str, list[str]], compute: list[str], recipient: str) -> Any:
    """Run every party's program of ``kind`` in memory; the recipient's result body."""
    plan = plan_for(manifest(kind, list(lists), compute, recipient))
    programs = []
    for index, node in enumerate(plan.parties):
        mine = ProviderInput("people", "name", 8, tuple(lists[node])) if node in lists else None
        ctx = Context(
            index,
            plan.committee,
            InsecureSeededRandomSource(index),
            n_participants=len(plan.parties),
        )
        programs.append(party_program(ctx, plan, mine, lambda phase: None))
    results = Runner().run(programs)
    assert all(r is None for i, r in enumerate(results) if i != plan.positions[recipient])
    return results[plan.positions[recipient]]


def test_the_set_kinds_match_plaintext() -> None:
    """intersection_size, union_size, overlap_matrix and intersection over three lists."""
    a, b, c, outside = ids(4)
    lists = {a: ["x", "y", "z", "w"], b: ["x", "y", "v"], c: ["y", "x", "u"]}
    assert run_kind("intersection_size", lists, [a, b, c], a) == {"size": 2}
    assert run_kind("union_size", lists, [a, b, c], outside) == {"size": 6}
    assert run_kind("intersection", lists, [a, b, c], b) == {"identifiers": ["x", "y"]}
    matrix = run_kind("overlap_matrix", lists, [a, b, c], a)
    counts = {frozenset((cell["a"], cell["b"])): cell["count"] for cell in matrix["cells"]}
    assert counts == {frozenset((a, b)): 2, frozenset((a, c)): 2, frozenset((b, c)): 2}


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
