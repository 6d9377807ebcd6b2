"""The Noise XX core: published vectors, round trips, tampering, the state table, the records."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from hypothesis import given, settings
from hypothesis import strategies as st

from network import noise
from network.errors import (
    HandshakeError,
    LocalProtocolError,
    NetworkError,
    RemoteProtocolError,
    WireCode,
)
from network.noise import (
    FIXED_LENGTHS,
    MAX_MESSAGE,
    MAX_NONCE,
    TAGLEN,
    CipherState,
    HandshakeStage,
    HandshakeState,
)
from network.recordcipher import TransportCipher

VECTORS = Path(__file__).parent / "vectors" / "noise_xx_25519_chachapoly_sha256.json"
PROLOGUE = b"confide/1 test prologue"
PAYLOADS = (b"", b"responder identity payload", b"initiator identity payload")
FUZZ = settings(max_examples=300, deadline=None)
READING = {
    HandshakeStage.RECEIVE_MESSAGE_1,
    HandshakeStage.RECEIVE_MESSAGE_2,
    HandshakeStage.RECEIVE_MESSAGE_3,
}
LOW_ORDER_POINTS = (
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
)


# ---------------------------------------------------------------------------------------------
# helpers


def fixed_key(byte: int) -> X25519PrivateKey:
    """A deterministic X25519 key for tests (never for production)."""
    return X25519PrivateKey.from_private_bytes(bytes([byte]) * 32)


def pair(
    initiator_prologue: bytes = PROLOGUE, responder_prologue: bytes = PROLOGUE
) -> tuple[HandshakeState, HandshakeState]:
    """An initiator and a responder with fixed static and ephemeral keys."""
    initiator = HandshakeState(True, fixed_key(1), initiator_prologue, ephemeral_key=fixed_key(2))
    responder = HandshakeState(False, fixed_key(3), responder_prologue, ephemeral_key=fixed_key(4))
    return initiator, responder


def transcript() -> tuple[bytes, bytes, bytes]:
    """The three messages of a complete handshake between the fixed-key pair."""
    initiator, responder = pair()
    first = initiator.write_message(PAYLOADS[0])
    responder.read_message(first)
    second = responder.write_message(PAYLOADS[1])
    initiator.read_message(second)
    third = initiator.write_message(PAYLOADS[2])
    responder.read_message(third)
    return first, second, third


def failure(
    replacements: Mapping[int, bytes],
    prologues: tuple[bytes, bytes] = (PROLOGUE, PROLOGUE),
) -> tuple[int, WireCode] | None:
    """Run the fixed-key handshake with some messages replaced; (message, code) of the failure."""
    sides = pair(*prologues)
    for number in (1, 2, 3):
        writer, reader = sides[(number - 1) % 2], sides[number % 2]
        message = replacements.get(number, writer.write_message(PAYLOADS[number - 1]))
        try:
            reader.read_message(message)
        except HandshakeError as error:
            assert reader.stage is HandshakeStage.FAILED
            return number, error.code
    return None


def completed(
    initiator_key: X25519PrivateKey | None = None, responder_key: X25519PrivateKey | None = None
) -> tuple[HandshakeState, HandshakeState]:
    """A complete handshake with random (or given) static keys and fresh ephemeral keys."""
    initiator = HandshakeState(True, initiator_key or X25519PrivateKey.generate(), PROLOGUE)
    responder = HandshakeState(False, responder_key or X25519PrivateKey.generate(), PROLOGUE)
    responder.read_message(initiator.write_message(PAYLOADS[0]))
    initiator.read_message(responder.write_message(PAYLOADS[1]))
    responder.read_message(initiator.write_message(PAYLOADS[2]))
    return initiator, responder


def transports(rekey_after: int = 2**20) -> tuple[TransportCipher, TransportCipher]:
    """The initiator's and the responder's transport ciphers after a fixed-key handshake."""
    initiator, responder = pair()
    responder.read_message(initiator.write_message(PAYLOADS[0]))
    initiator.read_message(responder.write_message(PAYLOADS[1]))
    responder.read_message(initiator.write_message(PAYLOADS[2]))
    return (
        TransportCipher.from_handshake(initiator, rekey_after),
        TransportCipher.from_handshake(responder, rekey_after),
    )


def at_stage(stage: HandshakeStage) -> HandshakeState:
    """One side of the fixed-key handshake, driven to ``stage``."""
    if stage is HandshakeStage.FAILED:
        responder = pair()[1]
        with pytest.raises(HandshakeError):
            responder.read_message(b"short")
        return responder
    initiator, responder = pair()
    steps = (
        lambda: None,
        lambda: responder.read_message(initiator.write_message(PAYLOADS[0])),
        lambda: initiator.read_message(responder.write_message(PAYLOADS[1])),
        lambda: responder.read_message(initiator.write_message(PAYLOADS[2])),
        initiator.split,
    )
    for step in steps:
        step()
        for side in (initiator, responder):
            if side.stage is stage:
                return side
    raise AssertionError(f"stage {stage} not reached")


def flip(message: bytes, bit: int) -> bytes:
    """``message`` with one bit inverted."""
    changed = bytearray(message)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


def load_vectors() -> list[dict[str, Any]]:
    """The stored published vectors."""
    vectors: list[dict[str, Any]] = json.loads(VECTORS.read_text())["vectors"]
    return vectors


# ---------------------------------------------------------------------------------------------
# published vectors


@pytest.mark.parametrize("vector", load_vectors(), ids=lambda v: v["source"].split("/")[0])
def test_published_vector(vector: dict[str, Any]) -> None:
    """A published vector replays byte for byte: every message, the hash, the transport."""
    hexed = bytes.fromhex
    initiator = HandshakeState(
        True,
        X25519PrivateKey.from_private_bytes(hexed(vector["init_static"])),
        hexed(vector["init_prologue"]),
        ephemeral_key=X25519PrivateKey.from_private_bytes(hexed(vector["init_ephemeral"])),
    )
    responder = HandshakeState(
        False,
        X25519PrivateKey.from_private_bytes(hexed(vector["resp_static"])),
        hexed(vector["resp_prologue"]),
        ephemeral_key=X25519PrivateKey.from_private_bytes(hexed(vector["resp_ephemeral"])),
    )
    sides = (initiator, responder)
    messages = vector["messages"]
    for number, message in enumerate(messages[:3]):
        writer, reader = sides[number % 2], sides[(number + 1) % 2]
        ciphertext = writer.write_message(hexed(message["payload"]))
        assert ciphertext.hex() == message["ciphertext"]
        assert reader.read_message(ciphertext) == hexed(message["payload"])
    assert initiator.is_complete
    assert responder.is_complete
    assert initiator.handshake_hash == responder.handshake_hash
    if "handshake_hash" in vector:
        assert initiator.handshake_hash.hex() == vector["handshake_hash"]
    assert initiator.remote_static_public == responder.local_static_public
    assert responder.remote_static_public == initiator.local_static_public
    ciphers = (TransportCipher.from_handshake(initiator), TransportCipher.from_handshake(responder))
    assert len(messages) > 3
    for number, message in enumerate(messages[3:], start=3):
        sender, receiver = ciphers[number % 2], ciphers[(number + 1) % 2]
        ciphertext = sender.seal(hexed(message["payload"]))
        assert ciphertext.hex() == message["ciphertext"]
        assert receiver.open(ciphertext) == hexed(message["payload"])


def test_stored_vectors_check_a_handshake_hash() -> None:
    """At least one stored vector carries a handshake hash to compare against."""
    assert any("handshake_hash" in vector for vector in load_vectors())


# ---------------------------------------------------------------------------------------------
# round trips


def test_round_trip_with_random_keys() -> None:
    """Both sides agree on the hash and learn each other's static keys; payloads arrive."""
    initiator_key, responder_key = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    initiator = HandshakeState(True, initiator_key, PROLOGUE)
    responder = HandshakeState(False, responder_key, PROLOGUE)
    assert responder.read_message(initiator.write_message(b"one")) == b"one"
    assert initiator.remote_static_public is None
    assert initiator.read_message(responder.write_message(b"two")) == b"two"
    assert initiator.remote_static_public == responder.local_static_public
    assert responder.remote_static_public is None
    assert initiator.stage is HandshakeStage.SEND_MESSAGE_3
    assert responder.read_message(initiator.write_message(b"three")) == b"three"
    assert responder.remote_static_public == initiator.local_static_public
    assert initiator.is_complete
    assert responder.is_complete
    assert initiator.handshake_hash == responder.handshake_hash
    assert len(initiator.handshake_hash) == 32


