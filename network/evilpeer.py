"""Test doubles for the link layer: an evil peer that speaks raw websocket to a PeerHost.

:class:`EvilPeer` dials ``/confide/v1`` and runs the link handshake correctly or wrongly (any
message replaced, cut, bit-flipped, reordered or left out through a :data:`Tamper` hook; a forged
identity payload), then sends whatever a test asks for: frames, arbitrary sealed plaintext,
records replayed, dropped or reordered, floods; it reads the host's records or stops reading.
:class:`RawConnection` sends what aiohttp will not: trickled bytes, frames lying about their
length. The clear-text parts (hello, identity payload, verdict) are encoded here, not borrowed
from ``channel``, so the wire format is checked too. :class:`Echo` is the well-behaved
application of a host under attack. Kept in the library (like trio's memory streams) so fault
tests are written once; production code never uses it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import struct
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, Final, Self

import aiohttp
import msgpack
import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from network import framing
from network.canonical import DOMAIN_NOISE_STATIC_KEY
from network.channel import PATH, PROTOCOL, VERSION, LocalParty
from network.errors import NetworkError
from network.identity import Identity
from network.link import Link, Session
from network.noise import HandshakeState
from network.recordcipher import TransportCipher

OPCODE_CONTINUATION, OPCODE_BINARY, OPCODE_CLOSE = 0x0, 0x2, 0x8
LOW_ORDER_X25519: Final = (
    bytes(32),
    bytes([1]) + bytes(31),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    bytes.fromhex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    bytes.fromhex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    bytes(31) + b"\x80",
)
"""X25519 public keys of small order; the last is zero with bit 255 set (X25519 ignores it)."""


class HandshakeStep(Enum):
    """The messages the dialling side sends during a link handshake."""

    HELLO = "hello"
    MESSAGE_1 = "message 1"
    MESSAGE_3 = "message 3"


Tamper = Callable[[HandshakeStep, bytes], bytes | None]
"""Given a step and the correct bytes, what to send instead (``None``: send nothing)."""


class PeerClosedError(Exception):
    """The host closed (or broke) the websocket; ``close_code`` is its close code, if any."""

    def __init__(self, close_code: int | None) -> None:
        super().__init__(f"the host closed the websocket (close code {close_code})")
        self.close_code = close_code


def make_hello(spaces: Sequence[str], version: int = VERSION) -> bytes:
    """The clear-text hello: protocol version and the offered data spaces (msgpack)."""
    return bytes(msgpack.packb({"v": version, "spaces": sorted(spaces)}))


def make_prologue(hello: bytes) -> bytes:
    """The Noise prologue both sides derive from the hello."""
    return b"confide/v1|" + hello


def identity_payload(
    identity: Identity,
    signed_static: bytes,
    spaces: Sequence[str],
    credentials: Sequence[bytes] = (),
    identity_key: bytes | None = None,
) -> bytes:
    """An identity payload whose signature covers ``signed_static`` (honest: our static key).

    ``identity_key`` replaces the Ed25519 key sent (for forged or malformed identities).
    """
    signature = identity.sign(DOMAIN_NOISE_STATIC_KEY, {"noise_static": signed_static})
    body = {
        "id": identity.public_key if identity_key is None else identity_key,
        "sig": signature,
        "spaces": sorted(spaces),
        "cred": list(credentials),
    }
    return bytes(msgpack.packb(body, use_bin_type=True))


def verdict_code(record_plaintext: bytes) -> int | None:
    """The code in the responder's verdict: ``None`` when the link was accepted."""
    verdict = msgpack.unpackb(record_plaintext, raw=False)
    return None if verdict["ok"] is True else int(verdict["code"])


def flip_bit(data: bytes, bit: int) -> bytes:
    """``data`` with bit number ``bit`` (counting from the first byte's low bit) inverted."""
    flipped = bytearray(data)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


def client_frame(
    payload: bytes, opcode: int = OPCODE_BINARY, fin: bool = True, declared: int | None = None
) -> bytes:
    """A masked client websocket frame; ``declared`` makes the header lie about the length."""
    length = len(payload) if declared is None else declared
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        header = struct.pack("!BB", first, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, length)
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


def server_close_code(data: bytes) -> int | None:
    """The close code of the first close frame among unmasked server frames, if any."""
    offset = 0
    while offset + 2 <= len(data):
        opcode, length = data[offset] & 0x0F, data[offset + 1] & 0x7F
        offset += 2
        if length == 126:
            (length,) = struct.unpack_from("!H", data, offset)
            offset += 2
        elif length == 127:
            (length,) = struct.unpack_from("!Q", data, offset)
            offset += 8
        if opcode == OPCODE_CLOSE and length >= 2 and offset + 2 <= len(data):
            code: int = struct.unpack_from("!H", data, offset)[0]
            return code
        offset += length
    return None


