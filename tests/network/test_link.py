"""Links over real websockets on loopback: handshake, sessions, priorities, faults."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import aiohttp
import numpy as np
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from structlog.testing import capture_logs

from network import link as link_module
from network.channel import PATH, PROTOCOL, LocalParty, allow_nodes
from network.errors import NetworkError, WireCode
from network.evilpeer import Echo, round_trip
from network.framing import FrameEncodeError
from network.host import RECEIVE_BUFFER, SEND_BUFFER, PeerHost
from network.identity import Identity
from network.link import INITIAL_WINDOW, MAX_LINK_UNREAD, MAX_SESSIONS, Session
from network.session import MAX_MESSAGE_BYTES

pytestmark = pytest.mark.asyncio


def party(seed: int) -> LocalParty:
    """A local party with a fixed identity."""
    identity = Identity.from_private_bytes(bytes([seed]) * 32)
    return LocalParty(identity, X25519PrivateKey.generate(), ("test-space",))


async def start_hosts(count: int, admitted: int | None = None) -> list[PeerHost]:
    """``count`` hosts; the first ``admitted`` (default all) admit each other."""
    parties = [party(i + 1) for i in range(count)]
    allowed = [p.identity.node_id for p in parties[: admitted or count]]
    hosts = [PeerHost(p, allow_nodes(allowed)) for p in parties]
    for host in hosts:
        await host.start()
    return hosts


@pytest_asyncio.fixture
async def pair() -> AsyncIterator[list[PeerHost]]:
    """Two hosts that admit each other, linked."""
    hosts = await start_hosts(2)
    await hosts[0].connect(hosts[1].node_id, hosts[1].url)
    await hosts[1].wait_for_link(hosts[0].node_id, 5)
    yield hosts
    for host in hosts:
        await host.aclose()


async def test_arrays_travel_both_ways(pair: list[PeerHost]) -> None:
    """A session carries labelled arrays in both directions, small and multi-record."""
    a, b = pair
    sa = a.link(b.node_id).session(7)  # type: ignore[union-attr]
    sb = b.link(a.node_id).session(7)  # type: ignore[union-attr]
    small = np.arange(5, dtype=np.uint64)
    big = np.arange(1_000_000, dtype=np.uint64)
    await sa.send("s1", (small, big))
    await sb.send("s1", (big[:10],))
    got = await sb.receive("s1", 5)
    back = await sa.receive("s1", 5)
    assert np.array_equal(got[0], small)
    assert np.array_equal(got[1], big)
    assert np.array_equal(back[0], big[:10])


async def test_small_message_overtakes_bulk(pair: list[PeerHost]) -> None:
    """A small message queued after a large one is delivered before the large one completes."""
    a, b = pair
    link = a.link(b.node_id)
    assert link is not None
    bulk, urgent = link.session(1), link.session(2)
    rb_bulk, rb_urgent = b.link(a.node_id).session(1), b.link(a.node_id).session(2)  # type: ignore[union-attr]
    await bulk.send("big", (np.zeros(4_000_000, dtype=np.uint64),))
    await urgent.send("ping", (np.ones(1, dtype=np.uint64),))
    order: list[str] = []

    async def wait(session, label: str) -> None:  # type: ignore[no-untyped-def]
        await session.receive(label, 10)
        order.append(label)

    await asyncio.gather(wait(rb_bulk, "big"), wait(rb_urgent, "ping"))
    assert order == ["ping", "big"]


async def test_link_sockets_have_bounded_kernel_buffers(pair: list[PeerHost]) -> None:
    """Both ends of a link cap SO_SNDBUF and SO_RCVBUF (Linux reports twice the value set)."""
    a, b = pair
    for host, other in ((a, b), (b, a)):
        sock = host.link(other.node_id)._pipe._socket.get_extra_info("socket")  # type: ignore[union-attr]
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) <= 2 * SEND_BUFFER
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) <= 2 * RECEIVE_BUFFER


async def test_unadmitted_node_is_refused() -> None:
    """A node outside the allow-list cannot complete a handshake."""
    hosts = await start_hosts(3, admitted=2)
    try:
        with pytest.raises(NetworkError) as caught:
            await hosts[2].connect(hosts[0].node_id, hosts[0].url, deadline=0.5)
        assert caught.value.code == WireCode.NOT_AUTHORIZED
        assert hosts[0].link(hosts[2].node_id) is None
    finally:
        for host in hosts:
            await host.aclose()


async def test_wrong_peer_answering_a_dial_is_refused() -> None:
    """Dialling node B's id at node A's address fails: a different node answered."""
    hosts = await start_hosts(3)
    try:
        with pytest.raises(NetworkError) as caught:
            await hosts[0].connect(hosts[2].node_id, hosts[1].url, deadline=0.5)
        assert caught.value.code == WireCode.HANDSHAKE_WRONG_PEER
    finally:
        for host in hosts:
            await host.aclose()


async def test_simultaneous_dials_keep_one_link() -> None:
    """Both nodes dial at once: each ends with the same single link."""
    a, b = await start_hosts(2)
    try:
        await asyncio.gather(a.connect(b.node_id, b.url), b.connect(a.node_id, a.url))
        await asyncio.sleep(0.2)
        la, lb = a.link(b.node_id), b.link(a.node_id)
        assert la is not None
        assert lb is not None
        expected_initiator = min(a.node_id, b.node_id)
        assert (a.node_id if la.initiator else b.node_id) == expected_initiator
        assert (b.node_id if lb.initiator else a.node_id) == expected_initiator
        session = la.session(3)
        await session.send("x", (np.arange(3, dtype=np.uint64),))
        got = await lb.session(3).receive("x", 5)
        assert got[0].tolist() == [0, 1, 2]
    finally:
        await a.aclose()
        await b.aclose()


async def test_aborted_session_fails_the_peer_waiter(pair: list[PeerHost]) -> None:
    """Aborting a session makes the peer's pending receive fail with SESSION_ABORTED."""
    a, b = pair
    waiting = b.link(a.node_id).session(9)  # type: ignore[union-attr]
    a.link(b.node_id).session(9).abort(WireCode.PROTOCOL_VIOLATION, "test")  # type: ignore[union-attr]
    with pytest.raises(NetworkError) as caught:
        await waiting.receive("never", 5)
    assert caught.value.code == WireCode.SESSION_ABORTED


