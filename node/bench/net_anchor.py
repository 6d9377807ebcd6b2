"""The anchor of ``confide bench network``: the same operations on a plain aiohttp websocket.

``python -m node.bench.net_anchor server`` listens on a websocket endpoint that echoes small
binary messages and, after a text ``sink N``, swallows N binary messages and answers ``done``;
``python -m node.bench.net_anchor client --row ROW`` measures ``handshake`` (the websocket
upgrade alone), ``rtt`` (an 8-byte echo) or ``throughput`` (1 MiB messages) against it, with no
Noise, no frames, no sessions. Same JSON-lines conversation and report as ``net_party``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from collections.abc import Awaitable

import aiohttp
from aiohttp import web

from node import logging as node_logging
from node.bench.net_party import (
    SMALL,
    Closer,
    Report,
    dials,
    emit,
    payload,
    read_line,
    round_trips,
    timed_burst,
    wait_for_eof,
)

RAW_PATH = "/raw"
RAW_MAX_MESSAGE = 4 << 20
ANCHORED_ROWS = ("handshake", "rtt", "throughput")


async def _raw_socket(request: web.Request) -> web.WebSocketResponse:
    """Echo small binary messages; after a text ``sink N``, swallow N and answer ``done``."""
    socket_ = web.WebSocketResponse(compress=False, max_msg_size=RAW_MAX_MESSAGE)
    await socket_.prepare(request)
    remaining = 0
    async for message in socket_:
        if message.type == aiohttp.WSMsgType.TEXT:
            remaining = int(message.data.split()[1])
        elif remaining:
            remaining -= 1
        else:
            await socket_.send_bytes(message.data)
            continue
        if remaining == 0:
            await socket_.send_str("done")
    return socket_


async def raw_serve() -> None:
    """The anchor's server: one aiohttp websocket endpoint."""
    app = web.Application()
    app.router.add_get(RAW_PATH, _raw_socket)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    emit({"port": getattr(server, "sockets", [])[0].getsockname()[1]})
    await wait_for_eof()
    await runner.cleanup()


async def raw_client(row: str, size: int, warmup: int, seed: str) -> Report:
    """The anchor of ``row``: the same operation on a plain websocket (no Noise, no frames)."""
    port = int(json.loads(await read_line())["port"])
    url = f"ws://127.0.0.1:{port}{RAW_PATH}"
    async with aiohttp.ClientSession() as http:

        async def connect() -> aiohttp.ClientWebSocketResponse:
            return await http.ws_connect(url, compress=0, max_msg_size=RAW_MAX_MESSAGE)

        if row == "handshake":
            return await dials(lambda: _closer(connect()), port, size, warmup)
        ws = await connect()
        if row == "rtt":

            async def exchange() -> bool:
                await ws.send_bytes(SMALL.tobytes())
                return bool((await ws.receive()).data == SMALL.tobytes())

            await round_trips(exchange, warmup)
            return await round_trips(exchange, size)
        data = payload(seed).tobytes()

        async def burst(count: int) -> bool:
            await ws.send_str(f"sink {count}")
            for _ in range(count):
                await ws.send_bytes(data)
            return bool((await ws.receive()).data == "done")

        return await timed_burst(burst, size, warmup)


async def _closer(opening: Awaitable[aiohttp.ClientWebSocketResponse]) -> Closer:
    ws = await opening
    return ws.close


def main(argv: list[str] | None = None) -> int:
    """Entry point of one anchor process."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["server", "client"])
    parser.add_argument("--row", choices=ANCHORED_ROWS, default="rtt")
    parser.add_argument("--size", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--seed", default="bench-network|1")
    args = parser.parse_args(argv)
    node_logging.configure(level=logging.WARNING)  # stdout carries only our JSON lines
    if args.role == "server":
        asyncio.run(raw_serve())
    else:
        emit(asyncio.run(raw_client(args.row, args.size, args.warmup, args.seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
