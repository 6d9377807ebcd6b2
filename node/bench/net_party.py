"""One Confide endpoint of a network benchmark row, run as its own OS process.

``python -m node.bench.net_party ROLE [options]``, where ROLE is ``server`` (a PeerHost that
echoes and sinks sessions), ``client`` (dials it and measures one row) or ``mesh`` (some nodes
of the gossip mesh); ``node.bench.net_anchor`` is the same for the plain-websocket anchor. The
coordinator (``node.bench.network``) talks to each process with JSON lines: a server prints
``{"port": p}`` once listening and stops at EOF on stdin; a client reads that line from stdin,
measures and prints its report; a mesh process prints ``{"ports": [...]}``, reads the bootstrap
node's port, joins it and gossips, prints ``{"done": t, ...}`` once each of its nodes holds every
record, reads one more line, prints ``{"known": n}`` and stops at EOF. Bytes are TCP payload
bytes read from the kernel (``TCP_INFO``), so they include HTTP, websocket framing, Noise tags
and frame headers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import socket
import struct
import sys
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import psutil
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from network.admission import data_space_authorizer
from network.channel import PATH, Authorizer, LocalParty, allow_nodes
from network.dataspace import Admission, Charter, MembershipCredential
from network.discovery import Discovery
from network.errors import NetworkError
from network.host import PeerHost
from network.link import INITIAL_WINDOW, Session
from network.membership import Membership
from node import logging as node_logging
from node.mesh import identity_for

SERVER, CLIENT = 0, 1
ECHO_KIND, SINK_KIND = "bench.echo", "bench.sink"
MESSAGE_BYTES = 1 << 20
SMALL = np.array([0x0123456789ABCDEF], dtype=np.uint64)
"""The 8-byte array of the round-trip rows."""
LOAD_WARMUP_MESSAGES = (INITIAL_WINDOW >> 20) + 32
"""Bulk messages sent before the pings of ``rtt_under_load`` start."""
_TCP_INFO_LENGTH = 256
_BYTES_ACKED, _BYTES_RECEIVED, _BYTES_SENT, _BYTES_RETRANS = 120, 128, 200, 208
"""Offsets of u64 counters in Linux ``struct tcp_info``. Sent = ``tcpi_bytes_sent`` minus
``tcpi_bytes_retrans`` (Linux ≥ 4.19); on older kernels ``tcpi_bytes_acked``, which also
counts a client's SYN as one byte."""

Report = dict[str, Any]


def emit(document: dict[str, Any]) -> None:
    """Write one JSON line for the coordinator."""
    sys.stdout.write(json.dumps(document) + "\n")
    sys.stdout.flush()


async def read_line() -> str:
    """The coordinator's next line on stdin ('' at EOF), without blocking the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def wait_for_eof() -> None:
    """Return when the coordinator closes our stdin."""
    while await read_line():
        pass


def tcp_bytes(remote_ports: Collection[int] | None = None) -> tuple[int, int]:
    """(sent, received) payload bytes over this process's established TCP sockets, or only
    those whose remote port is in ``remote_ports``, as the kernel counted them."""
    sent = received = 0
    for conn in psutil.Process().net_connections(kind="tcp"):
        if conn.status != psutil.CONN_ESTABLISHED or conn.fd < 0 or not conn.raddr:
            continue
        if remote_ports is not None and conn.raddr.port not in remote_ports:
            continue
        with socket.socket(fileno=os.dup(conn.fd)) as sock:
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LENGTH)
        if len(info) >= _BYTES_RETRANS + 8:
            sent += struct.unpack_from("<Q", info, _BYTES_SENT)[0]
            sent -= struct.unpack_from("<Q", info, _BYTES_RETRANS)[0]
        else:
            sent += struct.unpack_from("<Q", info, _BYTES_ACKED)[0]
        received += struct.unpack_from("<Q", info, _BYTES_RECEIVED)[0]
    return sent, received


def local_party(seed: str, index: int) -> LocalParty:
    """Node ``index`` of the benchmark's identities, with a fresh Noise static key."""
    return LocalParty(identity_for(seed, index), X25519PrivateKey.generate(), ("bench",))


