"""The canonical encoding, signed node records and the record store.

The canonical encoder's tests live here, beside its first user, because this task's file list
has no ``test_canonical.py``; they move there when that file exists.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import replace

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from network import canonical
from network.canonical import DOMAIN_CHARTER, DOMAIN_NODE_RECORD, Value
from network.errors import DecodeError, LocalProtocolError, ValidationError, WireCode
from network.identity import Identity
from network.records import (
    MAX_CLOCK_SKEW,
    MAX_LIFETIME,
    MAX_RECORD_SIZE,
    NodeRecord,
    RecordAccepted,
    RecordRejected,
    RecordStore,
    SignedNodeRecord,
    check_address,
)

T0 = 1_700_000_000
SPACE = "nl-human-trafficking"
OTHER = "be-human-trafficking"


def insecure_identity(label: str) -> Identity:
    """A deterministic identity for tests only: its private key is a hash of ``label``."""
    return Identity.from_private_bytes(hashlib.sha256(label.encode()).digest())


ALICE = insecure_identity("alice")
BOB = insecure_identity("bob")


def make_record(
    identity: Identity = ALICE,
    sequence: int = 1,
    spaces: dict[str, frozenset[str]] | None = None,
    issued_at: int = T0,
    expires_at: int = T0 + 3600,
) -> NodeRecord:
    """A valid record for ``identity``."""
    return NodeRecord(
        node_id=identity.node_id,
        addresses=("wss://node.example.org:8443/confide", "ws://10.0.0.7:7400"),
        data_spaces=spaces if spaces is not None else {SPACE: frozenset({"lea", "compute"})},
        sequence=sequence,
        issued_at=issued_at,
        expires_at=expires_at,
    )


def signed_record(identity: Identity = ALICE, **changes: object) -> SignedNodeRecord:
    """A record signed by ``identity``."""
    return SignedNodeRecord.sign(make_record(identity, **changes), identity)  # type: ignore[arg-type]


def everyone_is_member(node_id: str, data_space: str) -> bool:
    """Membership stub: every node belongs to every data space."""
    return True


def flip(data: bytes, bit: int) -> bytes:
    """``data`` with one bit flipped."""
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# --- canonical encoding ---------------------------------------------------------------------


def canonical_values(depth: int = 5) -> st.SearchStrategy[Value]:
    """Canonical values nested at most ``depth`` deep (well inside the 16-level bound)."""
    leaves: st.SearchStrategy[Value] = (
        st.none()
        | st.booleans()
        | st.integers(min_value=canonical.MIN_INT, max_value=canonical.MAX_INT)
        | st.binary(max_size=40)
        | st.text(max_size=20)
    )
    if depth == 0:
        return leaves
    children = canonical_values(depth - 1)
    return (
        leaves
        | st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    )


values = canonical_values()


def test_encoding_is_pinned() -> None:
    """Keys sort, bytes are bin, ints are shortest: the spec's example, byte for byte."""
    value = {"b": 1, "a": [True, None, b"\x00", "é", -1, 2**32]}
    assert canonical.encode(value).hex() == "82a16196c3c0c40100a2c3a9ffcf0000000100000000a16201"


def test_sets_and_tuples_encode_as_sorted_lists() -> None:
    """A set encodes as its elements sorted by their encoding; a tuple as a list."""
    assert canonical.encode({"s": frozenset({"b", "a", "c"})}) == canonical.encode(
        {"s": ["a", "b", "c"]}
    )
    assert canonical.encode((1, 2)) == canonical.encode([1, 2])


@pytest.mark.parametrize(
    "value", [1.5, {1: "x"}, {b"k": 1}, 2**64, -(2**63) - 1, "\ud800", object(), bytearray(b"x")]
)
def test_unencodable_values_are_local_errors(value: object) -> None:
    """Floats, non-str keys, out-of-range ints, surrogates and other types are refused."""
    with pytest.raises(LocalProtocolError) as caught:
        canonical.encode(value)
    assert caught.value.code is WireCode.UNENCODABLE_VALUE


