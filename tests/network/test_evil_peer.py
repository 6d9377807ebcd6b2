"""A PeerHost against an evil peer (``network/evilpeer.py``) over real websockets on loopback.

Every case states its outcome: a stable code (websocket close code before the handshake, logged
``WireCode`` or frame code after), bounded buffers, no hang, and the host still serving a good
peer on another link (a session round trip, checked after every attack by the fixture)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from structlog.testing import capture_logs

from network import channel, framing, host, link
from network import evilpeer as ep
from network.channel import PROTOCOL, LocalParty, allow_nodes
from network.errors import HandshakeError, NetworkError
from network.errors import WireCode as W
from network.evilpeer import EvilPeer, RawConnection, client_frame, flip_bit, new_party
from network.framing import FrameErrorCode as F
from network.host import PeerHost
from network.link import Link
from network.noise import HandshakeState

pytestmark = pytest.mark.asyncio

HOST, GOOD, EVIL, STRANGER = 1, 2, 3, 5
"""Identity seeds; STRANGER is not admitted."""
POLICY_VIOLATION, PROTOCOL_ERROR, TOO_BIG = 1008, 1002, 1009
MALFORMED = W.RECORD_MALFORMED
MIB = 1 << 20


@dataclass
class Bench:
    """A host under attack (answering pings with an Echo), a good peer linked to it, and logs."""

    host: PeerHost
    good: PeerHost
    logs: list[MutableMapping[str, Any]]
    evils: list[EvilPeer] = field(default_factory=list)
    raws: list[RawConnection] = field(default_factory=list)
    sending: list[asyncio.Task[None]] = field(default_factory=list)
    sessions: int = 1000

    def evil(self, seed: int = EVIL) -> EvilPeer:
        """A new evil peer with identity ``seed`` dialling the host."""
        self.evils.append(EvilPeer(new_party(seed), self.host.url))
        return self.evils[-1]

    async def raw(self, protocol: str | None) -> RawConnection:
        """A raw connection to the host, upgraded offering ``protocol`` (None: left as is)."""
        self.raws.append(raw := await RawConnection.open(self.host.port))
        assert protocol is None or await raw.upgrade(self.host.port, protocol) == 101
        return raw

    def trickle(self, raw: RawConnection, data: bytes, interval: float) -> None:
        """Send ``data`` in the background, a byte every ``interval`` seconds (0: at once)."""

        async def send() -> None:
            with contextlib.suppress(ConnectionError):
                await (raw.send_slowly(data, interval) if interval else raw.send(data))

        self.sending.append(asyncio.create_task(send()))

    async def evil_link(self, seed: int = EVIL) -> tuple[EvilPeer, Link]:
        """An evil peer after a correct handshake, and the host's side of its link."""
        evil = self.evil(seed)
        await evil.connect()
        assert await evil.handshake() is None
        return evil, await self.host.wait_for_link(evil.local.identity.node_id, 5)

    async def serving(self) -> None:
        """The host still serves the well-behaved peer: a session round trip on its link."""
        self.sessions += 1
        good_link = await self.good.connect(self.host.node_id, self.host.url, deadline=5)
        await ep.round_trip(good_link, self.sessions)

    async def refusal(self) -> int:
        """The code of the host's (first) ``link.refused`` log line, once it is there."""
        await eventually(lambda: any(e["event"] == "link.refused" for e in self.logs))
        return int(next(e["code"] for e in self.logs if e["event"] == "link.refused"))

    async def link_end(self, host_link: Link) -> int:
        """The code a link of the host ended with, checked against its ``link.ended`` line."""
        error = await asyncio.wait_for(asyncio.shield(host_link.closed), 5)
        ended = [e for e in self.logs if e["event"] == "link.ended"]
        assert any(e["peer"] == host_link.peer.node_id and e["code"] == error.code for e in ended)
        return int(error.code)


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``condition()`` holds (polling); ``TimeoutError`` after ``timeout``."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def buffered(host_link: Link) -> int:
    """Bytes the link holds for partial messages (peeks inside: the bound is what is tested)."""
    return host_link._reassembler.buffered_bytes()


