"""The secure channel: a Noise XX handshake over a websocket, bound to node identities.

Sequence (every message one binary websocket message):

1. initiator → responder: ``hello`` in the clear: protocol version and the data spaces the
   initiator offers (msgpack). Both sides use ``b"confide/v1|" + hello`` as the Noise prologue,
   so a tampered or downgraded hello makes the handshake fail.
2. Noise XX message 1 (``-> e``).
3. Noise XX message 2 (``<- e, ee, s, es``) with the responder's identity payload.
4. Noise XX message 3 (``-> s, se``) with the initiator's identity payload.

An identity payload (msgpack) holds the Ed25519 public key, its signature over the sender's Noise
static key under the domain ``confide/v1/noise-static-key``, the data spaces it takes part in, and
opaque credentials for the authoriser. Each side checks the signature (so the Noise key belongs
to that node id), that the node id is the one it dialled (initiator), and asks its authoriser
whether the peer may connect (shared or linked data space, not revoked). As the initiator
proves itself only in message 3, the responder's first transport record is its verdict
(accepted, or refused with a code), so a refused initiator learns it instead of seeing a link
that dies at once. One deadline of ``HANDSHAKE_DEADLINE`` seconds covers the whole exchange.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeGuard

import msgpack
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from network.canonical import DOMAIN_NOISE_STATIC_KEY as STATIC_DOMAIN
from network.canonical import is_name
from network.errors import (
    HandshakeError,
    RemoteProtocolError,
    SignatureError,
    ValidationError,
    WireCode,
)
from network.identity import Identity, node_id_from_public_key, verify
from network.noise import HandshakeState
from network.recordcipher import TransportCipher

PROTOCOL = "confide.v1"
PATH = "/confide/v1"
VERSION = 1
HANDSHAKE_DEADLINE = 5.0
MAX_HELLO = 4096
MAX_SPACES = 64


class RecordPipe(Protocol):
    """A message pipe: one websocket, seen as whole binary messages."""

    async def send(self, data: bytes) -> None:
        """Send one binary message."""
        ...

    async def receive(self) -> bytes:
        """The next binary message; raises ``RemoteProtocolError`` if the pipe ended."""
        ...


@dataclass(frozen=True)
class Peer:
    """Who is on the other end, as proven by the handshake."""

    node_id: str
    data_spaces: tuple[str, ...]
    credentials: tuple[bytes, ...]


Authorizer = Callable[[Peer], None]
"""Raises ``RemoteProtocolError`` (code ``NOT_AUTHORIZED``) when a peer may not connect."""


@dataclass(frozen=True)
class LocalParty:
    """What this node proves about itself in a handshake."""

    identity: Identity
    static_key: X25519PrivateKey
    data_spaces: tuple[str, ...]
    credentials: tuple[bytes, ...] = ()


def _refuse(code: WireCode, reason: str) -> HandshakeError:
    return HandshakeError(code, reason)


# --- the clear-text and payload codecs ---------------------------------------------------------
#
# The fuzz rule for the three decoders below: any bytes are either accepted or raise
# ``HandshakeError`` (whose ``code`` says why); nothing else escapes. Their error texts are fixed
# strings: no key, name or other text the peer chose ever appears in them.


def _unpack(data: bytes, what: str) -> Any:
    """``data`` as one msgpack value (str keys or bin keys only); else ``HANDSHAKE_MALFORMED``."""
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True)
    except (ValueError, TypeError, msgpack.UnpackException):
        # ValueError covers ExtraData, FormatError, StackError, UnicodeDecodeError and
        # "incomplete input"; OutOfData is an UnpackException only.
        raise _refuse(WireCode.HANDSHAKE_MALFORMED, f"{what} is not msgpack") from None


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def encode_hello(spaces: Sequence[str]) -> bytes:
    """The initiator's clear-text hello: ``{"v": VERSION, "spaces": sorted(spaces)}``."""
    return bytes(msgpack.packb({"v": VERSION, "spaces": sorted(spaces)}))


def decode_hello(data: bytes) -> tuple[str, ...]:
    """The data spaces a hello offers; raises ``HandshakeError`` for anything but a v1 hello."""
    if len(data) > MAX_HELLO:
        raise _refuse(WireCode.HANDSHAKE_OVERSIZED, "hello too large")
    hello = _unpack(data, "hello")
    if not isinstance(hello, dict) or not _is_int(hello.get("v")) or hello["v"] != VERSION:
        raise _refuse(WireCode.HANDSHAKE_MALFORMED, "unsupported hello")
    return _spaces(hello.get("spaces"))


