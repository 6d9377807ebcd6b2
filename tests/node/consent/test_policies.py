"""Tests for node/consent/policies.py: create, get, list, versions, retire, audit and events."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from network.identity import Identity
from node.audit import AuditLog
from node.consent.evaluate import evaluate
from node.consent.policies import PolicyStore
from node.consent.problems import InvalidConsentError
from node.errors import ConflictError, InvalidError, NodeError, NotFoundError
from node.store import open_store
from tests.node.consent.policy_helpers import NGO_A, NOW, facts, manifest

DOCUMENT: dict[str, Any] = {
    "id": "pol-outreach",
    "dataset": "clients-2026",
    "permission": {
        "action": ["set_difference"],
        "constraints": [{"left": "purpose", "op": "eq", "right": "victim-outreach"}],
    },
    "approval": "auto",
}


def document(**changes: Any) -> dict[str, Any]:
    """A copy of DOCUMENT with top-level ``changes``."""
    result = copy.deepcopy(DOCUMENT)
    result.update(changes)
    return result


class Events:
    """Collects what the store publishes."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, kind: str, data: Any) -> None:
        self.seen.append((kind, dict(data)))


def open_policies(tmp_path: Path) -> tuple[PolicyStore, AuditLog, Events]:
    """A store with a real audit log and an event collector over one SQLite file."""
    connection = open_store(tmp_path / "store.sqlite")
    audit = AuditLog(connection, Identity.generate(), clock=lambda: NOW)
    events = Events()
    return PolicyStore(connection, audit=audit, publish=events), audit, events


def test_create_and_get(tmp_path: Path) -> None:
    """A created policy is version 1, current, and reads back equal."""
    store, _, _ = open_policies(tmp_path)
    created = store.create(DOCUMENT, now=NOW)
    assert created.policy.version == 1
    got = store.get("pol-outreach")
    assert got == created
    assert got.to_json()["digest"] == created.policy.digest().hex()
    assert store.active("clients-2026") == [created.policy]


def test_create_is_audited_and_published(tmp_path: Path) -> None:
    """Creating appends policy.created with ids and the digest, and publishes it."""
    store, audit, events = open_policies(tmp_path)
    created = store.create(DOCUMENT, now=NOW)
    entry = audit.last()
    assert entry is not None
    assert (entry.event, entry.actor, entry.time) == ("policy.created", "admin", NOW)
    assert entry.details == {
        "policy_id": "pol-outreach",
        "version": 1,
        "dataset": "clients-2026",
        "approval": "auto",
        "digest": created.policy.digest().hex(),
    }
    assert events.seen == [("policy.created", entry.details)]


def test_invalid_policy_stores_nothing(tmp_path: Path) -> None:
    """A policy with problems is refused with all of them, and nothing is written."""
    store, audit, events = open_policies(tmp_path)
    with pytest.raises(InvalidConsentError) as caught:
        store.create(document(approval="never", dataset="Bad Name"), now=NOW)
    assert [p.path for p in caught.value.problems] == ["$.dataset", "$.approval"]
    assert store.list(include_retired=True) == []
    assert audit.last() is None
    assert events.seen == []


def test_duplicate_id_conflicts(tmp_path: Path) -> None:
    """An id is never reused, even after retirement."""
    store, _, _ = open_policies(tmp_path)
    store.create(DOCUMENT, now=NOW)
    store.retire("pol-outreach", now=NOW + 1)
    with pytest.raises(ConflictError) as caught:
        store.create(DOCUMENT, now=NOW + 2)
    assert caught.value.code == "policy_exists"


def test_create_with_a_later_version_conflicts(tmp_path: Path) -> None:
    """A new policy that claims version 3 is refused."""
    store, _, _ = open_policies(tmp_path)
    with pytest.raises(ConflictError) as caught:
        store.create(document(version=3), now=NOW)
    assert caught.value.code == "version_conflict"


def test_update_makes_versions(tmp_path: Path) -> None:
    """Updating stores version 2; version 1 stays readable; only the current one is active."""
    store, audit, _ = open_policies(tmp_path)
    store.create(DOCUMENT, now=NOW)
    updated = store.update("pol-outreach", document(approval="manual"), now=NOW + 5)
    assert updated.policy.version == 2
    assert [v.policy.approval for v in store.versions("pol-outreach")] == ["auto", "manual"]
    old = store.get("pol-outreach", 1)
    assert not old.current
    assert old.created_at == NOW
    assert store.active("clients-2026") == [updated.policy]
    entry = audit.last()
    assert entry is not None
    assert (entry.event, entry.details["version"]) == ("policy.updated", 2)


