"""Tests for node/consent/policy.py: the policy format, validated with every problem's path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from node.consent.policy import (
    OPERANDS,
    OPERATORS,
    Vocabulary,
    check_policy,
    format_duration,
    parse_policy,
)
from node.consent.problems import InvalidConsentError
from tests.node.consent.policy_helpers import LEA, NGO_A

EXAMPLE: dict[str, Any] = {
    "id": "pol-ngo-a-prevalence",
    "dataset": "clients-2026",
    "permission": {
        "action": ["aggregate", "union_size", "set_difference"],
        "constraints": [
            {"left": "requester_role", "op": "isAnyOf", "right": ["lea", "ngo"]},
            {"left": "data_space", "op": "isAnyOf", "right": ["nl-human-trafficking"]},
            {"left": "purpose", "op": "isAnyOf", "right": ["prevalence-monitoring"]},
            {"left": "columns", "op": "isPartOf", "right": ["name_dob", "region"]},
            {"left": "min_group_size", "op": "gteq", "right": 10},
            {"left": "result_limit", "op": "lteq", "right": 5},
            {"left": "recipient_role", "op": "isAnyOf", "right": ["lea", "ngo"]},
            {"left": "compute_party_role", "op": "isAnyOf", "right": ["lea", "ngo", "care"]},
            {"left": "count", "op": "lteq", "right": 4, "per": "P30D"},
            {"left": "dateTime", "op": "lt", "right": "2027-01-01T00:00:00Z"},
        ],
    },
    "approval": "manual",
}


def document(**changes: Any) -> dict[str, Any]:
    """A copy of the consent.md example with top-level ``changes``."""
    result = copy.deepcopy(EXAMPLE)
    result.update(changes)
    return result


def with_constraint(constraint: Any) -> dict[str, Any]:
    """The example with one more constraint (it is constraints[10])."""
    result = document()
    result["permission"]["constraints"].append(constraint)
    return result


def problem_paths(value: dict[str, Any]) -> list[str]:
    """The paths of every problem in a policy document."""
    return [problem["path"] for problem in check_policy(value)]


def test_the_design_example_parses() -> None:
    """The example policy of consent.md is valid, in written order, actions sorted."""
    policy = parse_policy(EXAMPLE)
    assert policy.id == "pol-ngo-a-prevalence"
    assert policy.version == 1
    assert policy.manual
    assert policy.actions == ("aggregate", "set_difference", "union_size")
    assert [c.left for c in policy.constraints][:2] == ["requester_role", "data_space"]
    assert policy.constraints[8].per == 30 * 86400
    assert policy.constraints[9].right == 1_798_761_600
    assert check_policy(EXAMPLE) == []


def test_to_json_round_trips() -> None:
    """A parsed policy's document parses back to the same policy and digest."""
    policy = parse_policy(document(valid_from="2026-01-01T00:00:00+01:00", description="Test."))
    again = parse_policy(policy.to_json())
    assert again == policy
    assert again.digest() == policy.digest()
    assert policy.to_json()["valid_from"] == "2025-12-31T23:00:00Z"


def test_every_operand_has_operators() -> None:
    """Every operand names at least one known operator, and the task's operands all exist."""
    required = {
        "requester",
        "requester_role",
        "data_space",
        "purpose",
        "columns",
        "min_group_size",
        "result_limit",
        "recipient",
        "recipient_role",
        "compute_party",
        "compute_party_role",
        "count",
        "dateTime",
        "input_bound",
        "reveal_size",
    }
    assert set(OPERANDS) == required
    for operand in OPERANDS.values():
        assert operand.operators
        assert operand.operators <= OPERATORS


def example_right(left: str, op: str) -> Any:
    """A right-hand side of the right type for ``left op``."""
    element = OPERANDS[left].element
    single = {"node": LEA, "name": "lea", "int": 3, "bool": True, "time": "2027-01-01T00:00:00Z"}
    many = {
        "node": [LEA, NGO_A],
        "name": ["lea", "ngo"],
        "int": [1, 2],
        "bool": [True],
        "time": ["2027-01-01T00:00:00Z"],
    }
    return many[element] if op.startswith("is") else single[element]


