"""Tests for node/audit.py: appending, chaining, checkpoints and the details guard."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from network.identity import Identity, verify
from node.audit import (
    ADMIN,
    DOMAIN_CHECKPOINT,
    GENESIS_HASH,
    AuditLog,
    entry_hash,
)
from node.errors import InvalidError
from node.store import open_store, transaction

MANIFEST_HASH = "cd" * 32


def make_log(tmp_path: Path, every: int = 4) -> AuditLog:
    """A log over a fresh store with a fixed clock."""
    return AuditLog(
        open_store(tmp_path / "store.sqlite"),
        Identity.generate(),
        checkpoint_every=every,
        clock=lambda: 1_700_000_000,
    )


def test_entries_chain_from_genesis(tmp_path: Path) -> None:
    """Entry 1 links to the genesis hash, each later entry to its predecessor's hash."""
    log = make_log(tmp_path)
    first = log.append("policy.created", {"policy_id": "pol-a", "version": 1})
    second = log.append("consent.decided", {"manifest_hash": MANIFEST_HASH, "reason": "ok"})
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert first.actor == log.node_id
    assert first.time == 1_700_000_000
    expected = entry_hash(2, second.time, second.event, second.actor, second.details, first.hash)
    assert second.hash == expected
    assert log.last() == second


def test_append_joins_the_callers_transaction(tmp_path: Path) -> None:
    """Inside an open transaction the entry commits or rolls back with the caller's change."""
    log = make_log(tmp_path)
    connection = log.connection
    connection.execute("CREATE TABLE things (id TEXT) STRICT")

    def failing_change() -> None:
        with transaction(connection):
            connection.execute("INSERT INTO things VALUES ('x')")
            log.append("thing.created", {"thing_id": "x"})
            raise RuntimeError("the caller fails after appending")

    with pytest.raises(RuntimeError):
        failing_change()
    assert log.last() is None
    with transaction(connection):
        connection.execute("INSERT INTO things VALUES ('y')")
        entry = log.append("thing.created", {"thing_id": "y"}, actor=ADMIN, now=5)
    assert log.last() == entry
    assert entry.actor == ADMIN


def test_checkpoint_every_n_entries_is_signed(tmp_path: Path) -> None:
    """Entry N gets a checkpoint signed by the node over (seq, hash) in its domain."""
    log = make_log(tmp_path, every=3)
    entries = [log.append("run.started", {"run_id": f"run-{i}"}) for i in range(7)]
    rows = log.connection.execute("SELECT seq, hash, time, signature FROM audit_checkpoints")
    checkpoints = [tuple(row) for row in rows]
    assert [row[0] for row in checkpoints] == [3, 6]
    for seq, hash_, time_, signature in checkpoints:
        assert hash_ == entries[seq - 1].hash
        body = {"hash": hash_, "node_id": log.node_id, "seq": seq, "time": time_, "v": 1}
        verify(log.node_id, DOMAIN_CHECKPOINT, body, signature)


def test_checkpoint_on_demand_signs_the_newest_entry_once(tmp_path: Path) -> None:
    """An on-demand checkpoint covers the newest entry; asking again returns the same one."""
    log = make_log(tmp_path, every=100)
    assert log.checkpoint(now=10) is None
    entry = log.append("dataset.imported", {"dataset_id": "clients-2026", "rows": 1200})
    made = log.checkpoint(now=11)
    assert made is not None
    assert (made.seq, made.hash, made.time) == (entry.seq, entry.hash, 11)
    assert log.close(now=12) == made


def test_the_log_refuses_update_and_delete(tmp_path: Path) -> None:
    """Triggers make entries and checkpoints append-only against the node's own code."""
    log = make_log(tmp_path, every=1)
    log.append("policy.created", {"policy_id": "pol-a"})
    for statement in (
        "UPDATE audit_entries SET event = 'policy.deleted'",
        "DELETE FROM audit_entries",
        "UPDATE audit_checkpoints SET time = 0",
        "DELETE FROM audit_checkpoints",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            log.connection.execute(statement)


def test_bad_event_actor_or_time_writes_nothing(tmp_path: Path) -> None:
    """An invalid event, actor or time raises a coded error and appends nothing."""
    log = make_log(tmp_path)
    cases = [
        ({"event": "PolicyCreated"}, "audit_event_invalid"),
        ({"event": "policy"}, "audit_event_invalid"),
        ({"actor": "mallory"}, "audit_actor_invalid"),
        ({"now": -1}, "audit_time_invalid"),
    ]
    for change, code in cases:
        arguments: dict[str, object] = {"event": "policy.created", **change}
        event = str(arguments.pop("event"))
        with pytest.raises(InvalidError) as caught:
            log.append(event, {"policy_id": "pol-a"}, **arguments)  # type: ignore[arg-type]
        assert caught.value.code == code
    assert log.last() is None


def test_log_survives_reopening(tmp_path: Path) -> None:
    """A reopened store continues the chain where it stopped."""
    identity = Identity.generate()
    path = tmp_path / "store.sqlite"
    first = AuditLog(open_store(path), identity).append("node.started", {}, now=1)
    first_log_again = AuditLog(open_store(path), identity)
    second = first_log_again.append("node.stopped", {}, now=2)
    assert second.seq == 2
    assert second.prev_hash == first.hash


def test_entries_filter_by_prefix_since_and_limit(tmp_path: Path) -> None:
    """Listing keeps whole-word event prefixes, pages by since_seq and stops at limit."""
    log = make_log(tmp_path)
    for event in ("policy.created", "policyx.created", "consent.decided", "policy.retired"):
        log.append(event, {})
    assert [e.event for e in log.entries(event_prefix="policy")] == [
        "policy.created",
        "policy.retired",
    ]
    assert [e.seq for e in log.entries(event_prefix="policy.")] == [1, 4]
    assert [e.seq for e in log.entries(event_prefix="consent.decided")] == [3]
    assert [e.seq for e in log.entries(since_seq=1, limit=2)] == [2, 3]
    assert [c.seq for c in log.checkpoints()] == [4]


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({"limit": 0}, "audit_limit_invalid"),
        ({"limit": 1001}, "audit_limit_invalid"),
        ({"since_seq": -1}, "audit_since_invalid"),
        ({"event_prefix": "Policy%"}, "audit_prefix_invalid"),
    ],
)
def test_bad_listing_arguments_are_refused(
    tmp_path: Path, arguments: dict[str, object], code: str
) -> None:
    """Out-of-range limits, negative seqs and odd prefixes get a coded error."""
    log = make_log(tmp_path)
    with pytest.raises(InvalidError) as caught:
        log.entries(**arguments)  # type: ignore[arg-type]
    assert caught.value.code == code
