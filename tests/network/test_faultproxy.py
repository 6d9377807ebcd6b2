"""The fault-injecting TCP proxy, each fault against a tiny echo server over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import TracebackType
from typing import Self

import pytest

from network.faultproxy import Direction, FaultPlan, FaultProxy, Faults

TIMEOUT = 5.0
UP = Direction.UPSTREAM


class EchoServer:
    """An asyncio echo server on 127.0.0.1 that records what each connection received."""

    def __init__(self) -> None:
        self.received: list[bytearray] = []
        self.ended = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        """The port it listens on."""
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._echo, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:  # ends the handlers (cancelling them logs errors on 3.11)
            writer.transport.abort()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _echo(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        seen = bytearray()
        self.received.append(seen)
        try:
            while data := await reader.read(65536):
                seen += data
                writer.write(data)
                await writer.drain()
            writer.write_eof()
        except ConnectionError:
            pass
        finally:
            self.ended.set()
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self._tasks.discard(task)
            self._writers.discard(writer)


@contextlib.asynccontextmanager
async def connected(port: int):  # type: ignore[no-untyped-def]
    """A client connection to 127.0.0.1:``port``, closed afterwards."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def send(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Write one chunk and wait for it to leave."""
    writer.write(data)
    await writer.drain()


async def read_exactly(reader: asyncio.StreamReader, size: int) -> bytes:
    """``size`` bytes, or fail after the timeout."""
    return await asyncio.wait_for(reader.readexactly(size), TIMEOUT)


async def read_to_eof(reader: asyncio.StreamReader) -> bytes:
    """Everything until EOF, or fail after the timeout."""
    return await asyncio.wait_for(reader.read(), TIMEOUT)


async def in_lockstep(proxy: FaultProxy, writer: asyncio.StreamWriter, chunks: list[bytes]) -> None:
    """Send each chunk only after the proxy read the previous one, so each read is one chunk."""
    for number, chunk in enumerate(chunks, start=1):
        await send(writer, chunk)
        await asyncio.wait_for(proxy.wait_chunks(UP, number), TIMEOUT)


CHUNKS = [b"first-", b"second-", b"third-", b"fourth"]


@pytest.mark.asyncio
async def test_forwards_unchanged_without_faults() -> None:
    """With an empty plan the echo comes back byte for byte, and EOF passes through."""
    async with EchoServer() as echo, FaultProxy(echo.port) as proxy:
        async with connected(proxy.port) as (reader, writer):
            await in_lockstep(proxy, writer, CHUNKS)
            writer.write_eof()
            assert await read_to_eof(reader) == b"".join(CHUNKS)
        stats = proxy.statistics()
        assert stats.connections == 1
        assert stats.upstream.chunks == 4
        assert stats.upstream.bytes_forwarded == len(b"".join(CHUNKS))


@pytest.mark.asyncio
async def test_delay_slows_every_round_trip() -> None:
    """A 150 ms upstream delay makes each round trip take at least 150 ms."""
    plan = FaultPlan(upstream=Faults(delay_ms=150))
    async with (
        EchoServer() as echo,
        FaultProxy(echo.port, plan) as proxy,
        connected(proxy.port) as (reader, writer),
    ):
        for chunk in CHUNKS[:2]:
            start = time.monotonic()
            await send(writer, chunk)
            assert await read_exactly(reader, len(chunk)) == chunk
            assert time.monotonic() - start >= 0.149  # the clock may round a hair early


@pytest.mark.asyncio
async def test_drop_loses_one_chunk() -> None:
    """Dropping upstream chunk 2: the echo lacks it, so it differs from what was sent."""
    plan = FaultPlan(upstream=Faults(drop=2))
    async with EchoServer() as echo, FaultProxy(echo.port, plan) as proxy:
        async with connected(proxy.port) as (reader, writer):
            await in_lockstep(proxy, writer, CHUNKS)
            writer.write_eof()
            echoed = await read_to_eof(reader)
        assert echoed == CHUNKS[0] + CHUNKS[2] + CHUNKS[3]
        assert echoed != b"".join(CHUNKS)
        assert proxy.statistics().upstream.dropped == 1


@pytest.mark.asyncio
async def test_duplicate_repeats_one_chunk() -> None:
    """Duplicating downstream chunk 1: the echo carries it twice."""
    plan = FaultPlan(downstream=Faults(duplicate=1))
    async with EchoServer() as echo, FaultProxy(echo.port, plan) as proxy:
        async with connected(proxy.port) as (reader, writer):
            await send(writer, CHUNKS[0])
            assert await read_exactly(reader, 2 * len(CHUNKS[0])) == CHUNKS[0] * 2
        assert proxy.statistics().downstream.duplicated == 1


@pytest.mark.asyncio
async def test_swap_reorders_two_chunks() -> None:
    """Swapping upstream chunk 2: the server sees chunk 3 before chunk 2."""
    plan = FaultPlan(upstream=Faults(swap=2))
    async with EchoServer() as echo, FaultProxy(echo.port, plan) as proxy:
        async with connected(proxy.port) as (reader, writer):
            await in_lockstep(proxy, writer, CHUNKS)
            writer.write_eof()
            echoed = await read_to_eof(reader)
        assert echoed == CHUNKS[0] + CHUNKS[2] + CHUNKS[1] + CHUNKS[3]
        assert bytes(echo.received[0]) == echoed
        assert proxy.statistics().upstream.swapped == 1


