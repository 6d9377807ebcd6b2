"""The handshake's clear-text and payload codecs: hello, identity payload and verdict.

Pinned bytes from ``docs/spec/link.md`` §3, round trips, the strict cases, and the fuzz rule for
each decoder: any bytes are accepted or raise ``HandshakeError``, nothing else.
"""

from __future__ import annotations

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from network.channel import (
    MAX_HELLO,
    MAX_SPACES,
    LocalParty,
    Peer,
    decode_hello,
    decode_identity_payload,
    decode_verdict,
    encode_hello,
    encode_identity_payload,
    encode_verdict,
)
from network.errors import HandshakeError, WireCode
from network.evilpeer import identity_payload
from tests.network.test_canonical import msgpack_objects, mutated
from tests.network.test_dataspace import credential, insecure_identity

W = WireCode
ALICE = insecure_identity("channel-alice")
ALICE_STATIC = X25519PrivateKey.from_private_bytes(bytes(range(32)))
STATIC = ALICE_STATIC.public_key().public_bytes_raw()
LOCAL = LocalParty(ALICE, ALICE_STATIC, ("nl-a", "be-b"), (credential(ALICE).encode(), b""))


# --- pinned bytes and round trips -----------------------------------------------------------


def test_hello_bytes_are_pinned() -> None:
    """The hello for one data space is the 22 bytes of the spec and decodes back."""
    hello = encode_hello(["loopback"])
    assert hello.hex() == "82a17601a673706163657391a86c6f6f706261636b"
    assert decode_hello(hello) == ("loopback",)
    assert decode_hello(encode_hello(["b", "a"])) == ("a", "b")


def test_verdict_bytes_are_pinned() -> None:
    """Accepted and NOT_AUTHORIZED verdicts are the spec's bytes and decode back."""
    assert encode_verdict(None).hex() == "82a26f6bc3a4636f646500"
    assert encode_verdict(W.NOT_AUTHORIZED).hex() == "82a26f6bc2a4636f6465cd012e"
    assert decode_verdict(encode_verdict(None)) is None
    for code in (W.NOT_AUTHORIZED, W.REVOKED, W.NO_SHARED_DATA_SPACE, W.INVALID_FIELD):
        assert decode_verdict(encode_verdict(code)) is code


def test_identity_payload_round_trip() -> None:
    """An honest payload proves its node id, data spaces and credentials."""
    peer = decode_identity_payload(encode_identity_payload(LOCAL), STATIC)
    assert peer == Peer(ALICE.node_id, ("be-b", "nl-a"), LOCAL.credentials)


def test_identity_payload_ignores_extra_keys_and_any_order() -> None:
    """Receivers accept any key order and ignore keys they do not know (spec §3.3)."""
    body = msgpack.unpackb(encode_identity_payload(LOCAL), raw=False)
    reordered = {"zz-future": [1, 2], **dict(reversed(list(body.items())))}
    peer = decode_identity_payload(msgpack.packb(reordered, use_bin_type=True), STATIC)
    assert peer.node_id == ALICE.node_id


# --- strict cases ---------------------------------------------------------------------------


HELLOS_REFUSED = {
    "not-msgpack": b"\xc1",
    "trailing-byte": encode_hello(["a"]) + b"\x00",
    "a-list": msgpack.packb([1, ["a"]]),
    "v-true": msgpack.packb({"v": True, "spaces": ["a"]}),
    "v-float": msgpack.packb({"v": 1.0, "spaces": ["a"]}),
    "v-string": msgpack.packb({"v": "1", "spaces": ["a"]}),
    "v-2": msgpack.packb({"v": 2, "spaces": ["a"]}),
    "no-spaces": msgpack.packb({"v": 1}),
    "spaces-a-map": msgpack.packb({"v": 1, "spaces": {"a": 1}}),
    "space-not-a-name": msgpack.packb({"v": 1, "spaces": ["Has Capitals"]}),
    "space-empty": msgpack.packb({"v": 1, "spaces": [""]}),
    "space-bytes": msgpack.packb({"v": 1, "spaces": [b"a"]}, use_bin_type=True),
    "space-too-long": msgpack.packb({"v": 1, "spaces": ["a" * 65]}),
    "too-many-spaces": msgpack.packb({"v": 1, "spaces": ["a"] * (MAX_SPACES + 1)}),
    "bin-keys": msgpack.packb({b"v": 1, b"spaces": ["a"]}, use_bin_type=True),
    "int-keys": msgpack.packb({1: 1}),
    "timestamp-ext": b"\xd6\xff\x00\x00\x00\x00",
    "nested-deeply": b"\x91" * 3000 + b"\xc0",
}