@pytest_asyncio.fixture
async def bench(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Bench]:
    """Short deadlines; a host admitting GOOD and EVIL, GOOD linked and served."""
    monkeypatch.setattr(channel, "HANDSHAKE_DEADLINE", 1.0)
    monkeypatch.setattr(host, "UPGRADE_DEADLINE", 1.0)
    monkeypatch.setattr(link, "IDLE_TIMEOUT", 2.0)
    monkeypatch.setattr(link, "PING_INTERVAL", 0.5)
    parties = {seed: new_party(seed) for seed in (HOST, GOOD, EVIL)}
    admitted = allow_nodes([p.identity.node_id for p in parties.values()])
    echo = ep.Echo()
    victim = PeerHost(parties[HOST], admitted, on_session=echo.on_session)
    good = PeerHost(parties[GOOD], admitted)
    await victim.start()
    await good.start()
    with capture_logs() as logs:
        bench = Bench(victim, good, logs)
        await bench.serving()
        yield bench
        await bench.serving()  # after every attack the host still serves the good peer
        for evil in bench.evils:
            await evil.aclose()
        for task in bench.sending:
            task.cancel()
        for raw in bench.raws:
            raw.close()
        for node in (good, victim):
            await node.aclose()
        await echo.aclose()


# --- before the handshake -------------------------------------------------------------------
FLOOD = client_frame(b"\x81", fin=False) + b"".join(
    client_frame(b"x", ep.OPCODE_CONTINUATION, fin=False) for _ in range(70_000)
)
HELLO_FRAME, TEXT = client_frame(ep.make_hello(["s"])), client_frame(b'{"v": 1}', opcode=1)
LIES, OVER = client_frame(b"abc", declared=1 << 40), client_frame(b"abc", declared=65536)
BEFORE: dict[str, tuple[str | None, bytes, float, int | None, W | None]] = {
    # name: (subprotocol offered in an upgrade, bytes sent after it, seconds per byte,
    #        close code (None: dropped without one), refusal logged)
    "upgrade-request-byte-by-byte": (None, RawConnection.upgrade_request(0), 0.05, None, None),
    "wrong-subprotocol": ("chat", b"", 0, PROTOCOL_ERROR, None),
    "text-frame": (PROTOCOL, TEXT, 0, POLICY_VIOLATION, MALFORMED),
    "length-header-lies": (PROTOCOL, LIES, 0, TOO_BIG, MALFORMED),
    "one-byte-over-a-record": (PROTOCOL, OVER, 0, TOO_BIG, MALFORMED),
    "70000-tiny-fragments": (PROTOCOL, FLOOD, 0, TOO_BIG, MALFORMED),
    "silent-after-hello": (PROTOCOL, HELLO_FRAME, 0, POLICY_VIOLATION, W.HANDSHAKE_TIMEOUT),
    "hello-byte-by-byte": (PROTOCOL, HELLO_FRAME, 0.05, POLICY_VIOLATION, W.HANDSHAKE_TIMEOUT),
}


@pytest.mark.parametrize("name", list(BEFORE))
async def test_bad_start_is_closed(bench: Bench, name: str) -> None:
    """Each bad start in BEFORE gets the close code (and logged refusal) beside it within 3 s."""
    protocol, data, interval, close_code, refusal = BEFORE[name]

    raw = await bench.raw(protocol)
    bench.trickle(raw, data, interval)
    assert await asyncio.wait_for(raw.read_close_code(), 3) == close_code
    assert refusal is None or await bench.refusal() == refusal


HTTP_REFUSED: dict[str, tuple[Callable[[int], bytes], int]] = {
    # name: (the request for the host's port, the HTTP status it gets before the host hangs up)
    "wrong-path": (lambda port: RawConnection.upgrade_request(port, path="/other"), 404),
    "wrong-method": (lambda port: RawConnection.upgrade_request(port, method="POST"), 405),
    "plain-get-without-upgrade": (
        lambda port: f"GET {channel.PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode(),
        400,
    ),
    "oversized-header": (
        lambda port: RawConnection.upgrade_request(port, extra_headers=b"X-Pad: " + bytes(1 << 17)),
        400,
    ),
    "20000-headers": (
        lambda port: RawConnection.upgrade_request(
            port, extra_headers=b"".join(b"X-%d: a\r\n" % i for i in range(20_000))
        ),
        400,
    ),
    "oversized-request-line": (
        lambda port: RawConnection.upgrade_request(port, "/" * 100_000),
        400,
    ),
    "tls-client-hello": (lambda port: bytes.fromhex("160301010001") + bytes(250), 400),
}


