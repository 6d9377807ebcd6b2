"""Interim transport: plain TCP between the parties of one session, for benchmarks.

This stands in for the authenticated, encrypted link layer until that lands, and will be
replaced by it (not kept beside it). Frame: ``u32 length | u16 label length | label |
u16 array count | u64 element count per array | raw little-endian uint64 data``.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Mapping

import numpy as np

from protocols.errors import AbortCode, ProtocolAbortedError
from protocols.field import Array

_HEADER = struct.Struct("<IH")
_MAX_FRAME = 1 << 31
_MAX_BUFFERED = 64


class LoopbackTransport:
    """Full mesh of TCP connections among ``n`` parties on 127.0.0.1."""

    def __init__(self, me: int, ports: Mapping[int, int], timeout: float = 60.0) -> None:
        self.me = me
        self.ports = dict(ports)
        self.timeout = timeout
        self.bytes_sent = 0
        self._writers: dict[int, asyncio.StreamWriter] = {}
        self._mail: dict[tuple[int, str], asyncio.Future[tuple[Array, ...]]] = {}
        self._readers: list[asyncio.Task[None]] = []
        self._server: asyncio.Server | None = None
        self._connected = asyncio.Event()
        self._lost: dict[int, ProtocolAbortedError] = {}

    async def start(self) -> None:
        """Listen, dial the lower-numbered parties, and wait until every link is up."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.ports[self.me])
        for peer in sorted(self.ports):
            if peer < self.me:
                await self._dial(peer)
        self._check_connected()
        await asyncio.wait_for(self._connected.wait(), self.timeout)

    async def _dial(self, peer: int) -> None:
        for _ in range(200):
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.ports[peer])
                break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            raise ProtocolAbortedError(AbortCode.PEER_LOST, "could not connect", peer)
        writer.write(struct.pack("<I", self.me))
        await writer.drain()
        self._attach(peer, reader, writer)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        (peer,) = struct.unpack("<I", await reader.readexactly(4))
        self._attach(peer, reader, writer)
        self._check_connected()

    def _attach(
        self, peer: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._writers[peer] = writer
        self._readers.append(asyncio.create_task(self._read_loop(peer, reader)))

    def _check_connected(self) -> None:
        if len(self._writers) == len(self.ports) - 1:
            self._connected.set()

    def _slot(self, peer: int, label: str) -> asyncio.Future[tuple[Array, ...]]:
        key = (peer, label)
        if key not in self._mail:
            if len(self._mail) > _MAX_BUFFERED * len(self.ports):
                raise ProtocolAbortedError(
                    AbortCode.MALFORMED_MESSAGE, "too many early messages", peer
                )
            self._mail[key] = asyncio.get_running_loop().create_future()
        return self._mail[key]

    async def _read_loop(self, peer: int, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                length, label_length = _HEADER.unpack(await reader.readexactly(_HEADER.size))
                if length > _MAX_FRAME:
                    raise ProtocolAbortedError(AbortCode.MALFORMED_MESSAGE, "frame too large", peer)
                body = await reader.readexactly(length - 2)
                label = body[:label_length].decode()
                (count,) = struct.unpack_from("<H", body, label_length)
                sizes = struct.unpack_from(f"<{count}Q", body, label_length + 2)
                offset = label_length + 2 + 8 * count
                arrays = []
                for size in sizes:
                    data = np.frombuffer(body, dtype="<u8", count=size, offset=offset)
                    arrays.append(data.astype(np.uint64, copy=False))
                    offset += 8 * size
                slot = self._slot(peer, label)
                if slot.done():
                    raise ProtocolAbortedError(
                        AbortCode.MALFORMED_MESSAGE, "second message under one label", peer
                    )
                slot.set_result(tuple(arrays))
        except (asyncio.IncompleteReadError, ConnectionError):
            self._fail_all(peer, ProtocolAbortedError(AbortCode.PEER_LOST, party=peer))
        except (
            ProtocolAbortedError,
            UnicodeDecodeError,
            struct.error,
            ValueError,
            OverflowError,
        ) as error:
            reason = (
                error
                if isinstance(error, ProtocolAbortedError)
                else ProtocolAbortedError(AbortCode.MALFORMED_MESSAGE, "bad frame", peer)
            )
            self._fail_all(peer, reason)

    def _fail_all(self, peer: int, reason: ProtocolAbortedError) -> None:
        """Stop reading from ``peer``: every waiting and future receive fails with ``reason``."""
        self._lost[peer] = reason
        for (sender, _), slot in self._mail.items():
            if sender == peer and not slot.done():
                slot.set_exception(reason)

    async def send(self, peer: int, label: str, arrays: tuple[Array, ...]) -> None:
        """Write one frame to ``peer``."""
        encoded = label.encode()
        sizes = [a.size for a in arrays]
        head = struct.pack(f"<H{len(sizes)}Q", len(sizes), *sizes)
        length = 2 + len(encoded) + len(head) + 8 * sum(sizes)
        writer = self._writers[peer]
        writer.write(_HEADER.pack(length, len(encoded)) + encoded + head)
        for array in arrays:
            writer.write(np.ascontiguousarray(array, dtype="<u8").data.cast("B"))
        self.bytes_sent += 4 + length
        await writer.drain()

    async def receive(self, peer: int, label: str) -> tuple[Array, ...]:
        """Wait for ``peer``'s arrays under ``label``."""
        slot = self._slot(peer, label)
        if peer in self._lost and not slot.done():
            self._mail.pop((peer, label), None)
            raise self._lost[peer]
        try:
            return await asyncio.wait_for(slot, self.timeout)
        except TimeoutError:
            raise ProtocolAbortedError(AbortCode.TIMEOUT, party=peer) from None
        finally:
            self._mail.pop((peer, label), None)

    async def aclose(self) -> None:
        """Close every connection and the listener."""
        for task in self._readers:
            task.cancel()
        for writer in self._writers.values():
            writer.close()
        if self._server is not None:
            self._server.close()