def test_digest_is_sha256_of_the_encoding() -> None:
    """digest(obj) is SHA-256 over encode(obj)."""
    value = {"x": [1, 2, 3]}
    assert canonical.digest(value) == hashlib.sha256(canonical.encode(value)).digest()


@given(values)
def test_round_trip(value: Value) -> None:
    """Every value decodes from its encoding to itself."""
    normalised = canonical.decode(canonical.encode(value))
    assert canonical.encode(normalised) == canonical.encode(value)
    assert normalised == canonical.decode(canonical.encode(normalised))


@given(st.binary(max_size=300))
@settings(max_examples=2000)
def test_decoder_accepts_only_canonical_bytes(data: bytes) -> None:
    """Any bytes are decoded or refused with DecodeError; what decodes re-encodes identically."""
    try:
        value = canonical.decode(data)
    except DecodeError:
        return
    assert canonical.encode(value) == data


@given(values, st.data())
@settings(max_examples=500)
def test_decoder_on_mutated_encodings(value: Value, data: st.DataObject) -> None:
    """A canonical encoding with one byte changed is refused or still exactly canonical."""
    encoded = bytearray(canonical.encode(value))
    index = data.draw(st.integers(0, len(encoded) - 1))
    encoded[index] = data.draw(st.integers(0, 255))
    try:
        decoded = canonical.decode(bytes(encoded))
    except DecodeError:
        return
    assert canonical.encode(decoded) == bytes(encoded)


@pytest.mark.parametrize(
    "data",
    [
        b"\xd0\x05",  # int8 holding 5: not shortest
        b"\xcc\x05",  # uint8 holding 5
        b"\xd9\x01a",  # str8 holding "a"
        b"\xca\x00\x00\x00\x00",  # float32
        b"\xcb" + bytes(8),  # float64
        b"\x82\xa1b\x01\xa1a\x02",  # keys out of order
        b"\x82\xa1a\x01\xa1a\x02",  # repeated key
        b"\x81\xc4\x01a\x01",  # bin key
        b"\x81\x01\x01",  # int key
        b"\xd4\x01\x02",  # fixext
        b"\xd6\xff\x00\x00\x00\x00",  # timestamp extension
        b"\xa2\xff\xfe",  # invalid UTF-8
        b"\x01\x02",  # trailing byte
        b"\x92\x01",  # truncated
        b"",  # empty
        b"\xc1",  # never-used byte
        b"\xdd\xff\xff\xff\xff",  # array announcing 2^32 - 1 items
        b"\x91" * 17 + b"\x01",  # nested deeper than 16
        b"\x91" * 5000,  # nested deeper than msgpack's stack
    ],
)
def test_non_canonical_inputs_refused(data: bytes) -> None:
    """Each non-canonical or malformed form is refused with the one decode error."""
    with pytest.raises(DecodeError):
        canonical.decode(data)


def test_decoder_size_bound() -> None:
    """Input longer than the caller's bound is refused before parsing."""
    data = canonical.encode(b"x" * 100)
    assert canonical.decode(data, max_size=len(data)) == b"x" * 100
    with pytest.raises(DecodeError):
        canonical.decode(data, max_size=len(data) - 1)


def test_signing_input_is_domain_then_encoding() -> None:
    """The bytes under every signature are the domain string followed by the encoded body."""
    body = {"a": 1}
    assert canonical.signing_input(DOMAIN_CHARTER, body) == DOMAIN_CHARTER + b"\x81\xa1a\x01"


# --- node records ---------------------------------------------------------------------------


def test_record_round_trip() -> None:
    """A signed record encodes within 4 KiB, decodes equal, and verifies."""
    signed = signed_record()
    data = signed.encode()
    assert len(data) <= MAX_RECORD_SIZE
    decoded = SignedNodeRecord.decode(data)
    assert decoded == signed
    assert decoded.encode() == data
    decoded.verify(T0 + 10)
    assert decoded.record.roles(SPACE) == {"lea", "compute"}
    assert decoded.record.roles(OTHER) == frozenset()


