"""Evidence for one agreement or manifest: the entries that name it, provable to a third party.

An evidence document holds the contiguous stretch of the log from the first entry whose
details name the subject (an agreement id, a manifest hash…) to the first signed checkpoint
at or after the last such entry. Entries that name the subject are given in full; the others
in between are *redacted* to ``(seq, prev_hash, content_hash, hash)``: enough to recompute
the chain, nothing about what they record. A third party who knows the node's id (from its
membership credential, say) checks the document offline with :func:`verify_evidence`:
every hash, every link, and the node's signature over the checkpoints.

What the evidence proves: these entries were in this node's log, in this order, at these
times, no later than the checkpoint's time, and the node vouched for them with its key. It
does not prove completeness: that no other entry names the subject is the exporter's word.
The layout is specified in ``docs/spec/audit-log.md``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from network.errors import NetworkError
from network.identity import check_node_id, public_key_from_node_id, verify
from node.audit import (
    DOMAIN_CHECKPOINT,
    AuditEntry,
    AuditLog,
    checkpoint_body,
    checkpoint_from_row,
    content_hash,
    entry_from_row,
    link_hash,
)
from node.audit_details import TOKEN, check_actor, check_details, check_event
from node.errors import ConflictError, InvalidError, NodeError, NotFoundError

FORMAT: Final = "confide-audit-evidence"
VERSION: Final = 1
MAX_EVIDENCE_ENTRIES: Final = 100_000
_TOP: Final = frozenset(
    {"format", "v", "subject", "node_id", "public_key", "entries", "checkpoints"}
)
_FULL: Final = frozenset({"seq", "time", "event", "actor", "details", "prev_hash", "hash"})
_REDACTED: Final = frozenset({"seq", "prev_hash", "content_hash", "hash"})
_CHECKPOINT: Final = frozenset({"seq", "time", "hash", "node_id", "signature"})


class EvidenceError(InvalidError):
    """An evidence document does not verify; ``details`` names the path and a reason code."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            "audit_evidence_invalid",
            "the audit evidence does not verify",
            {"path": path, "reason": reason},
        )


