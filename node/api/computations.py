"""``/api/v1/computations``: propose a computation, follow its negotiation and runs, read a result.

Backed by ``node.proposals.Proposals`` (the service's ``proposals``). A proposal body is a
*draft* — the manifest without ``proposer``, ``created_at``, ``expires_at``, ``nonce`` and
``version``, which this node fills in; ``parse_manifest`` then checks every field and reports
each problem with its JSON path (``invalid_manifest``). Node ids may be written ``self`` for
this node. Computations are named by their manifest id (``m-`` and 64 hex digits). The
shapes are documented in docs/reference/api.md.
"""

from __future__ import annotations

from typing import Any

from node.api.routes import Call, Reply, Route, array, listing, obj
from node.consent.manifest import KINDS
from node.errors import UnavailableError
from node.proposals import MAX_EXPIRES_IN, Proposals

MANIFEST_ID = {"type": "string", "pattern": r"^m-[0-9a-f]{64}$"}
_TEXT = {"type": "string", "minLength": 1, "maxLength": 128}
_NULLABLE_INT = {"type": ["integer", "null"]}
_NULLABLE_TEXT = {"type": ["string", "null"]}

INPUT_SCHEMA = obj(
    {
        "provider": _TEXT,
        "dataset": _TEXT,
        "columns": array(_TEXT, max_items=64),
        "bound": {"type": "integer", "minimum": 0},
    },
    required=("provider", "dataset", "columns", "bound"),
)
DRAFT_SCHEMA = obj(
    {
        "kind": {"enum": list(KINDS)},
        "parameters": {"type": "object"},
        "inputs": array(INPUT_SCHEMA, max_items=64),
        "compute_parties": array(_TEXT, max_items=64),
        "recipients": array(_TEXT, max_items=64),
        "purpose": _TEXT,
        "data_space": _TEXT,
        "expires_in": {"type": "integer", "minimum": 1, "maximum": MAX_EXPIRES_IN},
    },
    required=("kind", "parameters", "inputs", "compute_parties", "recipients", "purpose"),
)
NEGOTIATION_SCHEMA = {
    "type": "object",
    "required": ["manifest_id", "provider", "role", "state", "reason", "constraint", "deadline"],
    "properties": {
        "manifest_id": {"type": "string"},
        "provider": {"type": "string"},
        "role": {"enum": ["provider", "proposer"]},
        "state": {"type": "string"},
        "reason": _NULLABLE_TEXT,
        "constraint": _NULLABLE_TEXT,
        "deadline": _NULLABLE_INT,
        "updated_at": {"type": "integer"},
    },
}
RUN_SCHEMA = {
    "type": "object",
    "required": ["run_id", "state", "phase", "percent", "reason", "party"],
    "properties": {
        "run_id": {"type": "string"},
        "manifest_id": {"type": "string"},
        "kind": {"type": "string"},
        "role": {"enum": ["coordinator", "participant"]},
        "state": {"enum": ["running", "completed", "aborted"]},
        "phase": {"type": "string"},
        "percent": {"type": "integer"},
        "reason": _NULLABLE_TEXT,
        "party": _NULLABLE_TEXT,
        "started_at": {"type": "integer"},
        "ended_at": _NULLABLE_INT,
        "has_result": {"type": "boolean"},
    },
}
VIEW_SCHEMA = {
    "type": "object",
    "required": [
        "manifest_id",
        "kind",
        "purpose",
        "data_space",
        "proposer",
        "roles",
        "state",
        "negotiations",
        "agreement",
        "run",
        "summary",
    ],
    "properties": {
        "manifest_id": {"type": "string"},
        "kind": {"type": "string"},
        "purpose": {"type": "string"},
        "data_space": {"type": "string"},
        "proposer": {"type": "string"},
        "roles": array({"enum": ["proposer", "provider", "compute_party", "recipient"]}),
        "state": {"type": "string"},
        "created_at": {"type": "integer"},
        "expires_at": {"type": "integer"},
        "negotiations": array(NEGOTIATION_SCHEMA),
        "agreement": {"type": ["object", "null"]},
        "run": {"oneOf": [RUN_SCHEMA, {"type": "null"}]},
        "runs": array(RUN_SCHEMA),
        "summary": {"type": "string"},
        "manifest": {"type": "object"},
    },
}
RESULT_SCHEMA = {
    "type": "object",
    "required": ["manifest_id", "run_id", "kind", "stored_at", "result"],
    "properties": {
        "manifest_id": {"type": "string"},
        "run_id": {"type": "string"},
        "kind": {"type": "string"},
        "stored_at": {"type": "integer"},
        "result": {"type": "object"},
    },
}
STARTED_SCHEMA = obj(
    {"manifest_id": {"type": "string"}, "run_id": {"type": "string"}},
    required=("manifest_id", "run_id"),
)


def routes(service: Any) -> list[Route]:
    """The computation routes, for a node service (one with a ``proposals`` attribute)."""
    if not hasattr(service, "proposals"):  # answered with 503 until the node has started
        return []
    params = {"manifest_id": MANIFEST_ID}
    return [
        Route(
            "POST",
            "/computations",
            "computations.propose",
            _propose,
            "Propose a computation to its providers; the run starts once every provider agreed",
            status=201,
            body=DRAFT_SCHEMA,
            response=VIEW_SCHEMA,
            errors=(403, 409),
        ),
        Route(
            "GET",
            "/computations",
            "computations.list",
            _list,
            "Every computation this node takes part in, newest first (filter by `role`)",
            query={"role": {"enum": ["proposer", "provider", "compute_party", "recipient"]}},
            response=listing("computations", VIEW_SCHEMA),
        ),
        Route(
            "GET",
            "/computations/{manifest_id}",
            "computations.get",
            _get,
            "One computation: negotiation per provider (reason codes), agreement, runs, progress",
            params=params,
            response=VIEW_SCHEMA,
            errors=(404,),
        ),
        Route(
            "GET",
            "/computations/{manifest_id}/result",
            "computations.result",
            _result,
            "The latest result of a computation (only at a recipient)",
            params=params,
            response=RESULT_SCHEMA,
            errors=(403, 404),
        ),
        Route(
            "POST",
            "/computations/{manifest_id}/runs",
            "computations.start_run",
            _start_run,
            "Start another run of an agreed computation this node proposed (a retry)",
            status=202,
            params=params,
            response=STARTED_SCHEMA,
            errors=(403, 404, 503),
        ),
    ]


def proposals(call: Call) -> Proposals:
    """The service's ``Proposals``, or 503 ``node_not_running``."""
    found = getattr(call.service, "proposals", None)
    if not isinstance(found, Proposals):
        raise UnavailableError("node_not_running", "the node's peer side is not running")
    return found


async def _propose(call: Call) -> Reply:
    return Reply(proposals(call).propose(call.body, call.now))


async def _list(call: Call) -> Reply:
    return Reply({"computations": proposals(call).computations_list(call.query.get("role"))})


async def _get(call: Call) -> Reply:
    return Reply(proposals(call).view(call.params["manifest_id"]))


async def _result(call: Call) -> Reply:
    return Reply(proposals(call).result(call.params["manifest_id"]))


async def _start_run(call: Call) -> Reply:
    manifest_id = call.params["manifest_id"]
    run_id = proposals(call).start_run(manifest_id)
    return Reply({"manifest_id": manifest_id, "run_id": run_id})
