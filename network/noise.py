"""Noise_XX_25519_ChaChaPoly_SHA256: the secure channel's handshake and cipher states (sans-I/O).

Implements the Noise Protocol Framework, revision 34, for exactly one protocol: pattern XX,
X25519, ChaCha20-Poly1305 and SHA-256, with no PSK. Bytes go in and bytes come out; there is no
I/O, clock or logging here, and the only randomness is X25519 key generation when no ephemeral
key is passed in. Checked against the published test vectors (``tests/network/vectors``). The
wire layout and what each side learns are specified in ``docs/spec/noise.md``.

Names of the spec and their homes here::

    k, n          CipherState (the key stays private; ``n`` and ``set_nonce`` are public)
    ck, h         SymmetricState (``h`` is ``handshake_hash``)
    s, e, rs, re  HandshakeState: static_key, ephemeral_key, remote_static_public, (internal)

XX, one message per line; the legal calls for each stage are the one table ``_TRANSITIONS``::

    -> e
    <- e, ee, s, es
    -> s, se

Errors: a rejected peer message raises :class:`~network.errors.HandshakeError` (a
``RemoteProtocolError``) with a stable ``code`` and ends the handshake; a call the table does not
allow raises :class:`~network.errors.LocalProtocolError`. Messages never contain key material.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from enum import Enum
from typing import Final, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.constant_time import bytes_eq
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from network.errors import HandshakeError, LocalProtocolError, RemoteProtocolError, WireCode

PROTOCOL_NAME: Final = b"Noise_XX_25519_ChaChaPoly_SHA256"
DHLEN: Final = 32
"""Bytes of an X25519 public key and of a DH output."""
HASHLEN: Final = 32
KEYLEN: Final = 32
TAGLEN: Final = 16
MAX_MESSAGE: Final = 65535
"""Largest Noise message, handshake or transport, in bytes (§3)."""
MAX_NONCE: Final = 2**64 - 1
"""Reserved nonce (§5.1): never used for a message; REKEY encrypts with it."""
DEFAULT_REKEY_AFTER: Final = 2**20
"""Records per direction between two rekeys of a :class:`TransportCipher`."""

Token = Literal["e", "s", "ee", "es", "se"]

MESSAGE_PATTERNS: Final[tuple[tuple[Token, ...], ...]] = (
    ("e",),
    ("e", "ee", "s", "es"),
    ("s", "se"),
)
"""The XX message patterns (§7.5), index 0 = message 1 (initiator to responder)."""

# X25519 public keys of small order, as libsodium lists them (bit 255 is ignored by X25519, so
# it is masked before the lookup): 0, 1, the two order-8 points, p-1, p and p+1.
_LOW_ORDER_KEYS: Final = frozenset(
    bytes.fromhex(point)
    for point in (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    )
)


FIXED_LENGTHS: Final = (DHLEN, DHLEN + (DHLEN + TAGLEN) + TAGLEN, (DHLEN + TAGLEN) + TAGLEN)
"""Bytes of each handshake message with an empty payload (32, 96, 64); shorter is malformed.

Message 1 is ``e`` and a plaintext payload (no key yet); message 2 is ``e``, the encrypted ``s``
and the payload's tag; message 3 is the encrypted ``s`` and the payload's tag."""


def _hash(data: bytes) -> bytes:
    """HASH: SHA-256."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize()


def _hmac(key: bytes, data: bytes) -> bytes:
    """HMAC-SHA-256."""
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()


def _hkdf(chaining_key: bytes, input_key_material: bytes) -> tuple[bytes, bytes]:
    """HKDF(ck, ikm, 2) exactly as Noise §4.3 defines it (not RFC 5869's info/length form)."""
    temp_key = _hmac(chaining_key, input_key_material)
    output1 = _hmac(temp_key, b"\x01")
    output2 = _hmac(temp_key, output1 + b"\x02")
    return output1, output2


_NONCE: Final = struct.Struct("<4xQ")


def _nonce_bytes(nonce: int) -> bytes:
    """ChaChaPoly's 96-bit nonce: 32 zero bits, then ``nonce`` as 64-bit little-endian (§12.3)."""
    return _NONCE.pack(nonce)


