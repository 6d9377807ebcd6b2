"""Links under network and process faults, over real sockets on loopback.

Node A dials node B through a fault-injecting TCP proxy (``network/faultproxy.py``); node C is
linked to B directly and must be served throughout. Process faults run a peer in a child process
(this module, run with ``-m``) and pause or kill it mid-session. Every case states its required
outcome: which code each side's link ends with, that nothing corrupt or partial is delivered,
that buffers are freed, and that nothing hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from network import framing, link
from network.channel import Authorizer, allow_nodes
from network.errors import NetworkError, WireCode
from network.evilpeer import Echo, EvilPeer, new_party, round_trip
from network.faultproxy import Direction, FaultPlan, FaultProxy, Faults
from network.host import PeerHost
from network.link import Link

pytestmark = pytest.mark.asyncio

A, B, C, CHILD, BELOW_B, ABOVE_B = 11, 12, 13, 14, 15, 16
"""Identity seeds (the child process uses CHILD; BELOW_B's node id sorts below B's)."""
UP = Direction.UPSTREAM
MIB = 1 << 20
ROOT = Path(__file__).resolve().parents[2]


def admit_all() -> Authorizer:
    """An authoriser admitting every test node."""
    return allow_nodes([new_party(seed).identity.node_id for seed in range(A, ABOVE_B + 1)])


@dataclass
class Net:
    """A → proxy → B, and C → B directly; B answers pings with an Echo."""

    a: PeerHost
    b: PeerHost
    c: PeerHost
    echo: Echo
    proxy: FaultProxy
    sessions: int = 100
    evils: list[EvilPeer] = field(default_factory=list)

    @property
    def via_proxy(self) -> str:
        """B's address behind the proxy."""
        return f"ws://127.0.0.1:{self.proxy.port}/confide/v1"

    async def link_a(self) -> tuple[Link, Link]:
        """A's link to B through the proxy, and B's side of it."""
        a_link = await self.a.connect(self.b.node_id, self.via_proxy, deadline=5)
        return a_link, await self.b.wait_for_link(self.a.node_id, 5)

    async def evil_link(self, seed: int = A) -> tuple[EvilPeer, Link]:
        """An evil peer ``seed`` dialling B directly after a correct handshake; B's link."""
        self.evils.append(evil := EvilPeer(new_party(seed), self.b.url))
        await evil.connect()
        assert await evil.handshake() is None
        return evil, await self.b.wait_for_link(evil.local.identity.node_id, 5)

    async def bystander(self) -> None:
        """B still serves C on its own link: a session round trip."""
        self.sessions += 1
        c_link = await self.c.connect(self.b.node_id, self.b.url, deadline=5)
        await round_trip(c_link, self.sessions)


@asynccontextmanager
async def network() -> AsyncIterator[Net]:
    """Start A, B (with an Echo), C and the proxy in front of B; close them afterwards."""
    echo = Echo()
    authorise = admit_all()
    hosts = [
        PeerHost(new_party(A), authorise),
        PeerHost(new_party(B), authorise, on_session=echo.on_session),
        PeerHost(new_party(C), authorise),
    ]
    for node in hosts:
        await node.start()
    async with FaultProxy(hosts[1].port) as proxy:
        net = Net(hosts[0], hosts[1], hosts[2], echo, proxy)
        try:
            await net.bystander()
            yield net
        finally:
            for evil in net.evils:
                await evil.aclose()
            for node in hosts:
                await node.aclose()
            await echo.aclose()


@pytest.fixture
def quiet_links(monkeypatch: pytest.MonkeyPatch) -> None:
    """No keep-alive records, so the proxy's chunks are exactly the records a test sends."""
    monkeypatch.setattr(link, "PING_INTERVAL", 60.0)