MALFORMED_HTTP = {"oversized-header", "20000-headers", "oversized-request-line", "tls-client-hello"}
"""The cases aiohttp's parser refuses (the others are answered by routing or the handler)."""


@pytest.mark.parametrize("name", list(HTTP_REFUSED))
async def test_bad_http_gets_an_error_status_and_no_link(bench: Bench, name: str) -> None:
    """Each request in HTTP_REFUSED gets its HTTP status, then the host ends the connection."""
    request, status = HTTP_REFUSED[name]
    raw = await bench.raw(None)
    assert await asyncio.wait_for(raw.request(request(bench.host.port)), 3) == status
    await asyncio.wait_for(raw.read_until_eof(), 3)  # closed, not left open
    assert not any(e["event"] == "link.refused" for e in bench.logs)  # never reached Noise
    refused = [e for e in bench.logs if e["event"] == "http.refused"]
    if name in MALFORMED_HTTP:  # aiohttp's parser refused it: one structured line
        await eventually(lambda: any(e["event"] == "http.refused" for e in bench.logs))
        refused = [e for e in bench.logs if e["event"] == "http.refused"]
        assert [(e["status"], e["log_level"]) for e in refused] == [(400, "warning")]
    else:
        assert refused == []


GARBAGE = b"\x1b[31mBREW /pot?name=Jane.Doe@example.org HTCPCP/1.0\x00\r\nX: \xff\r\n\r\n"


async def test_garbage_request_line_is_one_redacted_warning(
    bench: Bench, caplog: pytest.LogCaptureFixture
) -> None:
    """A garbage request line gets 400 and one structured warning holding no byte of it;
    aiohttp's own logger (traceback, quoted request) stays silent."""
    caplog.set_level(logging.DEBUG)
    raw = await bench.raw(None)
    assert await asyncio.wait_for(raw.request(GARBAGE), 3) == 400
    await asyncio.wait_for(raw.read_until_eof(), 3)
    await eventually(lambda: any(e["event"] == "http.refused" for e in bench.logs))
    (line,) = [e for e in bench.logs if e["event"].startswith("http.")]
    assert line["log_level"] == "warning"
    assert set(line) == {"event", "log_level", "status", "error"}
    assert line["status"] == 400
    assert not [r for r in caplog.records if r.name.startswith("aiohttp")]
    text = repr(bench.logs) + caplog.text
    for piece in ("BREW", "Jane", "pot", "HTCPCP", "\x1b"):
        assert piece not in text


# --- the handshake --------------------------------------------------------------------------
Changes = Callable[[LocalParty], dict[str, Any]]
"""What a case changes in the handshake: ``EvilPeer.handshake`` keyword arguments."""
GOOD_KEY = new_party(GOOD).identity.public_key
HELLO, M1, M3 = ep.HandshakeStep.HELLO, ep.HandshakeStep.MESSAGE_1, ep.HandshakeStep.MESSAGE_3


def at(step: ep.HandshakeStep, change: Callable[[bytes], bytes | None]) -> Changes:
    """Tamper with one step's message and leave the others alone."""
    return lambda _: {"tamper": lambda now, data: change(data) if now is step else data}


def flipped(bit: int) -> Changes:
    """Message 3 with one bit flipped (negative: counted from the end)."""
    return at(M3, lambda m: flip_bit(m, bit % (len(m) * 8)))


def low_order(key: bytes) -> Changes:
    """Message 1 carrying ``key`` as the ephemeral key."""
    return at(M1, lambda m: key + m[32:])


