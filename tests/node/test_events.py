"""The event bus: fan-out, replay from the ring buffer, slow subscribers dropped, any thread."""

from __future__ import annotations

import asyncio
import threading

import pytest

from node.events import LOST, EventBus


@pytest.mark.asyncio
async def test_subscriber_receives_published_events() -> None:
    """Events published after subscribing arrive in order with increasing ids."""
    bus = EventBus()
    subscription = bus.subscribe()
    bus.publish("dataset.imported", {"dataset": "clients"})
    bus.publish("dataset.deleted", {"dataset": "clients"})
    first = await subscription.next(timeout=1)
    second = await subscription.next(timeout=1)
    assert first is not None
    assert second is not None
    assert (first.kind, dict(first.data)) == ("dataset.imported", {"dataset": "clients"})
    assert second.kind == "dataset.deleted"
    assert first.id == f"{bus.stream}.1"
    assert second.id == f"{bus.stream}.2"


@pytest.mark.asyncio
async def test_no_event_means_timeout() -> None:
    """With nothing published, next() times out instead of returning something."""
    subscription = EventBus().subscribe()
    with pytest.raises(TimeoutError):
        await subscription.next(timeout=0.01)


@pytest.mark.asyncio
async def test_replay_after_last_event_id() -> None:
    """A subscriber resuming from an id gets exactly the events after it."""
    bus = EventBus(history=8)
    for number in range(5):
        bus.publish("tick", {"n": number})
    subscription = bus.subscribe(f"{bus.stream}.3")
    replayed = [await subscription.next(timeout=1) for _ in range(2)]
    assert [event.data["n"] for event in replayed if event] == [3, 4]
    with pytest.raises(TimeoutError):
        await subscription.next(timeout=0.01)


@pytest.mark.asyncio
async def test_replay_beyond_the_buffer_says_events_were_lost() -> None:
    """An id older than the ring buffer yields events.lost, then what is still buffered."""
    bus = EventBus(history=3)
    for number in range(6):
        bus.publish("tick", {"n": number})
    subscription = bus.subscribe(f"{bus.stream}.1")
    lost = await subscription.next(timeout=1)
    assert lost is not None
    assert lost.kind == LOST
    assert lost.id == f"{bus.stream}.3"
    rest = [await subscription.next(timeout=1) for _ in range(3)]
    assert [event.data["n"] for event in rest if event] == [3, 4, 5]
    # Resuming from the notice's id replays the same events without a second notice.
    again = bus.subscribe(lost.id)
    first = await again.next(timeout=1)
    assert first is not None
    assert first.kind == "tick"
    assert first.data["n"] == 3


@pytest.mark.asyncio
async def test_replay_from_another_run() -> None:
    """An id from an earlier run of the node (another stream) yields events.lost first."""
    bus = EventBus()
    bus.publish("tick", {"n": 0})
    subscription = bus.subscribe("00000000.7")
    lost = await subscription.next(timeout=1)
    tick = await subscription.next(timeout=1)
    assert lost is not None
    assert lost.kind == LOST
    assert tick is not None
    assert tick.kind == "tick"


@pytest.mark.asyncio
async def test_slow_subscriber_dropped_without_blocking() -> None:
    """A subscriber that does not read is dropped; publishers and other subscribers go on."""
    bus = EventBus(queue_size=4)
    slow = bus.subscribe()
    fast = bus.subscribe()
    received = []
    for number in range(10):
        bus.publish("tick", {"n": number})  # never awaits, never blocks
        event = await fast.next(timeout=1)
        received.append(event.data["n"] if event else None)
    assert received == list(range(10))
    assert slow.dropped
    assert await slow.next(timeout=1) is None
    assert bus.statistics() == {"subscribers": 1, "buffered": 10, "dropped": 1}


@pytest.mark.asyncio
async def test_publish_from_another_thread() -> None:
    """An event published from a worker thread reaches a subscriber on the loop."""
    bus = EventBus()
    subscription = bus.subscribe()
    worker = threading.Thread(target=bus.publish, args=("dataset.imported", {"rows": 3}))
    worker.start()
    event = await subscription.next(timeout=2)
    worker.join()
    assert event is not None
    assert event.data == {"rows": 3}


@pytest.mark.asyncio
async def test_close_subscriptions_ends_waiting_readers() -> None:
    """At shutdown, a reader waiting for the next event gets None at once."""
    bus = EventBus()
    subscription = bus.subscribe()
    waiting = asyncio.ensure_future(subscription.next(timeout=5))
    await asyncio.sleep(0)
    bus.close_subscriptions()
    assert await waiting is None
    assert subscription.closed
    assert not subscription.dropped
    assert bus.statistics()["subscribers"] == 0


def test_bounds_must_be_positive() -> None:
    """A bus without room for history or a queue is refused."""
    with pytest.raises(ValueError, match="at least 1"):
        EventBus(history=0)
    with pytest.raises(ValueError, match="at least 1"):
        EventBus(queue_size=0)
