"""Discovery over real links: 30 nodes converge from one bootstrap address; bad records drop."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from network.channel import LocalParty, allow_nodes
from network.discovery import Discovery
from network.host import PeerHost
from network.identity import Identity
from network.records import NodeRecord, SignedNodeRecord

pytestmark = pytest.mark.asyncio

SPACE = "nl-human-trafficking"
NOW = 1_700_000_000


def identity(index: int) -> Identity:
    """A deterministic test identity."""
    return Identity.from_private_bytes(hashlib.sha256(f"discovery-{index}".encode()).digest())


async def start_node(
    me: Identity, members: set[str], sequence: int = 1
) -> tuple[PeerHost, Discovery]:
    """A host listening on loopback with discovery attached."""
    discovery: Discovery | None = None

    def on_session(session):  # type: ignore[no-untyped-def]
        assert discovery is not None
        discovery.on_session(session)

    local = LocalParty(me, X25519PrivateKey.generate(), (SPACE,))
    host = PeerHost(local, allow_nodes(sorted(members)), on_session=on_session)
    await host.start()
    record = NodeRecord(me.node_id, (host.url,), {SPACE: frozenset()}, sequence, NOW, NOW + 3600)
    discovery = Discovery(
        SignedNodeRecord.sign(record, me), lambda node, space: node in members, lambda: NOW
    )
    discovery.attach(host)
    return host, discovery


async def wait_until(condition, timeout: float) -> None:  # type: ignore[no-untyped-def]
    """Poll ``condition`` until it holds or ``timeout`` passes."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise TimeoutError("condition did not hold in time")
        await asyncio.sleep(0.05)


@pytest.mark.timeout(90)
async def test_thirty_nodes_converge_from_one_bootstrap() -> None:
    """Every node learns every other node's record; any node can then dial any other."""
    ids = [identity(i) for i in range(30)]
    members = {i.node_id for i in ids}
    nodes = [await start_node(i, members) for i in ids]
    bootstrap_host, _ = nodes[0]
    try:
        await asyncio.gather(
            *(d.join(bootstrap_host.node_id, bootstrap_host.url) for _, d in nodes[1:])
        )
        await wait_until(lambda: all(d.known() == members for _, d in nodes), 60)
        last_host, last = nodes[-1]
        link = await last.connect(ids[1].node_id)
        assert link.peer.node_id == ids[1].node_id
        assert last_host.link(ids[1].node_id) is not None
    finally:
        for host, discovery in nodes:
            await discovery.aclose()
            await host.aclose()


async def test_non_member_and_forged_records_are_dropped() -> None:
    """A non-member's record held by one node never reaches the others; a forged one is refused."""
    ids = [identity(100 + i) for i in range(3)]
    outsider = identity(999)
    members = {i.node_id for i in ids}
    nodes = [await start_node(i, members) for i in ids]
    try:
        a, b, c = (d for _, d in nodes)
        foreign = NodeRecord(
            outsider.node_id,
            ("ws://127.0.0.1:1/confide/v1",),
            {SPACE: frozenset()},
            1,
            NOW,
            NOW + 60,
        )
        a.store.offer(SignedNodeRecord.sign(foreign, outsider), NOW, lambda n, s: True)
        forged = SignedNodeRecord(
            NodeRecord(
                ids[2].node_id,
                ("ws://127.0.0.1:2/confide/v1",),
                {SPACE: frozenset()},
                9,
                NOW,
                NOW + 60,
            ),
            SignedNodeRecord.sign(foreign, outsider).signature,
        )
        assert type(b.store.offer(forged, NOW, lambda n, s: True)).__name__ == "RecordRejected"
        await b.join(nodes[0][0].node_id, nodes[0][0].url)
        await c.join(nodes[0][0].node_id, nodes[0][0].url)
        await wait_until(lambda: members <= c.known(), 10)
        assert outsider.node_id not in c.known()
        assert outsider.node_id not in b.known()
    finally:
        for host, discovery in nodes:
            await discovery.aclose()
            await host.aclose()
