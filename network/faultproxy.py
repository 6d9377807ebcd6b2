"""A fault-injecting TCP proxy for tests: delay, drop, duplicate, swap, truncate, blackhole, reset.

``FaultProxy`` listens on 127.0.0.1 and forwards each accepted connection to 127.0.0.1 at
``target_port``. Each direction (``upstream``: client → target, ``downstream``: target → client)
has its own :class:`Faults`; the plan can be replaced at any time and takes effect from the next
chunk. A *chunk* is what one read from the socket returned (at most ``chunk_size`` bytes);
chunks are numbered from 1 per connection and direction. Tests that need exact chunk boundaries
send one write at a time and wait for it (:meth:`FaultProxy.wait_chunks`).

Buffers are bounded: each direction reads at most ``chunk_size`` bytes ahead, holds at most two
chunks (for a swap) and waits for the write buffer to drain before reading again, so a slow or
blackholed side pushes back on the sender through TCP.

With ``tls`` (a server ``ssl.SSLContext``) the proxy terminates TLS: clients dial it with
``wss://`` and it forwards the decrypted bytes to the target, as a TLS-terminating reverse proxy
in front of a node does. Chunks and faults then apply to the bytes inside TLS.

It never binds or connects to anything but 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import socket
import ssl
import struct
from dataclasses import dataclass, field
from enum import Enum
from types import TracebackType
from typing import Self

LOOPBACK = "127.0.0.1"
CHUNK_SIZE = 65536
_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, timeout 0: close() sends RST


class Direction(Enum):
    """Which way bytes flow through the proxy."""

    UPSTREAM = "upstream"
    """From the client that connected to the proxy towards the target."""
    DOWNSTREAM = "downstream"
    """From the target back to the client."""


@dataclass(frozen=True)
class Faults:
    """The faults of one direction; chunk numbers count from 1 per connection.

    ``delay_ms``: wait this long before forwarding each chunk (order is kept).
    ``drop`` / ``duplicate``: lose / send twice the chunk with this number.
    ``swap``: forward the chunk with this number after the next one.
    ``truncate_after``: forward this many bytes, then close both sides cleanly (FIN).
    ``reset_after``: forward this many bytes, then reset both sides (RST); bytes already
    forwarded may be discarded by the peer's TCP on reset.
    ``blackhole``: stop forwarding (and reading) but keep both connections open; clearing it
    resumes where it stopped.
    """

    delay_ms: float = 0.0
    drop: int | None = None
    duplicate: int | None = None
    swap: int | None = None
    truncate_after: int | None = None
    reset_after: int | None = None
    blackhole: bool = False


@dataclass(frozen=True)
class FaultPlan:
    """Faults per direction."""

    upstream: Faults = field(default_factory=Faults)
    downstream: Faults = field(default_factory=Faults)

    def of(self, direction: Direction) -> Faults:
        """The faults of ``direction``."""
        return self.upstream if direction is Direction.UPSTREAM else self.downstream


@dataclass
class DirectionStatistics:
    """What one direction did, over all connections."""

    chunks: int = 0
    bytes_forwarded: int = 0
    dropped: int = 0
    duplicated: int = 0
    swapped: int = 0


@dataclass
class ProxyStatistics:
    """What the proxy did so far."""

    connections: int = 0
    truncations: int = 0
    resets: int = 0
    upstream: DirectionStatistics = field(default_factory=DirectionStatistics)
    downstream: DirectionStatistics = field(default_factory=DirectionStatistics)

    def of(self, direction: Direction) -> DirectionStatistics:
        """The statistics of ``direction``."""
        return self.upstream if direction is Direction.UPSTREAM else self.downstream


class _EndedError(Exception):
    """A pump ended the connection on purpose (truncate or reset)."""

    def __init__(self, reset: bool) -> None:
        super().__init__("reset" if reset else "truncate")
        self.reset = reset


class _Connection:
    """The two stream writers of one proxied connection."""

    def __init__(self, client: asyncio.StreamWriter, target: asyncio.StreamWriter) -> None:
        self.writers = (client, target)

    def reset(self) -> None:
        """Abort both sides with a TCP reset."""
        for writer in self.writers:
            sock = writer.get_extra_info("socket")
            if sock is not None and not writer.transport.is_closing():
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            writer.transport.abort()

    async def aclose(self) -> None:
        """Close both sides cleanly (a no-op on sides already reset)."""
        for writer in self.writers:
            writer.close()
        for writer in self.writers:
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class FaultProxy:
    """``async with FaultProxy(target_port, plan) as proxy:`` then connect to ``proxy.port``."""

    def __init__(
        self,
        target_port: int,
        plan: FaultPlan | None = None,
        *,
        chunk_size: int = CHUNK_SIZE,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        if not 0 < target_port < 1 << 16 or chunk_size < 1:
            raise ValueError("target port or chunk size out of range")
        self.target_port = target_port
        self.chunk_size = chunk_size
        self.tls = tls
        self._plan = plan if plan is not None else FaultPlan()
        self._stats = ProxyStatistics()
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._closing = False

    @property
    def plan(self) -> FaultPlan:
        """The faults in force; assign a new plan to change them at run time."""
        return self._plan

    @plan.setter
    def plan(self, plan: FaultPlan) -> None:
        self._plan = plan
        self._notify()

    @property
    def port(self) -> int:
        """The port the proxy listens on (on 127.0.0.1)."""
        if self._server is None:
            raise RuntimeError("the proxy is not running")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def statistics(self) -> ProxyStatistics:
        """A snapshot of what the proxy did."""
        return copy.deepcopy(self._stats)

    async def wait_chunks(self, direction: Direction, count: int) -> None:
        """Wait until ``count`` chunks in all have been read in ``direction``."""
        while self._stats.of(direction).chunks < count:
            await self._changed.wait()

    def reset_connections(self) -> None:
        """Reset every open connection now (RST to both sides)."""
        for connection in list(self._connections):
            connection.reset()
            self._stats.resets += 1
        self._notify()

    async def start(self) -> None:
        """Listen on an ephemeral port of 127.0.0.1 (with TLS if ``tls`` was given)."""
        self._server = await asyncio.start_server(
            self._serve, LOOPBACK, 0, limit=self.chunk_size, ssl=self.tls
        )

    async def aclose(self) -> None:
        """Stop listening and reset every open connection.

        Connection handlers are ended by resetting their sockets rather than by cancellation
        (Python 3.11's ``start_server`` logs an error for a cancelled handler).
        """
        self._closing = True
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.reset()
        self._notify()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _notify(self) -> None:
        """Wake everyone waiting for a plan change or a chunk."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        if handler is not None:  # always: asyncio runs every connection callback in a task
            self._handlers.add(handler)
        try:
            await self._forward(reader, writer)
        finally:
            self._handlers.discard(handler)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            target_reader, target_writer = await asyncio.open_connection(
                LOOPBACK, self.target_port, limit=self.chunk_size
            )
        except OSError:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return
        self._stats.connections += 1
        connection = _Connection(writer, target_writer)
        if self._closing:
            connection.reset()
            await connection.aclose()
            return
        self._connections.add(connection)
        try:
            await self._pump_both(connection, reader, writer, target_reader, target_writer)
        except asyncio.CancelledError:  # cancelled from outside: do not wait for slow readers
            connection.reset()
            raise
        finally:
            self._connections.discard(connection)
            await connection.aclose()

    async def _pump_both(
        self,
        connection: _Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        target_reader: asyncio.StreamReader,
        target_writer: asyncio.StreamWriter,
    ) -> None:
        """Run both directions until both saw EOF, or one ended or broke the connection."""
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._pump(Direction.UPSTREAM, reader, target_writer))
                group.create_task(self._pump(Direction.DOWNSTREAM, target_reader, writer))
        except* _EndedError as ended:
            if any(isinstance(e, _EndedError) and e.reset for e in ended.exceptions):
                connection.reset()
        except* OSError:  # one side broke the connection: pass the reset on to the other
            connection.reset()

    async def _unblocked(self, direction: Direction) -> None:
        while self._plan.of(direction).blackhole and not self._closing:
            await self._changed.wait()

    async def _pump(
        self, direction: Direction, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Forward one direction chunk by chunk, applying the faults in force."""
        stats = self._stats.of(direction)
        count = sent = 0
        held: bytes | None = None
        while True:
            await self._unblocked(direction)
            chunk = await reader.read(self.chunk_size)
            if not chunk:
                break
            count += 1
            stats.chunks += 1
            self._notify()
            await self._unblocked(direction)
            faults = self._plan.of(direction)
            if faults.delay_ms > 0:
                await asyncio.sleep(faults.delay_ms / 1000)
            pieces, held = _rearrange(faults, count, chunk, held, stats)
            for piece in pieces:
                sent = await self._write(faults, piece, sent, writer, stats)
        if held is not None:
            await self._write(self._plan.of(direction), held, sent, writer, stats)
        if writer.can_write_eof():
            writer.write_eof()

    async def _write(
        self,
        faults: Faults,
        piece: bytes,
        sent: int,
        writer: asyncio.StreamWriter,
        stats: DirectionStatistics,
    ) -> int:
        """Forward ``piece``, or its part up to a truncate or reset limit and then end."""
        limits = [
            (limit, reset)
            for limit, reset in ((faults.truncate_after, False), (faults.reset_after, True))
            if limit is not None and sent + len(piece) >= limit
        ]
        if limits:
            limit, reset = min(limits)
            part = piece[: max(0, limit - sent)]
            writer.write(part)
            await writer.drain()
            stats.bytes_forwarded += len(part)
            if reset:
                self._stats.resets += 1
            else:
                self._stats.truncations += 1
            raise _EndedError(reset)
        writer.write(piece)
        await writer.drain()
        stats.bytes_forwarded += len(piece)
        return sent + len(piece)


def _rearrange(
    faults: Faults, count: int, chunk: bytes, held: bytes | None, stats: DirectionStatistics
) -> tuple[list[bytes], bytes | None]:
    """The pieces to forward for chunk number ``count``, and the chunk held back for a swap."""
    pieces: list[bytes]
    if faults.drop == count:
        stats.dropped += 1
        pieces = []
    elif faults.duplicate == count:
        stats.duplicated += 1
        pieces = [chunk, chunk]
    elif faults.swap == count and held is None:
        return [], chunk
    else:
        pieces = [chunk]
    if held is not None:
        stats.swapped += 1
        pieces.append(held)
    return pieces, None