@dataclass(frozen=True, slots=True)
class EvidenceSummary:
    """What a verified evidence document establishes."""

    subject: str
    node_id: str
    entries: tuple[int, ...]
    """Seqs of the entries that name the subject."""
    checkpoint_seq: int
    checkpoint_time: int

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON."""
        return {
            "subject": self.subject,
            "node_id": self.node_id,
            "entries": list(self.entries),
            "checkpoint_seq": self.checkpoint_seq,
            "checkpoint_time": self.checkpoint_time,
        }


def check_subject(subject: object) -> str:
    """``subject`` if it can be an id or hash named in audit details, else InvalidError."""
    if not isinstance(subject, str) or not TOKEN.fullmatch(subject):
        raise InvalidError("audit_subject_invalid", "an evidence subject is an id or a hash")
    return subject


def names(value: object, subject: str) -> bool:
    """True if ``subject`` is one of the string values anywhere inside ``value``."""
    if isinstance(value, str):
        return value == subject
    if isinstance(value, list | tuple):
        return any(names(item, subject) for item in value)
    if isinstance(value, Mapping):
        return any(names(item, subject) for item in value.values())
    return False


def _redacted(entry: AuditEntry) -> dict[str, Any]:
    content = content_hash(entry.time, entry.event, entry.actor, entry.details)
    return {
        "seq": entry.seq,
        "prev_hash": entry.prev_hash.hex(),
        "content_hash": content.hex(),
        "hash": entry.hash.hex(),
    }


def build_evidence(connection: sqlite3.Connection, node_id: str, subject: str) -> dict[str, Any]:
    """The evidence document for ``subject`` from the stored log of ``node_id``; reads only.

    Raises ``NotFoundError`` (``audit_subject_not_found``) if no entry names the subject,
    ``ConflictError`` (``audit_evidence_unsigned``) if no checkpoint covers the newest such
    entry yet, and ``ConflictError`` (``audit_log_damaged``) if the stretch does not verify.
    """
    subject = check_subject(subject)
    quoted = json.dumps(subject)
    rows = connection.execute(
        "SELECT seq, details FROM audit_entries WHERE instr(details, ?) > 0 ORDER BY seq",
        (quoted,),
    )
    matching = [seq for seq, details in rows if names(json.loads(details), subject)]
    if not matching:
        raise NotFoundError("audit_subject_not_found", "no audit entry names this subject")
    cover = connection.execute(
        "SELECT seq FROM audit_checkpoints WHERE seq >= ? ORDER BY seq LIMIT 1", (matching[-1],)
    ).fetchone()
    if cover is None:
        raise ConflictError("audit_evidence_unsigned", "no checkpoint covers these entries yet")
    first, last = matching[0], int(cover[0])
    if last - first + 1 > MAX_EVIDENCE_ENTRIES:
        raise ConflictError("audit_evidence_too_long", "the evidence would span too many entries")
    wanted = set(matching)
    entries = [
        entry.to_json() if entry.seq in wanted else _redacted(entry)
        for entry in map(
            entry_from_row,
            connection.execute(
                "SELECT seq, time, event, actor, details, prev_hash, hash FROM audit_entries "
                "WHERE seq BETWEEN ? AND ? ORDER BY seq",
                (first, last),
            ),
        )
    ]
    checkpoints = [
        checkpoint_from_row(row).to_json()
        for row in connection.execute(
            "SELECT seq, time, hash, node_id, signature FROM audit_checkpoints "
            "WHERE seq BETWEEN ? AND ? ORDER BY seq",
            (first, last),
        )
    ]
    document = {
        "format": FORMAT,
        "v": VERSION,
        "subject": subject,
        "node_id": node_id,
        "public_key": public_key_from_node_id(node_id).hex(),
        "entries": entries,
        "checkpoints": checkpoints,
    }
    try:
        verify_evidence(document, node_id=node_id)
    except EvidenceError:
        raise ConflictError(
            "audit_log_damaged", "the audit log is damaged here; run audit verify"
        ) from None
    return document


def export_evidence(log: AuditLog, subject: str, *, now: int | None = None) -> dict[str, Any]:
    """:func:`build_evidence`, first signing a checkpoint over the newest entry if none covers
    the subject's entries yet."""
    try:
        return build_evidence(log.connection, log.node_id, subject)
    except ConflictError as error:
        if error.code != "audit_evidence_unsigned":
            raise
    log.checkpoint(now=now)
    return build_evidence(log.connection, log.node_id, subject)


# --- offline verification ---------------------------------------------------------------------


