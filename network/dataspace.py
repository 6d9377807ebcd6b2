"""Data spaces: charters, membership credentials, revocations, links, and who may connect.

A **charter** defines a data space: its governance keys (node ids) and how many of them must sign
(``governance_threshold``), its admission rule, and its role and purpose vocabularies. A
**membership credential** says a node belongs to a data space with some roles until a time; its
issuers' signatures must satisfy the admission rule. A **revocation**, signed by governance,
ends a credential (by serial) or a member's credentials from a time. A **data-space link**,
signed by the governance of both data spaces, lets members of one meet members of the other.
``network.membership.Membership`` is a pure view over these objects: who is a member at
``now``, and whether two nodes may complete a handshake.

Every object is ``{"body": map, "signatures": [{"signer", "signature"}, ...]}`` in canonical
encoding, signers in increasing order, each signature over ``domain || canonical(body)``. All
validation errors are ``ValidationError`` with a ``WireCode`` and a path into that form.
Times are integer seconds passed in by the caller; nothing here reads a clock.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import ClassVar, Final, Literal, Self

from network import canonical
from network.canonical import (
    DOMAIN_CHARTER,
    DOMAIN_DATA_SPACE_LINK,
    DOMAIN_MEMBERSHIP_CREDENTIAL,
    DOMAIN_REVOCATION,
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
from network.errors import LocalProtocolError, SignatureError, ValidationError, WireCode
from network.identity import SIGNATURE_SIZE, Identity, check_node_id, verify
from network.records import MAX_CLOCK_SKEW, MAX_TIME

VERSION: Final = 1
SERIAL_SIZE: Final = 16
MAX_SIGNATURES: Final = 32
MAX_GOVERNANCE: Final = 16
MAX_ROLES: Final = 32
MAX_PURPOSES: Final = 64
MAX_PRESENTED: Final = 8
"""Most credentials a peer may present in one handshake."""
MAX_CHARTER_SIZE: Final = 16384
MAX_OBJECT_SIZE: Final = 4096
"""Size bound of credentials, revocations and links."""


def _error(code: WireCode, path: str, reason: str) -> ValidationError:
    return ValidationError(code, path, reason)


def _window(issued_at: int, valid_until: int, now: int) -> None:
    """Raise unless ``now`` lies in ``[issued_at - MAX_CLOCK_SKEW, valid_until)``."""
    if issued_at > now + MAX_CLOCK_SKEW:
        raise _error(WireCode.NOT_YET_VALID, "$.body.issued_at", "not valid yet")
    if now >= valid_until:
        raise _error(WireCode.EXPIRED, "$.body.valid_until", "no longer valid")


def _subset(names: frozenset[str], vocabulary: frozenset[str], code: WireCode, path: str) -> None:
    """Raise ``code`` at the wire position of the first name outside ``vocabulary``."""
    for index, name in enumerate(sorted(names)):
        if name not in vocabulary:
            raise _error(code, f"{path}[{index}]", "not in the charter's vocabulary")


def _require(signers: frozenset[str], eligible: frozenset[str], threshold: int) -> None:
    """Raise ``INSUFFICIENT_SIGNATURES`` unless ``threshold`` of ``signers`` are ``eligible``."""
    if len(signers & eligible) < threshold:
        raise _error(WireCode.INSUFFICIENT_SIGNATURES, "$.signatures", "too few eligible signers")


def _times(issued_at: int, valid_until: int) -> None:
    expect_int(issued_at, "$.body.issued_at", 0, MAX_TIME)
    expect_int(valid_until, "$.body.valid_until", 0, MAX_TIME)
    if valid_until <= issued_at:
        raise invalid("$.body.valid_until", "must be after issued_at")


@dataclass(frozen=True)
class _Signed(ABC):
    """A body signed by one or more identities; subclasses give the body and the domain."""

    DOMAIN: ClassVar[bytes]
    MAX_SIZE: ClassVar[int] = MAX_OBJECT_SIZE

    signatures: Mapping[str, bytes] = field(default_factory=dict, kw_only=True)

    def __post_init__(self) -> None:
        if len(self.signatures) > MAX_SIGNATURES:
            raise invalid("$.signatures", "more than 32 signatures")
        for index, signer in enumerate(sorted(self.signatures)):
            check_node_id(signer, f"$.signatures[{index}].signer")
            expect_bytes(
                self.signatures[signer], f"$.signatures[{index}].signature", SIGNATURE_SIZE
            )
        object.__setattr__(
            self, "signatures", MappingProxyType(dict(sorted(self.signatures.items())))
        )

    @abstractmethod
    def body(self) -> dict[str, Value]:
        """The signed body as a canonical map."""

    @classmethod
    @abstractmethod
    def from_body(cls, value: Value, signatures: dict[str, bytes]) -> Self:
        """Parse a body map read from the wire (paths ``$.body...``)."""

    def sign(self, identity: Identity) -> Self:
        """A copy with ``identity``'s signature added (replacing an earlier one of its own)."""
        signature = identity.sign(self.DOMAIN, self.body())
        return replace(self, signatures={**self.signatures, identity.node_id: signature})

    def signers(self) -> frozenset[str]:
        """Every signer, once each signature has verified; ``SignatureError`` at the first bad."""
        body = self.body()
        for index, signer in enumerate(self.signatures):
            try:
                verify(signer, self.DOMAIN, body, self.signatures[signer])
            except SignatureError:
                raise SignatureError(f"$.signatures[{index}].signature") from None
        return frozenset(self.signatures)

    def to_wire(self) -> dict[str, Value]:
        """The whole object (body and signatures) as a canonical map."""
        signatures: list[Value] = [
            {"signer": signer, "signature": signature}
            for signer, signature in self.signatures.items()
        ]
        return {"body": self.body(), "signatures": signatures}

    def encode(self) -> bytes:
        """The canonical wire form; ``LocalProtocolError`` if it exceeds the size bound."""
        data = canonical.encode(self.to_wire())
        if len(data) > self.MAX_SIZE:
            raise LocalProtocolError(WireCode.OBJECT_TOO_LARGE, "object exceeds its size bound")
        return data

    def digest(self) -> bytes:
        """SHA-256 of the whole object, signatures included: the key it is stored under."""
        return canonical.digest(self.to_wire())

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse the wire form; raises ``ValidationError`` (``DecodeError`` for bad bytes).

        Decoding checks shape and vocabulary syntax only; signatures are checked by ``verify``
        or by ``network.membership.Membership``.
        """
        envelope = expect_map(canonical.decode(data, cls.MAX_SIZE), "$", ("body", "signatures"))
        entries = expect_list(envelope["signatures"], "$.signatures", MAX_SIGNATURES)
        signatures: dict[str, bytes] = {}
        previous = ""
        for index, entry in enumerate(entries):
            path = f"$.signatures[{index}]"
            fields = expect_map(entry, path, ("signer", "signature"))
            signer = check_node_id(fields["signer"], f"{path}.signer")
            if signer <= previous:
                raise invalid("$.signatures", "signers not in strictly increasing order")
            previous = signer
            signatures[signer] = expect_bytes(
                fields["signature"], f"{path}.signature", SIGNATURE_SIZE
            )
        return cls.from_body(envelope["body"], signatures)


@dataclass(frozen=True)
class Admission:
    """How members are admitted: ``threshold`` governance signatures, or ``threshold``
    endorsements from existing members (governance keys count as endorsers too, which is how
    the first members get in)."""

    kind: Literal["governance", "endorsements"]
    threshold: int

    def __post_init__(self) -> None:
        if self.kind not in ("governance", "endorsements"):
            raise invalid(
                "$.body.admission.kind", "admission kind must be governance or endorsements"
            )

    def to_wire(self) -> dict[str, Value]:
        """``{"kind": "governance", "threshold": k}`` or ``{"kind": "endorsements", "k": k}``."""
        if self.kind == "governance":
            return {"kind": "governance", "threshold": self.threshold}
        return {"kind": "endorsements", "k": self.threshold}

    @classmethod
    def from_wire(cls, value: Value) -> Admission:
        """Parse an admission rule at ``$.body.admission``."""
        path = "$.body.admission"
        kind = value.get("kind") if isinstance(value, dict) else None
        if kind == "governance":
            rule = expect_map(value, path, ("kind", "threshold"))
            return cls("governance", expect_int(rule["threshold"], f"{path}.threshold", 1, 32))
        if kind == "endorsements":
            rule = expect_map(value, path, ("kind", "k"))
            return cls("endorsements", expect_int(rule["k"], f"{path}.k", 1, MAX_SIGNATURES))
        raise invalid(f"{path}.kind", "admission kind must be governance or endorsements")


_CHARTER_KEYS: Final = (
    "v",
    "data_space",
    "version",
    "issued_at",
    "governance",
    "governance_threshold",
    "admission",
    "roles",
    "purposes",
)


@dataclass(frozen=True)
class Charter(_Signed):
    """The definition of a data space, signed by ``governance_threshold`` of its governance."""

    DOMAIN: ClassVar[bytes] = DOMAIN_CHARTER
    MAX_SIZE: ClassVar[int] = MAX_CHARTER_SIZE

    data_space: str
    version: int
    issued_at: int
    governance: frozenset[str]
    governance_threshold: int
    admission: Admission
    roles: frozenset[str]
    purposes: frozenset[str]

    def __post_init__(self) -> None:
        super().__post_init__()
        check_name(self.data_space, "$.body.data_space")
        expect_int(self.version, "$.body.version", 1, (1 << 32) - 1)
        expect_int(self.issued_at, "$.body.issued_at", 0, MAX_TIME)
        governance = frozenset(self.governance)
        if not 1 <= len(governance) <= MAX_GOVERNANCE:
            raise invalid("$.body.governance", "between 1 and 16 governance keys")
        for index, node_id in enumerate(sorted(governance)):
            check_node_id(node_id, f"$.body.governance[{index}]")
        expect_int(self.governance_threshold, "$.body.governance_threshold", 1, len(governance))
        if self.admission.kind == "governance":
            expect_int(self.admission.threshold, "$.body.admission.threshold", 1, len(governance))
        else:
            expect_int(self.admission.threshold, "$.body.admission.k", 1, MAX_SIGNATURES)
        object.__setattr__(self, "governance", governance)
        object.__setattr__(self, "roles", check_names(self.roles, "$.body.roles", 1, MAX_ROLES))
        purposes = check_names(self.purposes, "$.body.purposes", 1, MAX_PURPOSES)
        object.__setattr__(self, "purposes", purposes)

    def body(self) -> dict[str, Value]:
        """The charter's body as a canonical map."""
        return {
            "v": VERSION,
            "data_space": self.data_space,
            "version": self.version,
            "issued_at": self.issued_at,
            "governance": list[Value](sorted(self.governance)),
            "governance_threshold": self.governance_threshold,
            "admission": self.admission.to_wire(),
            "roles": list[Value](sorted(self.roles)),
            "purposes": list[Value](sorted(self.purposes)),
        }

    @classmethod
    def from_body(cls, value: Value, signatures: dict[str, bytes]) -> Charter:
        """Parse a charter body read from the wire."""
        body = expect_body(value, "$.body", _CHARTER_KEYS, VERSION)
        members = expect_list(body["governance"], "$.body.governance", MAX_GOVERNANCE)
        governance = [
            check_node_id(node_id, f"$.body.governance[{index}]")
            for index, node_id in enumerate(members)
        ]
        if governance != sorted(set(governance)):
            raise invalid("$.body.governance", "set not in strictly increasing order")
        return cls(
            data_space=check_name(body["data_space"], "$.body.data_space"),
            version=expect_int(body["version"], "$.body.version", 1, (1 << 32) - 1),
            issued_at=expect_int(body["issued_at"], "$.body.issued_at", 0, MAX_TIME),
            governance=frozenset(governance),
            governance_threshold=expect_int(
                body["governance_threshold"], "$.body.governance_threshold", 1, MAX_GOVERNANCE
            ),
            admission=Admission.from_wire(body["admission"]),
            roles=expect_sorted_names(body["roles"], "$.body.roles", 1, MAX_ROLES),
            purposes=expect_sorted_names(body["purposes"], "$.body.purposes", 1, MAX_PURPOSES),
            signatures=signatures,
        )

    def verify(self) -> None:
        """Raise unless every signature verifies and enough governance keys signed."""
        _require(self.signers(), self.governance, self.governance_threshold)


