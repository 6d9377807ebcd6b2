"""Tests for node/consent/checks.py: every left operand under every operator it takes, pass and
fail, evaluated through ``evaluate`` on NGO A's dataset for the LEA's proposal."""

from __future__ import annotations

from typing import Any

import pytest

from node.consent.evaluate import Facts, Verdict, evaluate
from node.consent.manifest import Manifest
from node.consent.policy import OPERANDS, format_time
from tests.node.consent.policy_helpers import (
    CARE,
    LEA,
    LINKED,
    NGO_A,
    NGO_B,
    NOW,
    OTHER,
    SPACE,
    facts,
    manifest,
    policy,
)

SD = "set_difference"
AGG = "aggregate"
T_NOW, T_BEFORE, T_AFTER = format_time(NOW), format_time(NOW - 1), format_time(NOW + 1)

# (left, op, right, kind, passes): the LEA proposes; NGO A provides `clients-2026`
# (columns name_dob, bound 5000); LEA, NGO A and NGO B compute; the LEA receives.
ROWS: list[tuple[str, str, Any, str, bool]] = [
    ("requester", "eq", LEA, SD, True),
    ("requester", "eq", NGO_B, SD, False),
    ("requester", "neq", NGO_B, SD, True),
    ("requester", "neq", LEA, SD, False),
    ("requester", "isAnyOf", [LEA, CARE], SD, True),
    ("requester", "isAnyOf", [CARE], SD, False),
    ("requester", "isNoneOf", [CARE], SD, True),
    ("requester", "isNoneOf", [LEA], SD, False),
    ("requester_role", "isAnyOf", ["lea", "ngo"], SD, True),
    ("requester_role", "isAnyOf", ["ngo"], SD, False),
    ("requester_role", "isNoneOf", ["ngo"], SD, True),
    ("requester_role", "isNoneOf", ["lea"], SD, False),
    ("requester_role", "isAllOf", ["lea"], SD, True),
    ("requester_role", "isAllOf", ["lea", "ngo"], SD, False),
    ("requester_role", "isPartOf", ["lea", "ngo"], SD, True),
    ("requester_role", "isPartOf", ["ngo"], SD, False),
    ("data_space", "eq", SPACE, SD, True),
    ("data_space", "eq", OTHER, SD, False),
    ("data_space", "neq", OTHER, SD, True),
    ("data_space", "neq", SPACE, SD, False),
    ("data_space", "isAnyOf", [SPACE, LINKED], SD, True),
    ("data_space", "isAnyOf", [LINKED], SD, False),
    ("data_space", "isNoneOf", [OTHER], SD, True),
    ("data_space", "isNoneOf", [SPACE], SD, False),
    ("purpose", "eq", "victim-outreach", SD, True),
    ("purpose", "eq", "research", SD, False),
    ("purpose", "neq", "research", SD, True),
    ("purpose", "neq", "victim-outreach", SD, False),
    ("purpose", "isAnyOf", ["research", "victim-outreach"], SD, True),
    ("purpose", "isAnyOf", ["research"], SD, False),
    ("purpose", "isNoneOf", ["research"], SD, True),
    ("purpose", "isNoneOf", ["victim-outreach"], SD, False),
    ("columns", "isPartOf", ["name_dob", "region"], SD, True),
    ("columns", "isPartOf", ["region"], SD, False),
    ("columns", "isAnyOf", ["name_dob"], SD, True),
    ("columns", "isAnyOf", ["region"], SD, False),
    ("columns", "isNoneOf", ["region"], SD, True),
    ("columns", "isNoneOf", ["name_dob"], SD, False),
    ("columns", "isAllOf", ["name_dob"], SD, True),
    ("columns", "isAllOf", ["name_dob", "region"], SD, False),
    ("min_group_size", "eq", 10, AGG, True),
    ("min_group_size", "eq", 11, AGG, False),
    ("min_group_size", "neq", 11, AGG, True),
    ("min_group_size", "neq", 10, AGG, False),
    ("min_group_size", "lt", 11, AGG, True),
    ("min_group_size", "lt", 10, AGG, False),
    ("min_group_size", "lteq", 10, AGG, True),
    ("min_group_size", "lteq", 9, AGG, False),
    ("min_group_size", "gt", 9, AGG, True),
    ("min_group_size", "gt", 10, AGG, False),
    ("min_group_size", "gteq", 10, AGG, True),
    ("min_group_size", "gteq", 11, AGG, False),
    ("min_group_size", "gteq", 11, "overlap_matrix", False),
    ("min_group_size", "gteq", 11, SD, True),  # not applicable: set_difference has no groups
    ("result_limit", "eq", 5, SD, True),
    ("result_limit", "eq", 4, SD, False),
    ("result_limit", "neq", 4, SD, True),
    ("result_limit", "neq", 5, SD, False),
    ("result_limit", "lt", 6, SD, True),
    ("result_limit", "lt", 5, SD, False),
    ("result_limit", "lteq", 5, SD, True),
    ("result_limit", "lteq", 4, SD, False),
    ("result_limit", "gt", 4, SD, True),
    ("result_limit", "gt", 5, SD, False),
    ("result_limit", "gteq", 5, SD, True),
    ("result_limit", "gteq", 6, SD, False),
    ("result_limit", "lteq", 1999, "intersection", False),  # the smallest bound, 2000
    ("result_limit", "lteq", 2000, "intersection", True),
    ("result_limit", "lteq", 1, "union_size", True),  # not applicable: a count
    ("recipient", "eq", LEA, SD, True),
    ("recipient", "eq", NGO_A, SD, False),
    ("recipient", "neq", NGO_A, SD, True),
    ("recipient", "neq", LEA, SD, False),
    ("recipient", "isAnyOf", [LEA, NGO_A], SD, True),
    ("recipient", "isAnyOf", [NGO_A], SD, False),
    ("recipient", "isNoneOf", [NGO_A], SD, True),
    ("recipient", "isNoneOf", [LEA], SD, False),
    ("recipient_role", "isAnyOf", ["lea"], SD, True),
    ("recipient_role", "isAnyOf", ["ngo"], SD, False),
    ("recipient_role", "isNoneOf", ["ngo"], SD, True),
    ("recipient_role", "isNoneOf", ["lea"], SD, False),
    ("recipient_role", "isAllOf", ["lea"], SD, True),
    ("recipient_role", "isAllOf", ["lea", "care"], SD, False),
    ("recipient_role", "isPartOf", ["lea", "care"], SD, True),
    ("recipient_role", "isPartOf", ["care"], SD, False),
    ("compute_party", "neq", CARE, SD, True),
    ("compute_party", "neq", NGO_B, SD, False),
    ("compute_party", "isAnyOf", [LEA, NGO_A, NGO_B], SD, True),
    ("compute_party", "isAnyOf", [LEA, NGO_A], SD, False),
    ("compute_party", "isNoneOf", [CARE], SD, True),
    ("compute_party", "isNoneOf", [NGO_B], SD, False),
    ("compute_party_role", "isAnyOf", ["lea", "ngo"], SD, True),
    ("compute_party_role", "isAnyOf", ["lea"], SD, False),
    ("compute_party_role", "isNoneOf", ["care"], SD, True),
    ("compute_party_role", "isNoneOf", ["ngo"], SD, False),
    ("compute_party_role", "isAllOf", ["ngo"], SD, False),
    ("compute_party_role", "isPartOf", ["lea", "ngo"], SD, True),
    ("compute_party_role", "isPartOf", ["ngo"], SD, False),
    ("dateTime", "lt", T_AFTER, SD, True),
    ("dateTime", "lt", T_NOW, SD, False),
    ("dateTime", "lteq", T_NOW, SD, True),
    ("dateTime", "lteq", T_BEFORE, SD, False),
    ("dateTime", "gt", T_BEFORE, SD, True),
    ("dateTime", "gt", T_NOW, SD, False),
    ("dateTime", "gteq", T_NOW, SD, True),
    ("dateTime", "gteq", T_AFTER, SD, False),
    ("input_bound", "eq", 5000, SD, True),
    ("input_bound", "eq", 4999, SD, False),
    ("input_bound", "neq", 4999, SD, True),
    ("input_bound", "neq", 5000, SD, False),
    ("input_bound", "lt", 5001, SD, True),
    ("input_bound", "lt", 5000, SD, False),
    ("input_bound", "lteq", 5000, SD, True),
    ("input_bound", "lteq", 4999, SD, False),
    ("input_bound", "gt", 4999, SD, True),
    ("input_bound", "gt", 5000, SD, False),
    ("input_bound", "gteq", 1000, SD, True),
    ("input_bound", "gteq", 5001, SD, False),
    ("reveal_size", "eq", False, SD, True),
    ("reveal_size", "eq", True, SD, False),
    ("reveal_size", "neq", True, SD, True),
    ("reveal_size", "neq", False, SD, False),
    ("reveal_size", "eq", True, "union_size", True),  # not applicable: nothing to reveal
]


