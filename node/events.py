"""The node's in-process event bus: state changes fanned out to the admin API's event streams.

Parts of the node that change state a user is waiting on (a dataset imported, a request queued
for approval, an agreement finalised…) are given ``EventBus.publish`` and call it after their
transaction commits. The admin API's ``GET /api/v1/events`` subscribes and writes each event as
a server-sent event.

Three rules keep the bus from ever slowing the node down:

- ``publish`` never blocks and never raises for a subscriber's sake: each subscriber has a
  bounded queue, and a subscriber whose queue is full is **dropped** (its stream ends; the client
  reconnects with ``Last-Event-ID`` and is replayed what it missed).
- A bounded ring buffer keeps the most recent events for that replay. A client that asks for an
  event older than the buffer, or from an earlier run of the node, is told so with one
  ``events.lost`` event and must re-read the state it cares about.
- ``publish`` may be called from any thread (a CSV import runs in a worker thread); events are
  handed to the subscribers on the event loop they subscribed from.

Event ids are ``"<stream>.<seq>"``: ``stream`` is random per bus (so per run of the node) and
``seq`` counts from 1. Event data carries ids, counts and states — never an identifier value, a
share, a key or a token (the publishers' contract; the bus does not look inside).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LOST = "events.lost"
"""Kind of the event a replay starts with when events the client asked for are gone."""


@dataclass(frozen=True)
class Event:
    """One published event: ``id`` (``"<stream>.<seq>"``), ``kind`` (``noun.past_tense_verb``)."""

    id: str
    kind: str
    data: Mapping[str, Any]


@dataclass(eq=False)  # compared and hashed by identity: subscriptions live in a set
class Subscription:
    """One subscriber's bounded queue; ``dropped`` if it fell behind, ``closed`` if ended."""

    _queue: asyncio.Queue[Event | None]
    _loop: asyncio.AbstractEventLoop
    dropped: bool = False
    closed: bool = False
    _bus: EventBus | None = field(default=None, repr=False)

    async def next(self, timeout: float | None = None) -> Event | None:
        """The next event; ``None`` when the subscription ended (dropped or closed).

        Raises ``TimeoutError`` if nothing arrived within ``timeout`` seconds.
        """
        if self.dropped or self.closed:
            return None
        async with asyncio.timeout(timeout):
            event = await self._queue.get()
        if event is None:
            return None
        return event

    def close(self) -> None:
        """Stop receiving; a pending ``next`` returns ``None``. Idempotent."""
        if self._bus is not None:
            self._bus._forget(self)
        self._end(dropped=False)

    def _offer(self, event: Event) -> bool:
        """Queue ``event`` on the loop's thread; False (and dropped) if the queue is full."""
        if self.dropped or self.closed:
            return False
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self._end(dropped=True)
            return False
        return True

    def _end(self, *, dropped: bool) -> None:
        if self.dropped or self.closed:
            return
        self.dropped, self.closed = dropped, not dropped
        # Wake a pending ``next``: drain one slot if needed so the sentinel always fits.
        while True:
            try:
                self._queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()


class EventBus:
    """Fan-out of published events to subscribers, with a replay buffer.

    ``history`` is how many recent events are kept for ``Last-Event-ID`` replay; ``queue_size``
    is how many undelivered events a subscriber may have before it is dropped.
    """

    def __init__(self, *, history: int = 1024, queue_size: int = 256) -> None:
        if history < 1 or queue_size < 1:
            raise ValueError("history and queue_size must be at least 1")
        self.stream = secrets.token_hex(4)
        self.queue_size = queue_size
        self._history: deque[Event] = deque(maxlen=history)
        self._subscribers: set[Subscription] = set()
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()
        self._dropped_total = 0

    def publish(self, kind: str, data: Mapping[str, Any]) -> None:
        """Record and fan out one event. Never blocks; callable from any thread."""
        with self._lock:
            event = Event(f"{self.stream}.{next(self._sequence)}", kind, dict(data))
            self._history.append(event)
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            if _on_loop_thread(subscriber._loop):
                self._deliver(subscriber, event)
            elif not subscriber._loop.is_closed():
                subscriber._loop.call_soon_threadsafe(self._deliver, subscriber, event)

    def subscribe(self, last_event_id: str | None = None) -> Subscription:
        """A new subscription from the running event loop, replaying events after ``last_event_id``.

        With no ``last_event_id`` only new events arrive. If some events after it are no longer
        in the buffer (or it is from another run), the replay starts with one ``events.lost``.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            backlog = self._replay(last_event_id) if last_event_id is not None else []
            # Room for the whole replay on top of the live allowance: a replay never drops.
            queue: asyncio.Queue[Event | None] = asyncio.Queue(self.queue_size + len(backlog))
            subscription = Subscription(queue, loop, _bus=self)
            self._subscribers.add(subscription)
        for event in backlog:
            self._deliver(subscription, event)
        return subscription

    def close_subscriptions(self) -> None:
        """End every subscription (at shutdown): their streams finish cleanly."""
        with self._lock:
            subscribers = list(self._subscribers)
            self._subscribers.clear()
        for subscriber in subscribers:
            subscriber._end(dropped=False)

    def statistics(self) -> dict[str, int]:
        """Counts for the status page: subscribers, buffered events, subscribers dropped so far."""
        with self._lock:
            return {
                "subscribers": len(self._subscribers),
                "buffered": len(self._history),
                "dropped": self._dropped_total,
            }

    def _replay(self, last_event_id: str) -> list[Event]:
        """Events after ``last_event_id`` (lock held), led by ``events.lost`` if some are gone."""
        stream, _, seq_text = last_event_id.partition(".")
        history = list(self._history)
        if stream == self.stream and seq_text.isdigit():
            seq = int(seq_text)
            oldest = _seq(history[0]) if history else 1
            newer = [event for event in history if _seq(event) > seq]
            if seq + 1 >= oldest:
                return newer
            return [self._lost_marker(history), *newer]
        return [self._lost_marker(history), *history]

    def _lost_marker(self, history: list[Event]) -> Event:
        """The ``events.lost`` notice, with the id just before the first event replayed.

        A client that resumes from this id is replayed the same events, without a second notice.
        """
        before = _seq(history[0]) - 1 if history else 0
        return Event(f"{self.stream}.{before}", LOST, {"reason": "not_in_buffer"})

    def _deliver(self, subscriber: Subscription, event: Event) -> None:
        if not subscriber._offer(event) and subscriber.dropped:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.discard(subscriber)
                    self._dropped_total += 1

    def _forget(self, subscriber: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(subscriber)


def _seq(event: Event) -> int:
    return int(event.id.rpartition(".")[2])


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
