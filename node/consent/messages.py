"""The wire messages of the consent negotiation, their signatures and their one strict decoder.

Every message is one canonical map (``network.canonical``) with ``"v": 1`` and a ``"type"``; the
layout of each is in ``docs/spec/negotiation.md``. Two kinds of signature (Ed25519, through
``network.identity``) make consent provable by anyone holding the bundle:

- a provider's **decision** over ``confide/v1/consent-decision`` and the map of the decision's
  fields (manifest id, provider, outcome, reason, failing constraint, validity, runs, time);
- the proposer's **counter-signature** over ``confide/v1/consent-countersignature`` and the map
  ``{"manifest", "proposer", "signatures": {provider: decision signature}}``.

The fuzz rule: :func:`decode` turns any bytes into a message or raises :class:`MessageError`
(code ``message_malformed``), nothing else. A message that decodes can still be refused by the
checks here (:func:`check_decision`, :func:`check_bundle`), which raise :class:`RejectedError`
with a stable code: ``invalid_signature``, ``wrong_manifest``, ``not_provider``,
``not_proposer``, ``invalid_bundle``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Final, TypeAlias

from network import canonical
from network.canonical import Value, expect_body, expect_bytes, expect_int, expect_str
from network.errors import NetworkError, SignatureError
from network.identity import SIGNATURE_SIZE, Identity, check_node_id, verify
from node.consent.manifest import Manifest, check_manifest_id, parse_manifest
from node.consent.problems import InvalidConsentError
from node.errors import ForbiddenError, InvalidError

VERSION: Final = 1
DOMAIN_DECISION: Final = b"confide/v1/consent-decision"
DOMAIN_COUNTERSIGNATURE: Final = b"confide/v1/consent-countersignature"
MAX_MESSAGE: Final = canonical.MAX_ENCODED
MAX_CONSTRAINT: Final = 256
MAX_RUNS: Final = 1_000_000
MAX_TIME: Final = (1 << 40) - 1
AGREED: Final = "agreed"
REFUSED: Final = "refused"


class MessageError(InvalidError):
    """Bytes that are not a valid consent message (``message_malformed``), with the field path."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            "message_malformed", "not a valid consent message", {"path": path, "reason": reason}
        )


class RejectedError(ForbiddenError):
    """A well-formed message that is refused: a bad signature, a wrong manifest or sender."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)


@dataclass(frozen=True)
class Request:
    """Proposer → provider: please decide on this manifest."""

    manifest: Manifest


@dataclass(frozen=True)
class Pending:
    """Provider → proposer: a person decides; expect a decision by ``deadline``."""

    manifest_id: str
    deadline: int


@dataclass(frozen=True)
class Decision:
    """Provider → proposer: a signed agreement or refusal of one manifest."""

    manifest_id: str
    provider: str
    outcome: str
    reason: str | None
    constraint: str | None
    valid_until: int
    max_runs: int
    decided_at: int
    signature: bytes

    def signed_body(self) -> dict[str, Value]:
        """The map the provider's signature covers."""
        return _decision_body(
            self.manifest_id,
            self.provider,
            self.outcome,
            self.reason,
            self.constraint,
            self.valid_until,
            self.max_runs,
            self.decided_at,
        )


@dataclass(frozen=True)
class Bundle:
    """The manifest, every provider's agreement and the proposer's counter-signature."""

    manifest: Manifest
    decisions: tuple[Decision, ...]
    signature: bytes


@dataclass(frozen=True)
class Countersigned(Bundle):
    """Proposer → each provider: the counter-signed bundle; the provider checks and confirms."""


@dataclass(frozen=True)
class Finalized(Bundle):
    """Proposer → compute parties and recipients: every provider confirmed the bundle."""


@dataclass(frozen=True)
class Confirmed:
    """Provider → proposer: every signature of the bundle checked; this provider is FINALIZED."""

    manifest_id: str


@dataclass(frozen=True)
class Terminated:
    """Either way: the negotiation of this manifest ended, with a reason code."""

    manifest_id: str
    reason: str


@dataclass(frozen=True)
class Retired:
    """Provider → every participant: the agreement is retired; no further run will be served."""

    manifest_id: str
    reason: str


Message: TypeAlias = (
    Request | Pending | Decision | Countersigned | Finalized | Confirmed | Terminated | Retired
)


def _decision_body(
    manifest_id: str,
    provider: str,
    outcome: str,
    reason: str | None,
    constraint: str | None,
    valid_until: int,
    max_runs: int,
    decided_at: int,
) -> dict[str, Value]:
    return {
        "v": VERSION,
        "manifest": manifest_id,
        "provider": provider,
        "outcome": outcome,
        "reason": None if reason is None else str(reason),
        "constraint": constraint,
        "valid_until": valid_until,
        "max_runs": max_runs,
        "decided_at": decided_at,
    }


