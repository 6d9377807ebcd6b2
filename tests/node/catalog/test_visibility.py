"""Tests for node/catalog/visibility.py: who sees which dataset, and why the rest is hidden."""

from __future__ import annotations

from collections.abc import Sequence

from node.catalog.visibility import Sight, sight
from node.consent.policy import Policy
from tests.node.consent.policy_helpers import (
    BE_NGO,
    CARE,
    LEA,
    LINKED,
    NGO_B,
    NOW,
    SPACE,
    STRANGER,
    facts,
    node,
    policy,
)

DATASET = "clients-2026"
ROLE_LEA = {"left": "requester_role", "op": "isAnyOf", "right": ["lea"]}


def seen(requester: str, policies: Sequence[Policy], *, now: int = NOW) -> Sight:
    """What ``requester`` sees of a node in SPACE holding ``clients-2026`` and ``empty``."""
    held = {DATASET: list(policies), "empty": []}
    return sight(requester, held, facts(usage=None), [SPACE], now)


def test_a_requester_with_the_role_sees_the_dataset() -> None:
    """The LEA passes requester_role; the dataset without a policy stays hidden."""
    result = seen(LEA, [policy(ROLE_LEA)])
    assert result.member
    assert result.visible == {DATASET}
    (hidden,) = result.hidden
    assert (hidden.dataset, hidden.code) == ("empty", "no_policy")


def test_a_requester_without_the_role_sees_nothing_and_the_steward_sees_why() -> None:
    """A care provider fails the role constraint, named by its path and policy."""
    result = seen(CARE, [policy(ROLE_LEA)])
    assert result.member
    assert result.visible == frozenset()
    hidden = {item.dataset: item for item in result.hidden}[DATASET]
    assert hidden.code == "constraint_failed"
    assert hidden.path == "$.permission.constraints[0]"
    assert hidden.policy_id == "pol-test"
    assert "care" in hidden.reason


def test_a_node_known_in_no_data_space_is_not_a_member() -> None:
    """An unknown node sees no catalog at all, not even datasets every policy would admit."""
    result = seen(node(99), [policy()])
    assert not result.member
    assert result.visible == frozenset()
    assert result.hidden == ()


def test_a_linked_space_member_needs_the_policy_to_name_its_space() -> None:
    """BE_NGO (linked space) is not admitted unless a data_space constraint opts in."""
    plain = seen(BE_NGO, [policy()])
    assert plain.visible == frozenset()
    hidden = {item.dataset: item for item in plain.hidden}[DATASET]
    assert hidden.code == "participant_not_admitted"
    opted = policy({"left": "data_space", "op": "isAnyOf", "right": [SPACE, LINKED]})
    assert seen(BE_NGO, [opted]).visible == {DATASET}


def test_a_member_of_another_space_only_the_policy_names_is_refused_by_that_constraint() -> None:
    """A policy naming only the linked space hides the dataset from home-space members."""
    only_linked = policy({"left": "data_space", "op": "eq", "right": LINKED})
    assert seen(NGO_B, [only_linked]).visible == frozenset()
    assert seen(BE_NGO, [only_linked]).visible == {DATASET}
    assert seen(STRANGER, [only_linked]).visible == frozenset()


def test_usage_counts_do_not_hide_a_dataset() -> None:
    """A count constraint (even with no counter known) leaves visibility to who asks."""
    counted = policy(ROLE_LEA, {"left": "count", "op": "lteq", "right": 1, "per": "P30D"})
    assert seen(LEA, [counted]).visible == {DATASET}
    assert seen(CARE, [counted]).visible == frozenset()


def test_validity_window_and_date_constraints_hide_the_dataset() -> None:
    """An expired policy, one not yet valid, or a dateTime in the past refuses."""
    expired = policy(valid_until="2026-01-01T00:00:00Z")
    early = policy(valid_from="2028-01-01T00:00:00Z")
    past = policy({"left": "dateTime", "op": "lt", "right": "2026-06-01T00:00:00Z"})
    codes = []
    for item in (expired, early, past):
        result = seen(LEA, [item])
        assert result.visible == frozenset()
        codes.append({h.dataset: h for h in result.hidden}[DATASET].code)
    assert codes == ["policy_expired", "policy_not_yet_valid", "constraint_failed"]


def test_any_admitting_policy_makes_the_dataset_visible() -> None:
    """Of two policies, one admitting the requester is enough."""
    only_ngo = policy({"left": "requester_role", "op": "isAnyOf", "right": ["ngo"]}, id="pol-a")
    only_lea = policy(ROLE_LEA, id="pol-b")
    assert seen(LEA, [only_ngo, only_lea]).visible == {DATASET}
    assert seen(NGO_B, [only_ngo, only_lea]).visible == {DATASET}
    assert seen(CARE, [only_ngo, only_lea]).visible == frozenset()


def test_a_policy_naming_the_requester_admits_that_node_only() -> None:
    """A requester constraint admits the named node and no other."""
    named = policy({"left": "requester", "op": "isAnyOf", "right": [LEA]})
    assert seen(LEA, [named]).visible == {DATASET}
    assert seen(NGO_B, [named]).visible == frozenset()
