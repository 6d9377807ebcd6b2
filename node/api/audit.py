"""``/api/v1/audit``: the node's hash-chained audit log — list, verify, evidence export.

Backed by ``node.audit`` (entries, checkpoints), ``node.audit_verify`` (``verify_log``) and
``node.audit_evidence`` (``export_evidence``, ``verify_evidence``). Entries carry ids, hashes,
counts and reason codes only, so they are safe to show to an operator.
"""

from __future__ import annotations

from typing import Any

from node.api.routes import OPEN_OBJECT, Call, Reply, Route, listing, obj
from node.audit import MAX_LIST_LIMIT
from node.audit_evidence import export_evidence, verify_evidence
from node.audit_verify import verify_log
from node.offload import in_worker

_HEX = {"type": "string", "pattern": "^[0-9a-f]*$"}
ENTRY_SCHEMA = obj(
    {
        "seq": {"type": "integer"},
        "time": {"type": "integer"},
        "event": {"type": "string"},
        "actor": {"type": "string"},
        "details": {"type": "object"},
        "prev_hash": _HEX,
        "hash": _HEX,
    },
    required=("seq", "time", "event", "actor", "details", "prev_hash", "hash"),
)
CHECKPOINT_SCHEMA = {"type": "object", "required": ["seq", "hash"]}
SUBJECT = {
    "type": "string",
    "pattern": r"^[A-Za-z0-9][A-Za-z0-9._:=+@-]{0,199}$",
    "not": {"pattern": r"\.\."},
}
_PAGE = {
    "since": {"type": "integer", "minimum": 0},
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIST_LIMIT},
}
VERIFY_SCHEMA = {
    "type": "object",
    "required": ["ok", "entries", "last_seq", "damage"],
    "properties": {"ok": {"type": "boolean"}, "damage": {"type": "array"}},
}
EVIDENCE_CHECK = obj(
    {"document": {"type": "object"}, "node_id": {"type": "string", "maxLength": 128}},
    required=("document",),
)


def routes(service: Any) -> list[Route]:
    """The audit routes, for a service with an audit log."""
    if getattr(service, "audit", None) is None:
        return []
    return [
        Route(
            "GET",
            "/audit",
            "audit.list",
            _list,
            "Audit entries after `since`, oldest first; filter by event prefix",
            query={
                "event": {"type": "string", "pattern": r"^[a-z][a-z0-9_.]{0,99}$"},
                **_PAGE,
            },
            response=listing("entries", ENTRY_SCHEMA),
            description="Page with `since` = the last `seq` seen. `event=policy` keeps "
            "`policy.created`, `policy.retired`…",
        ),
        Route(
            "GET",
            "/audit/checkpoints",
            "audit.checkpoints",
            _checkpoints,
            "Signed checkpoints after `since`",
            query=_PAGE,
            response=listing("checkpoints", CHECKPOINT_SCHEMA),
        ),
        Route(
            "POST",
            "/audit/verify",
            "audit.verify",
            _verify,
            "Recompute the chain and check every checkpoint signature; name any damage",
            response=VERIFY_SCHEMA,
        ),
        Route(
            "GET",
            "/audit/evidence/{subject}",
            "audit.evidence",
            _evidence,
            "The evidence document for one agreement or manifest id (signs a checkpoint if needed)",
            params={"subject": SUBJECT},
            response=OPEN_OBJECT,
            errors=(404, 409),
        ),
        Route(
            "POST",
            "/audit/evidence/verify",
            "audit.evidence_verify",
            _evidence_verify,
            "Check an evidence document (from any node) offline; what it proves",
            body=EVIDENCE_CHECK,
            response=OPEN_OBJECT,
        ),
    ]


async def _list(call: Call) -> Reply:
    entries = call.service.audit.entries(
        event_prefix=call.query.get("event"),
        since_seq=call.query.get("since", 0),
        limit=call.query.get("limit", 100),
    )
    return Reply({"entries": [entry.to_json() for entry in entries]})


async def _checkpoints(call: Call) -> Reply:
    checkpoints = call.service.audit.checkpoints(
        since_seq=call.query.get("since", 0), limit=call.query.get("limit", 100)
    )
    return Reply({"checkpoints": [checkpoint.to_json() for checkpoint in checkpoints]})


async def _verify(call: Call) -> Reply:
    audit = call.service.audit
    node_id = audit.node_id
    # Recomputing every hash of a long log takes a while: in a worker, on its own connection.
    result = await in_worker(audit.connection, lambda own: verify_log(own, node_id))
    return Reply(result.to_json())


async def _evidence(call: Call) -> Reply:
    return Reply(export_evidence(call.service.audit, call.params["subject"], now=call.now))


async def _evidence_verify(call: Call) -> Reply:
    summary = verify_evidence(call.body["document"], node_id=call.body.get("node_id"))
    return Reply(summary.to_json())