def sign_decision(
    identity: Identity,
    manifest_id: str,
    *,
    agreed: bool,
    valid_until: int,
    max_runs: int,
    now: int,
    reason: str | None = None,
    constraint: str | None = None,
) -> Decision:
    """This provider's signed decision on ``manifest_id``."""
    outcome = AGREED if agreed else REFUSED
    body = _decision_body(
        manifest_id, identity.node_id, outcome, reason, constraint, valid_until, max_runs, now
    )
    signature = identity.sign(DOMAIN_DECISION, body)
    return Decision(
        manifest_id,
        identity.node_id,
        outcome,
        reason,
        constraint,
        valid_until,
        max_runs,
        now,
        signature,
    )


def countersignature_body(
    manifest_id: str, proposer: str, decisions: tuple[Decision, ...]
) -> dict[str, Value]:
    """The map the proposer's counter-signature covers."""
    signatures: dict[str, Value] = {d.provider: d.signature for d in decisions}
    return {"v": VERSION, "manifest": manifest_id, "proposer": proposer, "signatures": signatures}


def countersign(identity: Identity, manifest: Manifest, decisions: tuple[Decision, ...]) -> bytes:
    """The proposer's signature over the set of provider signatures."""
    ordered = tuple(sorted(decisions, key=lambda d: d.provider))
    return identity.sign(
        DOMAIN_COUNTERSIGNATURE,
        countersignature_body(manifest.id, identity.node_id, ordered),
    )


def check_decision(decision: Decision, manifest: Manifest, sender: str) -> None:
    """Accept ``decision`` from ``sender`` for ``manifest`` only if all of it is right."""
    if decision.manifest_id != manifest.id:
        raise RejectedError("wrong_manifest", "the decision is for another manifest")
    if decision.provider not in manifest.providers:
        raise RejectedError("not_provider", "the decision is not by a provider of the manifest")
    if sender != decision.provider:
        raise RejectedError("not_provider", "the decision came from a node that did not sign it")
    try:
        verify(decision.provider, DOMAIN_DECISION, decision.signed_body(), decision.signature)
    except SignatureError:
        raise RejectedError(
            "invalid_signature", "the decision's signature does not verify"
        ) from None


def check_bundle(bundle: Bundle, sender: str, now: int) -> None:
    """Check every signature of a counter-signed bundle, as each participant does itself.

    The sender must be the manifest's proposer; there must be exactly one agreement per
    provider, each for this manifest, signed by that provider and still valid; the proposer's
    counter-signature must cover exactly those signatures.
    """
    manifest = bundle.manifest
    if sender != manifest.proposer:
        raise RejectedError("not_proposer", "the bundle did not come from the manifest's proposer")
    providers = tuple(d.provider for d in bundle.decisions)
    if providers != manifest.providers:
        raise RejectedError("invalid_bundle", "the bundle does not hold one agreement per provider")
    for decision in bundle.decisions:
        check_decision(decision, manifest, decision.provider)
        if decision.outcome != AGREED:
            raise RejectedError("invalid_bundle", "the bundle holds a refusal")
        if decision.valid_until <= now:
            raise RejectedError("invalid_bundle", "an agreement in the bundle has expired")
    body = countersignature_body(manifest.id, manifest.proposer, bundle.decisions)
    try:
        verify(manifest.proposer, DOMAIN_COUNTERSIGNATURE, body, bundle.signature)
    except SignatureError:
        raise RejectedError("invalid_signature", "the counter-signature does not verify") from None


# --- encoding ---------------------------------------------------------------------------------


def _decision_fields(decision: Decision) -> dict[str, Value]:
    fields = decision.signed_body()
    del fields["v"]
    fields["signature"] = decision.signature
    return fields


def to_wire(message: Message) -> dict[str, Value]:
    """The canonical map of ``message`` (before encoding)."""
    body: dict[str, Value]
    if isinstance(message, Request):
        body = {"type": "request", "manifest": message.manifest.to_json()}
    elif isinstance(message, Pending):
        body = {"type": "pending", "manifest": message.manifest_id, "deadline": message.deadline}
    elif isinstance(message, Decision):
        body = {"type": "decision", **_decision_fields(message)}
    elif isinstance(message, Bundle):
        body = {
            "type": "countersigned" if isinstance(message, Countersigned) else "finalized",
            "manifest": message.manifest.to_json(),
            "decisions": [_decision_fields(d) for d in message.decisions],
            "signature": message.signature,
        }
    elif isinstance(message, Confirmed):
        body = {"type": "confirmed", "manifest": message.manifest_id}
    else:
        kind = "terminated" if isinstance(message, Terminated) else "retired"
        body = {"type": kind, "manifest": message.manifest_id, "reason": str(message.reason)}
    return {"v": VERSION, **body}


def encode(message: Message) -> bytes:
    """The canonical bytes of ``message``."""
    return canonical.encode(to_wire(message))


