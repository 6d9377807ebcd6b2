"""A node's identity: its Ed25519 key pair, and node ids from which any signature can be checked.

A node id is ``"cfd1"`` followed by the 32-byte Ed25519 public key in lowercase RFC 4648 base32
without padding (52 characters, the last one carrying 4 zero bits): 56 ASCII characters in all.
``cfd1`` names the format (Confide, version 1), so a future id format can be told apart. Because
the id *is* the key, checking a signature needs nothing but the id: no directory, no certificate.

Keys that are not canonical encodings (y ≥ p) or whose point has small order are refused: such a
key could "verify" signatures its holder never made. The private key lives in a PKCS#8 PEM file
of mode 0600 written atomically; it never appears in ``repr``, ``str`` or an error's text.
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Final, NoReturn

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from network.canonical import signing_input
from network.errors import KeyFileError, SignatureError, ValidationError, WireCode

NODE_ID_PREFIX: Final = "cfd1"
NODE_ID_LENGTH: Final = 56
PUBLIC_KEY_SIZE: Final = 32
SIGNATURE_SIZE: Final = 64
MAX_KEY_FILE: Final = 4096

_P: Final = 2**255 - 19
_ORDER_8_Y: Final = 2707385501144840649318225287225658788936804267575313519463743609750303402022
# The y-coordinates of every point of order 1, 2, 4 or 8 (libsodium's blocklist, canonical form).
_SMALL_ORDER_Y: Final = frozenset({0, 1, _P - 1, _ORDER_8_Y, _P - _ORDER_8_Y})
_BASE32: Final = frozenset("abcdefghijklmnopqrstuvwxyz234567")


def _bad_key(path: str, reason: str) -> ValidationError:
    return ValidationError(WireCode.INVALID_PUBLIC_KEY, path, reason)


def check_public_key(public_key: bytes, path: str = "$") -> bytes:
    """``public_key`` if it is a canonical Ed25519 point encoding not of small order."""
    if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_SIZE:
        raise _bad_key(path, "expected 32 bytes")
    y = int.from_bytes(public_key, "little") & ((1 << 255) - 1)
    if y >= _P:
        raise _bad_key(path, "non-canonical point encoding")
    if y in _SMALL_ORDER_Y:
        raise _bad_key(path, "point of small order")
    return public_key


def node_id_from_public_key(public_key: bytes) -> str:
    """The node id of an Ed25519 public key (raw 32 bytes)."""
    check_public_key(public_key)
    text = base64.b32encode(public_key).decode("ascii").rstrip("=").lower()
    return NODE_ID_PREFIX + text


def public_key_from_node_id(node_id: str, path: str = "$") -> bytes:
    """The raw public key a node id encodes; raises ``ValidationError`` (``INVALID_PUBLIC_KEY``)."""
    if not isinstance(node_id, str) or len(node_id) != NODE_ID_LENGTH:
        raise _bad_key(path, "node id must be 56 characters")
    if not node_id.startswith(NODE_ID_PREFIX):
        raise _bad_key(path, "node id must start with cfd1")
    text = node_id[len(NODE_ID_PREFIX) :]
    if not set(text) <= _BASE32:
        raise _bad_key(path, "node id must be lowercase base32")
    public_key = base64.b32decode(text.upper() + "====")
    # The last character holds 4 padding bits; only one spelling (zero bits) is canonical.
    if base64.b32encode(public_key).decode("ascii").rstrip("=").lower() != text:
        raise _bad_key(path, "node id is not canonical")
    return check_public_key(public_key, path)


def check_node_id(value: object, path: str) -> str:
    """``value`` if it is a valid node id, else ``ValidationError`` at ``path``."""
    if not isinstance(value, str):
        raise _bad_key(path, "expected a node id")
    public_key_from_node_id(value, path)
    return value


def verify(node_id: str, domain: bytes, body: Mapping[str, object], signature: bytes) -> None:
    """Check ``signature`` by ``node_id`` over ``domain || canonical(body)``.

    Returns nothing; raises :class:`SignatureError` on any failure, including a malformed node
    id or signature, so that a caller cannot mistake a failure for success.
    """
    try:
        public_key = public_key_from_node_id(node_id)
    except ValidationError:
        raise SignatureError() from None
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_SIZE:
        raise SignatureError()
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            signature, signing_input(domain, body)
        )
    except InvalidSignature:
        raise SignatureError() from None


class Identity:
    """A node's Ed25519 key pair. ``repr`` shows the node id only."""

    __slots__ = ("_private_key", "node_id", "public_key")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        self.public_key: bytes = private_key.public_key().public_bytes_raw()
        self.node_id: str = node_id_from_public_key(self.public_key)

    @classmethod
    def generate(cls) -> Identity:
        """A fresh identity from the operating system's CSPRNG."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, seed: bytes) -> Identity:
        """The identity whose 32-byte Ed25519 private key (RFC 8032 seed) is ``seed``."""
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def __repr__(self) -> str:
        return f"Identity(node_id={self.node_id!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("an Identity holds a private key and is never serialised implicitly")

    def sign(self, domain: bytes, body: Mapping[str, object]) -> bytes:
        """The signature over ``domain || canonical(body)`` (64 bytes)."""
        return self._private_key.sign(signing_input(domain, body))

    def save(self, path: Path | str, *, overwrite: bool = False) -> None:
        """Write the private key to ``path`` as PKCS#8 PEM, mode 0600, atomically.

        The key goes to a temporary file in the same directory (created 0600, written,
        fsynced), which is then linked into place (or renamed over ``path`` when ``overwrite``);
        the directory is fsynced last. Without ``overwrite`` an existing file is never replaced.
        """
        target = Path(path)
        pem = self._private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            try:
                os.fchmod(descriptor, 0o600)
                os.write(descriptor, pem)
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            if overwrite:
                os.replace(temporary, target)
            else:
                try:
                    os.link(temporary, target)  # atomic, and fails if target exists
                except FileExistsError:
                    raise KeyFileError(
                        WireCode.KEY_FILE_EXISTS, "key file exists; pass overwrite=True"
                    ) from None
        finally:
            temporary.unlink(missing_ok=True)
        directory = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    @classmethod
    def load(cls, path: Path | str) -> Identity:
        """Read a key written by :meth:`save`; refuses files group or others may access.

        ``OSError`` if the file cannot be opened (missing, a symlink, not permitted).
        """
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):
                raise KeyFileError(WireCode.KEY_FILE_UNSAFE, "key file is not a regular file")
            if status.st_mode & 0o077:
                raise KeyFileError(
                    WireCode.KEY_FILE_UNSAFE, "key file is accessible by group or others; chmod 600"
                )
            data = os.read(descriptor, MAX_KEY_FILE + 1)
        finally:
            os.close(descriptor)
        if len(data) > MAX_KEY_FILE:
            raise KeyFileError(WireCode.KEY_FILE_MALFORMED, "key file too large")
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise KeyFileError(WireCode.KEY_FILE_MALFORMED, "not a PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(WireCode.KEY_FILE_MALFORMED, "not an Ed25519 private key")
        return cls(key)