_CREDENTIAL_KEYS: Final = (
    "v",
    "data_space",
    "member",
    "roles",
    "issued_at",
    "valid_until",
    "serial",
)


@dataclass(frozen=True)
class MembershipCredential(_Signed):
    """A statement that ``member`` belongs to ``data_space`` with ``roles`` until a time.

    ``serial`` is 16 random bytes chosen by the issuer (``secrets.token_bytes(16)``), so that
    issuers need not coordinate; revocations name it.
    """

    DOMAIN: ClassVar[bytes] = DOMAIN_MEMBERSHIP_CREDENTIAL

    data_space: str
    member: str
    roles: frozenset[str]
    issued_at: int
    valid_until: int
    serial: bytes

    def __post_init__(self) -> None:
        super().__post_init__()
        check_name(self.data_space, "$.body.data_space")
        check_node_id(self.member, "$.body.member")
        object.__setattr__(self, "roles", check_names(self.roles, "$.body.roles", 0, MAX_ROLES))
        _times(self.issued_at, self.valid_until)
        expect_bytes(self.serial, "$.body.serial", SERIAL_SIZE)

    def body(self) -> dict[str, Value]:
        """The credential's body as a canonical map."""
        return {
            "v": VERSION,
            "data_space": self.data_space,
            "member": self.member,
            "roles": list[Value](sorted(self.roles)),
            "issued_at": self.issued_at,
            "valid_until": self.valid_until,
            "serial": self.serial,
        }

    @classmethod
    def from_body(cls, value: Value, signatures: dict[str, bytes]) -> MembershipCredential:
        """Parse a credential body read from the wire."""
        body = expect_body(value, "$.body", _CREDENTIAL_KEYS, VERSION)
        return cls(
            data_space=check_name(body["data_space"], "$.body.data_space"),
            member=check_node_id(body["member"], "$.body.member"),
            roles=expect_sorted_names(body["roles"], "$.body.roles", 0, MAX_ROLES),
            issued_at=expect_int(body["issued_at"], "$.body.issued_at", 0, MAX_TIME),
            valid_until=expect_int(body["valid_until"], "$.body.valid_until", 0, MAX_TIME),
            serial=expect_bytes(body["serial"], "$.body.serial", SERIAL_SIZE),
            signatures=signatures,
        )


