"""The gossip messages of discovery and the anti-entropy comparison (pure, sans-I/O).

Discovery (``network.discovery``) sends these messages on the gossip session of every link, each
as one ``uint8`` array holding a msgpack map with an ``op``:

* ``push`` — signed node records, each with the membership credentials of its node, and
  revocations: what a node offers (on a new link, on a change, or in answer to ``want``);
* ``summary`` — a SHA-256 over what the sender holds: the periodic anti-entropy probe;
* ``digest`` — every (node id, sequence) and revocation digest the sender holds, sent in answer
  to a ``summary`` that differs from the receiver's own;
* ``want`` — the node ids and revocation digests the sender lacks (or holds older), sent after
  comparing a ``digest`` with what it holds.

A summary that matches costs one small message; one that differs is repaired in three more
(digest, push + want, push). Records and credentials are opaque bytes here: their signatures
and validity are checked by ``records.RecordStore`` and ``membership.Membership``.

The fuzz rule: any bytes given to :func:`decode_gossip` are either accepted or rejected with
:class:`~network.errors.DecodeError`; nothing else escapes. The layout is specified in
``docs/spec/discovery-and-liveness.md``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import msgpack

from network.errors import DecodeError, LocalProtocolError, WireCode

MAX_MESSAGE: Final = 1 << 20
"""Largest encoded gossip message a node reads."""
PUSH_BUDGET: Final = 256 << 10
"""A sender starts a new ``push`` once one holds this many bytes of objects."""
MAX_PUSH_RECORDS: Final = 64
MAX_CREDENTIALS: Final = 8
"""Credentials sent with one record (as many as a handshake may present)."""
MAX_OBJECT: Final = 4096
"""Largest encoded record, credential or revocation (their own size bounds)."""
MAX_HELD: Final = 4096
"""Most entries in a ``digest`` or ``want``: the record store's capacity."""
MAX_NODE_ID: Final = 128
DIGEST_SIZE: Final = 32
MAX_SEQUENCE: Final = (1 << 64) - 1
_UNPACK_ERRORS: Final = (ValueError, TypeError, msgpack.UnpackException)


@dataclass(frozen=True)
class Entry:
    """One signed node record (encoded) and the encoded credentials of its node."""

    record: bytes
    credentials: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class Push:
    """Records with their credentials, and revocations, offered to the receiver."""

    entries: tuple[Entry, ...] = ()
    revocations: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class Summary:
    """The hash of everything the sender holds (:func:`summary_hash`)."""

    hash: bytes


@dataclass(frozen=True)
class Digest:
    """What the sender holds: node id → sequence, and revocation digests."""

    records: Mapping[str, int]
    revocations: frozenset[bytes]


@dataclass(frozen=True)
class Want:
    """What the sender asks for: node ids and revocation digests."""

    records: tuple[str, ...]
    revocations: tuple[bytes, ...]


GossipMessage: TypeAlias = Push | Summary | Digest | Want


def summary_hash(records: Mapping[str, int], revocations: Iterable[bytes]) -> bytes:
    """SHA-256 over the sorted (node id, sequence) pairs and sorted revocation digests."""
    pairs = [[node_id, records[node_id]] for node_id in sorted(records)]
    packed: bytes = msgpack.packb([pairs, sorted(revocations)], use_bin_type=True)
    return hashlib.sha256(b"confide/v1/gossip-summary" + packed).digest()


@dataclass(frozen=True)
class Plan:
    """What to do after comparing a peer's digest with what we hold."""

    push_records: tuple[str, ...]
    """Node ids whose record the peer lacks or holds at a lower sequence."""
    push_revocations: tuple[bytes, ...]
    want_records: tuple[str, ...]
    """Node ids whose record we lack or hold at a lower sequence."""
    want_revocations: tuple[bytes, ...]


def compare(
    mine: Mapping[str, int],
    my_revocations: Iterable[bytes],
    theirs: Digest,
) -> Plan:
    """The anti-entropy plan: push what the peer lacks, want what we lack (sorted, stable)."""
    mine_revoked = frozenset(my_revocations)
    return Plan(
        push_records=tuple(n for n in sorted(mine) if theirs.records.get(n, -1) < mine[n]),
        push_revocations=tuple(sorted(mine_revoked - theirs.revocations)),
        want_records=tuple(
            n for n in sorted(theirs.records) if mine.get(n, -1) < theirs.records[n]
        ),
        want_revocations=tuple(sorted(theirs.revocations - mine_revoked)),
    )


