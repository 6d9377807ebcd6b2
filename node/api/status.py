"""``GET /api/v1/status``: who this node is and whether it is healthy."""

from __future__ import annotations

from typing import Any

from node.api.openapi import _version
from node.api.routes import Call, Reply, Route, obj

STATUS_SCHEMA = obj(
    {
        "node_id": {"type": "string"},
        "name": {"type": "string"},
        "version": {"type": "string"},
        "now": {"type": "integer"},
        "started_at": {"type": ["integer", "null"]},
        "peer_url": {"type": ["string", "null"]},
        "events": obj(
            {
                "subscribers": {"type": "integer"},
                "buffered": {"type": "integer"},
                "dropped": {"type": "integer"},
            }
        ),
    },
    required=("node_id", "name", "version", "now"),
)


def routes(service: Any) -> list[Route]:
    """The status route (always present)."""
    return [
        Route(
            "GET",
            "/status",
            "status.get",
            _status,
            "This node: id, name, version, peer address, event bus",
            response=STATUS_SCHEMA,
        )
    ]


async def _status(call: Call) -> Reply:
    service = call.service
    events = getattr(service, "events", None)
    body: dict[str, Any] = {
        "node_id": service.identity.node_id,
        "name": service.config.name,
        "version": _version(),
        "now": call.now,
        "started_at": getattr(service, "started_at", None),
        "peer_url": getattr(service, "peer_url", None),
    }
    if events is not None:
        body["events"] = events.statistics()
    return Reply(body)
