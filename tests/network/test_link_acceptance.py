"""Link requirements of issue 3 not covered elsewhere, over real sockets on loopback:
re-dialling with exponential backoff and jitter, a lost link failing exactly its own sessions,
and rekeying of the record cipher on a live link."""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import AsyncIterator

import aiohttp
import numpy as np
import pytest
import pytest_asyncio

from network import channel
from network.channel import PATH, allow_nodes
from network.errors import NetworkError, WireCode
from network.evilpeer import Echo, new_party, round_trip
from network.host import BACKOFF_BASE, BACKOFF_CAP, LinkRefusedError, PeerHost
from network.link import Link
from network.noise import HandshakeState
from network.recordcipher import TransportCipher

pytestmark = pytest.mark.asyncio

SEEDS = (81, 82, 83)


def free_port() -> int:
    """A loopback port nothing listens on (bound, read back and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest_asyncio.fixture
async def hosts() -> AsyncIterator[list[PeerHost]]:
    """Three hosts admitting each other, each answering ``ping`` with ``pong`` (an Echo)."""
    allowed = allow_nodes([new_party(s).identity.node_id for s in SEEDS])
    echo = Echo()
    started = [PeerHost(new_party(s), allowed, on_session=echo.on_session) for s in SEEDS]
    for host in started:
        await host.start()
    yield started
    for host in started:
        await host.aclose()
    await echo.aclose()


async def test_dial_retries_with_exponential_backoff_and_jitter() -> None:
    """Dialling a node that starts late: attempts spaced base·2^k·[0.5, 1.5]; then linked."""
    allowed = allow_nodes([new_party(s).identity.node_id for s in SEEDS[:2]])
    dialler = PeerHost(new_party(SEEDS[0]), allowed)
    port = free_port()
    late = PeerHost(new_party(SEEDS[1]), allowed, port=port)
    await dialler.start()
    loop = asyncio.get_running_loop()
    attempts: list[float] = []
    dial = dialler._dial

    async def counted(node_id: str, url: str) -> Link:
        attempts.append(loop.time())
        return await dial(node_id, url)

    dialler._dial = counted  # type: ignore[method-assign]  # observe each attempt's start
    try:
        connecting = asyncio.create_task(
            dialler.connect(late.node_id, f"ws://127.0.0.1:{port}{PATH}", deadline=10)
        )
        await asyncio.sleep(0.6)
        await late.start()
        link = await asyncio.wait_for(connecting, 10)
        assert link.peer.node_id == late.node_id
        gaps = [b - a for a, b in itertools.pairwise(attempts)]
        assert len(gaps) >= 3  # 0.6 s of refusals at 50, 100, 200 ms (± jitter)
        for k, gap in enumerate(gaps):
            nominal = min(BACKOFF_CAP, BACKOFF_BASE * 2**k)
            assert 0.5 * nominal - 0.005 <= gap <= 1.5 * nominal + 0.1
        ratios = {
            round(gap / min(BACKOFF_CAP, BACKOFF_BASE * 2**k), 3) for k, gap in enumerate(gaps)
        }
        assert len(ratios) > 1  # jittered: not the same fraction of the nominal delay each time
    finally:
        await dialler.aclose()
        await late.aclose()


@pytest.mark.parametrize("refused_by", ["responder", "dialler"])
async def test_admission_refusal_ends_the_dial_at_once(refused_by: str) -> None:
    """A refusal verdict (the responder's, or the dialler's own) is final: one attempt, raised
    at once with its code, not retried until the deadline."""
    dialler_party, target_party = new_party(SEEDS[0]), new_party(SEEDS[1])
    admits_dialler = allow_nodes([dialler_party.identity.node_id])
    admits_target = allow_nodes([target_party.identity.node_id])
    admits_nobody = allow_nodes([])
    dialler = PeerHost(dialler_party, admits_nobody if refused_by == "dialler" else admits_target)
    target = PeerHost(target_party, admits_nobody if refused_by == "responder" else admits_dialler)
    for started in (dialler, target):
        await started.start()
    loop = asyncio.get_running_loop()
    attempts = 0
    dial = dialler._dial

    async def counted(node_id: str, url: str) -> Link:
        nonlocal attempts
        attempts += 1
        return await dial(node_id, url)

    dialler._dial = counted  # type: ignore[method-assign]  # count the attempts
    try:
        started_at = loop.time()
        with pytest.raises(LinkRefusedError) as caught:
            await dialler.connect(target.node_id, target.url, deadline=10)
        assert caught.value.code == WireCode.NOT_AUTHORIZED
        assert attempts == 1
        assert loop.time() - started_at < 1.0
        assert dialler.link(target.node_id) is None
        assert target.link(dialler.node_id) is None
    finally:
        await dialler.aclose()
        await target.aclose()


async def test_dial_gives_up_at_its_deadline() -> None:
    """Nothing ever listens: connect raises the last error once the deadline is spent."""
    dialler = PeerHost(new_party(SEEDS[0]), allow_nodes([]))
    await dialler.start()
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        with pytest.raises(aiohttp.ClientConnectorError):
            await dialler.connect("nobody", f"ws://127.0.0.1:{free_port()}{PATH}", deadline=0.5)
        assert loop.time() - started < 1.0
    finally:
        await dialler.aclose()


async def test_lost_link_fails_exactly_its_own_sessions(hosts: list[PeerHost]) -> None:
    """B goes away: A's sessions to B fail LINK_LOST naming why; the same session id to C lives."""
    a, b, c = hosts
    to_b = await a.connect(b.node_id, b.url)
    to_c = await a.connect(c.node_id, c.url)
    waiting = [to_b.session(session_id) for session_id in (1, 2)]
    receives = [asyncio.create_task(s.receive("never", 10)) for s in waiting]
    computation = to_c.session(1)  # one computation's id on both links
    await b.aclose()
    for receive in receives:
        with pytest.raises(NetworkError) as caught:
            await receive
        assert caught.value.code == WireCode.LINK_LOST
        assert str(caught.value).endswith("link ended: LINK_LOST")
    assert computation.failure is None
    await computation.send("ping", (np.arange(3, dtype=np.uint64),))
    (got,) = await computation.receive("pong", 5)
    assert got.tolist() == [0, 1, 2]
    await round_trip(to_c, 3)
    assert not to_c.is_closed