async def test_lost_link_fails_sessions(pair: list[PeerHost]) -> None:
    """When a peer goes away, sessions on that link fail instead of hanging."""
    a, b = pair
    waiting = a.link(b.node_id).session(11)  # type: ignore[union-attr]
    await b.aclose()
    with pytest.raises(NetworkError) as caught:
        await waiting.receive("never", 5)
    assert caught.value.code in {WireCode.LINK_LOST, WireCode.SESSION_CLOSED}


async def test_plain_http_and_wrong_subprotocol_get_no_link(pair: list[PeerHost]) -> None:
    """Plain HTTP, or a websocket without the confide.v1 subprotocol, never becomes a link."""
    a, _ = pair
    async with aiohttp.ClientSession() as client:
        async with client.get(f"http://127.0.0.1:{a.port}{PATH}") as response:
            assert response.status >= 400
        socket = await client.ws_connect(f"ws://127.0.0.1:{a.port}{PATH}", protocols=("other",))
        message = await socket.receive(timeout=5)
        assert message.type in {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED}
        await socket.close()
        socket = await client.ws_connect(f"ws://127.0.0.1:{a.port}{PATH}", protocols=(PROTOCOL,))
        await socket.send_str("hello")
        message = await socket.receive(timeout=7)
        assert message.type in {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED}
        await socket.close()
    assert len([n for n in (a.link(x) for x in ["none"]) if n]) == 0


# --- flow control, the per-link cap and the session hook ------------------------------------


async def test_message_of_the_largest_accepted_size_arrives(pair: list[PeerHost]) -> None:
    """A message of exactly MAX_MESSAGE_BYTES of array list arrives without stalling on credit."""
    a, b = pair
    sender = a.link(b.node_id).session(21)  # type: ignore[union-attr]
    receiver = b.link(a.node_id).session(21)  # type: ignore[union-attr]
    words = (MAX_MESSAGE_BYTES - 24) // 8  # 8-byte list head, 16-byte array head (one dim)
    big = np.arange(words, dtype=np.uint64)
    await asyncio.wait_for(sender.send("big", (big,)), 30)
    (got,) = await receiver.receive("big", 30)
    assert got.size == words
    assert int(got[-1]) == words - 1
    del got, big
    with pytest.raises(FrameEncodeError):  # one word more: no peer would take it
        await sender.send("bigger", (np.zeros(words + 1, dtype=np.uint64),))
    await sender.send("after", (np.ones(2, dtype=np.uint64),))
    assert (await receiver.receive("after", 5))[0].tolist() == [1, 1]


