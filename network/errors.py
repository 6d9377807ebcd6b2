"""Errors of the network layer.

Hierarchy::

    NetworkError                  base of everything the network layer raises on purpose
    ├── LocalProtocolError        our caller misused the API (out of turn, too large, exhausted);
    │                             a bug or a limit on our side, never the peer's fault
    │   └── KeyFileError          an identity key file is unsafe, malformed or already there
    └── RemoteProtocolError       the peer (or the network between us) misbehaved: the link ends
        ├── HandshakeError        a Noise handshake message was malformed, oversized,
        │                         unauthenticated or carried a low-order key
        └── ValidationError       a signed object (node record, charter, credential,
            │                     revocation, link) breaks a rule; ``path`` names the field
            ├── DecodeError       bytes are not the canonical encoding of a value
            └── SignatureError    a signature does not verify (deliberately opaque)

Every error carries a ``code`` from :class:`WireCode`: an ``IntEnum`` whose values never change,
so a code can be logged, counted and sent in a close frame. Error text names the code and a fixed
reason only; it never contains key material, handshake hashes, payloads or peer identifiers.
Authentication failures are deliberately opaque: "the tag did not verify" is all anyone learns.

Code blocks (leave room; never renumber):

* 100–199 secure channel: the Noise handshake and its record cipher (``network/noise.py``).
* 260–299 signed data: identities, node records, data spaces (``network/canonical.py``,
  ``identity.py``, ``records.py``, ``dataspace.py``). 200–259 is left to the frame codes that
  ``network/frameerrors.py`` holds provisionally.
* 300–349 links and sessions (``network/channel.py``, ``link.py``, ``host.py``).
* other blocks are free for the other network layers to claim.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Self


class WireCode(IntEnum):
    """Why a link or handshake ended. Values are stable on the wire and in logs."""

    # 100–199: secure channel (Noise_XX_25519_ChaChaPoly_SHA256 and its records).
    HANDSHAKE_MALFORMED = 100
    """A handshake message was shorter than its pattern's fixed fields."""
    HANDSHAKE_OVERSIZED = 101
    """A handshake message was longer than 65535 bytes."""
    HANDSHAKE_DECRYPT_FAILED = 102
    """An AEAD tag in a handshake message did not verify (tampering, wrong prologue, wrong key)."""
    HANDSHAKE_LOW_ORDER_KEY = 103
    """The peer sent a low-order X25519 key, or a Diffie-Hellman output was all zero."""
    HANDSHAKE_OUT_OF_TURN = 104
    """Local: a handshake call the state table does not allow now (wrong turn, done, failed)."""
    HANDSHAKE_NOT_COMPLETE = 105
    """Local: the handshake hash was asked for before the handshake completed."""
    PAYLOAD_TOO_LARGE = 106
    """Local: the payload would make a handshake message or record longer than 65535 bytes."""
    NONCE_EXHAUSTED = 107
    """Local: a cipher state reached nonce 2^64-1; the link must be re-established."""
    CIPHER_KEY_MISSING = 108
    """Local: a cipher state without a key was asked to rekey."""
    RECORD_DECRYPT_FAILED = 110
    """A transport record did not authenticate: tampered, replayed, dropped or reordered."""
    RECORD_MALFORMED = 111
    """A transport record was shorter than its tag or longer than 65535 bytes."""
    RECORD_CIPHER_FAILED = 112
    """Local: the record cipher was used after it had already failed once."""

    # 260–299: signed data (canonical encoding, identities, node records, data spaces).
    MALFORMED_ENCODING = 260
    """Bytes are not the canonical encoding of a value, or exceed the object's size bound."""
    INVALID_FIELD = 261
    """A field is missing, unknown, of the wrong type, out of range or badly spelled."""
    UNSUPPORTED_VERSION = 262
    """A signed object's body carries a format version this node does not implement."""
    INVALID_PUBLIC_KEY = 263
    """A node id or Ed25519 key is malformed, non-canonical or of small order."""
    FORGED_SIGNATURE = 264
    """A signature does not verify under its signer's key, domain string and object."""
    INSUFFICIENT_SIGNATURES = 265
    """Too few eligible signers: governance threshold, endorsements or both sides of a link."""
    NOT_YET_VALID = 266
    """An object's validity starts later than now (beyond the allowed clock skew)."""
    EXPIRED = 267
    """An object's validity ended at or before now."""
    STALE_SEQUENCE = 268
    """A node record's sequence number is not higher than the one already held."""
    DUPLICATE_RECORD = 269
    """A node record identical to the one already held (harmless when flooding)."""
    NOT_A_MEMBER = 270
    """A node is not a member of any data space it claims or presents."""
    REVOKED = 271
    """A membership credential (or its member) was revoked by the data space's governance."""
    UNKNOWN_DATA_SPACE = 272
    """No charter is known for the data space an object names."""
    UNKNOWN_ROLE = 273
    """A role outside the charter's role vocabulary."""
    UNKNOWN_PURPOSE = 274
    """A purpose outside the purpose vocabulary of a charter it must belong to."""
    SUBJECT_MISMATCH = 275
    """A credential presented by one node names another node as its member."""
    NO_SHARED_DATA_SPACE = 276
    """Two nodes share no data space and no valid data-space link joins theirs."""
    STALE_CHARTER = 277
    """A charter update does not have a higher version than the charter already held."""
    CAPACITY_EXCEEDED = 278
    """A bounded store is full of live entries; the offered object was not kept."""
    UNENCODABLE_VALUE = 290
    """Local: a value outside the canonical types or ranges was given to the encoder."""
    OBJECT_TOO_LARGE = 291
    """Local: an object would encode to more than its size bound."""
    WRONG_SIGNER = 292
    """Local: an identity was asked to sign an object it may not sign (another node's record)."""
    KEY_FILE_UNSAFE = 293
    """Local: a key file is not a regular file or is accessible by group or others."""
    KEY_FILE_MALFORMED = 294
    """Local: a key file does not hold a PKCS#8 PEM Ed25519 private key."""
    KEY_FILE_EXISTS = 295
    """Local: saving a key would overwrite an existing file and overwriting was not asked for."""

    # 300–349: links and sessions (``network/channel.py``, ``link.py``, ``host.py``).
    HANDSHAKE_IDENTITY_MISMATCH = 300
    """The peer's identity key did not sign its Noise static key."""
    HANDSHAKE_WRONG_PEER = 301
    """A different node answered than the one dialled."""
    NOT_AUTHORIZED = 302
    """The peer shares no data space (or linked data space) with us, or is revoked."""
    HANDSHAKE_TIMEOUT = 303
    """The handshake did not finish within its deadline."""
    LINK_CLOSED = 310
    """The link was closed normally (shutdown, or a duplicate link between the same nodes)."""
    LINK_LOST = 311
    """The websocket ended or broke under the link."""
    LINK_TIMEOUT = 312
    """The peer stopped answering: no record within the idle deadline, or a write stalled."""
    PROTOCOL_VIOLATION = 313
    """A frame was not allowed in the session's state (unknown session, over credit, …)."""
    LINK_BUFFER_FULL = 314
    """Unread messages across the link's sessions reached the link's cap; the session that
    would pass it was aborted (the link and its other sessions carry on)."""
    SESSION_ABORTED = 320
    """The peer aborted the session."""
    SESSION_CLOSED = 321
    """The session was closed before the awaited message arrived."""
    SESSION_TIMEOUT = 322
    """An awaited session message did not arrive within the session's deadline."""
    SESSION_HANDLER_FAILED = 323
    """The application's hook for a session the peer opened raised; that session was aborted."""


