"""Tests for node/peering.py: bootstrap re-dials with backoff, the address book, enforcement."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from network.channel import Authorizer, LocalParty, Peer, allow_nodes
from network.discovery import Discovery
from network.errors import RemoteProtocolError, WireCode
from network.host import PeerHost
from network.identity import Identity
from network.liveness import Liveness
from node import peering
from node.config import Bootstrap
from node.peerbook import PeerBook
from node.peering import Peering
from node.store import open_store
from tests.node.consent.protocol_harness import eventually

pytestmark = pytest.mark.asyncio


@dataclass
class Parts:
    """The parts peering reads (no discovery, no liveness)."""

    host: PeerHost | None
    discovery: Discovery | None = None
    liveness: Liveness | None = None


async def host_for(identity: Identity, allowed: list[str], port: int = 0) -> PeerHost:
    """A started peer host admitting ``allowed``."""
    local = LocalParty(identity, X25519PrivateKey.generate(), ("test-space",))
    host = PeerHost(local, allow_nodes(allowed), port=port)
    await host.start()
    return host


def refuse_all(peer: Peer) -> None:
    """An authoriser that now refuses everyone (a removed data-space link)."""
    raise RemoteProtocolError(WireCode.NO_SHARED_DATA_SPACE, "no longer linked")


async def test_a_bootstrap_node_down_at_start_is_linked_once_it_comes_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first dial fails; the heal loop dials again after its backoff and links."""
    monkeypatch.setattr(peering, "HEAL_INTERVAL", 0.2)
    monkeypatch.setattr(peering, "REDIAL_DEADLINE", 0.5)
    monkeypatch.setattr(peering, "BOOTSTRAP_DEADLINE", 0.5)
    me, other = Identity.generate(), Identity.generate()
    ids = [me.node_id, other.node_id]
    host = await host_for(me, ids)
    probe = await host_for(other, ids)  # find a free port, then free it
    port = probe.port
    await probe.aclose()
    entry = Bootstrap(other.node_id, f"ws://127.0.0.1:{port}/confide/v1")
    book = PeerBook(open_store(tmp_path / "store.sqlite"))
    node = Peering(Parts(host), me.node_id, lambda: [entry], book, lambda: refuse_all, lambda: 0)
    node.start()
    late: PeerHost | None = None
    try:
        await asyncio.sleep(1.0)
        assert host.link(other.node_id) is None
        late = await host_for(other, ids, port)
        await eventually(lambda: host.link(other.node_id) is not None, 15)
    finally:
        await node.aclose()
        await host.aclose()
        if late is not None:
            await late.aclose()


async def test_a_node_with_no_link_dials_its_address_book(tmp_path: Path) -> None:
    """No bootstrap node, but a remembered peer: one heal round links to it."""
    me, other = Identity.generate(), Identity.generate()
    ids = [me.node_id, other.node_id]
    host, remote = await host_for(me, ids), await host_for(other, ids)
    book = PeerBook(open_store(tmp_path / "store.sqlite"))
    book.remember([(other.node_id, remote.url)], 0)
    node = Peering(Parts(host), me.node_id, list, book, lambda: refuse_all, lambda: 0)
    try:
        node.heal_once()
        await eventually(lambda: host.link(other.node_id) is not None, 10)
    finally:
        await node.aclose()
        await host.aclose()
        await remote.aclose()


async def test_links_the_handshake_would_refuse_now_are_closed(tmp_path: Path) -> None:
    """enforce_admission closes a link its current authoriser refuses."""
    me, other = Identity.generate(), Identity.generate()
    ids = [me.node_id, other.node_id]
    host, remote = await host_for(me, ids), await host_for(other, ids)
    book = PeerBook(open_store(tmp_path / "store.sqlite"))
    book.remember([(other.node_id, remote.url)], 0)
    authorizer: list[Authorizer] = [allow_nodes(ids)]
    node = Peering(Parts(host), me.node_id, list, book, lambda: authorizer[0], lambda: 0)
    try:
        await host.connect(other.node_id, remote.url)
        await node.enforce_admission()
        assert host.link(other.node_id) is not None
        authorizer[0] = refuse_all
        await node.enforce_admission()
        assert host.link(other.node_id) is None
    finally:
        await node.aclose()
        await host.aclose()
        await remote.aclose()