async def test_credit_comes_back_in_batches_and_streams_past_the_window(
    pair: list[PeerHost],
) -> None:
    """Small round trips send no CREDIT; a stream longer than the window gets credit back."""
    a, b = pair
    a_link, b_link = a.link(b.node_id), b.link(a.node_id)
    assert a_link is not None
    assert b_link is not None
    sender, receiver = a_link.session(22), b_link.session(22)
    for index in range(200):
        await sender.send(f"m{index}", (np.full(4, index, dtype=np.uint64),))
        assert (await receiver.receive(f"m{index}", 5))[0][0] == index
    assert sender._credit > INITIAL_WINDOW - 200 * 128  # no CREDIT was needed, none came
    chunk = np.zeros(INITIAL_WINDOW // 8 // 4, dtype=np.uint64)  # a quarter window each

    async def consume() -> None:
        for index in range(6):
            await receiver.receive(f"c{index}", 30)

    reading = asyncio.create_task(consume())
    for index in range(6):  # 1.5 windows: only credit granted back lets the last ones go
        await asyncio.wait_for(sender.send(f"c{index}", (chunk,)), 30)
    await asyncio.wait_for(reading, 30)
    assert receiver.unread == 0
    assert b_link.unread_bytes == 0


async def test_link_cap_on_unread_bytes_aborts_only_the_session_over_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unread bytes past the link's cap: that session ends LINK_BUFFER_FULL, the link lives."""
    monkeypatch.setattr(link_module, "MAX_LINK_UNREAD", 7 << 19)  # 3.5 MiB
    a, b = await start_hosts(2)
    try:
        a_link = await a.connect(b.node_id, b.url)
        b_link = await b.wait_for_link(a.node_id, 5)
        mib = np.zeros(1 << 17, dtype=np.uint64)  # 1 MiB each
        senders = [a_link.session(30 + i) for i in range(4)]
        for index, sender in enumerate(senders):
            await sender.send("m", (mib,))
            await sender.send("ping", (np.full(1, index, dtype=np.uint64),))
        receivers = [b_link.session(30 + i) for i in range(4)]
        with pytest.raises(NetworkError) as refused:
            await receivers[3].receive("m", 5)  # the fourth MiB passed the 3.5 MiB cap
        assert refused.value.code == WireCode.LINK_BUFFER_FULL
        assert b_link.unread_bytes <= 7 << 19
        for index, receiver in enumerate(receivers[:3]):
            assert (await receiver.receive("m", 5))[0].size == mib.size
            assert (await receiver.receive("ping", 5))[0][0] == index
        assert b_link.unread_bytes == 0
        with pytest.raises(NetworkError) as told:
            await senders[3].receive("never", 5)
        assert told.value.code == WireCode.SESSION_ABORTED
        await senders[0].send("still", (mib[:3],))
        assert (await receivers[0].receive("still", 5))[0].size == 3
        assert not a_link.is_closed
        assert not b_link.is_closed
    finally:
        await a.aclose()
        await b.aclose()


async def test_defaults_bound_a_link_below_its_sessions_windows() -> None:
    """1,024 sessions × the window would be 65 GiB; the per-link cap holds a link to 256 MiB."""
    assert MAX_SESSIONS * INITIAL_WINDOW > 256 * MAX_LINK_UNREAD
    assert MAX_LINK_UNREAD == 256 << 20


async def test_session_hook_that_raises_aborts_only_that_session() -> None:
    """A hook raising on one session: it is aborted (323), logged once; the link carries on."""
    parties = [party(1), party(2)]
    allowed = allow_nodes([p.identity.node_id for p in parties])
    echo = Echo()

    def on_session(session: Session) -> None:
        if session.kind == "bad":
            raise ValueError("secret-looking text that must not be logged")
        echo.on_session(session)

    a, b = PeerHost(parties[0], allowed), PeerHost(parties[1], allowed, on_session=on_session)
    for host in (a, b):
        await host.start()
    try:
        a_link = await a.connect(b.node_id, b.url)
        with capture_logs() as logs:
            bad = a_link.session(40, "bad")
            with pytest.raises(NetworkError) as caught:
                await bad.receive("never", 5)
            assert caught.value.code == WireCode.SESSION_ABORTED
        await round_trip(a_link, 41)
        assert not a_link.is_closed
        aborted = [entry for entry in logs if entry["event"] == "session.aborted"]
        assert len(aborted) == 1
        assert aborted[0]["code"] == WireCode.SESSION_HANDLER_FAILED
        assert aborted[0]["error"] == "ValueError"
        assert "secret" not in repr(logs)
    finally:
        await echo.aclose()
        await a.aclose()
        await b.aclose()


async def test_reader_failing_unexpectedly_ends_the_link(pair: list[PeerHost]) -> None:
    """An unexpected exception in the reader ends the link (LINK_LOST), never a deaf link."""
    a, b = pair
    a_link, b_link = a.link(b.node_id), b.link(a.node_id)
    assert a_link is not None
    assert b_link is not None

    def broken(frame: object, size: int) -> None:
        raise ValueError("a bug")

    b_link._dispatch = broken  # type: ignore[method-assign]
    await a_link.session(50).send("x", (np.ones(1, dtype=np.uint64),))
    closed = await asyncio.wait_for(asyncio.shield(b_link.closed), 5)
    assert closed.code == WireCode.LINK_LOST
    assert (await asyncio.wait_for(asyncio.shield(a_link.closed), 5)).code == WireCode.LINK_LOST