def forged(other_static: bool = False, key: bytes | None = None) -> Changes:
    """An identity payload signing another Noise static key, or naming identity ``key``."""

    def changes(party: LocalParty) -> dict[str, Any]:
        signer = new_party() if other_static else party
        static = signer.static_key.public_key().public_bytes_raw()
        return {"payload": ep.identity_payload(party.identity, static, party.data_spaces, (), key)}

    return changes


def out_of_order(kind: str) -> Changes:
    """Handshake messages out of turn: message 1 again, or a message 2, where 3 belongs."""

    def tamper(sent: dict[ep.HandshakeStep, bytes], step: ep.HandshakeStep, data: bytes) -> Any:
        sent[step] = data
        if step is not M3:
            return data
        if kind == "message-1-again":
            return sent[M1]
        prologue = ep.make_prologue(sent[HELLO])
        responder = HandshakeState(False, X25519PrivateKey.generate(), prologue)
        responder.read_message(sent[M1])
        return responder.write_message(b"a message 2 where message 3 belongs")

    return lambda _: {"tamper": functools.partial(tamper, {})}  # a fresh record per handshake


REFUSED: dict[str, tuple[Changes, W]] = {
    "hello-truncated": (at(HELLO, lambda m: m[:-1]), W.HANDSHAKE_MALFORMED),
    "message-1-truncated": (at(M1, lambda m: m[:31]), W.HANDSHAKE_MALFORMED),
    "message-3-fixed-part-truncated": (at(M3, lambda m: m[:63]), W.HANDSHAKE_MALFORMED),
    "message-3-payload-truncated": (at(M3, lambda m: m[:-1]), W.HANDSHAKE_DECRYPT_FAILED),
    "hello-oversized": (at(HELLO, lambda m: m + bytes(4097)), W.HANDSHAKE_OVERSIZED),
    # over one record: refused by the carrier before Noise sees it
    "message-3-oversized": (at(M3, lambda m: m + bytes(65536 - len(m))), W.RECORD_MALFORMED),
    "bit-flipped-in-static-key": (flipped(0), W.HANDSHAKE_DECRYPT_FAILED),
    "bit-flipped-in-static-key-tag": (flipped(47 * 8 + 3), W.HANDSHAKE_DECRYPT_FAILED),
    "bit-flipped-in-payload": (flipped(60 * 8), W.HANDSHAKE_DECRYPT_FAILED),
    "bit-flipped-in-payload-tag": (flipped(-1), W.HANDSHAKE_DECRYPT_FAILED),
    **{
        f"low-order-e-{i}-{key.hex()[:8]}": (low_order(key), W.HANDSHAKE_LOW_ORDER_KEY)
        for i, key in enumerate(ep.LOW_ORDER_X25519)
    },
    "signature-over-another-static-key": (forged(True), W.HANDSHAKE_IDENTITY_MISMATCH),
    "impersonated-identity-key": (forged(key=GOOD_KEY), W.HANDSHAKE_IDENTITY_MISMATCH),
    "small-order-identity-key": (forged(key=bytes(32)), W.INVALID_PUBLIC_KEY),
    "payload-not-msgpack": (lambda _: {"payload": b"\xc1"}, W.HANDSHAKE_MALFORMED),
    "no-hello": (at(HELLO, lambda _: None), W.HANDSHAKE_MALFORMED),
    "message-1-again": (out_of_order("message-1-again"), W.HANDSHAKE_MALFORMED),
    "message-2-for-3": (out_of_order("message-2-for-3"), W.HANDSHAKE_DECRYPT_FAILED),
    # a changed hello (a downgrade) or e: the dialler cannot decrypt message 2 and hangs up
    "hello-bit-flipped": (at(HELLO, lambda m: flip_bit(m, len(m) * 8 - 8)), W.LINK_LOST),
    "e-bit-flipped": (at(M1, lambda m: flip_bit(m, 0)), W.LINK_LOST),
}


