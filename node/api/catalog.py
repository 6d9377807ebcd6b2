"""``/api/v1/catalog`` and ``/api/v1/peers/{node_id}/catalog``: what nodes may see of datasets.

- ``GET /peers/{node_id}/catalog`` asks a peer for its catalog over the link (dialled if need
  be) and answers what the peer shows this node: each visible dataset's name, public columns
  and rounded row count. A catalog fetched less than 30 seconds ago is answered from the cache
  unless ``refresh=true``. A peer that refuses (``not_a_member``) is 403; one that cannot be
  reached or does not answer in time is 503 (``peer_unreachable``, ``catalog_timeout``); a
  malformed answer is 502 ``catalog_malformed``.
- ``GET /catalog?as=NODE_ID`` is the steward's "what do they see?": this node's catalog exactly
  as it would answer that node now, plus every hidden dataset with the reason code, the policy
  and the JSON path of the part that hides it (consent complaint 9, "why can't they see my
  dataset?"). No peer is contacted.

A missing or malformed ``as``, or a path ``node_id`` that is not a node id, is 400
``invalid_name`` (a node id is the name of a node; the value is never quoted back).

Backed by ``node.catalog.Catalogs`` (the service's ``catalogs``); see docs/spec/catalog.md.
"""

from __future__ import annotations

from typing import Any

from network.errors import ValidationError
from network.identity import check_node_id
from node.api.routes import Call, Reply, Route, array, obj
from node.errors import InvalidError

COLUMN_SCHEMA = obj(
    {
        "name": {"type": "string"},
        "type": {"enum": ["identifier", "category", "integer", "date"]},
        "required": {"type": "boolean"},
        "format": {"type": "string"},
        "values": array({"type": "string"}),
        "min": {"type": "integer"},
        "max": {"type": "integer"},
    },
    required=("name", "type"),
)
ENTRY_SCHEMA = obj(
    {
        "dataset": {"type": "string"},
        "columns": array(COLUMN_SCHEMA),
        "rows": {"type": "integer", "minimum": 0},
    },
    required=("dataset", "columns", "rows"),
)
REMOTE_SCHEMA = obj(
    {
        "node_id": {"type": "string"},
        "fetched_at": {"type": "integer"},
        "truncated": {"type": "boolean"},
        "datasets": array(ENTRY_SCHEMA),
    },
    required=("node_id", "fetched_at", "truncated", "datasets"),
)
HIDDEN_SCHEMA = obj(
    {
        "dataset": {"type": "string"},
        "code": {"type": "string"},
        "reason": {"type": "string"},
        "policy_id": {"type": ["string", "null"]},
        "path": {"type": ["string", "null"]},
    },
    required=("dataset", "code", "reason", "policy_id", "path"),
)
VIEW_SCHEMA = obj(
    {
        "requester": {"type": "string"},
        "member": {"type": "boolean"},
        "refused": {"type": ["string", "null"]},
        "truncated": {"type": "boolean"},
        "datasets": array(ENTRY_SCHEMA),
        "hidden": array(HIDDEN_SCHEMA),
    },
    required=("requester", "member", "refused", "truncated", "datasets", "hidden"),
)
_NODE_ID_QUERY = {"type": "string", "minLength": 1, "maxLength": 128}


def routes(service: Any) -> list[Route]:
    """The catalog routes, for a service with a ``catalogs`` part."""
    if getattr(service, "catalogs", None) is None:
        return []
    return [
        Route(
            "GET",
            "/catalog",
            "catalog.get",
            _own,
            "This node's catalog as the node `as` would see it now, and why the rest is hidden",
            query={"as": _NODE_ID_QUERY},
            response=VIEW_SCHEMA,
        ),
        Route(
            "GET",
            "/peers/{node_id}/catalog",
            "peers.catalog",
            _remote,
            "A peer's catalog as it shows it to this node (cached 30 s unless `refresh`)",
            query={"refresh": {"type": "boolean"}},
            response=REMOTE_SCHEMA,
            errors=(403, 502, 503),
        ),
    ]


def _node_id(value: str | None, field: str) -> str:
    """``value`` if it is a node id; else ``invalid_name`` (a node id names a node), its value
    never quoted."""
    try:
        return check_node_id(value, "$")
    except ValidationError:
        raise InvalidError(
            "invalid_name",
            f"{field} must be a node id",
            {"errors": [{"path": field, "message": "not a node id"}]},
        ) from None


async def _own(call: Call) -> Reply:
    requester = _node_id(call.query.get("as"), "as")
    return Reply(call.service.catalogs.view(requester, call.now))


async def _remote(call: Call) -> Reply:
    node_id = _node_id(call.params["node_id"], "node_id")
    fetched = await call.service.catalogs.fetch(node_id, refresh=call.query.get("refresh", False))
    return Reply(fetched.to_json())
