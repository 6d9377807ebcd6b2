"""Discovery over real links: bootstrap convergence, anti-entropy, refresh, pruning, bad input."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from network.admission import data_space_authorizer
from network.channel import LocalParty
from network.dataspace import MembershipCredential, Revocation
from network.discovery import GOSSIP_SESSION, Discovery
from network.errors import WireCode
from network.host import PeerHost
from network.identity import Identity
from network.link import Session
from network.membership import Membership
from network.records import NodeRecord, RecordAccepted, SignedNodeRecord
from tests.network.test_dataspace import NL, NL_GOV, T0, credential, insecure_identity, nl_charter
from tests.network.test_dataspace import signed as governance_signed

pytestmark = pytest.mark.asyncio

NOW = T0 + 100


@dataclass
class Node:
    """One test node: its host, discovery, membership view and a settable clock."""

    host: PeerHost
    discovery: Discovery
    membership: Membership
    clock: list[int]

    async def aclose(self) -> None:
        """Stop gossip and close every link."""
        await self.discovery.aclose()
        await self.host.aclose()


async def start_node(
    me: Identity,
    own: MembershipCredential | None = None,
    lifetime: int = 3600,
    refresh_before: int | None = None,
) -> Node:
    """A host on loopback admitting NL members by credential, with discovery attached."""
    clock = [NOW]
    membership = Membership([nl_charter()])
    own = own or credential(me)
    hooks: list[Callable[[Session], None]] = []
    local = LocalParty(me, X25519PrivateKey.generate(), (NL,), (own.encode(),))
    authorize = data_space_authorizer(membership, (NL,), list, lambda: clock[0])

    def on_session(session: Session) -> None:
        hooks[0](session)  # discovery needs the host's URL, so it comes after the host

    host = PeerHost(local, authorize, on_session=on_session)
    await host.start()
    discovery = Discovery(
        me,
        (host.url,),
        {NL: frozenset({"ngo"})},
        (own,),
        membership,
        lambda: clock[0],
        lifetime=lifetime,
        refresh_before=refresh_before,
    )
    discovery.attach(host)
    hooks.append(discovery.on_session)
    return Node(host, discovery, membership, clock)


async def wait_until(condition: Callable[[], bool], timeout: float) -> None:
    """Poll ``condition`` until it holds or ``timeout`` passes."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise TimeoutError("condition did not hold in time")
        await asyncio.sleep(0.02)


async def started(labels: list[str]) -> list[Node]:
    """Nodes for ``labels``, every one but the first joined to the first (the bootstrap)."""
    nodes = [await start_node(insecure_identity(f"discovery-{label}")) for label in labels]
    boot = nodes[0].host
    await asyncio.gather(*(n.discovery.join(boot.node_id, boot.url) for n in nodes[1:]))
    return nodes


@pytest.mark.timeout(90)
async def test_thirty_nodes_converge_from_one_bootstrap() -> None:
    """Every node learns every other node's record via one bootstrap; any can dial any other."""
    nodes = await started([str(i) for i in range(30)])
    members = {n.host.node_id for n in nodes}
    try:
        await wait_until(lambda: all(n.discovery.known() == members for n in nodes), 60)
        last, target = nodes[-1], nodes[1].host.node_id
        link = await last.discovery.connect(target)
        assert link.peer.node_id == target
        assert last.host.link(target) is not None
    finally:
        for node in nodes:
            await node.aclose()


async def test_non_member_and_forged_records_are_dropped() -> None:
    """A record without an admitting credential never spreads; a forged one is refused."""
    nodes = await started(["a", "b", "c"])
    outsider = insecure_identity("discovery-outsider")
    try:
        a, b, c = (n.discovery for n in nodes)
        foreign = NodeRecord(
            outsider.node_id, ("ws://127.0.0.1:1/confide/v1",), {NL: frozenset()}, 1, NOW, NOW + 60
        )
        a.store.offer(SignedNodeRecord.sign(foreign, outsider), NOW, lambda n, s: True)
        forged = SignedNodeRecord(
            NodeRecord(
                nodes[2].host.node_id,
                ("ws://127.0.0.1:2/confide/v1",),
                {NL: frozenset()},
                NOW + 9,
                NOW,
                NOW + 60,
            ),
            SignedNodeRecord.sign(foreign, outsider).signature,
        )
        assert not isinstance(b.store.offer(forged, NOW, lambda n, s: True), RecordAccepted)
        members = {n.host.node_id for n in nodes}
        await wait_until(lambda: members <= c.known() and members <= b.known(), 10)
        for discovery in (a, b, c):
            discovery.tick()  # anti-entropy offers a's outsider record: refused again
        await asyncio.sleep(0.3)
        assert outsider.node_id not in b.known() | c.known()
        assert b.store.get(nodes[2].host.node_id, NOW) == nodes[2].discovery.own
    finally:
        for node in nodes:
            await node.aclose()


