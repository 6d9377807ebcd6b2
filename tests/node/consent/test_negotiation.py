"""Tests for node/consent/negotiation.py: transition table, deadlines, the proposer's view."""

from __future__ import annotations

import itertools

import pytest

from node.consent.evaluate import Verdict
from node.consent.negotiation import (
    EXPIRY_REASONS,
    TRANSITIONS,
    Event,
    IllegalTransitionError,
    Reason,
    Role,
    State,
    Timeouts,
    UsageLimit,
    aggregate,
    deadline_for,
    evaluation_from_verdicts,
    expire,
    may_run,
    next_deadline,
    start,
    step,
)
from node.consent.policy import Policy, parse_policy

NOW = 1_000
TIMEOUTS = Timeouts(decision=10, approval=100, countersignature=20, confirmation=30)
FAR = 10**9


def test_provider_happy_path_with_manual_approval() -> None:
    """A provider goes REQUESTED → PENDING_APPROVAL → AGREED → FINALIZED, deadlines per state."""
    n = start("m-x", "p", Role.PROVIDER, NOW, TIMEOUTS, FAR)
    assert (n.state, n.deadline) == (State.REQUESTED, NOW + 10)
    n = step(n, Event.QUEUED, NOW + 1, deadline=NOW + 101)
    assert (n.state, n.deadline) == (State.PENDING_APPROVAL, NOW + 101)
    n = step(n, Event.AGREED, NOW + 2, deadline=NOW + 22)
    assert n.state is State.AGREED
    n = step(n, Event.FINALIZED, NOW + 3, deadline=NOW + 99)
    assert (n.state, n.deadline, n.is_final) == (State.FINALIZED, None, True)


def test_proposer_happy_path_passes_verified() -> None:
    """The proposer's view of a provider goes AGREED → VERIFIED → FINALIZED."""
    n = start("m-x", "p", Role.PROPOSER, NOW, TIMEOUTS, FAR)
    n = step(n, Event.AGREED, NOW, deadline=NOW + 5)
    n = step(n, Event.COUNTERSIGNED, NOW, deadline=NOW + 30)
    assert n.state is State.VERIFIED
    n = step(n, Event.FINALIZED, NOW)
    assert n.state is State.FINALIZED


def test_every_pair_outside_the_table_is_an_error() -> None:
    """Every (role, state, event) not in the table raises IllegalTransitionError with its code."""
    illegal = 0
    for role, state, event in itertools.product(Role, State, Event):
        n = start("m-x", "p", role, NOW, TIMEOUTS, FAR)
        n = n.__class__(**{**n.__dict__, "state": state})
        if (role, state, event) in TRANSITIONS:
            assert step(n, event, NOW).state is TRANSITIONS[(role, state, event)]
            continue
        illegal += 1
        with pytest.raises(IllegalTransitionError) as caught:
            step(n, event, NOW)
        assert caught.value.code == "illegal_transition"
    assert illegal > 40


def test_terminated_takes_no_event_and_provider_cannot_countersign() -> None:
    """TERMINATED is final; COUNTERSIGNED belongs to the proposer's view only."""
    for event in Event:
        assert (Role.PROVIDER, State.TERMINATED, event) not in TRANSITIONS
        assert (Role.PROPOSER, State.TERMINATED, event) not in TRANSITIONS
    assert (Role.PROVIDER, State.AGREED, Event.COUNTERSIGNED) not in TRANSITIONS


def test_refusal_keeps_reason_and_constraint() -> None:
    """A refusal terminates with the policy's reason code and the failing constraint's path."""
    n = start("m-x", "p", Role.PROVIDER, NOW, TIMEOUTS, FAR)
    n = step(n, Event.REFUSED, NOW, reason="purpose_not_allowed", constraint="$.c[2]")
    assert (n.state, n.reason, n.constraint, n.deadline) == (
        State.TERMINATED,
        "purpose_not_allowed",
        "$.c[2]",
        None,
    )


def test_expire_waits_for_the_deadline_then_gives_the_state_reason() -> None:
    """Before the deadline nothing happens; at it, each waiting state ends with its reason."""
    for (role, state), reason in EXPIRY_REASONS.items():
        n = start("m-x", "p", role, NOW, TIMEOUTS, FAR)
        n = n.__class__(**{**n.__dict__, "state": state, "deadline": NOW + 5})
        assert expire(n, NOW + 4) is None
        ended = expire(n, NOW + 5)
        assert ended is not None
        assert (ended.state, ended.reason) == (State.TERMINATED, reason)