def decide(constraint: dict[str, Any], proposal: Manifest, known: Facts | None = None) -> Verdict:
    """NGO A's verdict on ``proposal`` under one policy with one constraint."""
    guard = policy(constraint)
    known = facts() if known is None else known
    return evaluate([guard], proposal, provider=NGO_A, dataset="clients-2026", facts=known, now=NOW)


@pytest.mark.parametrize(("left", "op", "right", "kind", "passes"), ROWS)
def test_operand_table(left: str, op: str, right: Any, kind: str, passes: bool) -> None:
    """Each row: the constraint passes or fails as the table says; a failure names its path."""
    verdict = decide({"left": left, "op": op, "right": right}, manifest(kind))
    assert verdict.allowed is passes, verdict.reason
    if not passes:
        assert verdict.code == "constraint_failed"
        assert verdict.path == "$.permission.constraints[0]"
        assert verdict.policy_id == "pol-test"


def test_table_covers_every_operand_and_operator() -> None:
    """Every (operand, operator) the format allows has a passing and a failing row."""
    for left, operand in OPERANDS.items():
        if left == "count":
            continue  # tested with usage counters below
        for op in operand.operators:
            outcomes = {row[4] for row in ROWS if row[:2] == (left, op)}
            outcomes |= {True} if (left, op) in PASSES_ELSEWHERE else set()
            assert outcomes == {True, False}, (left, op)