async def test_node_that_missed_a_flood_converges_by_anti_entropy() -> None:
    """A node whose clock lagged refused a flooded record; once in time, one tick pulls it."""
    nodes = await started(["boot", "x", "y"])
    boot, x, y = nodes
    late = await start_node(insecure_identity("discovery-late"))
    try:
        members = {n.host.node_id for n in nodes}
        await wait_until(lambda: all(n.discovery.known() == members for n in nodes), 10)
        late.clock[0] = boot.clock[0] = y.clock[0] = NOW + 200  # x lags 200 s (> 60 s skew)
        late.discovery = Discovery(
            insecure_identity("discovery-late"),
            (late.host.url,),
            {NL: frozenset()},
            (credential(insecure_identity("discovery-late")),),
            late.membership,
            lambda: late.clock[0],
        )
        late.discovery.attach(late.host)
        await late.discovery.join(boot.host.node_id, boot.host.url)
        newcomer = late.host.node_id
        await wait_until(lambda: newcomer in y.discovery.known(), 5)  # the flood reached y
        await asyncio.sleep(0.2)
        assert newcomer not in x.discovery.known()  # ... and x, which refused it: not yet valid
        x.clock[0] = NOW + 200
        await asyncio.sleep(0.2)
        assert newcomer not in x.discovery.known()  # nothing is pushed again by itself
        x.discovery.tick()  # x probes its only peer, boot: summaries differ, x pulls the record
        await wait_until(lambda: newcomer in x.discovery.known(), 5)
    finally:
        for node in (*nodes, late):
            await node.aclose()


async def test_expiring_record_is_refreshed_and_spreads() -> None:
    """Near expiry a tick re-signs the own record with sequence + 1; peers take the new one."""
    nodes = [await start_node(insecure_identity("refresh-boot"))]
    nodes.append(await start_node(insecure_identity("refresh-short"), lifetime=100))
    boot, short = nodes
    try:
        await short.discovery.join(boot.host.node_id, boot.host.url)
        await wait_until(lambda: short.host.node_id in boot.discovery.known(), 5)
        first = short.discovery.own.record
        short.clock[0] = boot.clock[0] = NOW + 80  # 20 s left: inside the last quarter
        short.discovery.tick()
        renewed = short.discovery.own.record
        assert renewed.sequence == first.sequence + 1
        assert renewed.expires_at == NOW + 180
        await wait_until(
            lambda: boot.discovery.store.get(short.host.node_id, NOW + 80) == short.discovery.own,
            5,
        )
        boot.clock[0] = NOW + 150  # past the first record's expiry, within the renewed one
        assert short.host.node_id in boot.discovery.known()
    finally:
        for node in nodes:
            await node.aclose()


async def test_revoked_member_is_pruned_everywhere_and_unlinked() -> None:
    """A revocation given to one node spreads by gossip; every node prunes the member's record."""
    nodes = await started(["r-boot", "r-a", "r-b", "r-gone"])
    gone = nodes[-1].host.node_id
    try:
        members = {n.host.node_id for n in nodes}
        await wait_until(lambda: all(n.discovery.known() == members for n in nodes), 10)
        revocation = governance_signed(Revocation(NL, NOW, NOW, member=gone), *NL_GOV[:2])
        nodes[1].discovery.revoke(revocation)
        await wait_until(lambda: all(gone not in n.discovery.known() for n in nodes[:3]), 5)
        await wait_until(lambda: nodes[0].host.link(gone) is None, 5)
        for node in nodes[:3]:
            assert not node.membership.is_member(gone, NL, NOW)
            node.discovery.tick()  # anti-entropy does not bring the record back
        await asyncio.sleep(0.3)
        assert all(gone not in n.discovery.known() for n in nodes[:3])
    finally:
        for node in nodes:
            await node.aclose()


async def test_malformed_gossip_aborts_only_that_session() -> None:
    """Garbage on the gossip session makes the node abort that session; the link lives on."""
    node = await start_node(insecure_identity("target"))
    me = insecure_identity("discovery-garbler")
    own = credential(me)
    local = LocalParty(me, X25519PrivateKey.generate(), (NL,), (own.encode(),))
    membership = Membership([nl_charter()])
    garbler = PeerHost(local, data_space_authorizer(membership, (NL,), list, lambda: NOW))
    await garbler.start()
    try:
        link = await garbler.connect(node.host.node_id, node.host.url)
        session = link.session(GOSSIP_SESSION, "gossip")
        await session.send("g1", (np.frombuffer(b"\xc1 not msgpack", dtype=np.uint8),))
        await wait_until(lambda: session.failure is not None, 5)
        assert session.failure is not None
        assert session.failure.code == WireCode.SESSION_ABORTED  # the peer aborted it
        assert not link.is_closed
        assert node.host.link(me.node_id) is not None
        await node.discovery.join(me.node_id, garbler.url)  # the link is there: no error
        assert node.host.link(me.node_id) is not None
    finally:
        await garbler.aclose()
        await node.aclose()
