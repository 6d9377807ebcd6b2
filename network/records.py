"""Signed node records and the in-memory store that keeps the newest valid one per node.

A node record says where a node can be reached and which data spaces (with which roles) it
claims, under a sequence number that orders the node's records and an expiry. The node signs it
with its identity key; anyone can check the signature from the node id alone. Claims in a record
are advisory: membership credentials, not records, decide who may connect (``dataspace.py``).

Wire form (canonical encoding, at most 4 KiB)::

    {"body": {"v": 1, "node_id": str, "addresses": [str], "data_spaces": [{"id", "roles"}],
              "sequence": int, "issued_at": int, "expires_at": int},
     "signature": bin 64}

Times are integer seconds passed in by the caller; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, TypeAlias
from urllib.parse import urlsplit

from network import canonical
from network.canonical import (
    DOMAIN_NODE_RECORD,
    Value,
    check_name,
    check_names,
    expect_body,
    expect_bytes,
    expect_int,
    expect_list,
    expect_map,
    expect_sorted_names,
    invalid,
)
from network.errors import LocalProtocolError, ValidationError, WireCode
from network.identity import SIGNATURE_SIZE, Identity, check_node_id, verify

VERSION: Final = 1
MAX_RECORD_SIZE: Final = 4096
MAX_ADDRESSES: Final = 4
MAX_ADDRESS_LENGTH: Final = 200
MAX_DATA_SPACES: Final = 4
MAX_ROLES: Final = 8
MAX_TIME: Final = (1 << 63) - 1
MAX_SEQUENCE: Final = (1 << 64) - 1
MAX_LIFETIME: Final = 7 * 24 * 3600
"""Longest a record may be valid: stale addresses drop out within a week at most."""
MAX_CLOCK_SKEW: Final = 60
"""How far in the future ``issued_at`` may lie before a record is "not yet valid"."""

_BODY_KEYS: Final = (
    "v",
    "node_id",
    "addresses",
    "data_spaces",
    "sequence",
    "issued_at",
    "expires_at",
)
_ADDRESS_CHARS: Final = frozenset(map(chr, range(0x21, 0x7F)))


def check_address(value: object, path: str) -> str:
    """A ``ws://`` or ``wss://`` URL with a host, no credentials, no query and no fragment."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ADDRESS_LENGTH:
        raise invalid(path, "address must be a URL of at most 200 characters")
    if not set(value) <= _ADDRESS_CHARS:
        raise invalid(path, "address must be printable ASCII without spaces")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise invalid(path, "address is not a valid URL") from None
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise invalid(path, "address must be ws://host[:port][/path] or wss://…")
    if parts.username is not None or parts.query or parts.fragment or port == 0:
        raise invalid(path, "address must not carry credentials, a query or a fragment")
    return value