@pytest.fixture
def lively_links(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pings every 0.25 s and a 1 s idle limit, so a silent peer is noticed fast."""
    monkeypatch.setattr(link, "PING_INTERVAL", 0.25)
    monkeypatch.setattr(link, "IDLE_TIMEOUT", 1.0)


async def ended(node_link: Link) -> WireCode:
    """The code ``node_link`` ended with (it must end within 5 s)."""
    return (await asyncio.wait_for(asyncio.shield(node_link.closed), 5)).code


def small(value: int) -> tuple[npt.NDArray[np.uint64], ...]:
    """A one-record message."""
    return (np.full(4, value, dtype=np.uint64),)


def fault_at(name: str, value: int) -> Faults:
    """Faults with the one field ``name`` (a chunk number or byte count) set to ``value``."""
    fields: dict[str, Any] = {name: value}
    return Faults(**fields)


# --- the proxy between A and B --------------------------------------------------------------


@pytest.mark.usefixtures("quiet_links")
async def test_delay_keeps_the_link_and_crossing_frames_are_harmless() -> None:
    """30 ms each way: a message sent just before CLOSE is still delivered; OPEN/CREDIT crossing."""
    async with network() as net:
        net.proxy.plan = FaultPlan(Faults(delay_ms=30), Faults(delay_ms=30))
        a_link, b_link = await net.link_a()
        bulk = np.arange(MIB // 4, dtype=np.uint64)  # 2 MiB: 33 records
        sender, receiver = a_link.session(1), b_link.session(1)  # B's OPEN crosses A's CLOSE
        await sender.send("bulk", (bulk,))
        sender.close()
        while receiver.failure is None:  # wait until B has the CLOSE, then ask for the message
            await asyncio.sleep(0.01)
        (got,) = await receiver.receive("bulk", 5)
        assert np.array_equal(got, bulk)
        await asyncio.sleep(0.2)  # B's CREDIT for "bulk" reaches A after A forgot the session
        await round_trip(a_link, 2)
        assert not a_link.is_closed
        assert not b_link.is_closed
        await net.bystander()


async def one_faulty_chunk(net: Net, fault: str, way: Direction) -> tuple[Link, Link, list[str]]:
    """Warm a session, ``fault`` the next chunk going ``way``, send m1 and m2 that way.

    Returns the sending and the receiving node's links and the labels the receiver got."""
    a_link, b_link = await net.link_a()
    ends = (a_link, b_link) if way is UP else (b_link, a_link)
    sender, receiver = ends[0].session(1), ends[1].session(1)
    await sender.send("warm", small(0))
    await receiver.receive("warm", 5)
    labels = ("m1", "m2")
    waiting = [asyncio.create_task(receiver.receive(label, 3)) for label in labels]
    count = net.proxy.statistics().of(way).chunks  # one connection: its chunk count
    faults = fault_at(fault, count + 1)
    net.proxy.plan = FaultPlan(upstream=faults) if way is UP else FaultPlan(downstream=faults)
    for number, label in enumerate(labels, start=1):
        await sender.send(label, small(number))
        await asyncio.wait_for(net.proxy.wait_chunks(way, count + number), 5)
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert {o.code for o in outcomes if isinstance(o, NetworkError)} <= {WireCode.LINK_LOST}
    delivered = [label for label, o in zip(labels, outcomes, strict=True) if isinstance(o, tuple)]
    return ends[0], ends[1], delivered


@pytest.mark.usefixtures("quiet_links")
@pytest.mark.parametrize("way", [UP, Direction.DOWNSTREAM], ids=["a-to-b", "b-to-a"])
@pytest.mark.parametrize(
    ("fault", "delivered"), [("drop", []), ("duplicate", ["m1"]), ("swap", [])]
)
async def test_one_record_dropped_duplicated_or_swapped(
    fault: str, delivered: list[str], way: Direction
) -> None:
    """A lost, repeated or reordered record: receiver RECORD_DECRYPT_FAILED, sender LINK_LOST."""
    async with network() as net:
        sending, receiving, got = await one_faulty_chunk(net, fault, way)
        assert got == delivered  # only what came in sequence, and only once
        assert await ended(receiving) == WireCode.RECORD_DECRYPT_FAILED
        assert await ended(sending) == WireCode.LINK_LOST  # at once: the idle limit is 30 s
        await net.bystander()


@pytest.mark.usefixtures("quiet_links")
@pytest.mark.parametrize("cut", ["truncate_after", "reset_after"])
async def test_connection_cut_in_a_large_message(cut: str) -> None:
    """FIN or RST 300 kB into a 4 MiB message: both ends LINK_LOST, the part never delivered."""
    async with network() as net:
        a_link, b_link = await net.link_a()
        sender, receiver = a_link.session(1), b_link.session(1)
        await sender.send("warm", small(0))
        await receiver.receive("warm", 5)
        forwarded = net.proxy.statistics().upstream.bytes_forwarded
        net.proxy.plan = FaultPlan(upstream=fault_at(cut, forwarded + 300_000))
        await sender.send("big", (np.ones(MIB // 2, dtype=np.uint64),))
        with pytest.raises(NetworkError) as caught:
            await receiver.receive("big", 5)
        assert caught.value.code == WireCode.LINK_LOST
        assert await ended(b_link) == WireCode.LINK_LOST
        assert await ended(a_link) == WireCode.LINK_LOST
        assert b_link._reassembler.buffered_bytes() == 0  # the partial message is freed
        await net.bystander()


@pytest.mark.usefixtures("lively_links")
async def test_blackhole_times_out_both_ends_and_healing_relinks() -> None:
    """A partition (nothing passes, sockets open): both ends LINK_TIMEOUT; healed, A relinks."""
    async with network() as net:
        a_link, b_link = await net.link_a()
        net.proxy.plan = FaultPlan(Faults(blackhole=True), Faults(blackhole=True))
        started = time.monotonic()
        session = a_link.session(1)
        await session.send("ping", small(1))
        with pytest.raises(NetworkError) as caught:
            await session.receive("pong", 5)
        assert caught.value.code == WireCode.LINK_LOST
        assert await ended(a_link) == WireCode.LINK_TIMEOUT
        assert await ended(b_link) == WireCode.LINK_TIMEOUT
        assert time.monotonic() - started < 3
        await net.bystander()  # C's link lived through it
        net.proxy.plan = FaultPlan()
        new_link, _ = await net.link_a()
        assert new_link is not a_link
        await round_trip(new_link, 2)


# --- peers that fall silent, stop reading, or dial again ------------------------------------


@pytest.mark.usefixtures("lively_links")
async def test_silent_peer_times_out() -> None:
    """A linked peer that sends nothing (not even a PONG): LINK_TIMEOUT at the idle limit."""
    async with network() as net:
        _, b_link = await net.evil_link()
        started = time.monotonic()
        assert await ended(b_link) == WireCode.LINK_TIMEOUT
        assert time.monotonic() - started < 3
        await net.bystander()


def queued(node_link: Link) -> tuple[int, ...]:
    """Records in the link's control, small and bulk queues (peeks inside: bounds are tested)."""
    return tuple(len(queue) for queue in node_link._queues)


async def stall_the_writer(b_link: Link) -> None:
    """Have B send 32 MiB to a peer that never reads, until B's writer is stuck."""
    await b_link.session(21).send("bulk", (np.zeros(4 * MIB, dtype=np.uint64),))
    before = -1
    while queued(b_link)[2] != before:  # socket buffers still taking records
        before = queued(b_link)[2]
        await asyncio.sleep(0.2)
    assert before > 0


async def test_peer_that_stops_reading_times_out_the_writer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A peer that never reads: the stuck write ends the link with LINK_TIMEOUT, queues freed."""
    monkeypatch.setattr(link, "WRITE_TIMEOUT", 1.0)
    async with network() as net:
        _, b_link = await net.evil_link()
        await stall_the_writer(b_link)
        await net.bystander()  # B's other links are not held up by the stuck one
        assert await ended(b_link) == WireCode.LINK_TIMEOUT
        assert queued(b_link) == (0, 0, 0)


async def test_peer_that_never_reads_its_replies_is_cut_off() -> None:
    """PINGs flooding a stuck writer: the control backlog stops at its cap, PROTOCOL_VIOLATION."""
    async with network() as net:
        evil, b_link = await net.evil_link()
        await stall_the_writer(b_link)
        for count in range(link.MAX_CONTROL_BACKLOG + 100):
            with contextlib.suppress(ConnectionError):
                await evil.send_frame(framing.Ping(count.to_bytes(8, "little")))
            assert queued(b_link)[0] <= link.MAX_CONTROL_BACKLOG
        assert await ended(b_link) == WireCode.PROTOCOL_VIOLATION
        await net.bystander()


@pytest.mark.parametrize("seed", [BELOW_B, ABOVE_B], ids=["id-below-b", "id-above-b"])
async def test_reconnecting_peer_replaces_its_stale_link(seed: int) -> None:
    """A node dialling again while its old link looks alive gets the new link (old: LINK_CLOSED)."""
    async with network() as net:
        first, old_link = await net.evil_link(seed)
        net.evils.append(second := EvilPeer(first.local, net.b.url))
        await second.connect()
        assert await second.handshake() is None
        assert await ended(old_link) == WireCode.LINK_CLOSED
        await second.round_trip(40)
        assert net.b.link(first.local.identity.node_id) is not old_link
        await net.bystander()


# --- peers in other processes, paused or killed ---------------------------------------------


async def child_main(url: str, parent: str) -> None:
    """The child peer: dial ``parent`` at ``url``, echo pings, dial again when the link ends."""
    link.PING_INTERVAL = 0.25
    echo = Echo()
    node = PeerHost(new_party(CHILD), admit_all(), on_session=echo.on_session)
    await node.start()
    while True:
        try:
            parent_link = await node.connect(parent, url, deadline=30)
        except (OSError, NetworkError):
            continue
        await asyncio.shield(parent_link.closed)


@contextmanager
def child_peer(net: Net, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process running :func:`child_main` against B; killed afterwards."""
    command = [sys.executable, "-m", "tests.network.test_faults", net.b.url, net.b.node_id]
    with log.open("ab") as stderr:
        child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        yield child
    finally:
        child.kill()
        child.wait(5)


CHILD_ID = new_party(CHILD).identity.node_id


@pytest.mark.processes
@pytest.mark.usefixtures("lively_links")
async def test_paused_peer_times_out_and_relinks_when_resumed(tmp_path: Path) -> None:
    """SIGSTOP mid-session: LINK_TIMEOUT (session LINK_LOST), C served; SIGCONT: relinked."""
    async with network() as net:
        with child_peer(net, tmp_path / "child.log") as child:
            child_link = await net.b.wait_for_link(CHILD_ID, 20)
            await round_trip(child_link, 1)
            session = child_link.session(2)
            os.kill(child.pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                await session.send("ping", small(2))
                with pytest.raises(NetworkError) as caught:
                    await session.receive("pong", 5)
                assert caught.value.code == WireCode.LINK_LOST
                assert await ended(child_link) == WireCode.LINK_TIMEOUT
                assert time.monotonic() - started < 3
                await net.bystander()
            finally:
                os.kill(child.pid, signal.SIGCONT)
            new_link = await net.b.wait_for_link(CHILD_ID, 10)
            assert new_link is not child_link
            await round_trip(new_link, 3)


@pytest.mark.processes
async def test_killed_peer_is_noticed_at_once_and_a_restart_relinks(tmp_path: Path) -> None:
    """SIGKILL mid-transfer: LINK_LOST at once (not at the idle limit); a restart relinks."""
    async with network() as net:
        with child_peer(net, tmp_path / "child.log") as child:
            child_link = await net.b.wait_for_link(CHILD_ID, 20)
            await round_trip(child_link, 1)
            session = child_link.session(2)
            await session.send("bulk", (np.zeros(MIB, dtype=np.uint64),))
            child.kill()
            started = time.monotonic()
            with pytest.raises(NetworkError) as caught:
                await session.receive("pong", 5)
            assert caught.value.code == WireCode.LINK_LOST
            assert await ended(child_link) == WireCode.LINK_LOST
            assert time.monotonic() - started < 2
            await net.bystander()
        with child_peer(net, tmp_path / "child.log"):
            new_link = await net.b.wait_for_link(CHILD_ID, 20)
            await round_trip(new_link, 3)


if __name__ == "__main__":
    asyncio.run(child_main(sys.argv[1], sys.argv[2]))