def admit(seed: str, count: int) -> Authorizer:
    """Admit exactly the first ``count`` benchmark identities."""
    return allow_nodes([identity_for(seed, i).node_id for i in range(count)])


def payload(seed: str) -> npt.NDArray[np.uint64]:
    """One 1 MiB message of random words."""
    rng = np.random.default_rng(list(seed.encode()))
    return rng.integers(0, 2**63, size=MESSAGE_BYTES // 8, dtype=np.uint64)


# --- Confide: the server and the measured rows -------------------------------------------------


async def _echo(session: Session) -> None:
    with contextlib.suppress(NetworkError):
        while True:
            arrays = await session.receive("ping")
            await session.send("pong", arrays)


async def _sink(session: Session) -> None:
    """Receive ``count`` then that many messages ``b0``, ``b1``…, answer ``done``; repeat.
    A count of 0 means: until the session ends."""
    with contextlib.suppress(NetworkError):
        while True:
            (count,) = await session.receive("count")
            index = 0
            while int(count[0]) == 0 or index < int(count[0]):
                await session.receive(f"b{index}")
                index += 1
            await session.send("done", (np.array([index], dtype=np.uint64),))


async def serve(seed: str) -> None:
    """The responder: echo sessions answer pings, sink sessions swallow bulk messages."""
    tasks: set[asyncio.Task[None]] = set()

    def on_session(session: Session) -> None:
        task = asyncio.create_task(_echo(session) if session.kind == ECHO_KIND else _sink(session))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    host = PeerHost(local_party(seed, SERVER), admit(seed, 2), on_session=on_session)
    await host.start()
    emit({"port": host.port})
    await wait_for_eof()
    await host.aclose()


@dataclass
class Dial:
    """What a client row needs: its host, the server and the row's sizes."""

    host: PeerHost
    server_id: str
    url: str
    port: int
    size: int
    warmup: int
    seed: str


def counted(before: tuple[int, int], operations: int = 1) -> Report:
    """The bytes sent and received since ``tcp_bytes()`` returned ``before``."""
    after = tcp_bytes()
    return {
        "sent": after[0] - before[0],
        "received": after[1] - before[1],
        "operations": operations,
    }


Closer = Callable[[], Awaitable[Any]]


async def dials(
    open_: Callable[[], Awaitable[Closer]], port: int, size: int, warmup: int
) -> Report:
    """Time ``open_`` ``warmup + size`` times (the first ``warmup`` untimed); each connection's
    bytes are read while it is up and it is closed outside the clock."""
    samples: list[float] = []
    sent = received = 0
    for index in range(warmup + size):
        start = time.perf_counter()
        close = await open_()
        elapsed = time.perf_counter() - start
        if index >= warmup:
            samples.append(elapsed)
            out, back = tcp_bytes({port})
            sent, received = sent + out, received + back
        await close()
    report = {"sent": sent, "received": received, "operations": size, "correct": True}
    return {"samples": samples, **report}


async def round_trips(exchange: Callable[[], Awaitable[bool]], count: int) -> Report:
    """Time ``count`` calls of ``exchange`` (one round trip each, True if the echo matched)."""
    before = tcp_bytes()
    samples, correct = [], True
    for _ in range(count):
        start = time.perf_counter()
        matched = await exchange()
        samples.append(time.perf_counter() - start)
        correct = correct and matched
    return {"samples": samples, "correct": correct, **counted(before, count)}


def _echoer(session: Session) -> Callable[[], Awaitable[bool]]:
    async def exchange() -> bool:
        await session.send("ping", (SMALL,))
        (back,) = await session.receive("pong", 10.0)
        return bool(np.array_equal(back, SMALL))

    return exchange


async def handshake(dial: Dial) -> Report:
    """Time ``connect`` (TCP, upgrade, hello, Noise XX, payloads, verdict); close untimed."""

    async def open_() -> Closer:
        link = await dial.host.connect(dial.server_id, dial.url, 10.0)
        return lambda: link.aclose(flush=0)

    return await dials(open_, dial.port, dial.size, dial.warmup)


async def rtt(dial: Dial) -> Report:
    """Echo the 8-byte array on one session, one round trip at a time."""
    link = await dial.host.connect(dial.server_id, dial.url, 10.0)
    exchange = _echoer(link.session(1, ECHO_KIND))
    await round_trips(exchange, dial.warmup)
    return await round_trips(exchange, dial.size)


async def _burst(session: Session, message: npt.NDArray[np.uint64], count: int) -> bool:
    await session.send("count", (np.array([count], dtype=np.uint64),))
    for index in range(count):
        await session.send(f"b{index}", (message,))
    (done,) = await session.receive("done", 120.0)
    return int(done[0]) == count


async def timed_burst(burst: Callable[[int], Awaitable[bool]], size: int, warmup: int) -> Report:
    """An untimed burst of ``warmup`` messages, then a timed one of ``size``."""
    await burst(warmup)
    before, start = tcp_bytes(), time.perf_counter()
    correct = await burst(size)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "correct": correct, **counted(before)}


