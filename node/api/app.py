"""The admin API's aiohttp app: ``/api/v1``, bearer token, checked bodies, one log line each.

``create_app(service)`` mounts every route of every resource module (``RESOURCES``) under
``/api/v1``. In front of the handlers, in order:

1. **errors** — every failure becomes ``{"error": {"code", "message", "details"}}``: a
   ``NodeError`` with its ``http_status``; aiohttp's own 404 / 405 / 413 with ``not_found``,
   ``method_not_allowed``, ``body_too_large``; anything unexpected with 500 ``internal_error``
   and a generic message (the exception's type is logged, its text is not).
2. **token** — ``Authorization: Bearer <admin token>``, compared in constant time; else 401
   ``unauthorized``. Every route needs it, the OpenAPI document and the event stream included.
3. **log** — one ``api.request_completed`` line per request: method, route name, status and
   duration. Never a body, a query string or a header.

Bodies (``bodies.py``): JSON routes read at most ``JSON_BODY_LIMIT`` bytes (413 past it), refuse
malformed JSON with 400 ``malformed_json``, and check the body against the route's schema (400
``invalid_body`` with every problem's JSON path). Multipart uploads stream their file parts to
the spool directory in the node home within the route's limit, and the files are removed when
the handler returns. Path names are checked before the handler
runs (400 ``invalid_name``). All validation failures are 400: clients branch on ``code``.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from jsonschema import Draft202012Validator

from node.api import (
    agreements,
    approvals,
    audit,
    catalog,
    computations,
    datasets,
    dataspaces,
    openapi,
    peers,
    policies,
    sse,
    status,
)
from node.api.bodies import Upload, clear_spool, parse_json, read_body, read_parts, spool_directory
from node.api.routes import JSON_BODY_LIMIT, MULTIPART, PREFIX, ROUTES, Call, Reply, Route
from node.api.validation import check, validator
from node.errors import InvalidError, NodeError, UnauthorizedError

# One module per resource, each with ``routes(service) -> list[Route]``; the order of the docs.
RESOURCES: tuple[Any, ...] = (
    status,
    peers,
    dataspaces,
    datasets,
    catalog,
    policies,
    computations,
    approvals,
    agreements,
    audit,
    sse,
    openapi,
)

SERVICE = web.AppKey("service", object)
SPOOL = web.AppKey("spool", Path)
TOKEN = web.AppKey("token", bytes)
CLOCK: web.AppKey[Callable[[], int]] = web.AppKey("clock")


def default_clock() -> int:
    """Unix seconds now."""
    return int(time.time())


def all_routes(service: Any) -> tuple[Route, ...]:
    """Every route of the API for ``service`` (a resource offers none if its backend is absent)."""
    table: list[Route] = []
    for module in RESOURCES:
        table.extend(module.routes(service))
    return tuple(table)


def create_app(
    service: Any,
    *,
    token: str | None = None,
    clock: Callable[[], int] = default_clock,
    table: Sequence[Route] | None = None,
) -> web.Application:
    """The admin API application for ``service`` (the node's composed parts).

    ``token`` defaults to ``service.admin_token``; ``clock`` gives ``now`` to the handlers;
    ``table`` is the route table, by default ``all_routes(service)``.
    """
    secret = token if token is not None else service.admin_token
    if not isinstance(secret, str) or len(secret) < 16:
        raise ValueError("the admin token must be a string of at least 16 characters")
    table = tuple(table) if table is not None else all_routes(service)
    largest = max([JSON_BODY_LIMIT, *(route.upload_limit for route in table)])
    app = web.Application(middlewares=[_errors, _authenticate], client_max_size=largest)
    app[SERVICE] = service
    app[ROUTES] = table
    app[TOKEN] = secret.encode()
    app[CLOCK] = clock
    if any(route.files for route in table):
        app[SPOOL] = spool_directory(service)
        if app[SPOOL].name == "uploads":  # the node's own spool, not a shared temp dir
            clear_spool(app[SPOOL])
    for route in table:
        app.router.add_route(route.method, PREFIX + route.path, _dispatcher(route), name=route.name)
    app.on_shutdown.append(_end_streams)
    return app


async def _end_streams(app: web.Application) -> None:
    """At shutdown, end the event streams so the server need not wait for their clients."""
    events = getattr(app[SERVICE], "events", None)
    if events is not None:
        events.close_subscriptions()


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    started = time.perf_counter()
    route = request.match_info.route.name or "unmatched"
    try:
        response: web.StreamResponse = await handler(request)
    except NodeError as error:
        response = _error_response(error)
    except web.HTTPException as error:
        response = _error_response(_from_http(error), error.status)
    except Exception as error:
        structlog.get_logger("node.api").error(
            "api.request_failed", route=route, error_type=type(error).__name__
        )
        response = _error_response(
            NodeError("internal_error", "the node failed to handle this request")
        )
    # A logger per request: it follows a reconfiguration (one process may configure twice).
    structlog.get_logger("node.api").info(
        "api.request_completed",
        method=request.method,
        route=route,
        status=response.status,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return response


@web.middleware
async def _authenticate(request: web.Request, handler: Any) -> web.StreamResponse:
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    expected = request.app[TOKEN]
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), expected):
        raise UnauthorizedError(
            "unauthorized", "a valid admin token is required (Authorization: Bearer …)"
        )
    response: web.StreamResponse = await handler(request)
    return response


def _dispatcher(route: Route) -> Callable[[web.Request], Any]:
    """The aiohttp handler that checks a request against ``route`` and calls its handler."""
    body_checker = validator(route.body) if route.body is not None else None
    param_checkers = {name: validator(schema) for name, schema in route.path_params().items()}
    query_checkers = {name: validator(schema) for name, schema in route.query.items()}

    async def dispatch(request: web.Request) -> web.StreamResponse:
        params = dict(request.match_info)
        for name, checker in param_checkers.items():
            check(checker, params[name], code="invalid_name", what=f"the {name}", root=name)
        query = _query(request, route, query_checkers)
        body: Any = None
        if route.upload == MULTIPART:
            spool = request.app[SPOOL] if route.files else Path(".")
            body = await read_parts(request, route, spool)
        elif route.upload is not None:
            body = await read_body(request, route.upload_limit)
        elif body_checker is not None:
            body = parse_json(await read_body(request, JSON_BODY_LIMIT))
            check(body_checker, body, code="invalid_body", what="the request body")
        call = Call(
            service=request.app[SERVICE],
            request=request,
            body=body,
            params=params,
            query=query,
            now=request.app[CLOCK](),
        )
        try:
            result = await route.handler(call)
        finally:
            if isinstance(body, Upload):
                body.close()
        if isinstance(result, Reply):
            status = result.status if result.status is not None else route.status
            if status == 204:
                return web.Response(status=204)
            return web.json_response(result.body, status=status, dumps=_dumps)
        return result

    return dispatch


def _query(
    request: web.Request, route: Route, checkers: Mapping[str, Draft202012Validator]
) -> dict[str, Any]:
    """The declared query parameters, integers converted, each checked; unknown ones refused."""
    unknown = sorted(set(request.query) - set(route.query))
    if unknown:
        raise InvalidError(
            "invalid_query",
            f"unknown query parameter {unknown[0]!r}",
            {"errors": [{"path": name, "message": "unknown"} for name in unknown]},
        )
    values: dict[str, Any] = {}
    for name, checker in checkers.items():
        if name not in request.query:
            continue
        raw: Any = request.query[name]
        kinds = route.query[name].get("type")
        if kinds == "integer":
            try:
                raw = int(raw)
            except ValueError:
                raise InvalidError(
                    "invalid_query",
                    f"the query parameter {name!r} must be an integer",
                    {"errors": [{"path": name, "message": "must be of type integer"}]},
                ) from None
        elif kinds == "number":
            try:
                raw = float(raw)
            except ValueError:
                raise InvalidError(
                    "invalid_query",
                    f"the query parameter {name!r} must be a number",
                    {"errors": [{"path": name, "message": "must be of type number"}]},
                ) from None
        elif kinds == "boolean":
            raw = {"true": True, "false": False}.get(raw, raw)
        check(checker, raw, code="invalid_query", what=f"the query parameter {name!r}", root=name)
        values[name] = raw
    return values


def _from_http(error: web.HTTPException) -> NodeError:
    """aiohttp's own HTTP errors in the error shape."""
    known = {
        404: ("not_found", "no such API route"),
        405: ("method_not_allowed", "this route does not accept this method"),
        413: ("body_too_large", "the request body is over its limit"),
    }
    code, message = known.get(error.status, ("http_error", error.reason or "HTTP error"))
    return NodeError(code, message)


def _error_response(error: NodeError, status: int | None = None) -> web.Response:
    """The error shape with ``status`` (the error's own ``http_status`` by default)."""
    return web.json_response(error.to_json(), status=status or error.http_status, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