def test_handshake_hashes_differ_between_handshakes() -> None:
    """Two handshakes between the same static keys have different hashes (fresh ephemerals)."""
    key_a, key_b = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    first, _ = completed(key_a, key_b)
    second, _ = completed(key_a, key_b)
    assert first.handshake_hash != second.handshake_hash


def test_message_lengths_follow_the_pattern() -> None:
    """Messages are 32, 96 and 64 bytes plus their payloads, as FIXED_LENGTHS says."""
    messages = transcript()
    assert FIXED_LENGTHS == (32, 96, 64)
    for message, fixed, payload in zip(messages, FIXED_LENGTHS, PAYLOADS, strict=True):
        assert len(message) == fixed + len(payload)


def test_split_gives_matching_directions() -> None:
    """The initiator's send cipher is the responder's receive cipher, and the other way round."""
    initiator, responder = completed()
    initiator_send, initiator_receive = initiator.split()
    responder_send, responder_receive = responder.split()
    assert responder_receive.decrypt_with_ad(b"", initiator_send.encrypt_with_ad(b"", b"a")) == b"a"
    assert initiator_receive.decrypt_with_ad(b"", responder_send.encrypt_with_ad(b"", b"b")) == b"b"
    assert initiator.stage is HandshakeStage.SPLIT
    assert len(initiator.handshake_hash) == 32