def test_finalized_does_not_expire_but_can_be_retired() -> None:
    """A FINALIZED negotiation has no deadline; retirement still ends it."""
    n = start("m-x", "p", Role.PROVIDER, NOW, TIMEOUTS, FAR)
    n = step(step(n, Event.AGREED, NOW), Event.FINALIZED, NOW)
    assert expire(n, FAR) is None
    with pytest.raises(IllegalTransitionError):
        step(n, Event.EXPIRED, NOW)
    retired = step(n, Event.RETIRED, NOW, reason=Reason.RETIRED)
    assert (retired.state, retired.reason) == (State.TERMINATED, "retired")


def test_deadlines_never_pass_the_manifest_expiry() -> None:
    """A deadline is capped by the manifest's expires_at; final states have none."""
    assert deadline_for(Role.PROVIDER, State.PENDING_APPROVAL, NOW, TIMEOUTS, NOW + 50) == NOW + 50
    assert deadline_for(Role.PROVIDER, State.AGREED, NOW, TIMEOUTS, FAR) == NOW + 20
    assert deadline_for(Role.PROPOSER, State.VERIFIED, NOW, TIMEOUTS, FAR) == NOW + 30
    assert deadline_for(Role.PROPOSER, State.FINALIZED, NOW, TIMEOUTS, FAR) is None
    assert deadline_for(Role.PROPOSER, State.TERMINATED, NOW, TIMEOUTS, FAR) is None


def test_aggregate_waits_for_the_slowest_and_ends_on_any_termination() -> None:
    """The manifest's state is the least advanced provider's, TERMINATED if any ended."""
    assert aggregate([State.FINALIZED, State.PENDING_APPROVAL, State.AGREED]) is (
        State.PENDING_APPROVAL
    )
    assert aggregate([State.FINALIZED, State.TERMINATED]) is State.TERMINATED
    assert aggregate([State.FINALIZED] * 3) is State.FINALIZED
    with pytest.raises(ValueError, match="provider"):
        aggregate([])


def test_may_run_only_when_every_provider_is_finalized() -> None:
    """A run may start only when every provider is FINALIZED."""
    assert may_run([State.FINALIZED, State.FINALIZED])
    assert not may_run([State.FINALIZED, State.VERIFIED])
    assert not may_run([])


def test_next_deadline_and_timeout_validation() -> None:
    """The earliest deadline is the driver's next timer; a timeout under one second is refused."""
    a = start("m-a", "p", Role.PROVIDER, NOW, TIMEOUTS, FAR)
    b = start("m-b", "p", Role.PROVIDER, NOW - 5, TIMEOUTS, FAR)
    assert next_deadline([a, b]) == NOW + 5
    assert next_deadline([]) is None
    with pytest.raises(ValueError, match="approval"):
        Timeouts(approval=0)


def _policy(policy_id: str, count: str, limit: int) -> Policy:
    """A policy on dataset `clients` with one count constraint."""
    return parse_policy(
        {
            "id": policy_id,
            "dataset": "clients",
            "permission": {
                "action": ["union_size"],
                "constraints": [{"left": "count", "op": count, "right": limit, "per": "P1D"}],
            },
            "approval": "auto",
            "valid_until": "2030-01-01T00:00:00Z",
        }
    )


def test_verdicts_combine_into_limits_and_the_first_refusal() -> None:
    """Allowed verdicts give the chosen policies' count limits; any refusal is the answer."""
    lteq, lt = _policy("pol-a", "lteq", 4), _policy("pol-b", "lt", 4)
    allowed = [
        Verdict(True, "allowed", "ok", "pol-a", lteq.version, manual=True),
        Verdict(True, "allowed", "ok", "pol-b", lt.version),
    ]
    evaluation = evaluation_from_verdicts(allowed, [lteq, lt])
    assert evaluation.allowed
    assert evaluation.manual
    assert evaluation.limits == (UsageLimit("pol-a", 4, 86400), UsageLimit("pol-b", 3, 86400))
    assert evaluation.valid_until == lteq.valid_until
    refused = Verdict(False, "constraint_failed", "no", "pol-b", 1, path="$.permission.x")
    evaluation = evaluation_from_verdicts([allowed[0], refused], [lteq, lt])
    assert (evaluation.allowed, evaluation.reason, evaluation.constraint) == (
        False,
        "constraint_failed",
        "$.permission.x",
    )
    assert not evaluation_from_verdicts([], [lteq]).allowed
    assert evaluation_from_verdicts(allowed, [lteq]).reason == "no_policy"
