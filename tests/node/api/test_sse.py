"""``GET /api/v1/events`` over a real socket: events, replay, keep-alive, slow readers dropped."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import ClientResponse

from tests.node.api.helpers import MiniService, auth, serve


async def _read_block(response: ClientResponse) -> list[str]:
    """The lines of the next block of the stream (up to a blank line)."""
    lines: list[str] = []
    while True:
        raw = await asyncio.wait_for(response.content.readline(), timeout=5)
        if not raw:
            return lines
        line = raw.decode().rstrip("\n")
        if line == "" and lines:
            return lines
        if line:
            lines.append(line)


async def _next_event(response: ClientResponse) -> dict[str, Any]:
    """The next event of the stream (comments skipped) as id, event and parsed data."""
    while True:
        lines = await _read_block(response)
        if not lines:
            return {}
        fields = dict(line.split(": ", 1) for line in lines if not line.startswith(":"))
        if fields:
            return {
                "id": fields.get("id"),
                "event": fields["event"],
                "data": json.loads(fields["data"]),
            }


@pytest.mark.asyncio
async def test_subscribe_and_receive() -> None:
    """A published event reaches an open stream, with its id and kind."""
    service = MiniService()
    async with serve(service) as client:
        response = await client.get("/api/v1/events", headers=auth())
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert await _read_block(response) == [": stream opened"]
        service.events.publish("approval.requested", {"negotiation": "n-1"})
        event = await _next_event(response)
        assert event == {
            "id": f"{service.events.stream}.1",
            "event": "approval.requested",
            "data": {"negotiation": "n-1"},
        }
        response.close()


@pytest.mark.asyncio
async def test_stream_needs_the_token() -> None:
    """The event stream is behind the admin token like every route."""
    async with serve() as client:
        response = await client.get("/api/v1/events")
        assert response.status == 401


@pytest.mark.asyncio
async def test_replay_with_last_event_id() -> None:
    """A reconnecting client is replayed the events after its Last-Event-ID."""
    service = MiniService()
    for number in range(3):
        service.events.publish("tick", {"n": number})
    async with serve(service) as client:
        headers = {**auth(), "Last-Event-ID": f"{service.events.stream}.1"}
        response = await client.get("/api/v1/events", headers=headers)
        first = await _next_event(response)
        second = await _next_event(response)
        assert [first["data"]["n"], second["data"]["n"]] == [1, 2]
        response.close()


@pytest.mark.asyncio
async def test_unknown_last_event_id_says_lost() -> None:
    """A garbled or foreign Last-Event-ID starts the replay with events.lost."""
    service = MiniService()
    service.events.publish("tick", {"n": 0})
    async with serve(service) as client:
        headers = {**auth(), "Last-Event-ID": "not-an-id"}
        response = await client.get("/api/v1/events", headers=headers)
        assert (await _next_event(response))["event"] == "events.lost"
        assert (await _next_event(response))["event"] == "tick"
        response.close()


@pytest.mark.asyncio
async def test_keep_alive_comments() -> None:
    """A quiet stream sends keep-alive comments."""
    async with serve() as client:
        response = await client.get("/api/v1/events?keepalive=0.05", headers=auth())
        await _read_block(response)
        assert await _read_block(response) == [": keep-alive"]
        response.close()


@pytest.mark.asyncio
async def test_slow_subscriber_dropped() -> None:
    """A burst larger than the subscriber's queue drops it; its stream says so and ends."""
    service = MiniService()  # queue_size=4
    async with serve(service) as client:
        response = await client.get("/api/v1/events", headers=auth())
        await _read_block(response)
        for number in range(10):
            service.events.publish("tick", {"n": number})
        events = []
        while event := await _next_event(response):
            events.append(event)
        assert events[-1]["event"] == "events.dropped"
        assert events[-1]["id"] is None  # the client resumes from the last real event
        assert len(events) <= 5
        assert service.events.statistics()["dropped"] == 1


@pytest.mark.asyncio
async def test_shutdown_ends_open_streams() -> None:
    """Closing the app ends open streams instead of waiting for their clients."""
    service = MiniService()
    async with serve(service) as client:
        response = await client.get("/api/v1/events", headers=auth())
        await _read_block(response)
        await client.server.app.shutdown()
        assert await _read_block(response) == []