# ---------------------------------------------------------------------------------------------
# tampering and malformed messages


@pytest.mark.parametrize("number", [1, 2, 3])
def test_every_single_bit_flip_fails(number: int) -> None:
    """Flipping any one bit of any handshake message makes the handshake fail with a code."""
    original = transcript()[number - 1]
    for bit in range(len(original) * 8):
        result = failure({number: flip(original, bit)})
        assert result is not None, f"bit {bit} of message {number} went unnoticed"
        failed_at, code = result
        if number == 1:  # message 1 is unauthenticated; its hash breaks message 2
            assert failed_at in (1, 2)
        else:
            assert failed_at == number
        assert code in (WireCode.HANDSHAKE_DECRYPT_FAILED, WireCode.HANDSHAKE_LOW_ORDER_KEY)


@pytest.mark.parametrize("number", [1, 2, 3])
def test_truncated_and_extended_messages_fail(number: int) -> None:
    """Every truncation or extension of a message fails, at the latest at message 2."""
    original = transcript()[number - 1]
    for length in range(len(original)):
        result = failure({number: original[:length]})
        assert result is not None
        if length < FIXED_LENGTHS[number - 1]:
            assert result == (number, WireCode.HANDSHAKE_MALFORMED)
    result = failure({number: original + b"\x00"})
    assert result is not None
    assert result[0] == max(number, 2)


def test_oversized_message_is_rejected_at_every_reading_stage() -> None:
    """A message over 65535 bytes is refused before any processing."""
    for stage in READING:
        side = at_stage(stage)
        with pytest.raises(HandshakeError) as caught:
            side.read_message(bytes(MAX_MESSAGE + 1))
        assert caught.value.code is WireCode.HANDSHAKE_OVERSIZED
        assert side.stage is HandshakeStage.FAILED


def test_payload_limit_is_exact_and_leaves_state_unchanged() -> None:
    """A payload that fits 65535 bytes exactly is written; one byte more is refused harmlessly."""
    initiator, responder = pair()
    with pytest.raises(LocalProtocolError) as caught:
        initiator.write_message(bytes(MAX_MESSAGE - FIXED_LENGTHS[0] + 1))
    assert caught.value.code is WireCode.PAYLOAD_TOO_LARGE
    assert initiator.stage is HandshakeStage.SEND_MESSAGE_1
    message = initiator.write_message(bytes(MAX_MESSAGE - FIXED_LENGTHS[0]))
    assert len(message) == MAX_MESSAGE
    assert responder.read_message(message) == bytes(MAX_MESSAGE - FIXED_LENGTHS[0])
    second = responder.write_message(bytes(MAX_MESSAGE - FIXED_LENGTHS[1]))
    assert len(second) == MAX_MESSAGE
    initiator.read_message(second)
    with pytest.raises(LocalProtocolError):
        initiator.write_message(bytes(MAX_MESSAGE - FIXED_LENGTHS[2] + 1))