def _public_bytes(key: X25519PrivateKey) -> bytes:
    """The raw 32-byte public key of ``key``."""
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _check_remote_key(public: bytes) -> None:
    """Reject a low-order X25519 key from the peer as soon as it is read."""
    masked = public[:-1] + bytes([public[-1] & 0x7F])
    if masked in _LOW_ORDER_KEYS:
        raise HandshakeError(WireCode.HANDSHAKE_LOW_ORDER_KEY, "the peer sent a low-order key")


def _dh(private: X25519PrivateKey, public: bytes) -> bytes:
    """DH(private, public); an all-zero output (a low-order public key) is an error."""
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(public))
    except ValueError:  # OpenSSL refuses to return an all-zero X25519 output
        shared = bytes(DHLEN)
    if bytes_eq(shared, bytes(DHLEN)):
        raise HandshakeError(
            WireCode.HANDSHAKE_LOW_ORDER_KEY, "a Diffie-Hellman output was all zero"
        )
    return shared


class CipherState:
    """Noise §5.1: a ChaCha20-Poly1305 key ``k`` (or none) and a 64-bit counter nonce ``n``.

    Without a key, encryption and decryption return their input unchanged (as the spec says).
    A failed decryption raises :class:`RemoteProtocolError` (``RECORD_DECRYPT_FAILED``) and leaves
    ``n`` unchanged. Nonce 2^64-1 is reserved: reaching it raises ``NONCE_EXHAUSTED``.
    """

    def __init__(self, key: bytes | None = None) -> None:
        self._aead: ChaCha20Poly1305 | None = None
        self._nonce = 0
        if key is not None:
            self.initialize_key(key)

    def __repr__(self) -> str:
        return f"CipherState(has_key={self.has_key()}, n={self._nonce})"

    def initialize_key(self, key: bytes) -> None:
        """InitializeKey(k): set the key and reset ``n`` to zero."""
        if len(key) != KEYLEN:
            raise ValueError("a cipher key is 32 bytes")
        self._aead = ChaCha20Poly1305(bytes(key))
        self._nonce = 0

    def has_key(self) -> bool:
        """HasKey(): whether a key is set."""
        return self._aead is not None

    @property
    def n(self) -> int:
        """The nonce the next encryption or decryption will use."""
        return self._nonce

    def set_nonce(self, nonce: int) -> None:
        """SetNonce(n): for tests and out-of-order transports; XX over a stream never needs it."""
        if not 0 <= nonce <= MAX_NONCE:
            raise ValueError("a nonce is in [0, 2^64-1]")
        self._nonce = nonce

    def _next_nonce(self) -> bytes:
        """The 12-byte nonce for ``n``, refusing the reserved maximum."""
        if self._nonce >= MAX_NONCE:
            raise LocalProtocolError(
                WireCode.NONCE_EXHAUSTED, "the nonce reached 2^64-1; re-establish the link"
            )
        return _nonce_bytes(self._nonce)

    def encrypt_with_ad(self, ad: bytes, plaintext: bytes) -> bytes:
        """EncryptWithAd(ad, plaintext): ciphertext with its 16-byte tag; ``n`` advances."""
        aead = self._aead  # runs once per record: one key object, the nonce packed in place
        if aead is None:
            return bytes(plaintext)
        nonce = self._next_nonce() if self._nonce >= MAX_NONCE else _NONCE.pack(self._nonce)
        ciphertext = aead.encrypt(nonce, plaintext, ad)
        self._nonce += 1
        return ciphertext

    def decrypt_with_ad(self, ad: bytes, ciphertext: bytes) -> bytes:
        """DecryptWithAd(ad, ciphertext): the plaintext; ``n`` advances only on success."""
        aead = self._aead
        if aead is None:
            return bytes(ciphertext)
        nonce = self._next_nonce() if self._nonce >= MAX_NONCE else _NONCE.pack(self._nonce)
        try:  # a ciphertext shorter than the tag fails here too
            plaintext = aead.decrypt(nonce, ciphertext, ad)
        except InvalidTag:  # opaque on purpose: no chained exception, no detail
            raise RemoteProtocolError(
                WireCode.RECORD_DECRYPT_FAILED, "authentication failed"
            ) from None
        self._nonce += 1
        return plaintext

    def rekey(self) -> None:
        """Rekey(): k = first 32 bytes of ENCRYPT(k, 2^64-1, "", zeros(32)); ``n`` is unchanged."""
        if self._aead is None:
            raise LocalProtocolError(WireCode.CIPHER_KEY_MISSING, "rekey needs a key")
        new_key = self._aead.encrypt(_nonce_bytes(MAX_NONCE), bytes(KEYLEN), b"")[:KEYLEN]
        self._aead = ChaCha20Poly1305(new_key)