async def throughput(dial: Dial) -> Report:
    """Send ``size`` 1 MiB messages on one session; the clock stops at the server's ``done``."""
    link = await dial.host.connect(dial.server_id, dial.url, 10.0)
    session, message = link.session(2, SINK_KIND), payload(dial.seed)
    return await timed_burst(lambda n: _burst(session, message, n), dial.size, dial.warmup)


async def rtt_under_load(dial: Dial) -> Report:
    """Ping on one session while another session streams 1 MiB messages the same way."""
    link = await dial.host.connect(dial.server_id, dial.url, 10.0)
    bulk, exchange = link.session(3, SINK_KIND), _echoer(link.session(4, ECHO_KIND))
    message = payload(dial.seed)
    await bulk.send("count", (np.zeros(1, dtype=np.uint64),))
    sent = [0]

    async def load() -> None:
        while True:
            await bulk.send(f"b{sent[0]}", (message,))
            sent[0] += 1

    loader = asyncio.create_task(load())
    while sent[0] < LOAD_WARMUP_MESSAGES:  # past the first window: credit now paces the sender
        await asyncio.sleep(0.01)
    await round_trips(exchange, dial.warmup)
    start = time.perf_counter()
    report = await round_trips(exchange, dial.size)
    seconds = time.perf_counter() - start
    loader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await loader
    await link.aclose(flush=0)
    return {"load_bytes_per_s": report["sent"] / seconds, **report}


CLIENT_ROWS: dict[str, Callable[[Dial], Awaitable[Report]]] = {
    "handshake": handshake,
    "rtt": rtt,
    "throughput": throughput,
    "rtt_under_load": rtt_under_load,
}


async def client(row: str, size: int, warmup: int, seed: str) -> Report:
    """Dial the server whose port arrives on stdin and measure one row."""
    port = int(json.loads(await read_line())["port"])
    host = PeerHost(local_party(seed, CLIENT), admit(seed, 2))
    await host.start()
    server_id = identity_for(seed, SERVER).node_id
    dial = Dial(host, server_id, f"ws://127.0.0.1:{port}{PATH}", port, size, warmup, seed)
    try:
        return await CLIENT_ROWS[row](dial)
    finally:
        await host.aclose()


# --- The mesh: gossip discovery from one bootstrap address ---------------------------------------

MESH_SPACE = "bench"
MESH_EPOCH = 1_700_000_000
"""Issue time of the benchmark charter and credentials (they stay valid for a year from now)."""