@pytest.mark.parametrize("high_bit", [0x00, 0x80])
@pytest.mark.parametrize("point", LOW_ORDER_POINTS)
def test_low_order_ephemeral_keys_are_rejected(point: str, high_bit: int) -> None:
    """A low-order (or all-zero) ephemeral key in message 1 or 2 fails with its own code."""
    key = bytearray.fromhex(point)
    key[31] |= high_bit
    first, second, _ = transcript()
    assert failure({1: bytes(key) + first[32:]}) == (1, WireCode.HANDSHAKE_LOW_ORDER_KEY)
    assert failure({2: bytes(key) + second[32:]}) == (2, WireCode.HANDSHAKE_LOW_ORDER_KEY)


def test_low_order_static_key_is_rejected() -> None:
    """A peer that encrypts a low-order static key (an evil responder) is refused by code."""
    initiator, responder = pair()
    responder._static_public = bytes(32)  # the evil peer lies about its static key
    responder.read_message(initiator.write_message())
    with pytest.raises(HandshakeError) as caught:
        initiator.read_message(responder.write_message())
    assert caught.value.code is WireCode.HANDSHAKE_LOW_ORDER_KEY
    assert initiator.remote_static_public is None


def test_all_zero_dh_output_is_rejected_without_the_key_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the low-order list bypassed, the all-zero DH output still fails with the same code."""
    monkeypatch.setattr(noise, "_check_remote_key", lambda public: None)
    initiator, responder = pair()
    responder.read_message(bytes(32) + initiator.write_message()[32:])
    with pytest.raises(HandshakeError) as caught:
        responder.write_message()
    assert caught.value.code is WireCode.HANDSHAKE_LOW_ORDER_KEY
    assert responder.stage is HandshakeStage.FAILED


def test_wrong_prologue_fails_at_message_2() -> None:
    """Different prologues (a downgrade) break the handshake when message 2 is read."""
    result = failure({}, prologues=(b"confide/1 spaces=a", b"confide/1 spaces=b"))
    assert result == (2, WireCode.HANDSHAKE_DECRYPT_FAILED)
    assert failure({}) is None


# ---------------------------------------------------------------------------------------------
# the state table and messages out of order


CALLS: dict[str, Callable[[HandshakeState], object]] = {
    "write_message": lambda side: side.write_message(b""),
    "read_message": lambda side: side.read_message(bytes(200)),
    "split": lambda side: side.split(),
}
ALLOWED = {
    (HandshakeStage.SEND_MESSAGE_1, "write_message"),
    (HandshakeStage.SEND_MESSAGE_2, "write_message"),
    (HandshakeStage.SEND_MESSAGE_3, "write_message"),
    (HandshakeStage.RECEIVE_MESSAGE_1, "read_message"),
    (HandshakeStage.RECEIVE_MESSAGE_2, "read_message"),
    (HandshakeStage.RECEIVE_MESSAGE_3, "read_message"),
    (HandshakeStage.COMPLETE, "split"),
}


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("stage", list(HandshakeStage), ids=lambda stage: stage.name)
def test_calls_outside_the_table_are_out_of_turn(stage: HandshakeStage, call: str) -> None:
    """Every (stage, call) pair not in the table raises LocalProtocolError and changes nothing."""
    side = at_stage(stage)
    if (stage, call) in ALLOWED:
        try:
            CALLS[call](side)
        except HandshakeError:  # reading 200 zero bytes is allowed but rejected as a message
            assert call == "read_message"
        return
    with pytest.raises(LocalProtocolError) as caught:
        CALLS[call](side)
    assert caught.value.code is WireCode.HANDSHAKE_OUT_OF_TURN
    assert side.stage is stage


def test_handshake_hash_waits_for_completion() -> None:
    """The handshake hash is refused until the last message is done."""
    initiator, _ = pair()
    with pytest.raises(LocalProtocolError) as caught:
        _ = initiator.handshake_hash
    assert caught.value.code is WireCode.HANDSHAKE_NOT_COMPLETE


def test_split_is_allowed_once() -> None:
    """A second split would reuse transport keys, so it is out of turn."""
    initiator, _ = completed()
    initiator.split()
    with pytest.raises(LocalProtocolError):
        initiator.split()


def test_peer_messages_out_of_order_fail() -> None:
    """A peer's messages in the wrong slot fail as malformed or unauthenticated."""
    first, second, _ = transcript()
    assert failure({2: first}) == (2, WireCode.HANDSHAKE_MALFORMED)
    assert failure({3: first}) == (3, WireCode.HANDSHAKE_MALFORMED)
    assert failure({3: second}) == (3, WireCode.HANDSHAKE_DECRYPT_FAILED)


