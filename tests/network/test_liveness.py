"""The failure detector, the liveness codec, and liveness over real links (proxy, evil peer)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import msgpack
import numpy as np
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from network import framing
from network import liveness as liveness_module
from network.channel import PATH, LocalParty, allow_nodes
from network.errors import DecodeError, WireCode
from network.evilpeer import Echo, EvilPeer, new_party, round_trip
from network.faultproxy import FaultPlan, FaultProxy, Faults
from network.host import PeerHost
from network.identity import Identity
from network.link import Session
from network.liveness import (
    LIVENESS_SESSION,
    MAX_PENDING_ANSWERS,
    TRANSITIONS,
    Ack,
    Event,
    FailureDetector,
    Liveness,
    Ping,
    State,
    decode_liveness,
    encode_liveness,
)


def test_transition_table_is_complete_for_reachable_pairs() -> None:
    """Every state has a row for HEARD and PROBE_FAILED; only SUSPECT can expire."""
    for state in State:
        assert (state, Event.HEARD) in TRANSITIONS
        assert (state, Event.PROBE_FAILED) in TRANSITIONS
    expiring = {s for (s, e) in TRANSITIONS if e is Event.SUSPICION_EXPIRED}
    assert expiring == {State.SUSPECT}


def test_detector_needs_the_suspicion_deadline_before_death() -> None:
    """A failed probe only suspects; death comes after the timeout; hearing revives."""
    detector = FailureDetector(suspicion_timeout=3.0)
    assert detector.apply("n", Event.HEARD, 0.0) is State.ALIVE
    assert detector.apply("n", Event.PROBE_FAILED, 1.0) is State.SUSPECT
    assert detector.expire(3.9) == []
    assert detector.apply("n", Event.PROBE_FAILED, 3.5) is State.SUSPECT
    assert detector.expire(4.0) == ["n"]
    assert detector.state("n") is State.DEAD
    assert detector.apply("n", Event.HEARD, 9.0) is State.ALIVE


def test_heard_while_suspect_clears_the_suspicion() -> None:
    """An answer during suspicion resets it: no death at the old deadline."""
    detector = FailureDetector(suspicion_timeout=3.0)
    detector.apply("n", Event.PROBE_FAILED, 0.0)
    detector.apply("n", Event.HEARD, 1.0)
    assert detector.expire(10.0) == []
    assert detector.state("n") is State.ALIVE


async def trio() -> tuple[list[PeerHost], list[Liveness]]:
    """Three hosts that admit each other, each with liveness attached via the session hook."""
    identities = [Identity.from_private_bytes(bytes([40 + i]) * 32) for i in range(3)]
    allowed = allow_nodes([i.node_id for i in identities])
    services: list[Liveness] = []

    def hook(index: int):  # type: ignore[no-untyped-def]
        def forward(session):  # type: ignore[no-untyped-def]
            services[index].on_session(session)

        return forward

    hosts = [
        PeerHost(LocalParty(i, X25519PrivateKey.generate(), ("s",)), allowed, on_session=hook(n))
        for n, i in enumerate(identities)
    ]
    for host in hosts:
        await host.start()
    services.extend(Liveness(host) for host in hosts)
    return hosts, services


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_indirect_probe_saves_a_peer_behind_a_broken_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a's path to b blackholed, c vouches for b: b stays ALIVE; once b is gone, DEAD."""
    monkeypatch.setattr(liveness_module, "PROBE_TIMEOUT", 0.5)
    hosts, services = await trio()
    services[0].detector.suspicion_timeout = 1.5
    a, b, c = hosts
    async with FaultProxy(b.port) as proxy:
        try:
            await a.connect(b.node_id, f"ws://127.0.0.1:{proxy.port}{PATH}")
            await a.connect(c.node_id, c.url)
            await c.connect(b.node_id, b.url)
            for service, host in zip(services, hosts, strict=True):
                for other in hosts:
                    if other is not host:
                        await host.wait_for_link(other.node_id, 5)
                        service.watch(other.node_id)
            await asyncio.sleep(0.2)
            assert await services[0].probe(b.node_id) is State.ALIVE
            proxy.plan = FaultPlan(
                upstream=Faults(blackhole=True), downstream=Faults(blackhole=True)
            )
            assert await services[0].probe(b.node_id) is State.ALIVE
            assert services[0].detector.state(b.node_id) is State.ALIVE
            proxy.plan = FaultPlan()  # healed, so b's close is not held up flushing into it
            await services[1].aclose()
            await b.aclose()
            assert await services[0].probe(b.node_id) is State.DEAD
            assert services[0].detector.state(c.node_id) is State.ALIVE
        finally:
            for service in services:
                await service.aclose()
            for host in hosts:
                await host.aclose()