class RawConnection:
    """A bare TCP connection to a host's peer port, for bytes aiohttp would never send."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, host: str = "127.0.0.1") -> RawConnection:
        """Connect to ``host:port``."""
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    @staticmethod
    def upgrade_request(
        port: int,
        path: str = PATH,
        protocol: str = PROTOCOL,
        method: str = "GET",
        extra_headers: bytes = b"",
    ) -> bytes:
        """A websocket upgrade request for ``path`` offering ``protocol`` (``extra_headers``:
        raw header lines, each ending in CRLF, inserted before the blank line)."""
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {protocol}\r\n"
        ).encode("ascii")
        return head + extra_headers + b"\r\n"

    async def send(self, data: bytes) -> None:
        """Write ``data`` at once."""
        self.writer.write(data)
        await self.writer.drain()

    async def send_slowly(self, data: bytes, interval: float) -> None:
        """Write ``data`` a byte every ``interval`` seconds; stop quietly when the host hangs up."""
        with contextlib.suppress(ConnectionError):
            for index in range(len(data)):
                if self.reader.at_eof():
                    return
                await self.send(data[index : index + 1])
                await asyncio.sleep(interval)

    async def upgrade(self, port: int, protocol: str = PROTOCOL) -> int:
        """Send an upgrade request and return the response's HTTP status."""
        return await self.request(self.upgrade_request(port, protocol=protocol))

    async def request(self, request: bytes) -> int:
        """Send raw request bytes and return the response's HTTP status."""
        await self.send(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1])

    async def read_close_code(self) -> int | None:
        """After :meth:`upgrade`: read frames until a close frame (its code) or the end (None)."""
        received = bytearray()
        with contextlib.suppress(ConnectionError):
            while chunk := await self.reader.read(65536):
                received += chunk
                code = server_close_code(bytes(received))
                if code is not None:
                    return code
        return None

    async def read_until_eof(self) -> bytes:
        """Everything the host sends until it ends the connection."""
        with contextlib.suppress(ConnectionError):
            return await self.reader.read()
        return b""

    def close(self) -> None:
        """Abort the connection."""
        self.writer.transport.abort()