def test_replayed_handshake_cannot_complete() -> None:
    """Replaying an old message 1 and 3 to a responder with a fresh ephemeral key fails."""
    first, _, third = transcript()
    responder = HandshakeState(False, fixed_key(3), PROLOGUE)  # fresh ephemeral key
    responder.read_message(first)
    responder.write_message(PAYLOADS[1])
    with pytest.raises(HandshakeError) as caught:
        responder.read_message(third)
    assert caught.value.code is WireCode.HANDSHAKE_DECRYPT_FAILED


def test_failed_handshake_refuses_everything() -> None:
    """After a rejected message, every call is out of turn and nothing of the peer is kept."""
    initiator, responder = pair()
    responder.read_message(initiator.write_message())
    with pytest.raises(HandshakeError):
        initiator.read_message(flip(responder.write_message(), 8 * 90))
    assert initiator.stage is HandshakeStage.FAILED
    assert initiator.remote_static_public is None
    for call in CALLS.values():
        with pytest.raises(LocalProtocolError):
            call(initiator)


def test_error_text_never_contains_key_material() -> None:
    """Error messages and reprs carry codes and fixed reasons, never keys or hashes."""
    errors: list[NetworkError] = []
    first, second, _ = transcript()
    readers = (
        at_stage(HandshakeStage.RECEIVE_MESSAGE_1),
        at_stage(HandshakeStage.RECEIVE_MESSAGE_2),
    )
    for side, message in zip(readers, (b"x", flip(second, 300)), strict=True):
        with pytest.raises(HandshakeError) as caught:
            side.read_message(message)
        errors.append(caught.value)
    with pytest.raises(HandshakeError) as caught:
        pair()[1].read_message(bytes(32))
    errors.append(caught.value)
    with pytest.raises(LocalProtocolError) as caught_local:
        pair()[0].read_message(first)
    errors.append(caught_local.value)
    sender, receiver = transports()
    with pytest.raises(RemoteProtocolError) as caught_record:
        receiver.open(flip(sender.seal(b"secret"), 3))
    errors.append(caught_record.value)
    texts = [str(error) for error in errors]
    texts += [repr(pair()[0]), repr(CipherState(bytes(range(32)))), repr(sender)]
    secrets = [fixed_key(n).private_bytes_raw().hex() for n in (1, 2, 3, 4)]
    for text in texts:
        assert not re.search(r"[0-9a-f]{16,}", text), text
        assert not any(secret in text for secret in secrets)
    assert all(error.code in WireCode for error in errors)


# ---------------------------------------------------------------------------------------------
# cipher states and the record cipher


def test_nonce_exhaustion_raises() -> None:
    """Nonce 2^64-1 is reserved: the last usable nonce works, the next call raises."""
    sender, receiver = CipherState(bytes(32)), CipherState(bytes(32))
    sender.set_nonce(MAX_NONCE - 1)
    receiver.set_nonce(MAX_NONCE - 1)
    assert receiver.decrypt_with_ad(b"", sender.encrypt_with_ad(b"", b"last")) == b"last"
    for call in (sender.encrypt_with_ad, receiver.decrypt_with_ad):
        with pytest.raises(LocalProtocolError) as caught:
            call(b"", bytes(TAGLEN))
        assert caught.value.code is WireCode.NONCE_EXHAUSTED