# --- the codec ------------------------------------------------------------------------------

MESSAGES = st.one_of(
    st.builds(Ping, st.integers(0, (1 << 63) - 1), st.text(min_size=1, max_size=40)),
    st.builds(Ack, st.integers(0, (1 << 63) - 1), st.booleans()),
)


@given(MESSAGES)
def test_codec_round_trip(message: Ping | Ack) -> None:
    """Every ping and ack decodes to itself."""
    assert decode_liveness(encode_liveness(message)) == message


@given(st.binary(max_size=300))
def test_fuzz_any_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    """Any bytes are a ping, an ack, or a DecodeError — nothing else escapes."""
    with contextlib.suppress(DecodeError):
        assert isinstance(decode_liveness(data), Ping | Ack)


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        {"op": "ping", "n": 1},
        {"op": "ping", "n": -1, "target": "x"},
        {"op": "ping", "n": True, "target": "x"},
        {"op": "ping", "n": 1, "target": ""},
        {"op": "ping", "n": 1, "target": b"x"},
        {"op": "ack", "n": 1, "ok": 1},
        {"op": "ack", "n": 1, "ok": True, "extra": 0},
        {"op": "pong", "n": 1, "ok": True},
    ],
)
def test_bad_messages_are_decode_errors(body: object) -> None:
    """Wrong shapes, types, ranges, ops and extra keys are all DecodeError."""
    with pytest.raises(DecodeError):
        decode_liveness(msgpack.packb(body))


# --- over real links: bad input, floods, relinking --------------------------------------------


class Watched:
    """A host under test with liveness and an Echo behind its session hook."""

    def __init__(self, host: PeerHost, echo: Echo) -> None:
        self.host = host
        self.echo = echo
        self.liveness = Liveness(host)

    def on_session(self, session: Session) -> None:
        """Route the liveness session to liveness, everything else to the Echo."""
        if session.session_id == LIVENESS_SESSION:
            self.liveness.on_session(session)
        else:
            self.echo.on_session(session)


async def watched_host(seed: int, admitted: list[int]) -> Watched:
    """A started host (identity ``seed``) admitting ``admitted``, with liveness attached."""
    allowed = allow_nodes([new_party(s).identity.node_id for s in admitted])
    hooks: list[Watched] = []

    def on_session(session: Session) -> None:
        hooks[0].on_session(session)  # the service needs the host, so it comes after it

    host = PeerHost(new_party(seed), allowed, on_session=on_session)
    await host.start()
    hooks.append(Watched(host, Echo()))
    return hooks[0]


@pytest_asyncio.fixture
async def victim() -> AsyncIterator[Watched]:
    """Host 60 with liveness, admitting 60–63."""
    node = await watched_host(60, [60, 61, 62, 63])
    yield node
    await node.liveness.aclose()
    await node.host.aclose()
    await node.echo.aclose()


def liveness_bytes(data: bytes) -> tuple[np.ndarray, ...]:  # type: ignore[type-arg]
    """A liveness message's one uint8 array."""
    return (np.frombuffer(data, dtype=np.uint8),)


