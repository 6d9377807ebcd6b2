"""The asyncio driver over the interim loopback transport, including a lost peer."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from network.driver import DriverStatistics, drive
from network.loopback import LoopbackTransport
from node.bench.processes import free_ports
from protocols import arithmetic, sharing
from protocols import field as gf
from protocols.errors import AbortCode, ProtocolAbortedError
from protocols.program import Context, key_setup
from protocols.randomness import InsecureSeededRandomSource
from protocols.shamir import Committee


async def start(n: int) -> list[LoopbackTransport]:
    """``n`` connected transports in this event loop."""
    ports = dict(enumerate(free_ports(n)))
    transports = [LoopbackTransport(i, ports, timeout=5.0) for i in range(n)]
    await asyncio.gather(*(t.start() for t in transports))
    return transports


async def setup(transports: list[LoopbackTransport]) -> list[Context]:
    """Contexts with agreed keys, over the sockets."""
    n = len(transports)
    contexts = [Context(i, Committee(n), InsecureSeededRandomSource(i)) for i in range(n)]
    keys = await asyncio.gather(
        *(drive(key_setup(c), t) for c, t in zip(contexts, transports, strict=True))
    )
    for ctx, key in zip(contexts, keys, strict=True):
        ctx.install_keys(key)
    return contexts


@pytest.mark.asyncio
@pytest.mark.parametrize("n", [3, 5])
async def test_multiplication_over_sockets(n: int) -> None:
    """Shares travel over TCP; the opened product is right and the statistics add up."""
    transports = await start(n)
    try:
        contexts = await setup(transports)
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
    finally:
        await asyncio.gather(*(t.aclose() for t in transports))


@pytest.mark.asyncio
async def test_lost_peer_aborts_with_reason() -> None:
    """A party whose peer disconnects mid-session aborts with PEER_LOST, not a hang."""
    transports = await start(3)
    try:
        waiting = asyncio.ensure_future(transports[0].receive(2, "s1"))
        await transports[2].aclose()
        with pytest.raises(ProtocolAbortedError) as caught:
            await waiting
        assert caught.value.code == AbortCode.PEER_LOST
        with pytest.raises(ProtocolAbortedError) as again:
            await transports[0].receive(2, "s2")
        assert again.value.code == AbortCode.PEER_LOST
    finally:
        await asyncio.gather(*(t.aclose() for t in transports[:2]))


@pytest.mark.asyncio
async def test_silent_peer_times_out() -> None:
    """A peer that never sends makes the waiting party abort with TIMEOUT."""
    transports = await start(3)
    for t in transports:
        t.timeout = 0.2
    try:
        with pytest.raises(ProtocolAbortedError) as caught:
            await transports[0].receive(1, "s9")
        assert caught.value.code == AbortCode.TIMEOUT
    finally:
        await asyncio.gather(*(t.aclose() for t in transports))