_REVOCATION_KEYS: Final = ("v", "data_space", "issued_at", "effective_from", "target")


@dataclass(frozen=True)
class Revocation(_Signed):
    """Governance ends one credential (``serial``) or a member's credentials (``member``).

    From ``effective_from`` on (which may lie before ``issued_at``: "compromised since"), the
    credential with that serial, or every credential of that member issued at or before
    ``issued_at``, no longer counts. A member revoked this way can be readmitted only by a
    credential issued after the revocation. Exactly one of ``serial`` and ``member`` is set.
    """

    DOMAIN: ClassVar[bytes] = DOMAIN_REVOCATION

    data_space: str
    issued_at: int
    effective_from: int
    serial: bytes | None = None
    member: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_name(self.data_space, "$.body.data_space")
        expect_int(self.issued_at, "$.body.issued_at", 0, MAX_TIME)
        expect_int(self.effective_from, "$.body.effective_from", 0, MAX_TIME)
        if (self.serial is None) == (self.member is None):
            raise invalid("$.body.target", "exactly one of serial and member")
        if self.serial is not None:
            expect_bytes(self.serial, "$.body.target.serial", SERIAL_SIZE)
        if self.member is not None:
            check_node_id(self.member, "$.body.target.member")

    def body(self) -> dict[str, Value]:
        """The revocation's body as a canonical map."""
        target: dict[str, Value] = (
            {"serial": self.serial} if self.serial is not None else {"member": self.member}
        )
        return {
            "v": VERSION,
            "data_space": self.data_space,
            "issued_at": self.issued_at,
            "effective_from": self.effective_from,
            "target": target,
        }

    @classmethod
    def from_body(cls, value: Value, signatures: dict[str, bytes]) -> Revocation:
        """Parse a revocation body read from the wire."""
        body = expect_body(value, "$.body", _REVOCATION_KEYS, VERSION)
        target = body["target"]
        serial: bytes | None = None
        member: str | None = None
        if isinstance(target, dict) and "serial" in target:
            fields = expect_map(target, "$.body.target", ("serial",))
            serial = expect_bytes(fields["serial"], "$.body.target.serial", SERIAL_SIZE)
        else:
            fields = expect_map(target, "$.body.target", ("member",))
            member = check_node_id(fields["member"], "$.body.target.member")
        return cls(
            data_space=check_name(body["data_space"], "$.body.data_space"),
            issued_at=expect_int(body["issued_at"], "$.body.issued_at", 0, MAX_TIME),
            effective_from=expect_int(body["effective_from"], "$.body.effective_from", 0, MAX_TIME),
            serial=serial,
            member=member,
            signatures=signatures,
        )

    def revokes(self, credential: MembershipCredential, now: int) -> bool:
        """Whether this revocation ends ``credential`` at ``now``."""
        if credential.data_space != self.data_space or now < self.effective_from:
            return False
        if self.serial is not None:
            return credential.serial == self.serial
        return credential.member == self.member and credential.issued_at <= self.issued_at


