"""The node's audit log: append-only, hash-chained, with signed checkpoints.

Every state change a data steward may have to prove later (a policy created, a consent
decision, a signature, a run, a deletion) is appended here by the part that makes the change,
inside the same store transaction as the change itself: the change and its audit entry commit
together or not at all.

Entry ``seq`` (1, 2, 3…) links to its predecessor through ``prev_hash``; its ``hash`` covers
its sequence number, its predecessor's hash and a hash of its content (time, event, actor,
details). Every ``checkpoint_every`` entries, on demand and at clean shutdown the node signs
``(seq, hash)`` with its identity, so that nobody without the node's key can rewrite the log
up to that point unnoticed. The exact byte layout is in ``docs/spec/audit-log.md``;
``node.audit_verify`` checks a stored log and ``node.audit_evidence`` exports and checks the
evidence for one agreement or manifest.

``details`` carry ids, hashes, counts and reason codes only; ``node.audit_details`` checks
the event, the actor and the details before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from network.canonical import signing_input
from network.identity import Identity
from node.audit_details import ADMIN, check_actor, check_details, check_event, details_json
from node.errors import InvalidError
from node.store import migrate, transaction

__all__ = [
    "ADMIN",
    "AuditEntry",
    "AuditLog",
    "Checkpoint",
    "check_details",
    "checkpoint_body",
    "content_hash",
    "entry_hash",
    "link_hash",
    "list_entries",
]

COMPONENT: Final = "audit"
DOMAIN_CONTENT: Final = b"confide/v1/audit-content"
DOMAIN_ENTRY: Final = b"confide/v1/audit-entry"
DOMAIN_CHECKPOINT: Final = b"confide/v1/audit-checkpoint"
FORMAT_VERSION: Final = 1
GENESIS_HASH: Final = bytes(32)
"""The ``prev_hash`` of entry 1."""
DEFAULT_CHECKPOINT_EVERY: Final = 256
MAX_LIST_LIMIT: Final = 1000
MAX_INT: Final = (1 << 63) - 1
_PREFIX = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*")


STEPS: Final = (
    """
    CREATE TABLE audit_entries (
        seq       INTEGER PRIMARY KEY,
        time      INTEGER NOT NULL,
        event     TEXT NOT NULL,
        actor     TEXT NOT NULL,
        details   TEXT NOT NULL,
        prev_hash BLOB NOT NULL,
        hash      BLOB NOT NULL
    ) STRICT;
    CREATE INDEX audit_entries_event ON audit_entries (event);
    CREATE TABLE audit_checkpoints (
        seq       INTEGER PRIMARY KEY,
        time      INTEGER NOT NULL,
        hash      BLOB NOT NULL,
        node_id   TEXT NOT NULL,
        signature BLOB NOT NULL
    ) STRICT;
    CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    """,
)


def system_clock() -> int:
    """Unix seconds now: the default clock of :class:`AuditLog`."""
    return int(time.time())


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One entry of the log, as stored."""

    seq: int
    time: int
    event: str
    actor: str
    details: Mapping[str, Any]
    prev_hash: bytes
    hash: bytes

    def to_json(self) -> dict[str, Any]:
        """The entry as JSON (hashes in lowercase hex), as the API, CLI and evidence show it."""
        return {
            "seq": self.seq,
            "time": self.time,
            "event": self.event,
            "actor": self.actor,
            "details": dict(self.details),
            "prev_hash": self.prev_hash.hex(),
            "hash": self.hash.hex(),
        }


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The node's signature over the hash of entry ``seq``, made at ``time``."""

    seq: int
    time: int
    hash: bytes
    node_id: str
    signature: bytes

    def body(self) -> dict[str, object]:
        """The signed body (see :func:`checkpoint_body`)."""
        return checkpoint_body(self.seq, self.time, self.hash, self.node_id)

    def to_json(self) -> dict[str, Any]:
        """The checkpoint as JSON (hash and signature in lowercase hex)."""
        return {
            "seq": self.seq,
            "time": self.time,
            "hash": self.hash.hex(),
            "node_id": self.node_id,
            "signature": self.signature.hex(),
        }


