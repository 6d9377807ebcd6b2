"""``GET /api/v1/peers``: the nodes this node knows, their liveness and whether a link is open."""

from __future__ import annotations

from typing import Any

from node.api.routes import Call, Reply, Route, listing, obj

PEER_SCHEMA = obj(
    {
        "node_id": {"type": "string"},
        "state": {"enum": ["alive", "suspect", "dead", "unknown"]},
        "linked": {"type": "boolean"},
        "discovered": {"type": "boolean"},
    },
    required=("node_id", "state", "linked", "discovered"),
)


def routes(service: Any) -> list[Route]:
    """The peers route, for a service that runs a peer host."""
    if not hasattr(service, "host"):
        return []
    return [
        Route(
            "GET",
            "/peers",
            "peers.list",
            _list,
            "Known peers: liveness state, open link, discovered by gossip",
            response=listing("peers", PEER_SCHEMA),
        )
    ]


async def _list(call: Call) -> Reply:
    service = call.service
    host = service.host
    liveness = getattr(service, "liveness", None)
    discovery = getattr(service, "discovery", None)
    states: dict[str, str] = {}
    if liveness is not None:
        for node_id, member in liveness.detector.members.items():
            states[node_id] = str(member.state.value)
    discovered = set(discovery.known()) if discovery is not None else set()
    own = service.identity.node_id
    peers = []
    for node_id in sorted((set(states) | discovered) - {own}):
        peers.append(
            {
                "node_id": node_id,
                "state": states.get(node_id, "unknown"),
                "linked": host is not None and host.link(node_id) is not None,
                "discovered": node_id in discovered,
            }
        )
    return Reply({"peers": peers})