# The spec's worked example: the RFC 8032 TEST 1 key's record, byte for byte.
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RECORD_VECTOR = bytes.fromhex(
    "82a4626f647987a961646472657373657391b67773733a2f2f6c65612e6578616d706c653a38343433ab6461"
    "74615f7370616365739182a26964b46e6c2d68756d616e2d747261666669636b696e67a5726f6c657391a36c"
    "6561aa657870697265735f6174ce65554280a96973737565645f6174ce6553f100a76e6f64655f6964d93863"
    "66643132356e6a71616d637765666c70766b6c37336a34737a61686869686f63347874336b7463676a6e7061"
    "696e67723579686b656e61a873657175656e636507a17601a97369676e6174757265c440d48bb76f3ff78497"
    "654931b4f1f394e3ff148af079b2d5b1b18675048add97a478fcc780531bbdc4a37c766a55c8e2609e2e7813"
    "1566d14080e518cb7d2e360b"
)


def test_record_vector() -> None:
    """The spec's example record encodes to the pinned bytes and decodes back."""
    identity = Identity.from_private_bytes(RFC8032_SECRET)
    record = NodeRecord(
        identity.node_id,
        ("wss://lea.example:8443",),
        {SPACE: frozenset({"lea"})},
        7,
        T0,
        T0 + 86_400,
    )
    assert SignedNodeRecord.sign(record, identity).encode() == RECORD_VECTOR
    SignedNodeRecord.decode(RECORD_VECTOR).verify(T0)


def test_largest_record_fits() -> None:
    """A record at every field's limit still encodes within 4 KiB."""
    spaces = {
        f"space-{'x' * 56}-{i}": frozenset(f"role-{'r' * 57}-{j}" for j in range(8))
        for i in range(4)
    }
    record = NodeRecord(
        ALICE.node_id,
        tuple(f"wss://{'h' * 179}.example:{8000 + i}/p" for i in range(4)),
        spaces,
        2**64 - 1,
        2**63 - 1 - MAX_LIFETIME,
        2**63 - 1,
    )
    assert len(SignedNodeRecord.sign(record, ALICE).encode()) <= MAX_RECORD_SIZE


def test_every_bit_flip_refused() -> None:
    """Flipping any single bit of an encoded record makes decoding or verifying fail."""
    data = signed_record().encode()
    for bit in range(len(data) * 8):
        with pytest.raises(ValidationError):
            SignedNodeRecord.decode(flip(data, bit)).verify(T0 + 10)


def test_flipped_signature_is_forged() -> None:
    """A flipped signature bit is reported as FORGED_SIGNATURE at $.signature."""
    signed = signed_record()
    forged = replace(signed, signature=flip(signed.signature, 3))
    with pytest.raises(ValidationError) as caught:
        forged.verify(T0)
    assert (caught.value.code, caught.value.path) == (WireCode.FORGED_SIGNATURE, "$.signature")


def test_changed_record_is_forged() -> None:
    """Changing a signed record's content breaks its signature."""
    signed = signed_record()
    moved = replace(signed, record=replace(signed.record, addresses=("wss://evil.example",)))
    with pytest.raises(ValidationError) as caught:
        moved.verify(T0)
    assert caught.value.code is WireCode.FORGED_SIGNATURE


def test_other_signer_is_forged() -> None:
    """Bob's signature on a record naming Alice does not verify."""
    record = make_record(ALICE)
    signature = BOB.sign(DOMAIN_NODE_RECORD, record.to_wire())
    with pytest.raises(ValidationError) as caught:
        SignedNodeRecord(record, signature).verify(T0)
    assert caught.value.code is WireCode.FORGED_SIGNATURE


def test_wrong_domain_is_forged() -> None:
    """Alice's signature over her record body under the charter domain is refused."""
    record = make_record(ALICE)
    signature = ALICE.sign(DOMAIN_CHARTER, record.to_wire())
    with pytest.raises(ValidationError) as caught:
        SignedNodeRecord(record, signature).verify(T0)
    assert caught.value.code is WireCode.FORGED_SIGNATURE