_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "request": ("manifest",),
    "pending": ("manifest", "deadline"),
    "decision": (
        "manifest",
        "provider",
        "outcome",
        "reason",
        "constraint",
        "valid_until",
        "max_runs",
        "decided_at",
        "signature",
    ),
    "countersigned": ("manifest", "decisions", "signature"),
    "finalized": ("manifest", "decisions", "signature"),
    "confirmed": ("manifest",),
    "terminated": ("manifest", "reason"),
    "retired": ("manifest", "reason"),
}


def decode(data: bytes) -> Message:
    """The message ``data`` encodes; raises :class:`MessageError` for anything else."""
    try:
        value = canonical.decode(data, MAX_MESSAGE)
        return _read(value)
    except MessageError:
        raise
    except InvalidConsentError as error:
        first = error.problems[0]
        raise MessageError(f"$.manifest{first.path[1:]}", first.reason) from None
    except NetworkError as error:  # DecodeError and the strict readers' ValidationError
        raise MessageError(getattr(error, "path", "$"), error.code.name.lower()) from None


def _read(value: Value) -> Message:
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise MessageError("$.type", "missing message type")
    kind = value["type"]
    assert isinstance(kind, str)
    fields = _FIELDS.get(kind)
    if fields is None:
        raise MessageError("$.type", "unknown message type")
    body = expect_body(value, "$", ("v", "type", *fields), VERSION)
    if kind == "request":
        return Request(_read_manifest(body["manifest"]))
    if kind == "decision":
        return _read_decision(body, "$")
    if kind in ("countersigned", "finalized"):
        return _read_bundle(body, kind)
    manifest_id = _read_manifest_id(body["manifest"], "$.manifest")
    if kind == "pending":
        return Pending(manifest_id, expect_int(body["deadline"], "$.deadline", 0, MAX_TIME))
    if kind == "confirmed":
        return Confirmed(manifest_id)
    reason = canonical.check_name(body["reason"], "$.reason")
    return Terminated(manifest_id, reason) if kind == "terminated" else Retired(manifest_id, reason)


def _read_manifest(value: Value) -> Manifest:
    """The manifest of a request or bundle: valid, and already in its canonical form."""
    if not isinstance(value, dict):
        raise MessageError("$.manifest", "expected a map")
    manifest = parse_manifest(value)
    if manifest.encode() != canonical.encode(value):
        raise MessageError("$.manifest", "not in canonical form")
    return manifest


def _read_manifest_id(value: Value, path: str) -> str:
    try:
        return check_manifest_id(value)
    except InvalidConsentError:
        raise MessageError(path, "not a manifest id") from None


def _optional_text(value: Value, path: str, max_length: int) -> str | None:
    return None if value is None else expect_str(value, path, max_length)


def _read_decision(body: dict[str, Value], path: str) -> Decision:
    outcome = body["outcome"]
    if outcome not in (AGREED, REFUSED):
        raise MessageError(f"{path}.outcome", "expected agreed or refused")
    assert isinstance(outcome, str)
    reason = body["reason"]
    if reason is not None:
        reason = canonical.check_name(reason, f"{path}.reason")
    if (outcome == REFUSED) != (reason is not None):
        raise MessageError(f"{path}.reason", "a refusal has a reason, an agreement has none")
    constraint = _optional_text(body["constraint"], f"{path}.constraint", MAX_CONSTRAINT)
    if constraint is not None and (outcome == AGREED or not constraint.isprintable()):
        raise MessageError(f"{path}.constraint", "only a refusal names a printable constraint")
    return Decision(
        manifest_id=_read_manifest_id(body["manifest"], f"{path}.manifest"),
        provider=check_node_id(body["provider"], f"{path}.provider"),
        outcome=outcome,
        reason=reason,
        constraint=constraint,
        valid_until=expect_int(body["valid_until"], f"{path}.valid_until", 0, MAX_TIME),
        max_runs=expect_int(body["max_runs"], f"{path}.max_runs", 0, MAX_RUNS),
        decided_at=expect_int(body["decided_at"], f"{path}.decided_at", 0, MAX_TIME),
        signature=expect_bytes(body["signature"], f"{path}.signature", SIGNATURE_SIZE),
    )


def _read_bundle(body: dict[str, Value], kind: str) -> Countersigned | Finalized:
    manifest = _read_manifest(body["manifest"])
    items = canonical.expect_list(body["decisions"], "$.decisions", len(manifest.providers))
    decisions = []
    for index, item in enumerate(items):
        path = f"$.decisions[{index}]"
        fields = _FIELDS["decision"]
        decisions.append(_read_decision(canonical.expect_map(item, path, fields), path))
    if any(a.provider >= b.provider for a, b in itertools.pairwise(decisions)):
        raise MessageError("$.decisions", "decisions not in increasing provider order")
    signature = expect_bytes(body["signature"], "$.signature", SIGNATURE_SIZE)
    if kind == "countersigned":
        return Countersigned(manifest, tuple(decisions), signature)
    return Finalized(manifest, tuple(decisions), signature)