def _fields(value: object, path: str, keys: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or set(value) != keys:
        raise EvidenceError(path, "unexpected_fields")
    return value


def _int(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 63:
        raise EvidenceError(path, "expected_integer")
    return value


def _hex(value: object, path: str, length: int) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * length:
        raise EvidenceError(path, "expected_hex")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise EvidenceError(path, "expected_hex") from None
    if raw.hex() != value:
        raise EvidenceError(path, "expected_lowercase_hex")
    return raw


def _entry(item: object, path: str, subject: str) -> tuple[int, bytes, bytes, bool]:
    """(seq, prev_hash, hash, names subject) of one evidence entry, its own hash checked."""
    if isinstance(item, Mapping) and "content_hash" in item:
        fields = _fields(item, path, _REDACTED)
        content = _hex(fields["content_hash"], f"{path}.content_hash", 32)
        full = False
    else:
        fields = _fields(item, path, _FULL)
        try:
            event = check_event(fields["event"])
            actor = check_actor(fields["actor"])
            details = check_details(fields["details"])
        except NodeError:
            raise EvidenceError(path, "malformed_entry") from None
        if not names(details, subject):
            raise EvidenceError(f"{path}.details", "entry_does_not_name_subject")
        content = content_hash(_int(fields["time"], f"{path}.time"), event, actor, details)
        full = True
    seq = _int(fields["seq"], f"{path}.seq")
    prev_hash = _hex(fields["prev_hash"], f"{path}.prev_hash", 32)
    hash_ = _hex(fields["hash"], f"{path}.hash", 32)
    if link_hash(seq, prev_hash, content) != hash_:
        raise EvidenceError(f"{path}.hash", "hash_mismatch")
    return seq, prev_hash, hash_, full


def verify_evidence(
    document: Mapping[str, object], *, node_id: str | None = None
) -> EvidenceSummary:
    """Check an evidence document offline; return what it proves or raise ``EvidenceError``.

    Pass ``node_id`` when you know which node the evidence must come from (you should: the
    document's own ``node_id`` only says who claims to have signed it).
    """
    top = _fields(document, "$", _TOP)
    if top["format"] != FORMAT or top["v"] != VERSION:
        raise EvidenceError("$.v", "unsupported_format")
    subject = top["subject"]
    if not isinstance(subject, str) or not TOKEN.fullmatch(subject):
        raise EvidenceError("$.subject", "malformed_subject")
    try:
        signer = check_node_id(top["node_id"], "$.node_id")
    except NetworkError:
        raise EvidenceError("$.node_id", "malformed_node_id") from None
    if node_id is not None and signer != node_id:
        raise EvidenceError("$.node_id", "not_the_expected_node")
    if top["public_key"] != public_key_from_node_id(signer).hex():
        raise EvidenceError("$.public_key", "does_not_match_node_id")
    items = top["entries"]
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_EVIDENCE_ENTRIES:
        raise EvidenceError("$.entries", "expected_entries")
    hashes: dict[int, bytes] = {}
    named: list[int] = []
    previous: bytes | None = None
    for index, item in enumerate(items):
        path = f"$.entries[{index}]"
        seq, prev_hash, hash_, full = _entry(item, path, subject)
        if hashes and seq != max(hashes) + 1:
            raise EvidenceError(f"{path}.seq", "entries_not_contiguous")
        if previous is not None and prev_hash != previous:
            raise EvidenceError(f"{path}.prev_hash", "chain_broken")
        hashes[seq] = previous = hash_
        if full:
            named.append(seq)
    if not named:
        raise EvidenceError("$.entries", "no_entry_names_subject")
    checkpoint = _checkpoints(top["checkpoints"], signer, hashes)
    if checkpoint[0] != max(hashes):
        raise EvidenceError("$.checkpoints", "last_entry_not_covered")
    return EvidenceSummary(subject, signer, tuple(named), checkpoint[0], checkpoint[1])


def _checkpoints(value: object, signer: str, hashes: Mapping[int, bytes]) -> tuple[int, int]:
    """Check every checkpoint; return (seq, time) of the newest."""
    if not isinstance(value, list) or not value:
        raise EvidenceError("$.checkpoints", "expected_checkpoints")
    newest = (0, 0)
    for index, item in enumerate(value):
        path = f"$.checkpoints[{index}]"
        fields = _fields(item, path, _CHECKPOINT)
        seq = _int(fields["seq"], f"{path}.seq")
        time_ = _int(fields["time"], f"{path}.time")
        hash_ = _hex(fields["hash"], f"{path}.hash", 32)
        signature = _hex(fields["signature"], f"{path}.signature", 64)
        if fields["node_id"] != signer:
            raise EvidenceError(f"{path}.node_id", "not_the_signer")
        if hashes.get(seq) != hash_:
            raise EvidenceError(f"{path}.hash", "does_not_match_chain")
        try:
            verify(signer, DOMAIN_CHECKPOINT, checkpoint_body(seq, time_, hash_, signer), signature)
        except NetworkError:
            raise EvidenceError(f"{path}.signature", "bad_checkpoint_signature") from None
        newest = max(newest, (seq, time_))
    return newest