_LINK_KEYS: Final = ("v", "data_spaces", "purposes", "issued_at", "valid_until")


@dataclass(frozen=True)
class DataSpaceLink(_Signed):
    """An agreement, signed by the governance threshold of both charters, that members of the
    two data spaces may compute together for the listed purposes (symmetric)."""

    DOMAIN: ClassVar[bytes] = DOMAIN_DATA_SPACE_LINK

    data_spaces: tuple[str, str]
    purposes: frozenset[str]
    issued_at: int
    valid_until: int

    def __post_init__(self) -> None:
        super().__post_init__()
        spaces = tuple(sorted(check_names(self.data_spaces, "$.body.data_spaces", 2, 2)))
        if len(spaces) != 2 or len(tuple(self.data_spaces)) != 2:
            raise invalid("$.body.data_spaces", "two different data spaces")
        object.__setattr__(self, "data_spaces", spaces)
        purposes = check_names(self.purposes, "$.body.purposes", 1, MAX_PURPOSES)
        object.__setattr__(self, "purposes", purposes)
        _times(self.issued_at, self.valid_until)

    def body(self) -> dict[str, Value]:
        """The link's body as a canonical map."""
        return {
            "v": VERSION,
            "data_spaces": list[Value](self.data_spaces),
            "purposes": list[Value](sorted(self.purposes)),
            "issued_at": self.issued_at,
            "valid_until": self.valid_until,
        }

    @classmethod
    def from_body(cls, value: Value, signatures: dict[str, bytes]) -> DataSpaceLink:
        """Parse a link body read from the wire."""
        body = expect_body(value, "$.body", _LINK_KEYS, VERSION)
        first, second = sorted(expect_sorted_names(body["data_spaces"], "$.body.data_spaces", 2, 2))
        return cls(
            data_spaces=(first, second),
            purposes=expect_sorted_names(body["purposes"], "$.body.purposes", 1, MAX_PURPOSES),
            issued_at=expect_int(body["issued_at"], "$.body.issued_at", 0, MAX_TIME),
            valid_until=expect_int(body["valid_until"], "$.body.valid_until", 0, MAX_TIME),
            signatures=signatures,
        )

    def joins(self, first: str, second: str) -> bool:
        """Whether this link is between data spaces ``first`` and ``second`` (either order)."""
        return self.data_spaces == tuple(sorted((first, second))) and first != second
