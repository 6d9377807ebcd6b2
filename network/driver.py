"""The asyncio driver: runs a sans-I/O protocol program over a message transport.

The program yields ``Exchange`` instructions; the driver sends the outgoing arrays, then waits
for the incoming ones under the same label and resumes the program with them. Incoming messages
are read by the transport in the background as they arrive (so two parties that send large
arrays to each other at once never deadlock) and wait, bounded, until their step asks for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from protocols.field import Array
from protocols.program import Program

T = TypeVar("T")


class Transport(Protocol):
    """Labelled array messages between the parties of one session."""

    async def send(self, peer: int, label: str, arrays: tuple[Array, ...]) -> None:
        """Queue ``arrays`` for ``peer`` under ``label``."""
        ...

    async def receive(self, peer: int, label: str) -> tuple[Array, ...]:
        """The arrays ``peer`` sent under ``label`` (waits for them)."""
        ...


@dataclass
class DriverStatistics:
    """What one party's driver did: exchanges and what it sent."""

    rounds: int = 0
    messages_sent: int = 0
    elements_sent: int = 0


async def drive(
    program: Program[T],
    transport: Transport,
    statistics: DriverStatistics | None = None,
) -> T:
    """Run ``program`` to completion over ``transport`` and return its result."""
    stats = statistics if statistics is not None else DriverStatistics()
    replies: Mapping[int, tuple[Array, ...]] | None = None
    while True:
        try:
            exchange = next(program) if replies is None else program.send(replies)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]  # the generator's declared result
        stats.rounds += 1
        for peer, arrays in exchange.outgoing.items():
            await transport.send(peer, exchange.label, arrays)
            stats.messages_sent += 1
            stats.elements_sent += sum(a.size for a in arrays)
        peers = list(exchange.incoming)
        received = await asyncio.gather(*(transport.receive(p, exchange.label) for p in peers))
        replies = dict(zip(peers, received, strict=True))