def _spaces(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_SPACES:
        raise _refuse(WireCode.HANDSHAKE_MALFORMED, "data spaces must be a short list")
    if not all(is_name(space) for space in value):
        raise _refuse(WireCode.HANDSHAKE_MALFORMED, "data space ids must be names")
    return tuple(value)


def encode_identity_payload(local: LocalParty) -> bytes:
    """What ``local`` proves about itself in Noise message 2 or 3 (msgpack, bin type)."""
    static = local.static_key.public_key().public_bytes_raw()
    signature = local.identity.sign(STATIC_DOMAIN, {"noise_static": static})
    body = {
        "id": local.identity.public_key,
        "sig": signature,
        "spaces": sorted(local.data_spaces),
        "cred": list(local.credentials),
    }
    return bytes(msgpack.packb(body, use_bin_type=True))


def decode_identity_payload(data: bytes, remote_static: bytes) -> Peer:
    """The peer an identity payload proves, given the Noise static key of this handshake.

    Raises ``HandshakeError``: ``HANDSHAKE_MALFORMED``, ``INVALID_PUBLIC_KEY`` or
    ``HANDSHAKE_IDENTITY_MISMATCH`` (the key in ``id`` did not sign ``remote_static``).
    """
    body = _unpack(data, "identity payload")
    if not isinstance(body, dict):
        raise _refuse(WireCode.HANDSHAKE_MALFORMED, "identity payload is not a map")
    key, signature, credentials = body.get("id"), body.get("sig"), body.get("cred")
    if not isinstance(key, bytes) or len(key) != 32 or not isinstance(signature, bytes):
        raise _refuse(WireCode.HANDSHAKE_MALFORMED, "identity key or signature missing")
    if not isinstance(credentials, list) or not all(isinstance(c, bytes) for c in credentials):
        raise _refuse(WireCode.HANDSHAKE_MALFORMED, "credentials must be byte strings")
    try:
        node_id = node_id_from_public_key(key)
    except ValidationError:
        raise _refuse(WireCode.INVALID_PUBLIC_KEY, "identity key invalid") from None
    try:
        verify(node_id, STATIC_DOMAIN, {"noise_static": remote_static}, signature)
    except SignatureError:
        raise _refuse(WireCode.HANDSHAKE_IDENTITY_MISMATCH, "identity does not sign key") from None
    return Peer(node_id, _spaces(body.get("spaces")), tuple(credentials))


def encode_verdict(code: WireCode | None) -> bytes:
    """The responder's first record: the link is accepted (``None``), or refused with a code."""
    return bytes(msgpack.packb({"ok": code is None, "code": 0 if code is None else int(code)}))


def decode_verdict(data: bytes) -> WireCode | None:
    """``None`` for an accepted verdict, the refusal's code otherwise; else ``HandshakeError``.

    ``ok`` must be a bool and ``code`` an integer: 0 with ``ok`` true, a known nonzero
    ``WireCode`` with ``ok`` false. Other keys are ignored, as in the identity payload.
    """
    verdict = _unpack(data, "verdict")
    if not isinstance(verdict, dict):
        raise _refuse(WireCode.HANDSHAKE_MALFORMED, "malformed verdict")
    ok, code = verdict.get("ok"), verdict.get("code")
    if not isinstance(ok, bool) or not _is_int(code) or ok != (code == 0):
        raise _refuse(WireCode.HANDSHAKE_MALFORMED, "malformed verdict")
    if ok:
        return None
    try:
        return WireCode(code)
    except ValueError:
        raise _refuse(WireCode.HANDSHAKE_MALFORMED, "malformed verdict") from None


async def initiate(
    pipe: RecordPipe,
    local: LocalParty,
    authorize: Authorizer,
    expected: str | None = None,
) -> tuple[TransportCipher, Peer]:
    """Run the initiator's side; return the record cipher and the proven peer."""
    return await _within_deadline(_initiate(pipe, local, authorize, expected))


async def _within_deadline(
    handshake: Coroutine[Any, Any, tuple[TransportCipher, Peer]],
) -> tuple[TransportCipher, Peer]:
    """``handshake`` under the one deadline; running out is ``HANDSHAKE_TIMEOUT``."""
    try:
        return await asyncio.wait_for(handshake, HANDSHAKE_DEADLINE)
    except TimeoutError:
        raise _refuse(WireCode.HANDSHAKE_TIMEOUT, "handshake deadline passed") from None


async def _initiate(
    pipe: RecordPipe, local: LocalParty, authorize: Authorizer, expected: str | None
) -> tuple[TransportCipher, Peer]:
    hello = encode_hello(local.data_spaces)
    await pipe.send(hello)
    state = HandshakeState(True, local.static_key, b"confide/v1|" + hello)
    await pipe.send(state.write_message())
    payload = state.read_message(await pipe.receive())
    remote_static = state.remote_static_public
    assert remote_static is not None
    peer = decode_identity_payload(payload, remote_static)
    if expected is not None and peer.node_id != expected:
        raise _refuse(WireCode.HANDSHAKE_WRONG_PEER, "a different node answered")
    authorize(peer)
    await pipe.send(state.write_message(encode_identity_payload(local)))
    cipher = TransportCipher.from_handshake(state)
    verdict = decode_verdict(cipher.open(await pipe.receive()))
    if verdict is not None:
        raise RemoteProtocolError(verdict, "the peer refused the link")
    return cipher, peer


async def respond(
    pipe: RecordPipe, local: LocalParty, authorize: Authorizer
) -> tuple[TransportCipher, Peer]:
    """Run the responder's side; return the record cipher and the proven peer."""
    return await _within_deadline(_respond(pipe, local, authorize))


async def _respond(
    pipe: RecordPipe, local: LocalParty, authorize: Authorizer
) -> tuple[TransportCipher, Peer]:
    hello = await pipe.receive()
    decode_hello(hello)
    state = HandshakeState(False, local.static_key, b"confide/v1|" + hello)
    state.read_message(await pipe.receive())
    await pipe.send(state.write_message(encode_identity_payload(local)))
    payload = state.read_message(await pipe.receive())
    remote_static = state.remote_static_public
    assert remote_static is not None
    peer = decode_identity_payload(payload, remote_static)
    cipher = TransportCipher.from_handshake(state)
    try:
        authorize(peer)
    except RemoteProtocolError as refusal:
        await pipe.send(cipher.seal(encode_verdict(refusal.code)))
        raise
    await pipe.send(cipher.seal(encode_verdict(None)))
    return cipher, peer


def allow_nodes(node_ids: Sequence[str]) -> Authorizer:
    """An authoriser that admits exactly the given node ids (tests and benchmarks)."""
    allowed = frozenset(node_ids)

    def authorize(peer: Peer) -> None:
        if peer.node_id not in allowed:
            raise RemoteProtocolError(WireCode.NOT_AUTHORIZED, "peer not admitted")

    return authorize
