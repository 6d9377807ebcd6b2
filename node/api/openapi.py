"""``GET /api/v1/openapi.json``: the OpenAPI 3.1 document, rendered from the app's own route table.

Every path, method, parameter, body schema and response schema comes from the ``Route`` objects
the app mounts, so the document describes exactly what is served (a test checks both ways).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from typing import Any

from node.api.routes import ERROR_SCHEMA, PREFIX, ROUTES, Call, Reply, Route

_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No content",
    400: "The request does not validate (see `error.code` and `error.details.errors`)",
    401: "Missing or wrong admin token",
    403: "Refused by a policy, role or membership",
    404: "No such resource",
    405: "Method not allowed on this path",
    409: "Exists already, or the state does not allow this now",
    413: "Body over its limit",
    503: "The node cannot do this now; retry later",
}


def document(table: Sequence[Route], *, prefix: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``table`` mounted under ``prefix``."""
    paths: dict[str, dict[str, Any]] = {}
    for route in table:
        paths.setdefault(prefix + route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Confide admin API",
            "version": _version(),
            "description": (
                "The admin API of one Confide node. JSON in and out; every error is "
                '`{"error": {"code", "message", "details"}}`. Bearer token from the node home.'
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"adminToken": []}],
        "components": {
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": ERROR_SCHEMA},
        },
        "paths": paths,
    }


def routes(service: Any) -> list[Route]:
    """The document's own route."""
    return [
        Route(
            "GET",
            "/openapi.json",
            "openapi.get",
            _serve,
            "This OpenAPI 3.1 document",
            response={"type": "object", "required": ["openapi", "paths"]},
        )
    ]


async def _serve(call: Call) -> Reply:
    table: tuple[Route, ...] = call.request.app[ROUTES]
    return Reply(document(table, prefix=PREFIX))


def _operation(route: Route) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary,
        "tags": [route.name.partition(".")[0]],
    }
    if route.description:
        operation["description"] = route.description
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": dict(schema)}
        for name, schema in route.path_params().items()
    ]
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": dict(schema)}
        for name, schema in route.query.items()
    ]
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": dict(route.body)}},
        }
    elif route.upload is not None:
        upload: dict[str, Any] = {"type": "string", "format": "binary"}
        if route.parts:
            upload = {
                "type": "object",
                "properties": {name: dict(upload) for name in route.parts},
                "required": [name for name, required in route.parts.items() if required],
            }
        operation["requestBody"] = {
            "required": True,
            "description": f"at most {route.upload_limit} bytes",
            "content": {route.upload: {"schema": upload}},
        }
    success: dict[str, Any] = {"description": _STATUS_TEXT.get(route.status, "OK")}
    if route.status != 204:
        schema = dict(route.response) if route.response is not None else {"type": "string"}
        success["content"] = {route.media: {"schema": schema}}
    responses: dict[str, Any] = {str(route.status): success}
    statuses = {400, 401, *route.errors}
    if route.body is not None or route.upload is not None:
        statuses.add(413)
    for status in sorted(statuses):
        responses[str(status)] = {
            "description": _STATUS_TEXT.get(status, "Error"),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    operation["responses"] = responses
    return operation


def _version() -> str:
    try:
        return metadata.version("confide")
    except metadata.PackageNotFoundError:
        return "0"