@pytest.mark.parametrize("name", list(HELLOS_REFUSED))
def test_bad_hellos_are_malformed(name: str) -> None:
    """Each hello in HELLOS_REFUSED is HANDSHAKE_MALFORMED."""
    with pytest.raises(HandshakeError) as caught:
        decode_hello(HELLOS_REFUSED[name])
    assert caught.value.code is W.HANDSHAKE_MALFORMED


def test_oversized_hello_is_refused_before_parsing() -> None:
    """A hello over MAX_HELLO bytes is HANDSHAKE_OVERSIZED."""
    with pytest.raises(HandshakeError) as caught:
        decode_hello(b"\xc1" * (MAX_HELLO + 1))
    assert caught.value.code is W.HANDSHAKE_OVERSIZED


VERDICTS_REFUSED = {
    "not-msgpack": b"",
    "a-list": msgpack.packb([True, 0]),
    "an-int": msgpack.packb(5),
    "no-ok": msgpack.packb({"code": 0}),
    "no-code": msgpack.packb({"ok": True}),
    "ok-one": msgpack.packb({"ok": 1, "code": 0}),
    "ok-with-a-code": msgpack.packb({"ok": True, "code": 302}),
    "refused-with-code-0": msgpack.packb({"ok": False, "code": 0}),
    "code-infinite": msgpack.packb({"ok": False, "code": float("inf")}),
    "code-nan": msgpack.packb({"ok": False, "code": float("nan")}),
    "code-float": msgpack.packb({"ok": False, "code": 302.0}),
    "code-string": msgpack.packb({"ok": False, "code": "302"}),
    "code-bool": msgpack.packb({"ok": False, "code": True}),
    "code-unknown": msgpack.packb({"ok": False, "code": 999}),
    "code-huge": msgpack.packb({"ok": False, "code": 2**64 - 1}),
    "code-negative": msgpack.packb({"ok": False, "code": -302}),
    "bin-keys": msgpack.packb({b"ok": True, b"code": 0}, use_bin_type=True),
    "truncated": encode_verdict(None)[:-1],
}


@pytest.mark.parametrize("name", list(VERDICTS_REFUSED))
def test_bad_verdicts_are_malformed(name: str) -> None:
    """Each verdict in VERDICTS_REFUSED is HANDSHAKE_MALFORMED (none is read as accepted)."""
    with pytest.raises(HandshakeError) as caught:
        decode_verdict(VERDICTS_REFUSED[name])
    assert caught.value.code is W.HANDSHAKE_MALFORMED


def payload(**changes: object) -> bytes:
    """An honest identity payload for ALICE with some fields replaced (``None``: removed)."""
    body = msgpack.unpackb(encode_identity_payload(LOCAL), raw=False)
    for key, value in changes.items():
        if value is None:
            del body[key]
        else:
            body[key] = value
    return bytes(msgpack.packb(body, use_bin_type=True))


