"""Tests for node/consent/messages.py: round trips, signatures, refusals, the decode fuzz rule."""

from __future__ import annotations

import contextlib
import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from network import canonical
from node.consent import messages
from node.consent.messages import (
    Bundle,
    Confirmed,
    Countersigned,
    Decision,
    Finalized,
    MessageError,
    Pending,
    RejectedError,
    Request,
    Retired,
    Terminated,
    check_bundle,
    check_decision,
    countersign,
    decode,
    encode,
    sign_decision,
)
from tests.node.consent.negotiation_helpers import NOW, identity, make_manifest

PROPOSER, P1, P2, OTHER = identity(1), identity(2), identity(3), identity(9)
MANIFEST = make_manifest(PROPOSER, [PROPOSER, P1, P2], nonce="0" * 32)
SECOND = make_manifest(PROPOSER, [PROPOSER, P1, P2], nonce="1" * 32)


def agree(signer: object = P1, manifest_id: str = MANIFEST.id) -> Decision:
    """A signed agreement by ``signer``."""
    return sign_decision(
        signer,  # type: ignore[arg-type]
        manifest_id,
        agreed=True,
        valid_until=NOW + 600,
        max_runs=2,
        now=NOW,
    )


def bundle(kind: type[Bundle] = Countersigned) -> Bundle:
    """A correctly counter-signed bundle of every provider's agreement."""
    decisions = tuple(sorted((agree(p) for p in (PROPOSER, P1, P2)), key=lambda d: d.provider))
    return kind(MANIFEST, decisions, countersign(PROPOSER, MANIFEST, decisions))


def samples() -> list[messages.Message]:
    """One message of every type."""
    refusal = sign_decision(
        P2,
        MANIFEST.id,
        agreed=False,
        valid_until=NOW,
        max_runs=0,
        now=NOW,
        reason="purpose_not_allowed",
        constraint="$.permission.constraints[2]",
    )
    return [
        Request(MANIFEST),
        Pending(MANIFEST.id, NOW + 100),
        agree(),
        refusal,
        bundle(Countersigned),
        bundle(Finalized),
        Confirmed(MANIFEST.id),
        Terminated(MANIFEST.id, "decision_timeout"),
        Retired(MANIFEST.id, "retired"),
    ]


@pytest.mark.parametrize("message", samples(), ids=lambda m: type(m).__name__)
def test_every_message_round_trips(message: messages.Message) -> None:
    """Each message decodes back to itself from its canonical bytes."""
    assert decode(encode(message)) == message


def test_decision_checks_pass_for_the_named_provider() -> None:
    """A provider's own signed decision, sent by that provider, is accepted."""
    check_decision(agree(), MANIFEST, P1.node_id)


def test_forged_signature_is_refused() -> None:
    """A decision whose signature is not the provider's is refused as invalid_signature."""
    forged = dataclasses.replace(agree(), signature=agree(P2).signature)
    with pytest.raises(RejectedError) as caught:
        check_decision(forged, MANIFEST, P1.node_id)
    assert caught.value.code == "invalid_signature"


def test_changed_terms_break_the_signature() -> None:
    """Raising max_runs after signing makes the signature fail."""
    tampered = dataclasses.replace(agree(), max_runs=99)
    with pytest.raises(RejectedError, match="signature"):
        check_decision(tampered, MANIFEST, P1.node_id)


def test_replayed_decision_for_another_manifest_is_refused() -> None:
    """A decision on one manifest is refused for another, relabelled or not."""
    with pytest.raises(RejectedError) as caught:
        check_decision(agree(), SECOND, P1.node_id)
    assert caught.value.code == "wrong_manifest"
    relabelled = dataclasses.replace(agree(), manifest_id=SECOND.id)
    with pytest.raises(RejectedError) as caught:
        check_decision(relabelled, SECOND, P1.node_id)
    assert caught.value.code == "invalid_signature"


def test_decision_from_a_node_that_is_not_the_provider_is_refused() -> None:
    """A non-provider's decision, or a provider's relayed by another node, is not_provider."""
    with pytest.raises(RejectedError) as caught:
        check_decision(agree(OTHER), MANIFEST, OTHER.node_id)
    assert caught.value.code == "not_provider"
    with pytest.raises(RejectedError) as caught:
        check_decision(agree(P1), MANIFEST, P2.node_id)
    assert caught.value.code == "not_provider"


