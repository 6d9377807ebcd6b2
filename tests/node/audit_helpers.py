"""Shared helpers for the audit tests: a filled log and direct tampering with its rows."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from network.identity import Identity
from node.audit import AuditLog, entry_hash
from node.store import open_store

START = 1_700_000_000
AGREEMENT = "agr-7f3a"
OTHER_AGREEMENT = "agr-0c21"


def filled_log(tmp_path: Path, entries: int = 12, every: int = 4) -> AuditLog:
    """A log of ``entries`` entries (checkpoints every ``every``), some naming AGREEMENT."""
    log = AuditLog(
        open_store(tmp_path / "store.sqlite"),
        Identity.generate(),
        checkpoint_every=every,
        clock=lambda: START,
    )
    for index in range(entries):
        agreement = AGREEMENT if index % 3 == 1 else OTHER_AGREEMENT
        log.append(
            "consent.decided",
            {"agreement_id": agreement, "decision": "agreed", "index": index},
            now=START + index,
        )
    return log


def tamper(connection: sqlite3.Connection, *statements: str) -> None:
    """Run SQL against the log as an intruder would: append-only triggers dropped first."""
    for name in (
        "audit_entries_no_update",
        "audit_entries_no_delete",
        "audit_checkpoints_no_update",
        "audit_checkpoints_no_delete",
    ):
        connection.execute(f"DROP TRIGGER IF EXISTS {name}")
    for statement in statements:
        connection.execute(statement)


def rehash(connection: sqlite3.Connection, seq: int) -> None:
    """Recompute the stored hash of entry ``seq`` from its (possibly edited) content."""
    row = connection.execute(
        "SELECT time, event, actor, details, prev_hash FROM audit_entries WHERE seq = ?", (seq,)
    ).fetchone()
    time_, event, actor, details, prev_hash = tuple(row)
    new = entry_hash(seq, time_, event, actor, json.loads(details), prev_hash)
    connection.execute("UPDATE audit_entries SET hash = ? WHERE seq = ?", (new, seq))


def rehash_from(connection: sqlite3.Connection, seq: int) -> None:
    """Rewrite the chain from ``seq`` to the end, as an intruder covering an edit would."""
    last = connection.execute("SELECT max(seq) FROM audit_entries").fetchone()[0]
    for current in range(seq, last + 1):
        if current > seq:
            before = connection.execute(
                "SELECT hash FROM audit_entries WHERE seq = ?", (current - 1,)
            ).fetchone()[0]
            connection.execute(
                "UPDATE audit_entries SET prev_hash = ? WHERE seq = ?", (before, current)
            )
        rehash(connection, current)