def content_hash(time: int, event: str, actor: str, details: Mapping[str, object]) -> bytes:
    """SHA-256 over ``confide/v1/audit-content || canonical({actor, details, event, time})``."""
    body = {"actor": actor, "details": details, "event": event, "time": time}
    return hashlib.sha256(signing_input(DOMAIN_CONTENT, body)).digest()


def link_hash(seq: int, prev_hash: bytes, content: bytes) -> bytes:
    """SHA-256 over ``confide/v1/audit-entry || canonical({content, prev, seq, v})``."""
    body = {"content": content, "prev": prev_hash, "seq": seq, "v": FORMAT_VERSION}
    return hashlib.sha256(signing_input(DOMAIN_ENTRY, body)).digest()


def entry_hash(
    seq: int, time: int, event: str, actor: str, details: Mapping[str, object], prev_hash: bytes
) -> bytes:
    """The hash of an entry: its link hash over the hash of its content."""
    return link_hash(seq, prev_hash, content_hash(time, event, actor, details))


def checkpoint_body(seq: int, time: int, hash_: bytes, node_id: str) -> dict[str, object]:
    """What a checkpoint signature covers, under the domain ``confide/v1/audit-checkpoint``."""
    return {"hash": hash_, "node_id": node_id, "seq": seq, "time": time, "v": FORMAT_VERSION}


def entry_from_row(row: sqlite3.Row | tuple[Any, ...]) -> AuditEntry:
    """An entry from a row ``(seq, time, event, actor, details, prev_hash, hash)``."""
    seq, time_, event, actor, details, prev_hash, hash_ = tuple(row)
    return AuditEntry(seq, time_, event, actor, json.loads(details), prev_hash, hash_)


def checkpoint_from_row(row: sqlite3.Row | tuple[Any, ...]) -> Checkpoint:
    """A checkpoint from a row ``(seq, time, hash, node_id, signature)``."""
    seq, time_, hash_, node_id, signature = tuple(row)
    return Checkpoint(seq, time_, hash_, node_id, signature)


def _check_page(since_seq: int, limit: int) -> None:
    if isinstance(since_seq, bool) or not isinstance(since_seq, int) or since_seq < 0:
        raise InvalidError("audit_since_invalid", "since_seq is a seq number, 0 or more")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidError("audit_limit_invalid", f"limit is a number from 1 to {MAX_LIST_LIMIT}")


def list_entries(
    connection: sqlite3.Connection,
    *,
    event_prefix: str | None = None,
    since_seq: int = 0,
    limit: int = 100,
) -> list[AuditEntry]:
    """Entries with seq > ``since_seq``, oldest first, at most ``limit`` (1 to 1000).

    ``event_prefix`` keeps the events equal to it or under it: ``"policy"`` matches
    ``policy.created`` and ``policy.retired`` but not ``policyx.created``. To page, pass the
    last seq seen as ``since_seq``.
    """
    _check_page(since_seq, limit)
    if event_prefix is None:
        rows = connection.execute(
            "SELECT seq, time, event, actor, details, prev_hash, hash FROM audit_entries "
            "WHERE seq > ? ORDER BY seq LIMIT ?",
            (since_seq, limit),
        )
        return [entry_from_row(row) for row in rows]
    prefix = event_prefix.rstrip(".") if isinstance(event_prefix, str) else ""
    if not _PREFIX.fullmatch(prefix):
        raise InvalidError("audit_prefix_invalid", "an event prefix is dotted lowercase words")
    rows = connection.execute(
        "SELECT seq, time, event, actor, details, prev_hash, hash FROM audit_entries "
        "WHERE seq > ? AND (event = ? OR substr(event, 1, ?) = ?) ORDER BY seq LIMIT ?",
        (since_seq, prefix, len(prefix) + 1, prefix + ".", limit),
    )
    return [entry_from_row(row) for row in rows]


