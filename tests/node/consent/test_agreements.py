"""Tests for node/consent/agreements.py: negotiations, agreements and usage counters in SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.audit import AuditLog
from node.consent.agreements import Agreements
from node.consent.messages import Finalized, countersign, sign_decision
from node.consent.negotiation import Event, Role, State, Timeouts, UsageLimit, start
from node.errors import ConflictError, ForbiddenError, NotFoundError
from node.store import open_store
from tests.node.consent.negotiation_helpers import NOW, identity, make_manifest

PROPOSER, P1, P2 = identity(1), identity(2), identity(3)
MANIFEST = make_manifest(PROPOSER, [PROPOSER, P1, P2], nonce="a" * 32)


def store(path: Path, node: object = P1) -> tuple[Agreements, AuditLog]:
    """An agreements store with a real audit log, as provider P1 (by default)."""
    connection = open_store(path / "store.sqlite")
    audit = AuditLog(connection, node)  # type: ignore[arg-type]
    return Agreements(connection, node.node_id, audit), audit  # type: ignore[attr-defined]


def finalized(max_runs: int = 5) -> Finalized:
    """The counter-signed bundle of every provider's agreement on MANIFEST."""
    decisions = tuple(
        sorted(
            (
                sign_decision(
                    p, MANIFEST.id, agreed=True, valid_until=NOW + 600, max_runs=max_runs, now=NOW
                )
                for p in (PROPOSER, P1, P2)
            ),
            key=lambda d: d.provider,
        )
    )
    return Finalized(MANIFEST, decisions, countersign(PROPOSER, MANIFEST, decisions))


def test_negotiation_state_and_deadline_survive_a_restart(tmp_path: Path) -> None:
    """A stored negotiation is read back, deadline and all, by a fresh connection."""
    agreements, _ = store(tmp_path)
    first = start(MANIFEST.id, P1.node_id, Role.PROVIDER, NOW, Timeouts(), MANIFEST.expires_at)
    agreements.begin(first, MANIFEST)
    agreements.transition(first, Event.QUEUED, NOW + 1, deadline=NOW + 500)
    again, _ = store(tmp_path)
    loaded = again.get(MANIFEST.id, P1.node_id, Role.PROVIDER)
    assert loaded is not None
    assert (loaded.state, loaded.deadline) == (State.PENDING_APPROVAL, NOW + 500)
    assert again.waiting() == [loaded]
    assert again.pending_approvals() == [loaded]
    assert again.manifest(MANIFEST.id) == MANIFEST


def test_stale_transition_and_double_begin_are_conflicts(tmp_path: Path) -> None:
    """A transition from a state no longer stored, or a second begin, is refused."""
    agreements, _ = store(tmp_path)
    first = start(MANIFEST.id, P1.node_id, Role.PROVIDER, NOW, Timeouts(), MANIFEST.expires_at)
    agreements.begin(first, MANIFEST)
    with pytest.raises(ConflictError) as caught:
        agreements.begin(first, MANIFEST)
    assert caught.value.code == "negotiation_exists"
    agreements.transition(first, Event.AGREED, NOW)
    with pytest.raises(ConflictError) as caught:
        agreements.transition(first, Event.REFUSED, NOW, reason="late")
    assert caught.value.code == "negotiation_changed"


def test_transitions_are_audited(tmp_path: Path) -> None:
    """Each change lands in the audit log as consent.<event> with ids, not values."""
    agreements, audit = store(tmp_path)
    first = start(MANIFEST.id, P1.node_id, Role.PROVIDER, NOW, Timeouts(), MANIFEST.expires_at)
    agreements.begin(first, MANIFEST)
    agreements.transition(first, Event.REFUSED, NOW, reason="purpose_not_allowed")
    entry = audit.last()
    assert entry is not None
    assert entry.event == "consent.refused"
    assert entry.details["reason"] == "purpose_not_allowed"
    assert entry.details["manifest_id"] == MANIFEST.id


def test_reserve_commit_release_and_the_sliding_window(tmp_path: Path) -> None:
    """Reserved and committed runs count against a policy's limit; released ones give it back."""
    agreements, _ = store(tmp_path)
    agreements.finalize(finalized(), NOW)
    agreements.put_decision(finalized().decisions[1])
    agreements.set_limits(MANIFEST.id, [UsageLimit("pol-a", 2, 100)])
    agreements.reserve(MANIFEST.id, "run-1", NOW)
    agreements.reserve(MANIFEST.id, "run-2", NOW + 1)
    with pytest.raises(ForbiddenError) as caught:
        agreements.reserve(MANIFEST.id, "run-3", NOW + 2)
    assert (caught.value.code, caught.value.details) == ("usage_exhausted", {"policy_id": "pol-a"})
    agreements.release("run-2", NOW + 3)
    agreements.reserve(MANIFEST.id, "run-3", NOW + 4)
    agreements.commit("run-1", NOW + 5)
    assert agreements.usage("pol-a", 100, NOW + 5) == 2
    assert agreements.usage("pol-a", 100, NOW + 100) == 1  # run-1 left the window
    with pytest.raises(ConflictError):
        agreements.commit("run-1", NOW + 6)
    with pytest.raises(ConflictError):
        agreements.reserve(MANIFEST.id, "run-3", NOW + 6)
    with pytest.raises(NotFoundError):
        agreements.release("run-9", NOW)


def test_max_runs_of_the_agreement_is_enforced(tmp_path: Path) -> None:
    """The provider's signed max_runs caps the runs of one agreement."""
    agreements, _ = store(tmp_path)
    bundle = finalized(max_runs=1)
    agreements.finalize(bundle, NOW)
    agreements.put_decision(next(d for d in bundle.decisions if d.provider == P1.node_id))
    agreements.reserve(MANIFEST.id, "run-1", NOW)
    with pytest.raises(ForbiddenError) as caught:
        agreements.reserve(MANIFEST.id, "run-2", NOW)
    assert caught.value.code == "runs_exhausted"


def test_retirement_is_effective_at_once_and_survives_restart(tmp_path: Path) -> None:
    """After retire, no run is authorised, also by a fresh connection."""
    agreements, audit = store(tmp_path)
    agreements.finalize(finalized(), NOW)
    agreements.require_active(MANIFEST.id, NOW)
    agreements.retire(MANIFEST.id, "retired", NOW + 1)
    last = audit.last()
    assert last is not None
    assert last.event == "agreement.retired"
    again, _ = store(tmp_path)
    with pytest.raises(ForbiddenError) as caught:
        again.reserve(MANIFEST.id, "run-1", NOW + 2)
    assert caught.value.code == "agreement_retired"


def test_require_active_checks_the_validity_window(tmp_path: Path) -> None:
    """Before valid_from, after valid_until or with no agreement at all, runs are refused."""
    agreements, _ = store(tmp_path)
    with pytest.raises(NotFoundError):
        agreements.require_active(MANIFEST.id, NOW)
    agreement = agreements.finalize(finalized(), NOW)
    assert agreement.valid_until == NOW + 600
    with pytest.raises(ForbiddenError, match="not valid yet"):
        agreements.require_active(MANIFEST.id, MANIFEST.created_at - 1)
    with pytest.raises(ForbiddenError, match="expired"):
        agreements.require_active(MANIFEST.id, NOW + 600)
    assert agreements.finalize(finalized(), NOW + 1).finalized_at == NOW