class EvilPeer:
    """``async with EvilPeer(local, url) as evil:`` then :meth:`handshake` and misbehave."""

    def __init__(self, local: LocalParty, url: str) -> None:
        self.local = local
        self.url = url
        self._client: aiohttp.ClientSession | None = None
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._cipher: TransportCipher | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def socket(self) -> aiohttp.ClientWebSocketResponse:
        """The websocket, once connected."""
        if self._socket is None:
            raise RuntimeError("not connected")
        return self._socket

    @property
    def cipher(self) -> TransportCipher:
        """The record cipher, once a handshake was accepted."""
        if self._cipher is None:
            raise RuntimeError("no handshake yet")
        return self._cipher

    async def connect(self, protocols: Sequence[str] = (PROTOCOL,)) -> None:
        """Open the websocket, offering ``protocols`` as subprotocols."""
        self._client = aiohttp.ClientSession()
        self._socket = await self._client.ws_connect(
            self.url, protocols=tuple(protocols), compress=0, max_msg_size=1 << 22
        )

    async def send_bytes(self, data: bytes) -> None:
        """Send one binary websocket message."""
        await self.socket.send_bytes(data)

    async def receive_bytes(self, timeout: float = 5.0) -> bytes:
        """The next binary message; :class:`PeerClosedError` if the host closed instead."""
        message = await self.socket.receive(timeout)
        if message.type is aiohttp.WSMsgType.BINARY:
            return bytes(message.data)
        raise PeerClosedError(self.socket.close_code)

    async def wait_closed(self, timeout: float = 5.0) -> int | None:
        """Discard messages until the host closes; its close code (``TimeoutError`` if never)."""
        async with asyncio.timeout(timeout):
            while True:
                try:
                    await self.receive_bytes(timeout)
                except PeerClosedError as closed:
                    return closed.close_code

    async def handshake(
        self, *, tamper: Tamper | None = None, payload: bytes | None = None, hello: bytes = b""
    ) -> int | None:
        """Dial-side handshake; the verdict code (``None``: accepted, the link is up).

        ``hello`` and ``payload`` replace the honest hello and identity payload; ``tamper``
        rewrites each message as it leaves. The Noise state always uses the honest prologue, so a
        tampered hello shows up as message 2 failing to decrypt here (``HandshakeError``).
        """
        hello = hello or make_hello(self.local.data_spaces)
        await self._send_step(HandshakeStep.HELLO, hello, tamper)
        state = HandshakeState(True, self.local.static_key, make_prologue(hello))
        await self._send_step(HandshakeStep.MESSAGE_1, state.write_message(), tamper)
        state.read_message(await self.receive_bytes())
        if payload is None:
            static = self.local.static_key.public_key().public_bytes_raw()
            payload = identity_payload(
                self.local.identity, static, self.local.data_spaces, self.local.credentials
            )
        await self._send_step(HandshakeStep.MESSAGE_3, state.write_message(payload), tamper)
        cipher = TransportCipher.from_handshake(state)
        code = verdict_code(cipher.open(await self.receive_bytes()))
        if code is None:
            self._cipher = cipher
        return code

    async def _send_step(self, step: HandshakeStep, data: bytes, tamper: Tamper | None) -> None:
        sent = data if tamper is None else tamper(step, data)
        if sent is not None:
            await self.send_bytes(sent)

    def seal(self, plaintext: bytes) -> bytes:
        """The next record for ``plaintext`` (not sent: the caller may drop or reorder it)."""
        return self.cipher.seal(plaintext)

    async def send_plaintext(self, plaintext: bytes) -> None:
        """Seal arbitrary bytes as the next record and send it (malformed frames)."""
        await self.send_bytes(self.seal(plaintext))

    async def send_frame(self, frame: framing.Frame) -> None:
        """Seal and send one well-formed frame."""
        await self.send_plaintext(framing.encode_frame(frame))

    async def send_message(
        self, session_id: int, label: str, arrays: tuple[Any, ...], max_record: int = 65519
    ) -> int:
        """Send a message as DATA fragments, ignoring credit; how many records it took."""
        records = list(framing.fragment(framing.Message(session_id, label, arrays), max_record))
        for record in records:
            await self.send_plaintext(record)
        return len(records)

    async def receive_frame(self, timeout: float = 5.0, answer_pings: bool = True) -> framing.Frame:
        """The next frame from the host (PINGs answered and skipped unless told otherwise)."""
        while True:
            frame = framing.decode_frame(self.cipher.open(await self.receive_bytes(timeout)))
            if answer_pings and isinstance(frame, framing.Ping):
                await self.send_frame(framing.Pong(frame.nonce))
                continue
            return frame

    async def round_trip(self, session_id: int, timeout: float = 5.0) -> None:
        """Open a session, send ``ping``, check the :class:`Echo`'s ``pong``; any ABORT fails."""
        sent = np.arange(session_id % 97 + 1, dtype=np.uint64)
        await self.send_frame(framing.Open(session_id, "mpc", {}))
        await self.send_message(session_id, "ping", (sent,))
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.receive_frame(timeout)
                if isinstance(frame, framing.Abort):  # for this session or any other
                    raise AssertionError(f"session aborted with code {frame.code}")
                if isinstance(frame, framing.Data) and frame.session_id == session_id:
                    (got,) = framing.decode_arrays(frame.payload)  # a pong is one record
                    if frame.label != "pong" or not np.array_equal(got, sent):
                        raise AssertionError("the echo came back different")
                    return

    async def aclose(self) -> None:
        """Close the websocket (if open) and the client session."""
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._socket.close(), 2.0)
        if self._client is not None:
            await self._client.close()


def new_party(seed: int | None = None, spaces: Sequence[str] = ("test-space",)) -> LocalParty:
    """A local party: a fixed identity from ``seed`` (random without one), fresh Noise key."""
    key = os.urandom(32) if seed is None else bytes([seed]) * 32
    return LocalParty(Identity.from_private_bytes(key), X25519PrivateKey.generate(), tuple(spaces))


class Echo:
    """A host's well-behaved application (its ``on_session``): answers ``ping`` with ``pong``."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self._tasks: set[asyncio.Task[None]] = set()

    def on_session(self, session: Session) -> None:
        """Answer the session's ``ping`` message (in a task of its own)."""
        task = asyncio.get_running_loop().create_task(self._answer(session))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, session: Session) -> None:
        with contextlib.suppress(NetworkError):
            arrays = await session.receive("ping", self.timeout)
            await session.send("pong", arrays)

    async def aclose(self) -> None:
        """Cancel the replies still waiting."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def round_trip(link: Link, session_id: int, timeout: float = 5.0) -> None:
    """Send ``ping`` on a new session of ``link`` and check the ``pong`` that an Echo sends back."""
    session = link.session(session_id)
    sent = np.arange(session_id % 97 + 1, dtype=np.uint64)
    await session.send("ping", (sent,))
    (got,) = await session.receive("pong", timeout)
    if not np.array_equal(got, sent):
        raise AssertionError("the echo came back different")
    session.close()
