"""The failure detector and liveness over real links, with a fault proxy in between."""

from __future__ import annotations

import asyncio

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from network.channel import PATH, LocalParty, allow_nodes
from network.faultproxy import FaultPlan, FaultProxy, Faults
from network.host import PeerHost
from network.identity import Identity
from network.liveness import TRANSITIONS, Event, FailureDetector, Liveness, State


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
async def test_indirect_probe_saves_a_peer_behind_a_broken_path() -> None:
    """With a's path to b blackholed, c vouches for b: b stays ALIVE; once b is gone, DEAD."""
    hosts, services = await trio()
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
            await services[1].aclose()
            await b.aclose()
            assert await services[0].probe(b.node_id) is State.DEAD
            assert services[0].detector.state(c.node_id) is State.ALIVE
        finally:
            for service in services:
                await service.aclose()
            for host in hosts:
                await host.aclose()