PASSES_ELSEWHERE = {("compute_party_role", "isAllOf")}
"""Pairs whose passing case needs other facts; each has its own test below."""


def test_compute_party_role_all_of_passes_when_every_party_holds_them() -> None:
    """isAllOf passes when every compute party holds every listed role."""
    shared = {
        node_id: {SPACE: frozenset({role, "compute"})}
        for node_id, role in ((LEA, "lea"), (NGO_A, "ngo"), (NGO_B, "ngo"))
    }
    constraint = {"left": "compute_party_role", "op": "isAllOf", "right": ["compute"]}
    assert decide(constraint, manifest(), facts(changed=shared)).allowed
    assert not decide(constraint, manifest()).allowed


def test_per_node_operands_hold_for_each_node() -> None:
    """With two recipients, isAnyOf must hold for both, not just one."""
    proposal = manifest("intersection_size", recipients=[LEA, NGO_A])
    assert not decide({"left": "recipient", "op": "isAnyOf", "right": [LEA]}, proposal).allowed
    verdict = decide({"left": "recipient_role", "op": "isAnyOf", "right": ["lea"]}, proposal)
    assert not verdict.allowed
    assert "{ngo}" in verdict.reason
    both = {"left": "recipient", "op": "isAnyOf", "right": [LEA, NGO_A]}
    assert decide(both, proposal).allowed


@pytest.mark.parametrize(
    ("op", "limit", "used", "passes"),
    [("lteq", 4, 3, True), ("lteq", 4, 4, False), ("lt", 4, 2, True), ("lt", 4, 3, False)],
)
def test_count_counts_this_run(op: str, limit: int, used: int, passes: bool) -> None:
    """count compares the runs already counted plus this one with the limit."""
    constraint = {"left": "count", "op": op, "right": limit, "per": "P30D"}
    assert decide(constraint, manifest(), facts(usage=used)).allowed is passes


def test_count_asks_for_its_window() -> None:
    """The usage counter is asked for the policy id and the window in seconds (None: ever)."""
    asked: list[tuple[str, int | None]] = []

    def usage(policy_id: str, window: int | None) -> int:
        asked.append((policy_id, window))
        return 0

    known = Facts(roles=facts().roles, links=facts().links, usage=usage)
    decide({"left": "count", "op": "lteq", "right": 1, "per": "P7D"}, manifest(), known)
    decide({"left": "count", "op": "lteq", "right": 1}, manifest(), known)
    assert asked == [("pol-test", 7 * 86400), ("pol-test", None)]


def test_count_without_a_counter_refuses() -> None:
    """No usage counter known: the count cannot be evaluated, so the policy refuses."""
    verdict = decide({"left": "count", "op": "lteq", "right": 100}, manifest(), facts(usage=None))
    assert not verdict.allowed
    assert verdict.code == "constraint_unevaluable"
    assert verdict.path == "$.permission.constraints[0]"
