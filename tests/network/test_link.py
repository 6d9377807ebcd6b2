"""Links over real websockets on loopback: handshake, sessions, priorities, faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import numpy as np
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from network.channel import PATH, PROTOCOL, LocalParty, allow_nodes
from network.errors import NetworkError, WireCode
from network.host import PeerHost
from network.identity import Identity

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