def test_sign_refuses_another_identity() -> None:
    """A node can sign only its own record."""
    with pytest.raises(LocalProtocolError) as caught:
        SignedNodeRecord.sign(make_record(ALICE), BOB)
    assert caught.value.code is WireCode.WRONG_SIGNER


def test_record_time_window() -> None:
    """Valid from issued_at minus the skew allowance until (not including) expires_at."""
    signed = signed_record()
    signed.verify(T0 - MAX_CLOCK_SKEW)
    signed.verify(T0 + 3599)
    with pytest.raises(ValidationError) as early:
        signed.verify(T0 - MAX_CLOCK_SKEW - 1)
    assert (early.value.code, early.value.path) == (WireCode.NOT_YET_VALID, "$.body.issued_at")
    with pytest.raises(ValidationError) as late:
        signed.verify(T0 + 3600)
    assert (late.value.code, late.value.path) == (WireCode.EXPIRED, "$.body.expires_at")


@pytest.mark.parametrize(
    "address",
    [
        "wss://node.example.org",
        "ws://10.0.0.1:7400/confide",
        "wss://[2001:db8::1]:8443/",
    ],
)
def test_good_addresses(address: str) -> None:
    """ws:// and wss:// URLs with a host, optional port and path are accepted."""
    assert check_address(address, "$") == address


@pytest.mark.parametrize(
    "address",
    [
        "http://node.example.org",
        "wss://",
        "wss://user:pw@node.example.org",
        "wss://node.example.org/?q=1",
        "wss://node.example.org/#f",
        "wss://node.example.org:99999",
        "wss://node.example.org:0",
        "wss://node example.org",
        "wss://nöde.example.org",
        "wss://" + "h" * 200,
        "",
    ],
)
def test_bad_addresses(address: str) -> None:
    """Other schemes, credentials, queries, bad ports and non-ASCII hosts are refused."""
    with pytest.raises(ValidationError) as caught:
        check_address(address, "$.addresses[0]")
    assert (caught.value.code, caught.value.path) == (WireCode.INVALID_FIELD, "$.addresses[0]")


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"node_id": "cfd1nope"}, "$.node_id"),
        ({"addresses": ()}, "$.addresses"),
        ({"addresses": ("wss://a.example", "ftp://b.example")}, "$.addresses[1]"),
        ({"addresses": ("wss://a.example", "wss://a.example")}, "$.addresses"),
        ({"data_spaces": {}}, "$.data_spaces"),
        ({"data_spaces": {"Bad Space": frozenset()}}, "$.data_spaces[0]"),
        (
            {"data_spaces": {"a": frozenset(), "b": frozenset({"ok", "NOT-OK"})}},
            "$.data_spaces[1].roles[0]",
        ),
        ({"sequence": -1}, "$.sequence"),
        ({"expires_at": T0}, "$.expires_at"),
        ({"expires_at": T0 + MAX_LIFETIME + 1}, "$.expires_at"),
    ],
)
def test_record_validation_paths(changes: dict[str, object], path: str) -> None:
    """Invalid record fields are refused with a code and the path of the field."""
    with pytest.raises(ValidationError) as caught:
        replace(make_record(), **changes)  # type: ignore[arg-type]
    assert caught.value.path == path
    assert caught.value.code in {WireCode.INVALID_FIELD, WireCode.INVALID_PUBLIC_KEY}


def wire_record(body: dict[str, Value], identity: Identity = ALICE) -> bytes:
    """A hand-built wire record with a valid signature over ``body``."""
    signature = identity.sign(DOMAIN_NODE_RECORD, body)
    return canonical.encode({"body": body, "signature": signature})