PAYLOADS_REFUSED = {
    "not-msgpack": (b"\x92\x01", W.HANDSHAKE_MALFORMED),
    "a-list": (msgpack.packb([1, 2]), W.HANDSHAKE_MALFORMED),
    "no-id": (payload(id=None), W.HANDSHAKE_MALFORMED),
    "short-id": (payload(id=bytes(31)), W.HANDSHAKE_MALFORMED),
    "id-as-str": (payload(id="k" * 32), W.HANDSHAKE_MALFORMED),
    "sig-as-list": (payload(sig=[1]), W.HANDSHAKE_MALFORMED),
    "cred-not-a-list": (payload(cred=b"x"), W.HANDSHAKE_MALFORMED),
    "cred-of-ints": (payload(cred=[1]), W.HANDSHAKE_MALFORMED),
    "small-order-id": (payload(id=bytes(32)), W.INVALID_PUBLIC_KEY),
    "non-canonical-id": (payload(id=b"\xff" * 31 + b"\x7f"), W.INVALID_PUBLIC_KEY),
    "short-sig": (payload(sig=bytes(63)), W.HANDSHAKE_IDENTITY_MISMATCH),
    "other-signer": (
        identity_payload(insecure_identity("bob"), STATIC, ["a"], identity_key=ALICE.public_key),
        W.HANDSHAKE_IDENTITY_MISMATCH,
    ),
    "spaces-missing": (payload(spaces=None), W.HANDSHAKE_MALFORMED),
    "space-not-a-name": (payload(spaces=["bad\nname"]), W.HANDSHAKE_MALFORMED),
}


@pytest.mark.parametrize("name", list(PAYLOADS_REFUSED))
def test_bad_identity_payloads_are_refused_with_their_code(name: str) -> None:
    """Each payload in PAYLOADS_REFUSED raises HandshakeError with the code beside it."""
    data, code = PAYLOADS_REFUSED[name]
    with pytest.raises(HandshakeError) as caught:
        decode_identity_payload(data, STATIC)
    assert caught.value.code is code


def test_payload_signed_over_another_static_key_is_a_mismatch() -> None:
    """A valid payload checked against a different Noise static key is IDENTITY_MISMATCH."""
    other = X25519PrivateKey.generate().public_key().public_bytes_raw()
    with pytest.raises(HandshakeError) as caught:
        decode_identity_payload(encode_identity_payload(LOCAL), other)
    assert caught.value.code is W.HANDSHAKE_IDENTITY_MISMATCH


# --- fuzz: accepted, or HandshakeError and nothing else --------------------------------------


def decode_all(data: bytes) -> None:
    """Feed ``data`` to each decoder; each returns or raises HandshakeError with a reader code."""
    codes = []
    for decode in (decode_hello, lambda d: decode_identity_payload(d, STATIC), decode_verdict):
        try:
            decode(data)
        except HandshakeError as error:
            codes.append(error.code)
    assert set(codes) <= {
        W.HANDSHAKE_MALFORMED,
        W.HANDSHAKE_OVERSIZED,
        W.INVALID_PUBLIC_KEY,
        W.HANDSHAKE_IDENTITY_MISMATCH,
    }


@given(st.binary(max_size=400))
@settings(max_examples=1500)
def test_fuzz_any_bytes(data: bytes) -> None:
    """Any bytes given to a channel decoder are accepted or raise HandshakeError."""
    decode_all(data)


VALID = [encode_hello(["loopback", "nl-a"]), encode_identity_payload(LOCAL), encode_verdict(None)]
VALID.append(encode_verdict(W.REVOKED))


@given(st.sampled_from(VALID), st.data())
@settings(max_examples=1500)
def test_fuzz_mutations_of_valid_encodings(valid: bytes, data: st.DataObject) -> None:
    """Valid hellos, payloads and verdicts with random edits are accepted or HandshakeError."""
    decode_all(mutated(data, valid))


@given(msgpack_objects(), st.booleans())
@settings(max_examples=800)
def test_fuzz_any_msgpack_value(obj: object, bin_type: bool) -> None:
    """Any msgpack value (floats, ext types, bin and int keys) is accepted or HandshakeError."""
    decode_all(msgpack.packb(obj, use_bin_type=bin_type))


FIELDS = {"v", "spaces", "id", "sig", "cred", "ok", "code"}


@given(st.dictionaries(st.sampled_from(sorted(FIELDS)), msgpack_objects(), max_size=7))
@settings(max_examples=800)
def test_fuzz_maps_with_the_known_keys(fields: dict[str, object]) -> None:
    """Maps with the decoders' own keys and any values are accepted or HandshakeError."""
    decode_all(msgpack.packb(fields, use_bin_type=True))