@pytest.mark.asyncio
async def test_malformed_liveness_message_aborts_only_that_session(victim: Watched) -> None:
    """Garbage on the liveness session: ABORT PROTOCOL_VIOLATION, one log line, the link lives."""
    async with EvilPeer(new_party(61), victim.host.url) as evil:
        await evil.connect()
        assert await evil.handshake() is None
        with capture_logs() as logs:
            await evil.send_frame(framing.Open(LIVENESS_SESSION, "liveness", {}))
            await evil.send_message(LIVENESS_SESSION, "l1", liveness_bytes(b"\xc1 secret"))
            frames = [await evil.receive_frame() for _ in range(2)]
        assert frames[0] == framing.Open(LIVENESS_SESSION, "liveness", {})
        assert isinstance(frames[1], framing.Abort)
        assert frames[1].code == WireCode.PROTOCOL_VIOLATION
        refused = [e for e in logs if e["event"] == "liveness.refused"]
        assert len(refused) == 1
        assert refused[0]["code"] == WireCode.MALFORMED_ENCODING
        assert "secret" not in repr(logs)
        await evil.round_trip(5)  # the link and its other sessions carry on
        victim.liveness.watch(new_party(61).identity.node_id)  # no reopening on that link
        assert victim.host.link(new_party(61).identity.node_id) is not None


async def liveness_replies(evil: EvilPeer, quiet_for: float) -> list[Ack | Ping]:
    """Every liveness message the host sends ``evil`` until it has been quiet for a while."""
    replies: list[Ack | Ping] = []
    with contextlib.suppress(TimeoutError):
        while True:
            frame = await evil.receive_frame(timeout=quiet_for)
            if isinstance(frame, framing.Data) and frame.session_id == LIVENESS_SESSION:
                (payload,) = framing.decode_arrays(frame.payload)
                replies.append(decode_liveness(bytes(payload)))
    return replies


@pytest.mark.asyncio
async def test_probe_request_flood_is_answered_only_up_to_the_cap(
    victim: Watched, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 requests to probe a silent peer at once: 16 are answered (not ok), the rest dropped."""
    monkeypatch.setattr(liveness_module, "PROBE_TIMEOUT", 0.3)
    silent = PeerHost(new_party(62), allow_nodes([new_party(60).identity.node_id]))
    await silent.start()  # linked, but runs no liveness: pings to it go unanswered
    try:
        await silent.connect(victim.host.node_id, victim.host.url)
        await victim.host.wait_for_link(silent.node_id, 5)
        victim.liveness.watch(silent.node_id)
        async with EvilPeer(new_party(61), victim.host.url) as evil:
            await evil.connect()
            assert await evil.handshake() is None
            await evil.send_frame(framing.Open(LIVENESS_SESSION, "liveness", {}))
            for index in range(1, 41):
                ping = encode_liveness(Ping(index, silent.node_id))
                await evil.send_message(LIVENESS_SESSION, f"l{index}", liveness_bytes(ping))
            acks = await liveness_replies(evil, quiet_for=1.0)
            assert len(acks) == MAX_PENDING_ANSWERS
            assert all(isinstance(a, Ack) and not a.ok for a in acks)
            await evil.round_trip(6)
    finally:
        await silent.aclose()


@pytest.mark.asyncio
@pytest.mark.timeout(30)
async def test_liveness_follows_a_replaced_link(victim: Watched) -> None:
    """After the link to a peer is closed and dialled again, probes use the new link: ALIVE."""
    peer = await watched_host(63, [60, 63])
    try:
        await peer.host.connect(victim.host.node_id, victim.host.url)
        await victim.host.wait_for_link(peer.host.node_id, 5)
        peer.liveness.watch(victim.host.node_id)
        await asyncio.sleep(0.1)
        assert await victim.liveness.probe(peer.host.node_id) is State.ALIVE
        old = victim.host.link(peer.host.node_id)
        assert old is not None
        await old.aclose(flush=0)
        new = await peer.host.connect(victim.host.node_id, victim.host.url)
        await victim.host.wait_for_link(peer.host.node_id, 5)
        await round_trip(new, 7)
        peer.liveness.watch(victim.host.node_id)  # the peer (re)opens liveness on the new link
        victim.liveness.watch(peer.host.node_id)  # as the node does after a dial
        await asyncio.sleep(0.1)
        assert await victim.liveness.probe(peer.host.node_id) is State.ALIVE
        assert await peer.liveness.probe(victim.host.node_id) is State.ALIVE
    finally:
        await peer.liveness.aclose()
        await peer.host.aclose()
        await peer.echo.aclose()