@pytest.mark.parametrize("name", list(REFUSED))
async def test_bad_handshake_is_refused(bench: Bench, name: str) -> None:
    """Each bad handshake in REFUSED ends with the host's code beside it and no link."""
    changes, code = REFUSED[name]
    evil = bench.evil()
    await evil.connect()
    with pytest.raises((ep.PeerClosedError, HandshakeError)) as caught:
        await evil.handshake(**changes(evil.local))
    if isinstance(caught.value, HandshakeError):  # the dialler refused message 2 itself
        assert caught.value.code == W.HANDSHAKE_DECRYPT_FAILED
        await evil.aclose()
    else:
        assert getattr(caught.value, "close_code", None) in {POLICY_VIOLATION, TOO_BIG}
    assert await bench.refusal() == code
    assert bench.host.link(evil.local.identity.node_id) is None


async def test_valid_key_not_admitted_gets_a_refusal_verdict(bench: Bench) -> None:
    """A correct handshake by a node not admitted: verdict NOT_AUTHORIZED, no link, 1008."""
    evil = bench.evil(STRANGER)
    await evil.connect()
    assert await evil.handshake() == W.NOT_AUTHORIZED
    assert await evil.wait_closed() == POLICY_VIOLATION
    assert await bench.refusal() == W.NOT_AUTHORIZED
    assert bench.host.link(evil.local.identity.node_id) is None


# --- after the handshake: records and frames ------------------------------------------------
Attack = Callable[[EvilPeer], Awaitable[None]]


def frame(kind: int, session: int, body: bytes, *, version: int = 1, flags: int = 0) -> bytes:
    """A frame with a hand-made header (its body length field is right)."""
    return framing.HEADER.pack(version, kind, flags, 0, session, len(body)) + body


def plaintexts(*records: bytes, order: tuple[int, ...] | None = None) -> Attack:
    """Seal the plaintexts as the next records and send them in ``order`` (default: as sealed)."""

    async def attack(evil: EvilPeer) -> None:
        sealed = [evil.seal(record) for record in records]
        for index in range(len(sealed)) if order is None else order:
            await evil.send_bytes(sealed[index])

    return attack


PINGS = [framing.encode_frame(framing.Ping(bytes([i]) * 8)) for i in (0, 1)]
OPEN_3 = framing.encode_frame(framing.Open(3, "mpc", {}))
CREDIT = framing.encode_frame(framing.Credit(99, 1)), framing.encode_frame(framing.Credit(3, 1))
DATA = framing.encode_frame(framing.Data(3, "x", 0, 8, True, b"\x09" * 8))  # garbage arrays
TINY = framing.encode_frame(framing.Data(3, "x", 0, MIB, False, bytes(100)))  # under 1 KiB
LINK_ENDS: dict[str, tuple[Attack, int]] = {
    "record-replayed": (plaintexts(*PINGS, order=(0, 0)), W.RECORD_DECRYPT_FAILED),
    "record-dropped": (plaintexts(*PINGS, order=(1,)), W.RECORD_DECRYPT_FAILED),
    "records-reordered": (plaintexts(*PINGS, order=(1, 0)), W.RECORD_DECRYPT_FAILED),
    "truncated-header": (plaintexts(b"\x01\x07"), F.FRAME_TRUNCATED),
    "version-2": (plaintexts(frame(7, 0, bytes(8), version=2)), F.FRAME_BAD_VERSION),
    "undefined-flag": (plaintexts(frame(7, 0, bytes(8), flags=1)), F.FRAME_BAD_FLAGS),
    "length-disagrees": (plaintexts(frame(7, 0, bytes(9))[:-1]), F.FRAME_BAD_LENGTH),
    "trailing-bytes": (plaintexts(frame(5, 3, b"x")), F.FRAME_BAD_LENGTH),
    "session-id-on-ping": (plaintexts(frame(7, 5, bytes(8))), F.FRAME_BAD_SESSION),
    "zero-credit": (plaintexts(frame(6, 3, bytes(4))), F.FRAME_BAD_FIELD),
    "bad-metadata": (plaintexts(frame(1, 3, b"\x03mpc\x01\x00\xc1")), F.FRAME_BAD_METADATA),
    "bad-array-list": (plaintexts(OPEN_3, DATA), F.FRAME_BAD_ARRAYS),
    **{
        f"unknown-type-{kind}": (plaintexts(frame(kind, 0, b"")), F.FRAME_UNKNOWN_TYPE)
        for kind in (0, 10, 255)
    },
    "tiny-fragment": (plaintexts(OPEN_3, TINY), F.FRAGMENT_MISMATCH),  # a flood's first
    "credit-for-no-session": (plaintexts(CREDIT[0]), W.PROTOCOL_VIOLATION),
    "credit-beyond-window": (plaintexts(OPEN_3, CREDIT[1]), W.PROTOCOL_VIOLATION),
}