def mesh_charter(seed: str) -> Charter:
    """The benchmark data space: one governance key (derived from ``seed``) admits members."""
    governance = identity_for(f"{seed}|governance", 0)
    charter = Charter(
        data_space=MESH_SPACE,
        version=1,
        issued_at=MESH_EPOCH,
        governance=frozenset({governance.node_id}),
        governance_threshold=1,
        admission=Admission("governance", 1),
        roles=frozenset({"compute"}),
        purposes=frozenset({"benchmark"}),
    )
    return charter.sign(governance)


def mesh_credential(seed: str, index: int, now: int) -> MembershipCredential:
    """Node ``index``'s membership credential, signed by the benchmark governance key."""
    credential = MembershipCredential(
        data_space=MESH_SPACE,
        member=identity_for(seed, index).node_id,
        roles=frozenset({"compute"}),
        issued_at=MESH_EPOCH,
        valid_until=now + 365 * 86_400,
        serial=index.to_bytes(16, "big"),
    )
    return credential.sign(identity_for(f"{seed}|governance", 0))


@dataclass
class MeshNode:
    """One node of the mesh: its host and its discovery."""

    host: PeerHost
    discovery: Discovery


async def mesh_node(seed: str, index: int) -> MeshNode:
    """Node ``index``: a host admitting members by credential, with discovery attached."""
    now = int(time.time())
    credential = mesh_credential(seed, index, now)
    membership = Membership([mesh_charter(seed)])
    local = LocalParty(
        identity_for(seed, index),
        X25519PrivateKey.generate(),
        (MESH_SPACE,),
        (credential.encode(),),
    )
    authorize = data_space_authorizer(membership, (MESH_SPACE,), list, lambda: int(time.time()))
    hooks: list[Callable[[Session], None]] = []

    def on_session(session: Session) -> None:
        hooks[0](session)  # discovery needs the host's URL, so it comes after the host

    host = PeerHost(local, authorize, on_session=on_session)
    await host.start()
    discovery = Discovery(
        identity_for(seed, index),
        (host.url,),
        {MESH_SPACE: frozenset({"compute"})},
        (credential,),
        membership,
        lambda: int(time.time()),
    )
    discovery.attach(host)
    hooks.append(discovery.on_session)
    return MeshNode(host, discovery)


async def mesh(first: int, count: int, nodes: int, seed: str) -> None:
    """Run nodes ``first`` … ``first + count - 1``; each but node 0 joins node 0 only, then
    every node gossips until it holds the records of all ``nodes``."""
    group = [await mesh_node(seed, i) for i in range(first, first + count)]
    emit({"ports": [node.host.port for node in group]})
    bootstrap_port = int(json.loads(await read_line())["bootstrap"])
    bootstrap = identity_for(seed, 0).node_id
    url = f"ws://127.0.0.1:{bootstrap_port}{PATH}"
    for node in group:
        node.discovery.start()
    await asyncio.gather(
        *(n.discovery.join(bootstrap, url, 60.0) for n in group if n.host.node_id != bootstrap)
    )
    while not all(len(node.discovery.known()) == nodes for node in group):
        await asyncio.sleep(0.002)
    done = time.monotonic()
    sent, received = tcp_bytes()
    emit({"done": done, "sent": sent, "received": received})
    await read_line()
    emit({"known": sum(len(node.discovery.known()) for node in group)})
    await wait_for_eof()
    for node in group:
        await node.discovery.aclose()
        await node.host.aclose()


def main(argv: list[str] | None = None) -> int:
    """Entry point of one benchmark process."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["server", "client", "mesh"])
    parser.add_argument("--row", choices=sorted(CLIENT_ROWS), default="rtt")
    parser.add_argument("--size", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--seed", default="bench-network|1")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--nodes", type=int, default=1)
    args = parser.parse_args(argv)
    node_logging.configure(level=logging.WARNING)  # stdout carries only our JSON lines
    if args.role == "server":
        asyncio.run(serve(args.seed))
    elif args.role == "mesh":
        asyncio.run(mesh(args.first, args.count, args.nodes, args.seed))
    else:
        emit(asyncio.run(client(args.row, args.size, args.warmup, args.seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