@pytest.mark.asyncio
async def test_truncate_downstream_ends_after_k_bytes() -> None:
    """Truncating downstream after 10 bytes: the client reads exactly 10 bytes, then EOF."""
    plan = FaultPlan(downstream=Faults(truncate_after=10))
    payload = bytes(range(100))
    async with EchoServer() as echo, FaultProxy(echo.port, plan) as proxy:
        async with connected(proxy.port) as (reader, writer):
            await send(writer, payload)
            assert await read_to_eof(reader) == payload[:10]
            assert reader.at_eof()
        assert proxy.statistics().truncations == 1


@pytest.mark.asyncio
async def test_truncate_upstream_delivers_k_bytes_then_eof() -> None:
    """Truncating upstream after 7 bytes: the server gets exactly 7 bytes, then EOF."""
    plan = FaultPlan(upstream=Faults(truncate_after=7))
    async with EchoServer() as echo, FaultProxy(echo.port, plan) as proxy:
        async with connected(proxy.port) as (reader, writer):
            await send(writer, b"0123456789")
            await read_to_eof(reader)
            await asyncio.wait_for(echo.ended.wait(), TIMEOUT)
        assert bytes(echo.received[0]) == b"0123456"


@pytest.mark.asyncio
async def test_reset_after_zero_bytes() -> None:
    """A reset plan aborts the connection: the client's read raises ConnectionResetError."""
    plan = FaultPlan(upstream=Faults(reset_after=0))
    async with EchoServer() as echo, FaultProxy(echo.port, plan) as proxy:
        async with connected(proxy.port) as (reader, writer):
            await send(writer, b"hello")
            with pytest.raises(ConnectionResetError):
                await asyncio.wait_for(reader.read(100), TIMEOUT)
        assert proxy.statistics().resets == 1


@pytest.mark.asyncio
async def test_reset_connections_now() -> None:
    """reset_connections() aborts an idle connection at once (ConnectionResetError)."""
    async with (
        EchoServer() as echo,
        FaultProxy(echo.port) as proxy,
        connected(proxy.port) as (reader, writer),
    ):
        await send(writer, b"ping")
        assert await read_exactly(reader, 4) == b"ping"
        proxy.reset_connections()
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(reader.read(100), TIMEOUT)


@pytest.mark.asyncio
async def test_blackhole_keeps_the_connection_open_and_heals() -> None:
    """Blackholed: the read times out while the connection stays open; healed: data flows."""
    plan = FaultPlan(upstream=Faults(blackhole=True))
    async with (
        EchoServer() as echo,
        FaultProxy(echo.port, plan) as proxy,
        connected(proxy.port) as (reader, writer),
    ):
        await send(writer, b"lost in space")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.readexactly(1), 0.3)
        assert not reader.at_eof()
        assert not writer.is_closing()
        assert echo.received == [bytearray()]
        proxy.plan = FaultPlan()
        assert await read_exactly(reader, 13) == b"lost in space"


@pytest.mark.asyncio
async def test_blackhole_pushes_back_with_bounded_buffers() -> None:
    """A blackholed sender is stalled by TCP back-pressure instead of filling proxy memory."""
    plan = FaultPlan(upstream=Faults(blackhole=True))
    block = bytes(1 << 20)
    async with (
        EchoServer() as echo,
        FaultProxy(echo.port, plan) as proxy,
        connected(proxy.port) as (_reader, writer),
    ):

        async def flood() -> None:
            for _ in range(256):
                await send(writer, block)

        with pytest.raises(TimeoutError):
            await asyncio.wait_for(flood(), 2.0)
        assert proxy.statistics().upstream.chunks <= 1
        assert proxy.statistics().upstream.bytes_forwarded == 0
        proxy.reset_connections()


@pytest.mark.asyncio
async def test_plan_changes_at_run_time() -> None:
    """A new plan applies from the next chunk on the open connection."""
    async with (
        EchoServer() as echo,
        FaultProxy(echo.port) as proxy,
        connected(proxy.port) as (reader, writer),
    ):
        await send(writer, b"a")
        assert await read_exactly(reader, 1) == b"a"
        proxy.plan = FaultPlan(downstream=Faults(duplicate=2))
        await send(writer, b"b")
        assert await read_exactly(reader, 2) == b"bb"


@pytest.mark.asyncio
async def test_target_down_closes_the_client() -> None:
    """With nothing listening at the target, the client sees EOF instead of a hang."""
    async with EchoServer() as echo:
        dead_port = echo.port
    async with FaultProxy(dead_port) as proxy, connected(proxy.port) as (reader, _writer):
        assert await read_to_eof(reader) == b""


@pytest.mark.asyncio
async def test_binds_only_loopback_and_closes_connections() -> None:
    """The proxy listens on 127.0.0.1 only; leaving the context ends open connections."""
    async with EchoServer() as echo:
        proxy = FaultProxy(echo.port, FaultPlan(downstream=Faults(blackhole=True)))
        async with proxy:
            assert proxy._server is not None
            assert {s.getsockname()[0] for s in proxy._server.sockets} == {"127.0.0.1"}
            async with connected(proxy.port) as (reader, writer):
                await send(writer, b"x")
                await asyncio.wait_for(proxy.wait_chunks(UP, 1), TIMEOUT)
                await proxy.aclose()
                with contextlib.suppress(ConnectionResetError):
                    assert await read_to_eof(reader) == b""
    with pytest.raises(RuntimeError):
        _ = FaultProxy(1).port