def test_decode_reports_paths_below_body() -> None:
    """A bad field decoded from the wire is reported under $.body."""
    body = make_record().to_wire()
    body["addresses"] = ["ftp://x.example"]
    with pytest.raises(ValidationError) as caught:
        SignedNodeRecord.decode(wire_record(body))
    assert caught.value.path == "$.body.addresses[0]"
    body = make_record().to_wire()
    body["data_spaces"] = [{"id": "b", "roles": []}, {"id": "a", "roles": []}]
    with pytest.raises(ValidationError) as caught:
        SignedNodeRecord.decode(wire_record(body))
    assert caught.value.path == "$.body.data_spaces"
    body = make_record().to_wire()
    body["data_spaces"] = [{"id": "a", "roles": ["y", "x"]}]
    with pytest.raises(ValidationError) as caught:
        SignedNodeRecord.decode(wire_record(body))
    assert caught.value.path == "$.body.data_spaces[0].roles"


def test_unknown_version_and_fields() -> None:
    """A body with v != 1 is UNSUPPORTED_VERSION; an extra field is INVALID_FIELD by position."""
    body = make_record().to_wire()
    with pytest.raises(ValidationError) as caught:
        SignedNodeRecord.decode(wire_record({**body, "v": 2, "new": 1}))
    assert (caught.value.code, caught.value.path) == (WireCode.UNSUPPORTED_VERSION, "$.body.v")
    with pytest.raises(ValidationError) as caught:
        SignedNodeRecord.decode(wire_record({**body, "extra": 1}))
    unknown = "$.body.<unknown #3>"  # sorted: addresses, data_spaces, expires_at, extra
    assert (caught.value.code, caught.value.path) == (WireCode.INVALID_FIELD, unknown)


@given(st.binary(max_size=600))
@settings(max_examples=1000)
def test_record_decoder_fuzz(data: bytes) -> None:
    """Any bytes given to SignedNodeRecord.decode are accepted or raise ValidationError."""
    with contextlib.suppress(ValidationError):
        SignedNodeRecord.decode(data)


def test_oversized_record_bytes_refused() -> None:
    """More than 4 KiB of input is MALFORMED_ENCODING before it is parsed."""
    data = msgpack.packb({"body": {}, "signature": b"x" * MAX_RECORD_SIZE})
    with pytest.raises(DecodeError):
        SignedNodeRecord.decode(data)


# --- the record store -----------------------------------------------------------------------


def test_store_accepts_then_replaces_with_higher_sequence() -> None:
    """A newer sequence number replaces the record held, which the outcome reports."""
    store = RecordStore()
    first, second = signed_record(sequence=1), signed_record(sequence=2)
    assert store.offer(first, T0, everyone_is_member) == RecordAccepted(first, None)
    assert store.offer(second.encode(), T0, everyone_is_member) == RecordAccepted(second, first)
    assert store.get(ALICE.node_id, T0) == second
    assert len(store) == 1


def test_store_refuses_stale_and_duplicate() -> None:
    """Lower or equal sequence numbers are STALE_SEQUENCE; the same record is DUPLICATE."""
    store = RecordStore()
    store.offer(signed_record(sequence=5), T0, everyone_is_member)
    stale = store.offer(signed_record(sequence=4), T0, everyone_is_member)
    assert stale == RecordRejected(WireCode.STALE_SEQUENCE, "$.body.sequence")
    rival = signed_record(sequence=5, expires_at=T0 + 60)
    assert store.offer(rival, T0, everyone_is_member).code is WireCode.STALE_SEQUENCE  # type: ignore[union-attr]
    again = store.offer(signed_record(sequence=5), T0, everyone_is_member)
    assert again == RecordRejected(WireCode.DUPLICATE_RECORD, "$.body.sequence")


