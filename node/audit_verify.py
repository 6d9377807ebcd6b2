"""Verifying a stored audit log: recompute the chain and the checkpoint signatures, name damage.

Each stored row carries its own ``hash``; recomputing it from the row's content, its
``prev_hash`` and a sequence number tells whether the row is intact and *where it was
written*. Following ``prev_hash`` links from the genesis hash gives each row the position it
had when it was appended (its *original seq*), even after rows were moved, renumbered or
deleted. Comparing original positions with stored positions and with the signed checkpoints
names the damage:

======================== ================================================================
kind                     meaning (``seq`` is where it shows in the stored log)
======================== ================================================================
edited                   the row's content no longer matches its hash; or its hash was
                         recomputed, so the next entry no longer links to it; or the chain
                         no longer matches a signed checkpoint (``related_seq``: the last
                         checkpoint that still matched; the edit lies after it)
removed                  no row holds the entry appended at ``seq``
inserted                 a row that was never appended in this place (a second claimant of
                         ``seq`` that the next entry does not link to, or a seq below 1)
reordered                the row was appended at ``related_seq`` and now sits at ``seq``,
                         out of order with its neighbours
bad_checkpoint_signature the checkpoint at ``seq`` is not signed by this node's key over
                         its stored seq, time and hash
truncated_after_checkpoint
                         entries up to the signed checkpoint ``related_seq`` are gone from
                         the end of the log; ``seq`` is the first missing one
======================== ================================================================

What cannot be detected, by construction: entries appended (or rewritten with a recomputed
chain) after the newest checkpoint by someone who can write the store; the report counts
those entries as ``unsigned_entries``. Deleting a checkpoint row is not detected either; it
only weakens the protection of the entries it covered.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Final

from network.errors import NetworkError
from network.identity import verify
from node.audit import (
    DOMAIN_CHECKPOINT,
    GENESIS_HASH,
    Checkpoint,
    checkpoint_body,
    checkpoint_from_row,
    content_hash,
    link_hash,
)

EDITED: Final = "edited"
REMOVED: Final = "removed"
INSERTED: Final = "inserted"
REORDERED: Final = "reordered"
BAD_CHECKPOINT_SIGNATURE: Final = "bad_checkpoint_signature"
TRUNCATED_AFTER_CHECKPOINT: Final = "truncated_after_checkpoint"
DAMAGE_KINDS: Final = (
    EDITED,
    REMOVED,
    INSERTED,
    REORDERED,
    BAD_CHECKPOINT_SIGNATURE,
    TRUNCATED_AFTER_CHECKPOINT,
)
MAX_DAMAGE: Final = 1000
"""A report lists at most this many findings (``more_damage`` says when there were more)."""
_ANCHOR_WINDOW: Final = 8


@dataclass(frozen=True, slots=True, order=True)
class Damage:
    """One finding: what kind of damage, at which stored seq, and why (a snake_case code)."""

    seq: int
    kind: str
    reason: str
    related_seq: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The finding as JSON."""
        return {
            "seq": self.seq,
            "kind": self.kind,
            "reason": self.reason,
            "related_seq": self.related_seq,
        }


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of :func:`verify_log`, for the API and CLI to render."""

    node_id: str
    entries: int
    last_seq: int
    checkpoints: int
    last_checkpoint_seq: int
    unsigned_entries: int
    damage: tuple[Damage, ...] = field(default=())
    more_damage: bool = False

    @property
    def ok(self) -> bool:
        """True if no damage was found."""
        return not self.damage

    def to_json(self) -> dict[str, Any]:
        """The report as JSON."""
        return {
            "ok": self.ok,
            "node_id": self.node_id,
            "entries": self.entries,
            "last_seq": self.last_seq,
            "checkpoints": self.checkpoints,
            "last_checkpoint_seq": self.last_checkpoint_seq,
            "unsigned_entries": self.unsigned_entries,
            "damage": [item.to_json() for item in self.damage],
            "more_damage": self.more_damage,
        }


@dataclass(slots=True)
class _Row:
    """A stored entry as verification sees it: content hash ``None`` if the row is malformed."""

    seq: int
    prev_hash: bytes
    hash: bytes
    content: bytes | None
    orig: int | None = None
    verified: bool = False


def _load(connection: sqlite3.Connection) -> list[_Row]:
    rows = []
    for seq, time_, event, actor, details, prev_hash, hash_ in connection.execute(
        "SELECT seq, time, event, actor, details, prev_hash, hash FROM audit_entries ORDER BY seq"
    ):
        try:
            content: bytes | None = content_hash(time_, event, actor, json.loads(details))
        except (ValueError, TypeError, NetworkError):  # not JSON, or not canonical-encodable
            content = None
        rows.append(_Row(seq, prev_hash, hash_, content))
    return rows


def _matches(row: _Row, seq: int) -> bool:
    return row.content is not None and link_hash(seq, row.prev_hash, row.content) == row.hash


def _resolve(rows: list[_Row]) -> None:
    """Give each row its original seq, following ``prev_hash`` links back to the genesis."""
    by_hash: dict[bytes, list[int]] = {}
    for index, row in enumerate(rows):
        by_hash.setdefault(row.hash, []).append(index)

    def predecessor(index: int) -> int | None:
        found = by_hash.get(rows[index].prev_hash, [])
        return found[0] if len(found) == 1 and found[0] != index else None

    done: set[int] = set()
    for start in range(len(rows)):
        path: list[int] = []
        seen: set[int] = set()
        current: int | None = start
        while current is not None and current not in done and current not in seen:
            seen.add(current)
            path.append(current)
            current = predecessor(current)
        for index in reversed(path):
            _decide(rows[index], rows, predecessor(index), done)
            done.add(index)


def _decide(row: _Row, rows: list[_Row], pred: int | None, done: set[int]) -> None:
    candidate: int | None = None
    if row.prev_hash == GENESIS_HASH:
        candidate = 1
    elif pred is not None and pred in done:
        before = rows[pred].orig
        candidate = None if before is None else before + 1
    if candidate is not None and _matches(row, candidate):
        row.orig, row.verified = candidate, True
        return
    # No usable link: the predecessor was removed or rewritten. Anchor on the stored seq and
    # its neighbourhood (rows renumbered after a deletion or an insertion).
    for offset in range(_ANCHOR_WINDOW + 1):
        for seq in {row.seq + offset, row.seq - offset}:
            if seq != candidate and _matches(row, seq):
                row.orig, row.verified = seq, True
                return
    row.orig = candidate


def _checkpoints(connection: sqlite3.Connection) -> list[Checkpoint]:
    return [
        checkpoint_from_row(row)
        for row in connection.execute(
            "SELECT seq, time, hash, node_id, signature FROM audit_checkpoints ORDER BY seq"
        )
    ]


def _signed_by(checkpoint: Checkpoint, node_id: str) -> bool:
    body = checkpoint_body(checkpoint.seq, checkpoint.time, checkpoint.hash, node_id)
    try:
        verify(node_id, DOMAIN_CHECKPOINT, body, checkpoint.signature)
    except NetworkError:
        return False
    return True


def _authentic(rows: list[_Row], damage: list[Damage]) -> dict[int, _Row]:
    """The one row per original seq that the chain vouches for; the others are reported."""
    claims: dict[int, list[_Row]] = {}
    for row in rows:
        if not row.verified:
            reason = "malformed_entry" if row.content is None else "content_does_not_match_hash"
            damage.append(Damage(row.seq, EDITED, reason))
        elif row.orig is not None and row.orig < 1:
            damage.append(Damage(row.seq, INSERTED, "seq_out_of_range"))
        elif row.orig is not None:
            claims.setdefault(row.orig, []).append(row)
    linked = {row.prev_hash for row in rows if row.verified}
    authentic: dict[int, _Row] = {}
    for orig, claimants in claims.items():
        keep = [row for row in claimants if row.hash in linked] or claimants
        chosen = next((row for row in keep if row.seq == orig), keep[0])
        authentic[orig] = chosen
        for row in claimants:
            if row is not chosen:
                damage.append(Damage(row.seq, INSERTED, "not_in_chain"))
    return authentic


def _chain_damage(rows: list[_Row], authentic: dict[int, _Row], damage: list[Damage]) -> None:
    occupied = set(authentic) | {row.orig or row.seq for row in rows if not row.verified}
    for orig, row in sorted(authentic.items()):
        before = authentic.get(orig - 1)
        if orig == 1 and row.prev_hash != GENESIS_HASH:
            damage.append(Damage(row.seq, INSERTED, "does_not_start_the_chain"))
        elif before is not None and row.prev_hash != before.hash:
            damage.append(Damage(before.seq, EDITED, "next_entry_does_not_link"))
    for orig in range(1, max(authentic, default=0) + 1):
        if orig not in occupied:
            damage.append(Damage(orig, REMOVED, "missing_from_chain"))
    ordered = sorted(authentic.values(), key=lambda row: row.seq)
    for index, row in enumerate(ordered):
        if row.orig == row.seq or row.orig is None:
            continue
        earlier = index > 0 and (ordered[index - 1].orig or 0) > row.orig
        later = index + 1 < len(ordered) and (ordered[index + 1].orig or 0) < row.orig
        if earlier or later:
            damage.append(Damage(row.seq, REORDERED, "entry_moved", row.orig))


def verify_log(connection: sqlite3.Connection, node_id: str) -> VerifyReport:
    """Check the stored log of the node ``node_id``: chain, positions and checkpoints.

    ``node_id`` is the node whose key must have signed the checkpoints (the local node's id;
    never the id stored in a checkpoint row, which whoever edits the row can change).
    Reads only; runs in one read transaction so a concurrent append cannot confuse it.
    """
    nested = connection.in_transaction
    if not nested:
        connection.execute("BEGIN")
    try:
        rows = _load(connection)
        checkpoints = _checkpoints(connection)
    finally:
        if not nested:
            connection.execute("COMMIT")
    _resolve(rows)
    damage: list[Damage] = []
    authentic = _authentic(rows, damage)
    _chain_damage(rows, authentic, damage)
    last_orig = max(authentic, default=0)
    last_good = 0
    truncated_at = 0
    matched = 0
    for checkpoint in checkpoints:
        if not _signed_by(checkpoint, node_id):
            damage.append(Damage(checkpoint.seq, BAD_CHECKPOINT_SIGNATURE, "signature_invalid"))
            continue
        row = authentic.get(checkpoint.seq)
        if row is None:
            if checkpoint.seq > last_orig:
                truncated_at = max(truncated_at, checkpoint.seq)
            continue
        if row.hash != checkpoint.hash:
            damage.append(
                Damage(row.seq, EDITED, "differs_from_signed_checkpoint", matched or None)
            )
            continue
        matched = checkpoint.seq
        last_good = max(last_good, checkpoint.seq)
    if truncated_at:
        damage.append(
            Damage(
                last_orig + 1, TRUNCATED_AFTER_CHECKPOINT, "signed_entries_missing", truncated_at
            )
        )
    findings = sorted(set(damage))
    return VerifyReport(
        node_id=node_id,
        entries=len(rows),
        last_seq=rows[-1].seq if rows else 0,
        checkpoints=len(checkpoints),
        last_checkpoint_seq=last_good,
        unsigned_entries=sum(1 for row in rows if row.seq > last_good),
        damage=tuple(findings[:MAX_DAMAGE]),
        more_damage=len(findings) > MAX_DAMAGE,
    )