@pytest.mark.parametrize(
    ("changes", "error", "code"),
    [
        ({"id": "pol-other"}, InvalidError, "policy_id_mismatch"),
        ({"dataset": "suspects"}, ConflictError, "policy_dataset_changed"),
        ({"version": 2}, ConflictError, "version_conflict"),
    ],
)
def test_update_refusals(
    tmp_path: Path, changes: dict[str, Any], error: type[NodeError], code: str
) -> None:
    """Updates that change the id or dataset, or race another edit, are refused."""
    store, _, _ = open_policies(tmp_path)
    store.create(DOCUMENT, now=NOW)
    store.update("pol-outreach", document(version=2), now=NOW + 1)
    with pytest.raises(error) as caught:
        store.update("pol-outreach", document(**changes), now=NOW + 2)
    assert caught.value.code == code
    assert store.get("pol-outreach").policy.version == 2


def test_missing_policy(tmp_path: Path) -> None:
    """Reading, updating or retiring an unknown policy is not found."""
    store, _, _ = open_policies(tmp_path)
    with pytest.raises(NotFoundError):
        store.get("pol-none")
    with pytest.raises(NotFoundError):
        store.update("pol-outreach", DOCUMENT, now=NOW)
    with pytest.raises(NotFoundError):
        store.retire("pol-none", now=NOW)
    store.create(DOCUMENT, now=NOW)
    with pytest.raises(NotFoundError) as caught:
        store.get("pol-outreach", 2)
    assert caught.value.code == "policy_version_not_found"


def test_retire_takes_effect_at_once(tmp_path: Path) -> None:
    """A retired policy is no longer active: the next evaluation refuses with no_policy."""
    store, audit, events = open_policies(tmp_path)
    store.create(DOCUMENT, now=NOW)
    proposal = manifest()

    def verdict_code() -> str:
        policies = store.active("clients-2026")
        return evaluate(
            policies, proposal, provider=NGO_A, dataset="clients-2026", facts=facts(), now=NOW
        ).code

    assert verdict_code() == "allowed"
    retired = store.retire("pol-outreach", now=NOW + 1)
    assert retired.retired_at == NOW + 1
    assert verdict_code() == "no_policy"
    assert store.list() == []
    assert [s.policy.id for s in store.list(include_retired=True)] == ["pol-outreach"]
    entry = audit.last()
    assert entry is not None
    assert entry.event == "policy.retired"
    assert events.seen[-1][0] == "policy.retired"
    with pytest.raises(ConflictError) as again:
        store.retire("pol-outreach", now=NOW + 2)
    assert again.value.code == "policy_retired"
    with pytest.raises(ConflictError) as changed:
        store.update("pol-outreach", DOCUMENT, now=NOW + 2)
    assert changed.value.code == "policy_retired"


def test_list_by_dataset(tmp_path: Path) -> None:
    """Listing filters by dataset and orders by id."""
    store, _, _ = open_policies(tmp_path)
    store.create(document(id="pol-b"), now=NOW)
    store.create(document(id="pol-a"), now=NOW)
    store.create(document(id="pol-c", dataset="suspects"), now=NOW)
    assert [s.policy.id for s in store.list()] == ["pol-a", "pol-b", "pol-c"]
    assert [s.policy.id for s in store.list(dataset="suspects")] == ["pol-c"]


def test_policies_survive_reopening(tmp_path: Path) -> None:
    """Policies and their versions are read back from a reopened store."""
    store, _, _ = open_policies(tmp_path)
    store.create(DOCUMENT, now=NOW)
    store.update("pol-outreach", document(approval="manual"), now=NOW + 1)
    again = PolicyStore(open_store(tmp_path / "store.sqlite"))
    assert [v.policy.version for v in again.versions("pol-outreach")] == [1, 2]
    assert again.get("pol-outreach").policy.manual


def test_failed_audit_rolls_the_change_back(tmp_path: Path) -> None:
    """If the audit append fails, the policy change is not committed either."""

    class BrokenAudit:
        def append(self, event: str, details: Any, *, actor: Any = None, now: Any = None) -> None:
            raise InvalidError("audit_broken", "the audit log refused the entry")

    connection = open_store(tmp_path / "store.sqlite")
    store = PolicyStore(connection, audit=BrokenAudit())
    with pytest.raises(InvalidError):
        store.create(DOCUMENT, now=NOW)
    assert store.list(include_retired=True) == []