@pytest.mark.parametrize("name", list(LINK_ENDS))
async def test_bad_records_end_the_link(bench: Bench, name: str) -> None:
    """Each attack in LINK_ENDS ends the link with the code beside it; nothing stays buffered."""
    attack, code = LINK_ENDS[name]
    evil, host_link = await bench.evil_link()
    with contextlib.suppress(ConnectionError):
        await attack(evil)
    assert await bench.link_end(host_link) == code
    assert buffered(host_link) == 0


async def test_frames_outside_a_live_session(bench: Bench) -> None:
    """DATA for an unknown session is ABORTed; after CLOSE, late frames are dropped quietly."""
    evil, _ = await bench.evil_link()
    await evil.send_message(77, "s1", (np.arange(4, dtype=np.uint64),))
    assert await evil.receive_frame() == framing.Abort(77, W.PROTOCOL_VIOLATION, "no session")
    await evil.round_trip(5)
    await evil.send_frame(framing.Close(5))
    await evil.send_message(5, "late", (np.arange(4, dtype=np.uint64),))
    await evil.send_frame(framing.Credit(5, 100))
    await evil.send_frame(framing.Open(5, "mpc", {}))
    await evil.round_trip(6)  # no ABORT for any of them comes first


async def test_local_abort_mid_message_frees_its_buffer(bench: Bench) -> None:
    """The host aborting a session mid-message frees the reservation; late fragments are quiet."""
    evil, host_link = await bench.evil_link()
    await evil.send_frame(framing.Open(11, "mpc", {}))
    await evil.send_frame(framing.Data(11, "big", 0, 8 * MIB, False, bytes(4096)))
    await eventually(lambda: buffered(host_link) == 8 * MIB)
    host_link.session(11).abort(W.SESSION_TIMEOUT, "gave up")  # also sends an OPEN
    assert buffered(host_link) == 0
    assert await evil.receive_frame() == framing.Open(11, "mpc", {})
    assert await evil.receive_frame() == framing.Abort(11, W.SESSION_TIMEOUT, "gave up")
    for index in range(1, 50):  # in flight when the ABORT crossed them
        await evil.send_frame(framing.Data(11, "big", index, 8 * MIB, False, bytes(4096)))
    await evil.round_trip(12)  # no ABORT per late fragment comes first


@pytest.mark.parametrize("limit", ["message", "session"])
async def test_declared_lengths_stay_within_reassembly_limits(bench: Bench, limit: str) -> None:
    """Huge declared lengths: REASSEMBLY_LIMIT_EXCEEDED at 64 MiB/message, 128 MiB/session."""
    evil, host_link = await bench.evil_link()
    await evil.send_frame(framing.Open(9, "mpc", {}))
    *fitting, too_much = [64 * MIB + 1] if limit == "message" else [64 * MIB, 64 * MIB, 8 * MIB]
    for label, claim in enumerate([*fitting, too_much]):
        if label == len(fitting):  # all that fits is reserved, and no more
            await eventually(lambda: buffered(host_link) == sum(fitting))
        with contextlib.suppress(ConnectionError):
            await evil.send_frame(framing.Data(9, f"m{label}", 0, claim, False, bytes(2048)))
    assert await bench.link_end(host_link) == F.REASSEMBLY_LIMIT_EXCEEDED
    assert buffered(host_link) == 0


