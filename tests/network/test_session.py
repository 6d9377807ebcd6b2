"""Sessions over real links on loopback: receive deadlines, the mailbox and the fast path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest
import pytest_asyncio

from network.errors import NetworkError, WireCode
from network.host import PeerHost
from network.link import Session
from tests.network.test_link import start_hosts

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def sessions() -> AsyncIterator[tuple[Session, Session]]:
    """Session 9 on both ends of one link."""
    hosts: list[PeerHost] = await start_hosts(2)
    await hosts[0].connect(hosts[1].node_id, hosts[1].url)
    back = await hosts[1].wait_for_link(hosts[0].node_id, 5)
    there = hosts[0].link(hosts[1].node_id)
    assert there is not None
    yield there.session(9), back.session(9)
    for host in hosts:
        await host.aclose()


def word(value: int) -> tuple[np.ndarray, ...]:
    """A one-word message."""
    return (np.array([value], dtype=np.uint64),)


async def test_receive_times_out_and_the_session_carries_on(
    sessions: tuple[Session, Session],
) -> None:
    """A receive past its timeout fails with SESSION_TIMEOUT; a later message still arrives."""
    a, b = sessions
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(NetworkError) as caught:
        await b.receive("late", 0.05)
    assert caught.value.code is WireCode.SESSION_TIMEOUT
    assert 0.05 <= loop.time() - started < 1.0
    await a.send("late", word(3))
    (got,) = await b.receive("late", 5)
    assert got.tolist() == [3]
    assert b.failure is None


async def test_each_waiter_keeps_its_own_deadline(sessions: tuple[Session, Session]) -> None:
    """Waiters on several labels time out at their own deadlines; one answered in time does
    not fail, and a deadline set after a later one still fires first."""
    a, b = sessions
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def wait(label: str, timeout: float) -> tuple[WireCode | None, float]:
        try:
            (got,) = await b.receive(label, timeout)
        except NetworkError as error:
            return error.code, loop.time() - started
        return None, int(got[0])

    slow = asyncio.create_task(wait("slow", 0.4))
    await asyncio.sleep(0)
    fast = asyncio.create_task(wait("fast", 0.1))
    answered = asyncio.create_task(wait("answered", 0.2))
    await asyncio.sleep(0.02)
    await a.send("answered", word(7))
    (slow_code, slow_at), (fast_code, fast_at), answer = await asyncio.gather(slow, fast, answered)
    assert answer == (None, 7)
    assert slow_code is fast_code is WireCode.SESSION_TIMEOUT
    assert 0.1 <= fast_at < 0.35
    assert 0.4 <= slow_at < 1.0


async def test_cancelled_waiter_leaves_no_deadline_behind(
    sessions: tuple[Session, Session],
) -> None:
    """A waiter cancelled before its deadline does not fail the next waiter on that label."""
    a, b = sessions
    waiter = asyncio.create_task(b.receive("x", 0.05))
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    second = asyncio.create_task(b.receive("x", 5))
    await asyncio.sleep(0.1)  # past the first deadline
    assert not second.done()
    await a.send("x", word(1))
    (got,) = await second
    assert got.tolist() == [1]


async def test_message_that_arrived_in_time_is_delivered_after_its_deadline(
    sessions: tuple[Session, Session],
) -> None:
    """A message delivered before the deadline is returned even if the waiter looks later."""
    a, b = sessions
    await a.send("early", word(5))
    await asyncio.sleep(0.05)
    (got,) = await b.receive("early", 0.01)
    assert got.tolist() == [5]


async def test_many_round_trips_with_timeouts(sessions: tuple[Session, Session]) -> None:
    """A thousand small round trips with a timeout each all arrive, in the fast path's views."""
    a, b = sessions

    async def echo() -> None:
        for index in range(1000):
            arrays = await b.receive(f"p{index}", 5)
            await b.send(f"q{index}", arrays)

    echoer = asyncio.create_task(echo())
    for index in range(1000):
        await a.send(f"p{index}", word(index))
        (got,) = await a.receive(f"q{index}", 5)
        assert got.tolist() == [index]
    await echoer
    assert a.unread == b.unread == 0