@dataclass(frozen=True)
class NodeRecord:
    """What a node says about itself: addresses, claimed data spaces and roles, validity.

    ``data_spaces`` maps each claimed data space id to the roles claimed there (possibly none).
    Validation errors name paths relative to the body (``$``), as on the wire.
    """

    node_id: str
    addresses: tuple[str, ...]
    data_spaces: Mapping[str, frozenset[str]]
    sequence: int
    issued_at: int
    expires_at: int

    def __post_init__(self) -> None:
        check_node_id(self.node_id, "$.node_id")
        addresses = tuple(self.addresses)
        if not 1 <= len(addresses) <= MAX_ADDRESSES:
            raise invalid("$.addresses", "between 1 and 4 addresses")
        for index, address in enumerate(addresses):
            check_address(address, f"$.addresses[{index}]")
        if len(set(addresses)) != len(addresses):
            raise invalid("$.addresses", "addresses repeat")
        spaces = sorted(check_names(self.data_spaces, "$.data_spaces", 1, MAX_DATA_SPACES))
        data_spaces = {
            space: check_names(
                self.data_spaces[space], f"$.data_spaces[{index}].roles", 0, MAX_ROLES
            )
            for index, space in enumerate(spaces)
        }
        expect_int(self.sequence, "$.sequence", 0, MAX_SEQUENCE)
        expect_int(self.issued_at, "$.issued_at", 0, MAX_TIME)
        expect_int(self.expires_at, "$.expires_at", 0, MAX_TIME)
        if not self.issued_at < self.expires_at <= self.issued_at + MAX_LIFETIME:
            raise invalid("$.expires_at", "must be after issued_at by at most 7 days")
        object.__setattr__(self, "addresses", addresses)
        object.__setattr__(self, "data_spaces", MappingProxyType(data_spaces))

    def renewed(self, now: int, lifetime: int) -> NodeRecord:
        """The same claims under the next sequence number, issued at ``now`` for ``lifetime``."""
        return NodeRecord(
            self.node_id,
            self.addresses,
            self.data_spaces,
            self.sequence + 1,
            now,
            now + lifetime,
        )

    def roles(self, data_space: str) -> frozenset[str]:
        """The roles this record claims in ``data_space`` (empty if it claims none there)."""
        return self.data_spaces.get(data_space, frozenset())

    def to_wire(self) -> dict[str, Value]:
        """The record's body as a canonical map."""
        return {
            "v": VERSION,
            "node_id": self.node_id,
            "addresses": list[Value](self.addresses),
            "data_spaces": [
                {"id": space, "roles": list[Value](sorted(self.data_spaces[space]))}
                for space in sorted(self.data_spaces)
            ],
            "sequence": self.sequence,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_wire(cls, value: Value) -> NodeRecord:
        """Parse a body map; raises ``ValidationError`` with a path relative to the body."""
        body = expect_body(value, "$", _BODY_KEYS, VERSION)
        addresses = expect_list(body["addresses"], "$.addresses", MAX_ADDRESSES)
        entries = expect_list(body["data_spaces"], "$.data_spaces", MAX_DATA_SPACES)
        data_spaces: dict[str, frozenset[str]] = {}
        previous = ""
        for index, entry in enumerate(entries):
            path = f"$.data_spaces[{index}]"
            fields = expect_map(entry, path, ("id", "roles"))
            space = check_name(fields["id"], f"{path}.id")
            if space <= previous:
                raise invalid("$.data_spaces", "data spaces not in strictly increasing order")
            previous = space
            data_spaces[space] = expect_sorted_names(fields["roles"], f"{path}.roles", 0, MAX_ROLES)
        return cls(
            node_id=check_node_id(body["node_id"], "$.node_id"),
            addresses=tuple(
                check_address(address, f"$.addresses[{index}]")
                for index, address in enumerate(addresses)
            ),
            data_spaces=data_spaces,
            sequence=expect_int(body["sequence"], "$.sequence", 0, MAX_SEQUENCE),
            issued_at=expect_int(body["issued_at"], "$.issued_at", 0, MAX_TIME),
            expires_at=expect_int(body["expires_at"], "$.expires_at", 0, MAX_TIME),
        )


@dataclass(frozen=True)
class SignedNodeRecord:
    """A node record with its node's signature over ``"confide/v1/node-record" || body``."""

    record: NodeRecord
    signature: bytes

    @classmethod
    def sign(cls, record: NodeRecord, identity: Identity) -> SignedNodeRecord:
        """Sign ``record`` with the identity it describes; refuses any other identity."""
        if identity.node_id != record.node_id:
            raise LocalProtocolError(WireCode.WRONG_SIGNER, "a node signs only its own record")
        signed = cls(record, identity.sign(DOMAIN_NODE_RECORD, record.to_wire()))
        signed.encode()  # refuse now, not at the peer, a record that would be too large
        return signed

    @property
    def node_id(self) -> str:
        """The node this record describes and that signed it."""
        return self.record.node_id

    def verify(self, now: int) -> None:
        """Raise unless the signature verifies and the record is valid at ``now``.

        ``SignatureError`` (``FORGED_SIGNATURE``) or ``ValidationError`` with ``NOT_YET_VALID``
        or ``EXPIRED``. The signature is checked first.
        """
        try:
            verify(self.record.node_id, DOMAIN_NODE_RECORD, self.record.to_wire(), self.signature)
        except ValidationError as error:
            raise error.under("$.signature") from None
        if self.record.issued_at > now + MAX_CLOCK_SKEW:
            raise ValidationError(WireCode.NOT_YET_VALID, "$.body.issued_at", "issued in future")
        if now >= self.record.expires_at:
            raise ValidationError(WireCode.EXPIRED, "$.body.expires_at", "record expired")

    def encode(self) -> bytes:
        """The canonical wire form (at most 4 KiB)."""
        data = canonical.encode({"body": self.record.to_wire(), "signature": self.signature})
        if len(data) > MAX_RECORD_SIZE:
            raise LocalProtocolError(WireCode.OBJECT_TOO_LARGE, "node record exceeds 4 KiB")
        return data

    @classmethod
    def decode(cls, data: bytes) -> SignedNodeRecord:
        """Parse the wire form; raises ``ValidationError`` (``DecodeError`` for bad bytes).

        Decoding does not check the signature or the time: call :meth:`verify`.
        """
        envelope = expect_map(canonical.decode(data, MAX_RECORD_SIZE), "$", ("body", "signature"))
        signature = expect_bytes(envelope["signature"], "$.signature", SIGNATURE_SIZE)
        try:
            record = NodeRecord.from_wire(envelope["body"])
        except ValidationError as error:
            raise error.under("$.body") from None
        return cls(record, signature)


@dataclass(frozen=True)
class RecordAccepted:
    """The store kept ``record``; ``replaced`` is the record it held before, if any."""

    record: SignedNodeRecord
    replaced: SignedNodeRecord | None


@dataclass(frozen=True)
class RecordRejected:
    """The store refused an offer: ``code`` says why, ``path`` names the field at fault."""

    code: WireCode
    path: str


OfferOutcome: TypeAlias = RecordAccepted | RecordRejected
IsMember: TypeAlias = Callable[[str, str], bool]
"""``is_member(node_id, data_space)``: whether the node is a member of that data space now."""


class RecordStore:
    """The newest valid record per node, bounded to ``capacity`` nodes (pure, in memory)."""

    def __init__(self, capacity: int = 4096) -> None:
        if capacity < 1:
            raise LocalProtocolError(WireCode.INVALID_FIELD, "capacity must be positive")
        self.capacity = capacity
        self._records: dict[str, SignedNodeRecord] = {}

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._records

    def offer(
        self, offered: SignedNodeRecord | bytes, now: int, is_member: IsMember
    ) -> OfferOutcome:
        """Keep ``offered`` if it is the newest valid record of a member, else say why not.

        Checks, in order: well-formed (``MALFORMED_ENCODING`` / ``INVALID_FIELD`` /
        ``UNSUPPORTED_VERSION`` / ``INVALID_PUBLIC_KEY``), signature (``FORGED_SIGNATURE``),
        time (``NOT_YET_VALID``, ``EXPIRED``), order (``DUPLICATE_RECORD`` for the very record
        held, ``STALE_SEQUENCE`` for a sequence number not above it), membership of at least one
        claimed data space (``NOT_A_MEMBER``), room (``CAPACITY_EXCEEDED``).
        """
        try:
            signed = (
                offered
                if isinstance(offered, SignedNodeRecord)
                else SignedNodeRecord.decode(offered)
            )
            signed.verify(now)
        except ValidationError as error:
            return RecordRejected(error.code, error.path)
        held = self._records.get(signed.node_id)
        if held is not None and signed.record.sequence <= held.record.sequence:
            if held == signed:
                return RecordRejected(WireCode.DUPLICATE_RECORD, "$.body.sequence")
            return RecordRejected(WireCode.STALE_SEQUENCE, "$.body.sequence")
        if not any(is_member(signed.node_id, space) for space in sorted(signed.record.data_spaces)):
            return RecordRejected(WireCode.NOT_A_MEMBER, "$.body.data_spaces")
        if held is None and len(self._records) >= self.capacity:
            self.prune(now)
            if len(self._records) >= self.capacity:
                return RecordRejected(WireCode.CAPACITY_EXCEEDED, "$")
        self._records[signed.node_id] = signed
        return RecordAccepted(signed, held)

    def get(self, node_id: str, now: int) -> SignedNodeRecord | None:
        """The record held for ``node_id`` if it is still valid at ``now``."""
        signed = self._records.get(node_id)
        if signed is None or now >= signed.record.expires_at:
            return None
        return signed

    def records(self, now: int) -> list[SignedNodeRecord]:
        """Every record still valid at ``now``, ordered by node id."""
        return [
            signed
            for node_id, signed in sorted(self._records.items())
            if now < signed.record.expires_at
        ]

    def sequences(self, now: int) -> dict[str, int]:
        """Node id → sequence number of every record still valid at ``now``."""
        return {signed.node_id: signed.record.sequence for signed in self.records(now)}

    def prune(self, now: int, is_member: IsMember | None = None) -> list[str]:
        """Drop expired records (and, given ``is_member``, those of nodes no longer members)."""
        dropped = [
            node_id
            for node_id, signed in self._records.items()
            if now >= signed.record.expires_at
            or (
                is_member is not None
                and not any(is_member(node_id, space) for space in signed.record.data_spaces)
            )
        ]
        for node_id in dropped:
            del self._records[node_id]
        return sorted(dropped)
