"""A peer whose event loop stalls (a blocking call in its loop), in a child process.

Required outcome (``network.md``, faults): the host notices the silent peer at its idle limit
(``LINK_TIMEOUT``; the peer's sessions fail ``LINK_LOST``), keeps serving everyone else while it
waits, and takes the peer back when its loop runs again and it dials anew. The child is this
module run with ``-m``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from network import link
from network.channel import allow_nodes
from network.errors import NetworkError, WireCode
from network.evilpeer import Echo, new_party, round_trip
from network.host import PeerHost
from network.link import Session

pytestmark = pytest.mark.asyncio

HOST, BYSTANDER, CHILD = 91, 92, 93
ROOT = Path(__file__).resolve().parents[2]
STALL_SECONDS = 2.5
CHILD_ID = new_party(CHILD).identity.node_id


def admitted() -> list[str]:
    """Every node of this test."""
    return [new_party(seed).identity.node_id for seed in (HOST, BYSTANDER, CHILD)]


async def child_main(url: str, parent: str) -> None:
    """The child: dial ``parent``, echo pings, block its loop on ``stall``, re-dial on loss."""
    link.PING_INTERVAL = 0.25
    link.IDLE_TIMEOUT = 1.0
    echo = Echo()
    stalls: set[asyncio.Task[None]] = set()

    async def stall(session: Session) -> None:
        (milliseconds,) = await session.receive("stall", 5)
        time.sleep(int(milliseconds[0]) / 1000)  # the bug under test: a blocking call in the loop

    def on_session(session: Session) -> None:
        if session.kind == "stall":
            stalls.add(asyncio.get_running_loop().create_task(stall(session)))
        else:
            echo.on_session(session)

    node = PeerHost(new_party(CHILD), allow_nodes(admitted()), on_session=on_session)
    await node.start()
    while True:
        try:
            parent_link = await node.connect(parent, url, deadline=30)
        except (OSError, NetworkError):
            continue
        await asyncio.shield(parent_link.closed)


@contextmanager
def child_peer(url: str, parent: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process running :func:`child_main`; killed afterwards."""
    command = [sys.executable, "-m", "tests.network.test_stall_processes", url, parent]
    with log.open("ab") as stderr:
        child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        yield child
    finally:
        child.kill()
        child.wait(5)


@pytest.mark.processes
@pytest.mark.timeout(60)
async def test_peer_with_a_stalled_event_loop_is_dropped_and_taken_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Child loop blocked 2.5 s: LINK_TIMEOUT at ~1 s, bystander served meanwhile, then relinked."""
    monkeypatch.setattr(link, "PING_INTERVAL", 0.25)
    monkeypatch.setattr(link, "IDLE_TIMEOUT", 1.0)
    allowed = allow_nodes(admitted())
    echo = Echo()
    host = PeerHost(new_party(HOST), allowed, on_session=echo.on_session)
    bystander = PeerHost(new_party(BYSTANDER), allowed)
    await host.start()
    await bystander.start()
    try:
        with child_peer(host.url, host.node_id, tmp_path / "child.log"):
            child_link = await host.wait_for_link(CHILD_ID, 20)
            await round_trip(child_link, 1)
            waiting = child_link.session(2)
            receive = asyncio.create_task(waiting.receive("never", 10))
            stall = child_link.session(3, "stall")
            await stall.send("stall", (np.array([STALL_SECONDS * 1000], dtype=np.uint64),))
            started = time.monotonic()
            to_host = await bystander.connect(host.node_id, host.url, deadline=5)
            for session_id in range(10, 20):  # the host serves others while the child is mute
                await round_trip(to_host, session_id)
                await asyncio.sleep(0.05)
            ended = await asyncio.wait_for(asyncio.shield(child_link.closed), 5)
            assert ended.code == WireCode.LINK_TIMEOUT
            assert time.monotonic() - started < STALL_SECONDS
            with pytest.raises(NetworkError) as caught:
                await receive
            assert caught.value.code == WireCode.LINK_LOST
            await round_trip(to_host, 20)
            relinked = await host.wait_for_link(CHILD_ID, 15)
            assert relinked is not child_link
            await round_trip(relinked, 4)
    finally:
        await bystander.aclose()
        await host.aclose()
        await echo.aclose()


if __name__ == "__main__":
    asyncio.run(child_main(sys.argv[1], sys.argv[2]))