def test_bundle_is_checked_in_full() -> None:
    """A correct bundle passes; sender, completeness, refusals, expiry and countersig all count."""
    good = bundle()
    check_bundle(good, PROPOSER.node_id, NOW)
    with pytest.raises(RejectedError, match="proposer"):
        check_bundle(good, P1.node_id, NOW)
    with pytest.raises(RejectedError, match="expired"):
        check_bundle(good, PROPOSER.node_id, NOW + 600)
    short = Countersigned(MANIFEST, good.decisions[:2], good.signature)
    with pytest.raises(RejectedError, match="one agreement per provider"):
        check_bundle(short, PROPOSER.node_id, NOW)
    wrong_signer = dataclasses.replace(good, signature=countersign(P1, MANIFEST, good.decisions))
    with pytest.raises(RejectedError) as caught:
        check_bundle(wrong_signer, PROPOSER.node_id, NOW)
    assert caught.value.code == "invalid_signature"


def test_bundle_with_a_refusal_is_invalid() -> None:
    """A bundle counts only agreements."""
    refusal = sign_decision(
        P1, MANIFEST.id, agreed=False, valid_until=NOW + 60, max_runs=0, now=NOW, reason="no"
    )
    decisions = tuple(sorted((agree(PROPOSER), refusal, agree(P2)), key=lambda d: d.provider))
    sneaky = Countersigned(MANIFEST, decisions, countersign(PROPOSER, MANIFEST, decisions))
    with pytest.raises(RejectedError) as caught:
        check_bundle(sneaky, PROPOSER.node_id, NOW)
    assert caught.value.code == "invalid_bundle"


def test_unknown_field_type_and_version_are_malformed() -> None:
    """Unknown fields, an unknown type and a newer version all raise MessageError with a path."""
    body = messages.to_wire(Confirmed(MANIFEST.id))
    for changed, path in (
        ({**body, "extra": 1}, "$.<unknown #0>"),  # unknown keys by wire position only
        ({**body, "type": "gossip"}, "$.type"),
        ({**body, "v": 2}, "$.v"),
        ({**body, "manifest": "m-short"}, "$.manifest"),
    ):
        with pytest.raises(MessageError) as caught:
            decode(canonical.encode(changed))
        assert caught.value.code == "message_malformed"
        assert caught.value.details["path"] == path


def test_request_with_an_invalid_or_unsorted_manifest_is_malformed() -> None:
    """A manifest that does not validate, or is not in canonical order, is refused."""
    body = messages.to_wire(Request(MANIFEST))
    manifest = dict(body["manifest"])  # type: ignore[arg-type]
    with pytest.raises(MessageError) as caught:
        decode(canonical.encode({**body, "manifest": {**manifest, "kind": "everything"}}))
    assert caught.value.details["path"] == "$.manifest.kind"
    reordered = {**manifest, "compute_parties": list(reversed(manifest["compute_parties"]))}  # type: ignore[call-overload]
    with pytest.raises(MessageError, match="consent message"):
        decode(canonical.encode({**body, "manifest": reordered}))


def test_refusal_needs_a_reason_and_agreement_none() -> None:
    """An agreement with a reason, or a refusal without one, does not decode."""
    body = messages.to_wire(agree())
    with pytest.raises(MessageError):
        decode(canonical.encode({**body, "reason": "because"}))
    with pytest.raises(MessageError):
        decode(canonical.encode({**body, "outcome": "refused"}))


def _decode_or_error(data: bytes) -> None:
    with contextlib.suppress(MessageError):
        assert isinstance(decode(data), (*messages.Message.__args__,))  # type: ignore[attr-defined]


@given(st.binary(max_size=400))
@settings(max_examples=1500)
def test_fuzz_any_bytes_decode_or_raise_the_one_error(data: bytes) -> None:
    """Random bytes give a message or MessageError, nothing else."""
    _decode_or_error(data)


@given(st.sampled_from([encode(m) for m in samples()]), st.data())
@settings(max_examples=1500)
def test_fuzz_mutated_messages_decode_or_raise_the_one_error(
    valid: bytes, data: st.DataObject
) -> None:
    """Valid messages with bytes flipped, cut or inserted give a message or MessageError."""
    buffer = bytearray(valid)
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        index = data.draw(st.integers(0, max(0, len(buffer) - 1)))
        if action == "flip" and buffer:
            buffer[index] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del buffer[index:]
        else:
            buffer[index:index] = data.draw(st.binary(min_size=1, max_size=4))
    _decode_or_error(bytes(buffer))
