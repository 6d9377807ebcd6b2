"""``/api/v1/approvals``: requests to this node that wait for a person — list, approve, refuse.

A request lands here when an allowing policy asks for manual approval. Each entry carries the
plain-language summary of what would be used and revealed to whom (``consent.summarise``).
Approving evaluates the request again against the current policies (a policy retired
meanwhile refuses it) and may narrow the terms: an earlier ``valid_until`` or fewer
``max_runs``. Refusing takes a snake_case reason code the proposer sees.
"""

from __future__ import annotations

from typing import Any

from node.api.computations import MANIFEST_ID, NEGOTIATION_SCHEMA, proposals
from node.api.routes import Call, Reply, Route, listing, obj

APPROVAL_SCHEMA = {
    "type": "object",
    "required": ["manifest_id", "proposer", "kind", "purpose", "datasets", "deadline", "summary"],
    "properties": {
        "manifest_id": {"type": "string"},
        "proposer": {"type": "string"},
        "kind": {"type": "string"},
        "purpose": {"type": "string"},
        "data_space": {"type": "string"},
        "datasets": {"type": "array", "items": {"type": "string"}},
        "received_at": {"type": "integer"},
        "deadline": {"type": ["integer", "null"]},
        "summary": {"type": "string"},
        "manifest": {"type": "object"},
    },
}
REASON = {"type": "string", "pattern": r"^[a-z][a-z0-9_]{0,63}$"}
APPROVE_BODY = obj(
    {
        "valid_until": {"type": "integer", "minimum": 0},
        "max_runs": {"type": "integer", "minimum": 1},
    }
)
REFUSE_BODY = obj({"reason": REASON})


def routes(service: Any) -> list[Route]:
    """The approval routes, for a node service (one with a ``proposals`` attribute)."""
    if not hasattr(service, "proposals"):  # answered with 503 until the node has started
        return []
    params = {"manifest_id": MANIFEST_ID}
    return [
        Route(
            "GET",
            "/approvals",
            "approvals.list",
            _list,
            "Requests waiting for a person, oldest first, each with a plain-language summary",
            response=listing("approvals", APPROVAL_SCHEMA),
        ),
        Route(
            "POST",
            "/approvals/{manifest_id}/approve",
            "approvals.approve",
            _approve,
            "Approve a pending request, optionally on narrower terms (`valid_until`, `max_runs`)",
            params=params,
            body=APPROVE_BODY,
            response=NEGOTIATION_SCHEMA,
            errors=(404, 409),
        ),
        Route(
            "POST",
            "/approvals/{manifest_id}/refuse",
            "approvals.refuse",
            _refuse,
            "Refuse a pending request with a reason code (default `refused_by_approver`)",
            params=params,
            body=REFUSE_BODY,
            response=NEGOTIATION_SCHEMA,
            errors=(404, 409),
        ),
    ]


async def _list(call: Call) -> Reply:
    return Reply({"approvals": proposals(call).approvals()})


async def _approve(call: Call) -> Reply:
    body = call.body
    return Reply(
        proposals(call).approve(
            call.params["manifest_id"],
            valid_until=body.get("valid_until"),
            max_runs=body.get("max_runs"),
        )
    )


async def _refuse(call: Call) -> Reply:
    return Reply(proposals(call).refuse(call.params["manifest_id"], call.body.get("reason")))
