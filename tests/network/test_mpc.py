"""The asyncio driver over encrypted links (``SessionTransport``): results, lost peer, timeout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from network.channel import LocalParty, allow_nodes
from network.driver import DriverStatistics, drive
from network.errors import NetworkError, WireCode
from network.host import PeerHost
from network.identity import Identity
from network.mpc import SessionTransport
from protocols import arithmetic, sharing
from protocols import field as gf
from protocols.errors import AbortCode, ProtocolAbortedError
from protocols.program import Context, key_setup
from protocols.randomness import InsecureSeededRandomSource
from protocols.shamir import Committee

pytestmark = pytest.mark.asyncio
SESSION = 0x5EED


def local_party(seed: int) -> LocalParty:
    """A party with a fixed identity and a fresh Noise key."""
    identity = Identity.from_private_bytes(bytes([seed]) * 32)
    return LocalParty(identity, X25519PrivateKey.generate(), ("s",))


@asynccontextmanager
async def committee(n: int, timeout: float = 5.0) -> AsyncIterator[list[SessionTransport]]:
    """``n`` linked hosts in this event loop and one computation's transport at each."""
    parties = [
        LocalParty(
            Identity.from_private_bytes(bytes([i + 1]) * 32), X25519PrivateKey.generate(), ("s",)
        )
        for i in range(n)
    ]
    ids = {i: p.identity.node_id for i, p in enumerate(parties)}
    hosts = [PeerHost(p, allow_nodes(list(ids.values()))) for p in parties]
    try:
        for host in hosts:
            await host.start()
        for i, host in enumerate(hosts):
            for j in range(i + 1, n):
                await host.connect(ids[j], hosts[j].url)
        for i, host in enumerate(hosts):
            for j in range(i):
                await host.wait_for_link(ids[j], 5)
        yield [SessionTransport(host, ids, i, SESSION, timeout) for i, host in enumerate(hosts)]
    finally:
        for host in hosts:
            await host.aclose()


async def agreed_contexts(transports: list[SessionTransport]) -> list[Context]:
    """Contexts with session keys agreed over the links."""
    n = len(transports)
    contexts = [Context(i, Committee(n), InsecureSeededRandomSource(i)) for i in range(n)]
    keys = await asyncio.gather(
        *(drive(key_setup(c), t) for c, t in zip(contexts, transports, strict=True))
    )
    for ctx, key in zip(contexts, keys, strict=True):
        ctx.install_keys(key)
    return contexts


@pytest.mark.parametrize("n", [3, 5])
async def test_multiplication_over_links(n: int) -> None:
    """Shares travel over the encrypted links; the opened product is right, rounds add up."""
    async with committee(n) as transports:
        contexts = await agreed_contexts(transports)
        values = gf.from_int(np.arange(-50, 50))

        def program(ctx: Context):  # type: ignore[no-untyped-def]
            x = yield from sharing.share_input(ctx, 0, values if ctx.me == 0 else None, 100)
            y = yield from arithmetic.mul(ctx, x, x)
            return (yield from sharing.open_values(ctx, y))

        stats = [DriverStatistics() for _ in contexts]
        results = await asyncio.gather(
            *(drive(program(c), t, s) for c, t, s in zip(contexts, transports, stats, strict=True))
        )
        for result in results:
            assert gf.to_int(result).tolist() == [v * v for v in range(-50, 50)]
        assert all(s.rounds == 3 for s in stats)
        assert all(t.bytes_sent > 0 for t in transports)


async def test_large_arrays_cross_in_both_directions() -> None:
    """Two parties sending 16 MiB to each other at once neither deadlock nor lose a word."""
    async with committee(3) as transports:
        big = [np.arange(2_000_000, dtype=np.uint64) + i for i in range(3)]
        await asyncio.gather(*(t.send(1 - i, "x", (big[i],)) for i, t in enumerate(transports[:2])))
        got = await asyncio.gather(*(t.receive(1 - i, "x") for i, t in enumerate(transports[:2])))
        assert np.array_equal(got[0][0], big[1])
        assert np.array_equal(got[1][0], big[0])


async def test_lost_peer_aborts_with_reason() -> None:
    """A party whose peer goes away mid-computation aborts with PEER_LOST, not a hang."""
    async with committee(3) as transports:
        waiting = asyncio.ensure_future(transports[0].receive(2, "s1"))
        link = transports[2]._sessions[0].link
        await link.aclose()
        with pytest.raises(ProtocolAbortedError) as caught:
            await waiting
        assert caught.value.code == AbortCode.PEER_LOST
        assert caught.value.party == 2
        with pytest.raises(ProtocolAbortedError) as again:
            await transports[0].receive(2, "s2")
        assert again.value.code == AbortCode.PEER_LOST


async def test_silent_peer_times_out() -> None:
    """A peer that never sends makes the waiting party abort with TIMEOUT; the link lives."""
    async with committee(3, timeout=0.2) as transports:
        with pytest.raises(ProtocolAbortedError) as caught:
            await transports[0].receive(1, "s9")
        assert caught.value.code == AbortCode.TIMEOUT
        await transports[1].send(0, "s10", (np.ones(3, dtype=np.uint64),))
        (got,) = await transports[0].receive(1, "s10")
        assert got.tolist() == [1, 1, 1]


async def test_transport_needs_a_link_to_every_party() -> None:
    """A transport for a committee it has no link to fails at once with LINK_LOST."""
    party = LocalParty(
        Identity.from_private_bytes(bytes([9]) * 32), X25519PrivateKey.generate(), ("s",)
    )
    host = PeerHost(party, allow_nodes([party.identity.node_id]))
    await host.start()
    try:
        with pytest.raises(NetworkError) as caught:
            SessionTransport(host, {0: party.identity.node_id, 1: "cfd1nobody"}, 0, SESSION)
        assert caught.value.code == WireCode.LINK_LOST
    finally:
        await host.aclose()