class SymmetricState:
    """Noise §5.2: the chaining key ``ck``, the handshake hash ``h`` and a CipherState."""

    def __init__(self) -> None:
        # h = ck = the protocol name, which is exactly HASHLEN bytes so is used unhashed
        self._hash = self._chaining_key = PROTOCOL_NAME
        self._cipher = CipherState()
        self._spent = False

    def __repr__(self) -> str:
        return f"SymmetricState(has_key={self._cipher.has_key()}, spent={self._spent})"

    @property
    def handshake_hash(self) -> bytes:
        """GetHandshakeHash(): ``h``, the running hash of the transcript."""
        return self._hash

    def has_key(self) -> bool:
        """Whether MixKey has run, so payloads and static keys are encrypted."""
        return self._cipher.has_key()

    def mix_key(self, input_key_material: bytes) -> None:
        """MixKey(ikm): ck, k = HKDF(ck, ikm, 2); the cipher takes k with n = 0."""
        self._chaining_key, temp_key = _hkdf(self._chaining_key, input_key_material)
        self._cipher.initialize_key(temp_key[:KEYLEN])

    def mix_hash(self, data: bytes) -> None:
        """MixHash(data): h = HASH(h || data)."""
        self._hash = _hash(self._hash + data)

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        """EncryptAndHash(plaintext): encrypt under ad = h, then mix the ciphertext into h."""
        ciphertext = self._cipher.encrypt_with_ad(self._hash, plaintext)
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        """DecryptAndHash(ciphertext); a bad tag raises ``HANDSHAKE_DECRYPT_FAILED``."""
        try:
            plaintext = self._cipher.decrypt_with_ad(self._hash, ciphertext)
        except RemoteProtocolError:
            raise HandshakeError(
                WireCode.HANDSHAKE_DECRYPT_FAILED, "authentication failed"
            ) from None
        self.mix_hash(ciphertext)
        return plaintext

    def split(self) -> tuple[CipherState, CipherState]:
        """Split(): (initiator-to-responder, responder-to-initiator); forgets ``ck`` afterwards."""
        if self._spent:
            raise LocalProtocolError(WireCode.HANDSHAKE_OUT_OF_TURN, "split was already called")
        temp_key1, temp_key2 = _hkdf(self._chaining_key, b"")
        self._spent = True
        self._chaining_key = bytes(HASHLEN)
        self._cipher = CipherState()
        return CipherState(temp_key1[:KEYLEN]), CipherState(temp_key2[:KEYLEN])


class HandshakeStage(Enum):
    """Where a handshake is; the calls each stage allows are in ``_TRANSITIONS``."""

    SEND_MESSAGE_1 = "send message 1"
    RECEIVE_MESSAGE_1 = "receive message 1"
    SEND_MESSAGE_2 = "send message 2"
    RECEIVE_MESSAGE_2 = "receive message 2"
    SEND_MESSAGE_3 = "send message 3"
    RECEIVE_MESSAGE_3 = "receive message 3"
    COMPLETE = "complete"
    """All three messages done; ``split`` may be called once."""
    SPLIT = "split"
    """Transport keys handed out; the handshake holds no secrets any more."""
    FAILED = "failed"
    """A peer message was rejected; nothing more is allowed."""


class _Call(Enum):
    """The calls the state table governs."""

    WRITE = "write_message"
    READ = "read_message"
    SPLIT = "split"


