"""The record cipher of an established secure channel: implicit counter nonces, periodic rekey.

Built from the two cipher states a completed Noise XX handshake splits into
(``network/noise.py``); the record layout is specified in ``docs/spec/noise.md``.
"""

from __future__ import annotations

from network.errors import LocalProtocolError, RemoteProtocolError, WireCode
from network.noise import (
    DEFAULT_REKEY_AFTER,
    MAX_MESSAGE,
    TAGLEN,
    CipherState,
    HandshakeState,
)


class TransportCipher:
    """One side's record cipher after the handshake: implicit counter nonces, periodic rekey.

    Every record uses the next nonce, so a replayed, dropped or reordered record fails to
    authenticate (``RECORD_DECRYPT_FAILED``); after the first failure ``open`` refuses all further
    records (``RECORD_CIPHER_FAILED``) and the link must close. After every ``rekey_after``
    records in a direction both ends call ``rekey()`` on that direction's cipher, at the same
    record count, so they stay in step without any message about it.
    """

    def __init__(
        self,
        send: CipherState,
        receive: CipherState,
        rekey_after: int = DEFAULT_REKEY_AFTER,
    ) -> None:
        if rekey_after < 1:
            raise ValueError("rekey_after is at least 1")
        if send is receive or not (send.has_key() and receive.has_key()):
            raise ValueError("a transport cipher needs two keyed cipher states from split()")
        self._send = send
        self._receive = receive
        self._rekey_after = rekey_after
        self._sent = 0
        self._received = 0
        self._failed = False

    @classmethod
    def from_handshake(
        cls, handshake: HandshakeState, rekey_after: int = DEFAULT_REKEY_AFTER
    ) -> TransportCipher:
        """Split a complete handshake into this side's transport cipher."""
        send, receive = handshake.split()
        return cls(send, receive, rekey_after)

    def __repr__(self) -> str:
        return (
            f"TransportCipher(sent={self._sent}, received={self._received}, "
            f"rekey_after={self._rekey_after}, failed={self._failed})"
        )

    @property
    def rekey_after(self) -> int:
        """Records per direction between rekeys."""
        return self._rekey_after

    @property
    def records_sent(self) -> int:
        """Records sealed so far."""
        return self._sent

    @property
    def records_received(self) -> int:
        """Records opened successfully so far."""
        return self._received

    def seal(self, plaintext: bytes, ad: bytes = b"") -> bytes:
        """Encrypt the next outgoing record (at most 65519 plaintext bytes)."""
        limit = MAX_MESSAGE - TAGLEN
        if len(plaintext) > limit:
            raise LocalProtocolError(
                WireCode.PAYLOAD_TOO_LARGE, f"a record carries at most {limit}"
            )
        record = self._send.encrypt_with_ad(ad, plaintext)
        self._sent += 1
        if self._sent % self._rekey_after == 0:
            self._send.rekey()
        return record

    def open(self, ciphertext: bytes, ad: bytes = b"") -> bytes:
        """Decrypt the next incoming record; it must be exactly the next one the peer sealed."""
        if self._failed:
            raise LocalProtocolError(
                WireCode.RECORD_CIPHER_FAILED, "a record already failed; the link must close"
            )
        if not TAGLEN <= len(ciphertext) <= MAX_MESSAGE:
            self._failed = True
            raise RemoteProtocolError(
                WireCode.RECORD_MALFORMED, f"a record is {TAGLEN} to {MAX_MESSAGE} bytes"
            )
        try:
            plaintext = self._receive.decrypt_with_ad(ad, ciphertext)
        except RemoteProtocolError:
            self._failed = True
            raise
        self._received += 1
        if self._received % self._rekey_after == 0:
            self._receive.rekey()
        return plaintext