class NetworkError(Exception):
    """Base class of the network layer's errors; ``code`` says what happened."""

    def __init__(self, code: WireCode, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"{code.name.lower()} ({int(code)}): {reason}")


class LocalProtocolError(NetworkError):
    """Our caller used the API wrongly or hit a local limit; never the peer's fault."""


class RemoteProtocolError(NetworkError):
    """The peer sent something this side must reject; the link ends with ``code``."""


class HandshakeError(RemoteProtocolError):
    """A Noise handshake message from the peer was rejected; the handshake is over."""


class KeyFileError(LocalProtocolError):
    """An identity key file is unsafe, malformed or in the way; the text never holds key bytes."""


class ValidationError(RemoteProtocolError):
    """A signed object breaks a rule: ``code`` says which, ``path`` says where.

    ``path`` is JSON-path-like over the object's canonical (wire) form, e.g. ``$.body.roles[1]``
    or ``$.signatures[0].signature``; it names fields and list positions, never values. Objects
    built locally are validated by the same code, so the admin API can show the path too.
    """

    def __init__(self, code: WireCode, path: str, reason: str) -> None:
        super().__init__(code, reason)
        self.path = path

    def __str__(self) -> str:
        return f"{super().__str__()} at {self.path}"

    def under(self, prefix: str) -> Self:
        """The same error with ``path`` re-rooted below ``prefix`` (``$.x`` → ``$.body.x``)."""
        moved = type(self).__new__(type(self))
        moved.__dict__.update(vars(self))
        moved.args = self.args
        moved.path = prefix + self.path[1:]
        return moved


class DecodeError(ValidationError):
    """Bytes are not the canonical encoding of a value (the one error of every decoder)."""

    def __init__(self, reason: str, path: str = "$") -> None:
        super().__init__(WireCode.MALFORMED_ENCODING, path, reason)


class SignatureError(ValidationError):
    """A signature does not verify; deliberately opaque about why."""

    def __init__(self, path: str = "$") -> None:
        super().__init__(WireCode.FORGED_SIGNATURE, path, "signature does not verify")