def test_rekey_follows_the_spec() -> None:
    """Rekey sets k to the first 32 bytes of ENCRYPT(k, 2^64-1, "", zeros) and keeps n."""
    key = bytes(range(32))
    cipher = CipherState(key)
    cipher.encrypt_with_ad(b"", b"advance")
    cipher.rekey()
    assert cipher.n == 1
    nonce = b"\x00" * 4 + (2**64 - 1).to_bytes(8, "little")
    new_key = ChaCha20Poly1305(key).encrypt(nonce, bytes(32), b"")[:32]
    expected = ChaCha20Poly1305(new_key).encrypt(b"\x00" * 4 + (1).to_bytes(8, "little"), b"m", b"")
    assert cipher.encrypt_with_ad(b"", b"m") == expected


def test_cipher_state_edge_cases() -> None:
    """No key passes data through; rekey needs a key; a failed decryption keeps the nonce."""
    empty = CipherState()
    assert empty.encrypt_with_ad(b"ad", b"clear") == b"clear"
    assert empty.decrypt_with_ad(b"ad", b"clear") == b"clear"
    with pytest.raises(LocalProtocolError) as caught:
        empty.rekey()
    assert caught.value.code is WireCode.CIPHER_KEY_MISSING
    keyed = CipherState(bytes(32))
    with pytest.raises(RemoteProtocolError) as caught_remote:
        keyed.decrypt_with_ad(b"", bytes(TAGLEN + 4))
    assert caught_remote.value.code is WireCode.RECORD_DECRYPT_FAILED
    assert caught_remote.value.__cause__ is None
    assert caught_remote.value.__suppress_context__
    assert keyed.n == 0
    with pytest.raises(ValueError, match="32 bytes"):
        CipherState(bytes(31))
    with pytest.raises(ValueError, match="nonce"):
        keyed.set_nonce(2**64)


def test_records_flow_both_ways_in_order() -> None:
    """Records sealed in order open in order, in both directions, with associated data."""
    initiator, responder = transports()
    for index in range(5):
        record = initiator.seal(b"ping %d" % index, ad=b"hdr")
        assert len(record) == len(b"ping %d" % index) + TAGLEN
        assert responder.open(record, ad=b"hdr") == b"ping %d" % index
        assert initiator.open(responder.seal(b"pong")) == b"pong"
    assert initiator.records_sent == responder.records_received == 5


def test_replayed_record_fails_and_the_cipher_stays_failed() -> None:
    """A replayed record fails; afterwards every record is refused until the link closes."""
    sender, receiver = transports()
    first, second = sender.seal(b"one"), sender.seal(b"two")
    assert receiver.open(first) == b"one"
    with pytest.raises(RemoteProtocolError) as caught:
        receiver.open(first)
    assert caught.value.code is WireCode.RECORD_DECRYPT_FAILED
    with pytest.raises(LocalProtocolError) as caught_local:
        receiver.open(second)
    assert caught_local.value.code is WireCode.RECORD_CIPHER_FAILED
    assert sender.open(receiver.seal(b"still sealing")) == b"still sealing"


@pytest.mark.parametrize("fault", ["dropped", "reordered", "tampered", "wrong ad", "duplicate"])
def test_faulty_record_streams_fail(fault: str) -> None:
    """Dropped, reordered, tampered, re-labelled or duplicated records fail to authenticate."""
    sender, receiver = transports()
    records = [sender.seal(b"record %d" % index) for index in range(3)]
    assert receiver.open(records[0]) == b"record 0"
    ad = b""
    if fault == "dropped":
        records = [records[2]]
    elif fault == "reordered":
        records = [records[2], records[1]]
    elif fault == "tampered":
        records = [flip(records[1], 5)]
    elif fault == "wrong ad":
        ad = b"another header"
    else:
        records = [records[0]]
    with pytest.raises(RemoteProtocolError) as caught:
        receiver.open(records[0] if fault != "wrong ad" else records[1], ad=ad)
    assert caught.value.code is WireCode.RECORD_DECRYPT_FAILED


def test_record_size_limits() -> None:
    """Records hold at most 65519 plaintext bytes; short or oversized input is malformed."""
    sender, receiver = transports()
    biggest = sender.seal(bytes(MAX_MESSAGE - TAGLEN))
    assert len(biggest) == MAX_MESSAGE
    assert receiver.open(biggest) == bytes(MAX_MESSAGE - TAGLEN)
    with pytest.raises(LocalProtocolError) as caught:
        sender.seal(bytes(MAX_MESSAGE - TAGLEN + 1))
    assert caught.value.code is WireCode.PAYLOAD_TOO_LARGE
    for bad in (bytes(TAGLEN - 1), bytes(MAX_MESSAGE + 1)):
        _, fresh = transports()
        with pytest.raises(RemoteProtocolError) as caught_remote:
            fresh.open(bad)
        assert caught_remote.value.code is WireCode.RECORD_MALFORMED


