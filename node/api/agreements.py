"""``/api/v1/agreements``: the finalised agreements this node holds — list, show, retire.

An agreement is the counter-signed bundle of a manifest (every provider's signed terms and the
proposer's counter-signature), kept by every participant. Retiring is effective at once: a
provider retires its own consent, the proposer withdraws its proposal; every participant is
told and no further run of the manifest is authorised.
"""

from __future__ import annotations

from typing import Any

from node.api.approvals import REASON
from node.api.computations import MANIFEST_ID, VIEW_SCHEMA, proposals
from node.api.routes import Call, Reply, Route, listing, obj

AGREEMENT_SCHEMA = {
    "type": "object",
    "required": [
        "manifest_id",
        "kind",
        "purpose",
        "proposer",
        "providers",
        "state",
        "valid_from",
        "valid_until",
        "retired_at",
        "reason",
    ],
    "properties": {
        "manifest_id": {"type": "string"},
        "kind": {"type": "string"},
        "purpose": {"type": "string"},
        "data_space": {"type": "string"},
        "proposer": {"type": "string"},
        "providers": {"type": "array", "items": {"type": "string"}},
        "state": {"enum": ["active", "retired"]},
        "valid_from": {"type": "integer"},
        "valid_until": {"type": "integer"},
        "finalized_at": {"type": "integer"},
        "retired_at": {"type": ["integer", "null"]},
        "reason": {"type": ["string", "null"]},
        "decisions": {"type": "array", "items": {"type": "object"}},
        "summary": {"type": "string"},
        "manifest": {"type": "object"},
    },
}
RETIRE_BODY = obj({"reason": REASON})


def routes(service: Any) -> list[Route]:
    """The agreement routes, for a node service (one with a ``proposals`` attribute)."""
    if not hasattr(service, "proposals"):  # answered with 503 until the node has started
        return []
    params = {"manifest_id": MANIFEST_ID}
    return [
        Route(
            "GET",
            "/agreements",
            "agreements.list",
            _list,
            "Every finalised agreement held here, active or retired, newest first",
            response=listing("agreements", AGREEMENT_SCHEMA),
        ),
        Route(
            "GET",
            "/agreements/{manifest_id}",
            "agreements.get",
            _get,
            "One agreement: its terms, each provider's signed decision, the manifest",
            params=params,
            response=AGREEMENT_SCHEMA,
            errors=(404,),
        ),
        Route(
            "POST",
            "/agreements/{manifest_id}/retire",
            "agreements.retire",
            _retire,
            "Retire this node's consent (or withdraw its proposal) now; every participant is told",
            params=params,
            body=RETIRE_BODY,
            response=VIEW_SCHEMA,
            errors=(404, 409),
        ),
    ]


async def _list(call: Call) -> Reply:
    return Reply({"agreements": proposals(call).agreement_list()})


async def _get(call: Call) -> Reply:
    return Reply(proposals(call).agreement(call.params["manifest_id"]))


async def _retire(call: Call) -> Reply:
    return Reply(proposals(call).retire(call.params["manifest_id"], call.body.get("reason")))