class RekeyEvery4(TransportCipher):
    """The link's record cipher with a rekey every 4 records per direction."""

    @classmethod
    def from_handshake(cls, handshake: HandshakeState, rekey_after: int = 4) -> TransportCipher:
        """Split with a rekey interval of 4 records, whatever the caller asks."""
        send, receive = handshake.split()
        return cls(send, receive, 4)


async def test_records_flow_across_many_rekeys(
    hosts: list[PeerHost], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a rekey every 4 records, 200 messages each way across ~50 rekeys arrive intact."""
    monkeypatch.setattr(channel, "TransportCipher", RekeyEvery4)
    a, b, _ = hosts
    a_link = await a.connect(b.node_id, b.url)
    b_link = await b.wait_for_link(a.node_id, 5)
    sender, receiver = a_link.session(9), b_link.session(9)
    for index in range(200):
        await sender.send(f"a{index}", (np.full(3, index, dtype=np.uint64),))
        await receiver.send(f"b{index}", (np.full(2, index, dtype=np.uint64),))
    for index in range(200):
        assert (await receiver.receive(f"a{index}", 5))[0].tolist() == [index] * 3
        assert (await sender.receive(f"b{index}", 5))[0].tolist() == [index] * 2
    for end in (a_link, b_link):
        cipher = end._cipher
        assert cipher.rekey_after == 4
        assert cipher.records_sent >= 200
        assert cipher.records_received >= 200
    assert not a_link.is_closed
    assert not b_link.is_closed