def test_store_reason_codes() -> None:
    """Every kind of bad offer gets its own reason code and path."""
    store = RecordStore()
    signed = signed_record()
    forged = replace(signed, signature=flip(signed.signature, 0))
    cases: list[tuple[SignedNodeRecord | bytes, int, WireCode, str]] = [
        (b"\xc1", T0, WireCode.MALFORMED_ENCODING, "$"),
        (
            canonical.encode({"body": 1, "signature": b""}),
            T0,
            WireCode.INVALID_FIELD,
            "$.signature",
        ),
        (forged, T0, WireCode.FORGED_SIGNATURE, "$.signature"),
        (signed, T0 + 3600, WireCode.EXPIRED, "$.body.expires_at"),
        (signed, T0 - 3600, WireCode.NOT_YET_VALID, "$.body.issued_at"),
    ]
    for offered, now, code, path in cases:
        assert store.offer(offered, now, everyone_is_member) == RecordRejected(code, path)
    assert len(store) == 0


def test_store_requires_membership_of_a_claimed_space() -> None:
    """A record is kept only if its node is a member of at least one data space it claims."""
    store = RecordStore()
    spaces = {SPACE: frozenset({"lea"}), OTHER: frozenset()}
    signed = signed_record(spaces=spaces)

    def nowhere(node_id: str, data_space: str) -> bool:
        """Membership stub: no one is a member anywhere."""
        return False

    def only_other(node_id: str, data_space: str) -> bool:
        """Membership stub: members of OTHER only."""
        return data_space == OTHER

    refused = store.offer(signed, T0, nowhere)
    assert refused == RecordRejected(WireCode.NOT_A_MEMBER, "$.body.data_spaces")
    assert isinstance(store.offer(signed, T0, only_other), RecordAccepted)


def test_store_capacity_and_pruning() -> None:
    """A full store refuses new nodes until expired records are pruned away."""
    store = RecordStore(capacity=1)
    store.offer(signed_record(ALICE, expires_at=T0 + 10), T0, everyone_is_member)
    refused = store.offer(signed_record(BOB), T0, everyone_is_member)
    assert refused == RecordRejected(WireCode.CAPACITY_EXCEEDED, "$")
    accepted = store.offer(signed_record(BOB), T0 + 10, everyone_is_member)
    assert isinstance(accepted, RecordAccepted)
    assert ALICE.node_id not in store
    assert store.records(T0 + 10) == [accepted.record]
    assert store.get(BOB.node_id, T0 + 3600) is None
    assert store.prune(T0 + 3600) == [BOB.node_id]
    assert len(store) == 0


def test_prune_drops_non_members() -> None:
    """Given a membership test, prune also drops records of nodes no longer members."""
    store = RecordStore()
    store.offer(signed_record(ALICE), T0, everyone_is_member)
    store.offer(signed_record(BOB), T0, everyone_is_member)
    dropped = store.prune(T0, lambda node_id, space: node_id == ALICE.node_id)
    assert dropped == [BOB.node_id]
    assert [s.node_id for s in store.records(T0)] == [ALICE.node_id]


def test_renewed_record_supersedes_the_old_one() -> None:
    """A renewed record keeps its claims, takes sequence + 1 and a new window, and replaces."""
    store = RecordStore()
    first = signed_record(sequence=7, expires_at=T0 + 100)
    store.offer(first, T0, everyone_is_member)
    renewed = first.record.renewed(T0 + 80, 600)
    assert (renewed.sequence, renewed.issued_at, renewed.expires_at) == (8, T0 + 80, T0 + 680)
    assert (renewed.addresses, renewed.data_spaces) == (
        first.record.addresses,
        first.record.data_spaces,
    )
    signed = SignedNodeRecord.sign(renewed, ALICE)
    assert store.offer(signed, T0 + 80, everyone_is_member) == RecordAccepted(signed, first)
    assert store.sequences(T0 + 200) == {ALICE.node_id: 8}


def test_sequences_list_only_valid_records() -> None:
    """sequences() maps node ids to sequence numbers of records still valid at that time."""
    store = RecordStore()
    store.offer(signed_record(ALICE, sequence=3, expires_at=T0 + 10), T0, everyone_is_member)
    store.offer(signed_record(BOB, sequence=4), T0, everyone_is_member)
    assert store.sequences(T0) == {ALICE.node_id: 3, BOB.node_id: 4}
    assert store.sequences(T0 + 10) == {BOB.node_id: 4}