def pushes(entries: Iterable[Entry], revocations: Iterable[bytes] = ()) -> list[Push]:
    """``entries`` and ``revocations`` split into pushes within the count and byte budgets."""
    out: list[Push] = []
    batch: list[Entry] = []
    size = 0
    for entry in entries:
        cost = len(entry.record) + sum(map(len, entry.credentials))
        if batch and (len(batch) >= MAX_PUSH_RECORDS or size + cost > PUSH_BUDGET):
            out.append(Push(tuple(batch)))
            batch, size = [], 0
        batch.append(entry)
        size += cost
    if batch:
        out.append(Push(tuple(batch)))
    revoked = list(revocations)
    for start in range(0, len(revoked), MAX_PUSH_RECORDS):
        out.append(Push((), tuple(revoked[start : start + MAX_PUSH_RECORDS])))
    return out


# --- encoding ----------------------------------------------------------------------------------


def encode_gossip(message: GossipMessage) -> bytes:
    """The msgpack bytes of ``message``; refuses what no peer would accept."""
    body: dict[str, Any]
    if isinstance(message, Push):
        body = {
            "op": "push",
            "records": [[e.record, list(e.credentials)] for e in message.entries],
            "revocations": list(message.revocations),
        }
    elif isinstance(message, Summary):
        body = {"op": "summary", "hash": message.hash}
    elif isinstance(message, Digest):
        body = {
            "op": "digest",
            "records": [[n, message.records[n]] for n in sorted(message.records)],
            "revocations": sorted(message.revocations),
        }
    else:
        body = {
            "op": "want",
            "records": list(message.records),
            "revocations": list(message.revocations),
        }
    packed: bytes = msgpack.packb(body, use_bin_type=True)
    try:
        decode_gossip(packed)
    except DecodeError as error:
        raise LocalProtocolError(WireCode.UNENCODABLE_VALUE, error.reason) from None
    return packed


# --- decoding ----------------------------------------------------------------------------------


def decode_gossip(data: bytes) -> GossipMessage:
    """The gossip message in ``data``; raises ``DecodeError`` for anything else."""
    if len(data) > MAX_MESSAGE:
        raise DecodeError("gossip message too long")
    try:
        body = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            max_str_len=MAX_OBJECT,
            max_bin_len=MAX_OBJECT,
            max_array_len=MAX_HELD,
            max_map_len=8,
            max_ext_len=0,
        )
    except _UNPACK_ERRORS:
        raise DecodeError("gossip message is not msgpack") from None
    if not isinstance(body, dict):
        raise DecodeError("gossip message is not a map")
    op = body.get("op")
    if op == "push" and set(body) == {"op", "records", "revocations"}:
        entries = tuple(_entry(item) for item in _list(body["records"], MAX_PUSH_RECORDS))
        return Push(entries, _blobs(body["revocations"], MAX_PUSH_RECORDS, 1, MAX_OBJECT))
    if op == "summary" and set(body) == {"op", "hash"}:
        return Summary(_blob(body["hash"], DIGEST_SIZE, DIGEST_SIZE))
    if op == "digest" and set(body) == {"op", "records", "revocations"}:
        pairs = [_pair(item) for item in _list(body["records"], MAX_HELD)]
        records = dict(pairs)
        if len(records) != len(pairs):
            raise DecodeError("digest names a node twice")
        revoked = _blobs(body["revocations"], MAX_HELD, DIGEST_SIZE, DIGEST_SIZE)
        return Digest(records, frozenset(revoked))
    if op == "want" and set(body) == {"op", "records", "revocations"}:
        node_ids = tuple(_node_id(item) for item in _list(body["records"], MAX_HELD))
        revoked = _blobs(body["revocations"], MAX_HELD, DIGEST_SIZE, DIGEST_SIZE)
        return Want(node_ids, revoked)
    raise DecodeError("unknown gossip message")


def _list(value: object, limit: int) -> list[object]:
    if not isinstance(value, list) or len(value) > limit:
        raise DecodeError("expected a short list")
    return value


def _blob(value: object, shortest: int, longest: int) -> bytes:
    if not isinstance(value, bytes) or not shortest <= len(value) <= longest:
        raise DecodeError("expected bytes of bounded length")
    return value


def _blobs(value: object, limit: int, shortest: int, longest: int) -> tuple[bytes, ...]:
    return tuple(_blob(item, shortest, longest) for item in _list(value, limit))


def _entry(value: object) -> Entry:
    item = _list(value, 2)
    if len(item) != 2:
        raise DecodeError("a pushed record is [record, credentials]")
    record, credentials = item
    return Entry(_blob(record, 1, MAX_OBJECT), _blobs(credentials, MAX_CREDENTIALS, 1, MAX_OBJECT))


def _node_id(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_NODE_ID:
        raise DecodeError("expected a node id")
    return value


def _pair(value: object) -> tuple[str, int]:
    item = _list(value, 2)
    if len(item) != 2:
        raise DecodeError("a digest entry is [node id, sequence]")
    node_id, sequence = item
    if isinstance(sequence, bool) or not isinstance(sequence, int):
        raise DecodeError("a sequence is an integer")
    if not 0 <= sequence <= MAX_SEQUENCE:
        raise DecodeError("sequence out of range")
    return _node_id(node_id), sequence
