"""``GET /api/v1/events``: the node's state changes as server-sent events.

Each event is written as ``id: <stream>.<seq>``, ``event: <kind>``, ``data: <one JSON line>``.
A comment line (``: keep-alive``) goes out after ``KEEPALIVE_SECONDS`` of silence so proxies and
clients see the stream is alive. A client that reconnects with ``Last-Event-ID`` is first replayed
the events it missed (led by ``events.lost`` if some are no longer buffered). A client that reads
too slowly is dropped by the bus; its stream ends after an ``events.dropped`` event, and it
reconnects with ``Last-Event-ID`` like any other.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from node.api.routes import Call, Route
from node.events import Event, EventBus

KEEPALIVE_SECONDS = 15.0
DROPPED = "events.dropped"

_LAST_EVENT_ID = {"type": "string", "maxLength": 64, "pattern": r"^[0-9a-f]{1,16}\.[0-9]{1,19}$"}


def format_event(event: Event) -> bytes:
    """One event in the text/event-stream format (data is one JSON line)."""
    data = json.dumps(dict(event.data), separators=(",", ":"), ensure_ascii=False)
    return f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n".encode()


def routes(service: Any) -> list[Route]:
    """The event stream route, if the service has an event bus."""
    if getattr(service, "events", None) is None:
        return []
    return [
        Route(
            "GET",
            "/events",
            "events.stream",
            _stream,
            "Stream the node's state changes as server-sent events",
            response=None,
            media="text/event-stream",
            description=(
                "Send `Last-Event-ID` (or the `last_event_id` query parameter) to be replayed "
                "the events after that id. Event kinds are listed in docs/reference/api.md."
            ),
            query={
                "last_event_id": _LAST_EVENT_ID,
                "keepalive": {"type": "number", "minimum": 0.05, "maximum": 300},
            },
        )
    ]


async def _stream(call: Call) -> web.StreamResponse:
    bus: EventBus = call.service.events
    request = call.request
    last = request.headers.get("Last-Event-ID") or call.query.get("last_event_id")
    if last is not None and not _valid_id(last):
        last = "-"  # an id this bus never issued: replay what it has, led by events.lost
    keepalive = float(call.query.get("keepalive", KEEPALIVE_SECONDS))
    subscription = bus.subscribe(last)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    try:
        await response.prepare(request)
        await response.write(b": stream opened\n\n")
        while True:
            try:
                event = await subscription.next(timeout=keepalive)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if event is None:
                if subscription.dropped:
                    await response.write(
                        f'event: {DROPPED}\ndata: {{"reason":"too_slow"}}\n\n'.encode()
                    )
                break
            await response.write(format_event(event))
    except (ConnectionResetError, ConnectionError):
        pass  # the client went away
    finally:
        subscription.close()
    return response


def _valid_id(value: str) -> bool:
    stream, dot, seq = value.partition(".")
    return bool(dot) and 0 < len(stream) <= 16 and seq.isdigit() and len(value) <= 64