async def test_ignoring_flow_control_ends_the_link(bench: Bench) -> None:
    """More than the 64 MiB window unconsumed in one session: PROTOCOL_VIOLATION, buffers freed."""
    evil, host_link = await bench.evil_link()
    await evil.send_frame(framing.Open(10, "mpc", {}))  # the Echo waits for "ping" only
    bulk = np.zeros(5 * MIB, dtype=np.uint64)  # 40 MiB
    with contextlib.suppress(ConnectionError):
        await evil.send_message(10, "bulk1", (bulk,))
        await evil.send_message(10, "bulk2", (bulk,))
    assert await bench.link_end(host_link) == W.PROTOCOL_VIOLATION
    assert buffered(host_link) == 0


async def test_websocket_ping_flood_is_answered_and_the_link_lives(bench: Bench) -> None:
    """20,000 websocket pings: answered below the link, the link and its sessions carry on."""
    evil, _ = await bench.evil_link()
    for _ in range(20_000):
        await evil.socket.ping(b"p")
    await evil.round_trip(30)


async def test_sessions_past_the_cap_are_refused_and_the_link_lives(bench: Bench) -> None:
    """OPEN for 1,025 sessions: the one past MAX_SESSIONS gets ABORT, the others still work."""
    evil, host_link = await bench.evil_link()
    for session_id in range(100, 100 + link.MAX_SESSIONS):
        await evil.send_frame(framing.Open(session_id, "idle", {}))
    await eventually(lambda: len(host_link._sessions) == link.MAX_SESSIONS)
    await evil.send_frame(framing.Open(99, "mpc", {}))
    refusal = await evil.receive_frame()
    assert refusal == framing.Abort(99, W.PROTOCOL_VIOLATION, "too many sessions")
    assert len(host_link._sessions) == link.MAX_SESSIONS
    assert not host_link.is_closed


async def test_too_many_early_messages_in_one_session_end_the_link(bench: Bench) -> None:
    """1,025 labels nobody asked for in one session: PROTOCOL_VIOLATION, the mailbox freed."""
    evil, host_link = await bench.evil_link()
    await evil.send_frame(framing.Open(12, "mpc", {}))  # the Echo waits for "ping" only
    await eventually(lambda: 12 in host_link._sessions)
    session = host_link._sessions[12]
    with contextlib.suppress(ConnectionError):
        for index in range(link.MAX_EARLY_MESSAGES + 1):
            await evil.send_message(12, f"unasked-{index}", (np.ones(1, dtype=np.uint64),))
    assert await bench.link_end(host_link) == W.PROTOCOL_VIOLATION
    assert len(session._mail) == link.MAX_EARLY_MESSAGES  # never more


async def test_ended_link_frees_its_unconsumed_messages(bench: Bench) -> None:
    """Messages nobody consumed are freed when the link ends: unread bytes back to 0, the
    session nobody took collected, and the host keeps no ended link."""
    evil, host_link = await bench.evil_link()
    await evil.send_frame(framing.Open(13, "mpc", {}))
    await evil.send_message(13, "unasked", (np.ones(1000, dtype=np.uint64),))
    await eventually(lambda: host_link.unread_bytes > 0)
    unclaimed = weakref.ref(host_link._sessions[13])
    await evil.aclose()
    await bench.link_end(host_link)
    assert host_link.unread_bytes == 0
    assert bench.host.link(evil.local.identity.node_id) is None
    assert evil.local.identity.node_id not in bench.host._links
    await eventually(lambda: gc.collect() >= 0 and unclaimed() is None)  # once the Echo gave up


async def test_message_delivered_before_the_link_ended_stays_readable(bench: Bench) -> None:
    """A session the application holds still returns a message delivered before the end."""
    evil, host_link = await bench.evil_link()
    await evil.send_frame(framing.Open(14, "mpc", {}))
    await eventually(lambda: 14 in host_link._sessions)
    held = host_link._sessions[14]
    await evil.send_message(14, "early", (np.arange(5, dtype=np.uint64),))
    await eventually(lambda: held.unread > 0)
    await evil.aclose()
    await bench.link_end(host_link)
    assert host_link.unread_bytes == 0
    (arrays,) = await held.receive("early", timeout=1)
    assert arrays.tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(NetworkError) as lost:
        await held.receive("later", timeout=1)
    assert lost.value.code == W.LINK_LOST