@pytest.mark.parametrize("left", sorted(OPERANDS))
@pytest.mark.parametrize("op", sorted(OPERATORS))
def test_operator_applies_or_is_refused_at_its_path(left: str, op: str) -> None:
    """Each (operand, operator) pair is valid exactly when the operand's table lists it."""
    constraint = {"left": left, "op": op, "right": example_right(left, op)}
    found = check_policy(with_constraint(constraint))
    if op in OPERANDS[left].operators:
        assert found == []
    else:
        assert found[0]["path"] == "$.permission.constraints[10].op"
        assert "does not apply" in found[0]["reason"]


@pytest.mark.parametrize(
    ("constraint", "path"),
    [
        ({"left": "colour", "op": "eq", "right": "red"}, "$.permission.constraints[10].left"),
        ({"left": "purpose", "op": "like", "right": "x"}, "$.permission.constraints[10].op"),
        ({"left": "purpose", "op": "eq"}, "$.permission.constraints[10].right"),
        ({"left": "purpose", "op": "eq", "right": "a", "x": 1}, "$.permission.constraints[10].x"),
        ({"left": "purpose", "op": "eq", "right": ["a"]}, "$.permission.constraints[10].right"),
        ({"left": "purpose", "op": "isAnyOf", "right": "a"}, "$.permission.constraints[10].right"),
        ({"left": "purpose", "op": "isAnyOf", "right": []}, "$.permission.constraints[10].right"),
        (
            {"left": "purpose", "op": "isAnyOf", "right": ["a", "a"]},
            "$.permission.constraints[10].right",
        ),
        (
            {"left": "purpose", "op": "isAnyOf", "right": ["a", "B C"]},
            "$.permission.constraints[10].right[1]",
        ),
        ({"left": "requester", "op": "eq", "right": "lea"}, "$.permission.constraints[10].right"),
        ({"left": "count", "op": "lteq", "right": "4"}, "$.permission.constraints[10].right"),
        ({"left": "count", "op": "lteq", "right": -1}, "$.permission.constraints[10].right"),
        ({"left": "count", "op": "lteq", "right": True}, "$.permission.constraints[10].right"),
        ({"left": "reveal_size", "op": "eq", "right": 1}, "$.permission.constraints[10].right"),
        (
            {"left": "dateTime", "op": "lt", "right": "2027-01-01"},
            "$.permission.constraints[10].right",
        ),
        (
            {"left": "dateTime", "op": "lt", "right": "2027-02-30T00:00:00Z"},
            "$.permission.constraints[10].right",
        ),
        (
            {"left": "count", "op": "lteq", "right": 4, "per": "P1M"},
            "$.permission.constraints[10].per",
        ),
        (
            {"left": "count", "op": "lteq", "right": 4, "per": "30 days"},
            "$.permission.constraints[10].per",
        ),
        (
            {"left": "count", "op": "lteq", "right": 4, "per": "PT0S"},
            "$.permission.constraints[10].per",
        ),
        (
            {"left": "purpose", "op": "eq", "right": "a", "per": "P1D"},
            "$.permission.constraints[10].per",
        ),
        ("purpose is a", "$.permission.constraints[10]"),
    ],
)
def test_bad_constraints_are_named_by_path(constraint: Any, path: str) -> None:
    """Each bad constraint is reported at the exact path of the bad part."""
    assert path in problem_paths(with_constraint(constraint))


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"id": "Pol A"}, "$.id"),
        ({"dataset": 3}, "$.dataset"),
        ({"approval": "sometimes"}, "$.approval"),
        ({"version": 0}, "$.version"),
        ({"colour": "red"}, "$.colour"),
        ({"description": ""}, "$.description"),
        ({"valid_from": 1_800_000_000}, "$.valid_from"),
        (
            {"valid_from": "2027-01-01T00:00:00Z", "valid_until": "2026-01-01T00:00:00Z"},
            "$.valid_until",
        ),
        ({"permission": {"action": ["union_size"]}}, "$.permission.constraints"),
        ({"permission": {"action": [], "constraints": []}}, "$.permission.action"),
        ({"permission": {"action": ["join"], "constraints": []}}, "$.permission.action[0]"),
        (
            {"permission": {"action": ["union_size", "union_size"], "constraints": []}},
            "$.permission.action",
        ),
        ({"prohibition": {"action": ["intersection"]}}, "$.prohibition"),
    ],
)
def test_bad_fields_are_named_by_path(changes: dict[str, Any], path: str) -> None:
    """Each bad top-level or permission field is reported at its path."""
    assert path in problem_paths(document(**changes))