class AuditLog:
    """The audit log of one node, over its store connection, signing with its identity.

    Construct it at start-up (it migrates the ``audit`` tables, which needs no open
    transaction); then call :meth:`append` from any part, inside or outside a transaction.
    """

    def __init__(
        self,
        connection: sqlite3.Connection,
        identity: Identity,
        *,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        clock: Callable[[], int] = system_clock,
    ) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        self.connection = connection
        self.identity = identity
        self.node_id: str = identity.node_id
        self.checkpoint_every = checkpoint_every
        self.clock = clock
        migrate(connection, COMPONENT, STEPS)

    def append(
        self,
        event: str,
        details: Mapping[str, object],
        *,
        actor: str | None = None,
        now: int | None = None,
    ) -> AuditEntry:
        """Append one entry; joins the caller's open transaction, else runs in its own.

        ``actor`` is this node (the default), ``"admin"`` or a peer's node id; ``now``
        defaults to the clock. A checkpoint is signed in the same transaction when ``seq``
        is a multiple of ``checkpoint_every``. Raises ``InvalidError`` for a bad event,
        actor or details; nothing is written then.
        """
        event = check_event(event)
        who = check_actor(self.node_id if actor is None else actor)
        plain = check_details(details)
        when = self._time(now)
        if self.connection.in_transaction:
            return self._append(event, who, plain, when)
        with transaction(self.connection):
            return self._append(event, who, plain, when)

    def checkpoint(self, *, now: int | None = None) -> Checkpoint | None:
        """Sign the newest entry now (none if the log is empty or it is signed already)."""
        when = self._time(now)
        if self.connection.in_transaction:
            return self._checkpoint(when)
        with transaction(self.connection):
            return self._checkpoint(when)

    def close(self, *, now: int | None = None) -> Checkpoint | None:
        """At clean shutdown: sign the newest entry so the whole log is covered."""
        return self.checkpoint(now=now)

    def last(self) -> AuditEntry | None:
        """The newest entry, if any."""
        row = self.connection.execute(
            "SELECT seq, time, event, actor, details, prev_hash, hash FROM audit_entries "
            "ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return None if row is None else entry_from_row(row)

    def entries(
        self, *, event_prefix: str | None = None, since_seq: int = 0, limit: int = 100
    ) -> list[AuditEntry]:
        """Entries after ``since_seq`` in seq order (see :func:`list_entries`)."""
        return list_entries(
            self.connection, event_prefix=event_prefix, since_seq=since_seq, limit=limit
        )

    def checkpoints(self, *, since_seq: int = 0, limit: int = 100) -> list[Checkpoint]:
        """Checkpoints after ``since_seq`` in seq order, at most ``limit``."""
        _check_page(since_seq, limit)
        rows = self.connection.execute(
            "SELECT seq, time, hash, node_id, signature FROM audit_checkpoints "
            "WHERE seq > ? ORDER BY seq LIMIT ?",
            (since_seq, limit),
        )
        return [checkpoint_from_row(row) for row in rows]

    def _time(self, now: int | None) -> int:
        when = self.clock() if now is None else now
        if isinstance(when, bool) or not isinstance(when, int) or not 0 <= when <= MAX_INT:
            raise InvalidError("audit_time_invalid", "an audit time is Unix seconds")
        return when

    def _append(self, event: str, actor: str, details: dict[str, Any], when: int) -> AuditEntry:
        row = self.connection.execute(
            "SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        seq, prev_hash = (1, GENESIS_HASH) if row is None else (row[0] + 1, row[1])
        hash_ = entry_hash(seq, when, event, actor, details, prev_hash)
        self.connection.execute(
            "INSERT INTO audit_entries (seq, time, event, actor, details, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (seq, when, event, actor, details_json(details), prev_hash, hash_),
        )
        if seq % self.checkpoint_every == 0:
            self._sign(seq, hash_, when)
        return AuditEntry(seq, when, event, actor, details, prev_hash, hash_)

    def _checkpoint(self, when: int) -> Checkpoint | None:
        row = self.connection.execute(
            "SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        seq, hash_ = row[0], row[1]
        done = self.connection.execute(
            "SELECT seq, time, hash, node_id, signature FROM audit_checkpoints WHERE seq = ?",
            (seq,),
        ).fetchone()
        if done is not None:
            return checkpoint_from_row(done)
        return self._sign(seq, hash_, when)

    def _sign(self, seq: int, hash_: bytes, when: int) -> Checkpoint:
        signature = self.identity.sign(
            DOMAIN_CHECKPOINT, checkpoint_body(seq, when, hash_, self.node_id)
        )
        self.connection.execute(
            "INSERT INTO audit_checkpoints (seq, time, hash, node_id, signature) "
            "VALUES (?, ?, ?, ?, ?)",
            (seq, when, hash_, self.node_id, signature),
        )
        return Checkpoint(seq, when, hash_, self.node_id, signature)