_TRANSITIONS: Final[Mapping[tuple[HandshakeStage, _Call], tuple[int | None, HandshakeStage]]] = {
    # (stage, call): (index into MESSAGE_PATTERNS, next stage). Anything absent is out of turn.
    # initiator
    (HandshakeStage.SEND_MESSAGE_1, _Call.WRITE): (0, HandshakeStage.RECEIVE_MESSAGE_2),
    (HandshakeStage.RECEIVE_MESSAGE_2, _Call.READ): (1, HandshakeStage.SEND_MESSAGE_3),
    (HandshakeStage.SEND_MESSAGE_3, _Call.WRITE): (2, HandshakeStage.COMPLETE),
    # responder
    (HandshakeStage.RECEIVE_MESSAGE_1, _Call.READ): (0, HandshakeStage.SEND_MESSAGE_2),
    (HandshakeStage.SEND_MESSAGE_2, _Call.WRITE): (1, HandshakeStage.RECEIVE_MESSAGE_3),
    (HandshakeStage.RECEIVE_MESSAGE_3, _Call.READ): (2, HandshakeStage.COMPLETE),
    # both
    (HandshakeStage.COMPLETE, _Call.SPLIT): (None, HandshakeStage.SPLIT),
}


class HandshakeState:
    """Noise §5.3 for XX: one side of one handshake, driven by write/read calls in turn.

    ``ephemeral_key`` exists for test vectors; production code leaves it out so a fresh key is
    generated. Reusing an ephemeral key across handshakes destroys forward secrecy.
    """

    def __init__(
        self,
        initiator: bool,
        static_key: X25519PrivateKey,
        prologue: bytes,
        ephemeral_key: X25519PrivateKey | None = None,
    ) -> None:
        self._initiator = initiator
        self._static = static_key
        self._static_public = _public_bytes(static_key)
        self._ephemeral = ephemeral_key
        self._remote_static: bytes | None = None
        self._remote_ephemeral: bytes | None = None
        self._handshake_hash: bytes | None = None
        self._symmetric = SymmetricState()
        self._symmetric.mix_hash(prologue)
        self._stage = (
            HandshakeStage.SEND_MESSAGE_1 if initiator else HandshakeStage.RECEIVE_MESSAGE_1
        )

    def __repr__(self) -> str:
        return f"HandshakeState(initiator={self._initiator}, stage={self._stage.name})"

    @property
    def initiator(self) -> bool:
        """Whether this side sends message 1."""
        return self._initiator

    @property
    def stage(self) -> HandshakeStage:
        """The current stage of the state table."""
        return self._stage

    @property
    def is_complete(self) -> bool:
        """Whether all three messages have been written or read successfully."""
        return self._stage in (HandshakeStage.COMPLETE, HandshakeStage.SPLIT)

    @property
    def handshake_hash(self) -> bytes:
        """The final ``h``: a 32-byte transcript hash both sides share, for channel binding."""
        if self._handshake_hash is None:
            raise LocalProtocolError(
                WireCode.HANDSHAKE_NOT_COMPLETE, "the handshake hash exists once complete"
            )
        return self._handshake_hash

    @property
    def local_static_public(self) -> bytes:
        """Our static X25519 public key (32 bytes)."""
        return self._static_public

    @property
    def remote_static_public(self) -> bytes | None:
        """The peer's static X25519 public key, once the message carrying it authenticated.

        The initiator learns it from message 2 (before sending message 3), the responder from
        message 3. Noise proves only that the peer holds this key; who owns the key is for the
        payload (the identity signature) to show.
        """
        return self._remote_static

    def _transition(self, call: _Call) -> tuple[int | None, HandshakeStage]:
        """Look ``call`` up in the state table for the current stage."""
        step = _TRANSITIONS.get((self._stage, call))
        if step is None:
            raise LocalProtocolError(
                WireCode.HANDSHAKE_OUT_OF_TURN,
                f"{call.value} is not allowed at stage '{self._stage.value}'",
            )
        return step

    def _message_index(self, call: _Call) -> tuple[int, HandshakeStage]:
        """The message index and next stage for a write or read."""
        index, next_stage = self._transition(call)
        if index is None:  # the table gives every write and read a message index
            raise RuntimeError("state table entry without a message index")
        return index, next_stage

    def write_message(self, payload: bytes = b"") -> bytes:
        """WriteMessage(payload): the next handshake message to send to the peer."""
        index, next_stage = self._message_index(_Call.WRITE)
        limit = MAX_MESSAGE - FIXED_LENGTHS[index]
        if len(payload) > limit:
            raise LocalProtocolError(
                WireCode.PAYLOAD_TOO_LARGE, f"message {index + 1} carries at most {limit} bytes"
            )
        try:
            message = self._write(MESSAGE_PATTERNS[index], payload)
        except HandshakeError:
            self._fail()
            raise
        self._advance(next_stage)
        return message

    def read_message(self, message: bytes) -> bytes:
        """ReadMessage(message): the payload of the peer's next handshake message.

        Raises :class:`HandshakeError` for anything the peer could have sent wrongly: oversized,
        truncated, a low-order key, or a tag that does not verify. The handshake is then over.
        """
        index, next_stage = self._message_index(_Call.READ)
        try:
            payload = self._read(index, bytes(message))
        except HandshakeError:
            self._fail()
            raise
        self._advance(next_stage)
        return payload

    def split(self) -> tuple[CipherState, CipherState]:
        """Split(): this side's (send, receive) transport cipher states; allowed once."""
        self._transition(_Call.SPLIT)
        first, second = self._symmetric.split()
        self._stage = HandshakeStage.SPLIT
        return (first, second) if self._initiator else (second, first)

    def _advance(self, next_stage: HandshakeStage) -> None:
        """Enter ``next_stage``; on completion keep ``h`` and drop the ephemeral keys."""
        self._stage = next_stage
        if next_stage is HandshakeStage.COMPLETE:
            self._handshake_hash = self._symmetric.handshake_hash
            self._ephemeral = None
            self._remote_ephemeral = None

    def _fail(self) -> None:
        """Enter FAILED and forget everything learnt from the peer."""
        self._stage = HandshakeStage.FAILED
        self._remote_static = None
        self._remote_ephemeral = None
        self._ephemeral = None

    def _write(self, pattern: tuple[Token, ...], payload: bytes) -> bytes:
        """Process ``pattern``'s tokens for sending, then the payload."""
        symmetric = self._symmetric
        parts: list[bytes] = []
        for tok in pattern:
            if tok == "e":
                if self._ephemeral is None:
                    self._ephemeral = X25519PrivateKey.generate()
                public = _public_bytes(self._ephemeral)
                parts.append(public)
                symmetric.mix_hash(public)
            elif tok == "s":
                parts.append(symmetric.encrypt_and_hash(self._static_public))
            else:
                symmetric.mix_key(self._dh(tok))
        parts.append(symmetric.encrypt_and_hash(payload))
        return b"".join(parts)

    def _read(self, index: int, message: bytes) -> bytes:
        """Check the length, process message ``index``'s tokens as received, return the payload."""
        if len(message) > MAX_MESSAGE:
            raise HandshakeError(
                WireCode.HANDSHAKE_OVERSIZED, f"message {index + 1} is over {MAX_MESSAGE} bytes"
            )
        if len(message) < FIXED_LENGTHS[index]:
            raise HandshakeError(
                WireCode.HANDSHAKE_MALFORMED,
                f"message {index + 1} is shorter than {FIXED_LENGTHS[index]} bytes",
            )
        symmetric = self._symmetric
        offset = 0
        for tok in MESSAGE_PATTERNS[index]:
            if tok == "e":
                remote_ephemeral = message[offset : offset + DHLEN]
                offset += DHLEN
                _check_remote_key(remote_ephemeral)
                self._remote_ephemeral = remote_ephemeral
                symmetric.mix_hash(remote_ephemeral)
            elif tok == "s":
                size = DHLEN + (TAGLEN if symmetric.has_key() else 0)
                remote_static = symmetric.decrypt_and_hash(message[offset : offset + size])
                offset += size
                _check_remote_key(remote_static)
                self._remote_static = remote_static
            else:
                symmetric.mix_key(self._dh(tok))
        return symmetric.decrypt_and_hash(message[offset:])

    def _dh(self, token: Token) -> bytes:
        """The DH a token names: ee, es, se name (initiator's key, responder's key)."""
        local_kind, remote_kind = (token[0], token[1]) if self._initiator else (token[1], token[0])
        local = self._ephemeral if local_kind == "e" else self._static
        remote = self._remote_ephemeral if remote_kind == "e" else self._remote_static
        if local is None or remote is None:  # XX always has both keys when a DH token comes
            raise RuntimeError("message pattern names a key that is not there")
        return _dh(local, remote)