def test_prohibition_explains_the_alternative() -> None:
    """A prohibition is refused with advice to write an exclusion constraint."""
    found = check_policy(document(prohibition=[]))
    assert found == [
        {
            "path": "$.prohibition",
            "reason": "prohibitions are not supported: a policy only permits; "
            "exclude with a neq or isNoneOf constraint",
        }
    ]


def test_all_problems_are_reported() -> None:
    """Three mistakes in different places give three problems, in document order."""
    bad = document(approval="maybe")
    bad["permission"]["constraints"][3]["op"] = "contains"
    bad["permission"]["constraints"][8]["per"] = "P1Y"
    with pytest.raises(InvalidConsentError) as caught:
        parse_policy(bad)
    assert caught.value.code == "invalid_policy"
    assert [p.path for p in caught.value.problems] == [
        "$.approval",
        "$.permission.constraints[3].op",
        "$.permission.constraints[8].per",
    ]
    assert caught.value.details["errors"][1]["path"] == "$.permission.constraints[3].op"


def test_not_an_object() -> None:
    """A policy that is not a JSON object is one problem at $."""
    assert problem_paths("policy") == ["$"]  # type: ignore[arg-type]


def test_vocabulary_refuses_unknown_names() -> None:
    """With the node's vocabulary, a role, purpose or data space it does not know is refused."""
    vocabulary = Vocabulary(
        roles=frozenset({"lea", "ngo", "care"}),
        purposes=frozenset({"prevalence-monitoring"}),
        data_spaces=frozenset({"nl-human-trafficking"}),
    )
    parse_policy(EXAMPLE, vocabulary=vocabulary)
    bad = document()
    bad["permission"]["constraints"][0]["right"] = ["lea", "police"]
    bad["permission"]["constraints"][1]["right"] = ["xx"]
    bad["permission"]["constraints"][2]["right"] = ["fun"]
    found = check_policy(bad, vocabulary=vocabulary)
    assert [p["path"] for p in found] == [
        "$.permission.constraints[0].right[1]",
        "$.permission.constraints[1].right[0]",
        "$.permission.constraints[2].right[0]",
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("P30D", 30 * 86400), ("P2W", 14 * 86400), ("PT12H", 43200), ("P1DT1H1M1S", 90061)],
)
def test_durations(text: str, seconds: int) -> None:
    """ISO 8601 windows in weeks, days, hours, minutes and seconds are read and written."""
    policy = parse_policy(with_constraint({"left": "count", "op": "lt", "right": 9, "per": text}))
    assert policy.constraints[10].per == seconds
    assert parse_policy(policy.to_json()).constraints[10].per == seconds
    assert format_duration(seconds).startswith("P")


def test_count_limits() -> None:
    """Count constraints give (max runs, window): lteq N allows N, lt N allows N - 1."""
    policy = parse_policy(with_constraint({"left": "count", "op": "lt", "right": 100}))
    assert policy.count_limits() == ((4, 30 * 86400), (99, None))