def test_rekey_keeps_both_sides_in_step() -> None:
    """With rekey every 3 records, both sides rekey together and every record opens."""
    initiator, responder = transports(rekey_after=3)
    plain_initiator, _ = transports()
    for index in range(10):
        record = initiator.seal(b"bulk %d" % index)
        unkeyed = plain_initiator.seal(b"bulk %d" % index)
        assert (record == unkeyed) == (index < 3)  # the keys change after the third record
        assert responder.open(record) == b"bulk %d" % index
        assert initiator.open(responder.seal(b"ack %d" % index)) == b"ack %d" % index


def test_rekey_schedules_must_match() -> None:
    """A receiver that rekeys at another count fails at the first record after the sender's."""
    sender, _ = transports(rekey_after=3)
    _, receiver = transports(rekey_after=4)
    for index in range(3):
        receiver.open(sender.seal(b"%d" % index))
    with pytest.raises(RemoteProtocolError):
        receiver.open(sender.seal(b"3"))


def test_transport_cipher_arguments() -> None:
    """rekey_after is at least 1 and the two cipher states must be distinct and keyed."""
    initiator, _ = completed()
    send, receive = initiator.split()
    with pytest.raises(ValueError, match="rekey_after"):
        TransportCipher(send, receive, rekey_after=0)
    with pytest.raises(ValueError, match="two keyed"):
        TransportCipher(send, send)
    with pytest.raises(ValueError, match="two keyed"):
        TransportCipher(send, CipherState())


# ---------------------------------------------------------------------------------------------
# fuzzing


@FUZZ
@given(stage=st.sampled_from(list(HandshakeStage)), data=st.binary(max_size=300))
def test_read_message_on_arbitrary_bytes(stage: HandshakeStage, data: bytes) -> None:
    """Any bytes at any stage: accepted or HandshakeError when reading is due, else out of turn."""
    side = at_stage(stage)
    outcome: NetworkError | None = None
    try:
        side.read_message(data)
    except (HandshakeError, LocalProtocolError) as error:  # anything else fails the test
        outcome = error
    if stage in READING:
        assert outcome is None or isinstance(outcome, HandshakeError)
        assert (outcome is None) == (side.stage is not HandshakeStage.FAILED)
    else:
        assert isinstance(outcome, LocalProtocolError)
        assert outcome.code is WireCode.HANDSHAKE_OUT_OF_TURN


@FUZZ
@given(
    number=st.sampled_from([1, 2, 3]),
    cut=st.integers(min_value=0, max_value=130),
    edits=st.lists(st.tuples(st.integers(0, 129), st.integers(0, 255)), max_size=3),
    tail=st.binary(max_size=40),
)
def test_read_message_on_mangled_messages(
    number: int, cut: int, edits: list[tuple[int, int]], tail: bytes
) -> None:
    """Near-valid messages (cut, overwritten, extended) are accepted or raise HandshakeError."""
    mangled = bytearray(transcript()[number - 1][:cut])
    for position, value in edits:
        if position < len(mangled):
            mangled[position] = value
    stage = (
        HandshakeStage.RECEIVE_MESSAGE_1,
        HandshakeStage.RECEIVE_MESSAGE_2,
        HandshakeStage.RECEIVE_MESSAGE_3,
    )[number - 1]
    side = at_stage(stage)
    try:
        side.read_message(bytes(mangled) + tail)
    except HandshakeError:
        assert side.stage is HandshakeStage.FAILED


@FUZZ
@given(data=st.binary(max_size=200), ad=st.binary(max_size=16))
def test_record_open_on_arbitrary_bytes(data: bytes, ad: bytes) -> None:
    """Arbitrary bytes given to open() raise RemoteProtocolError, never anything else."""
    _, receiver = transports()
    with pytest.raises(RemoteProtocolError):
        receiver.open(data, ad=ad)
