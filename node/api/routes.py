"""The route table of the admin API: one ``Route`` per operation, shared by the app and its OpenAPI.

A resource module exposes ``routes() -> list[Route]``. Each route names its handler, the JSON
Schema of its body and of its success response, its path and query parameters. ``node.api.app``
mounts the table, checks every request against it before the handler runs, and
``node.api.openapi`` renders the same table as the OpenAPI 3.1 document — so the two cannot drift.

A handler receives a ``Call`` (the service, the checked body, path and query values, ``now``)
and returns a ``Reply`` (status and JSON body) or, for streams and downloads, an aiohttp
``StreamResponse`` it has written itself.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from node.api.validation import NAME

PREFIX = "/api/v1"
"""Where the admin API is mounted."""

MULTIPART = "multipart/form-data"

JSON_BODY_LIMIT = 1 << 20
"""Largest JSON request body (1 MiB); a larger one is refused with 413 ``body_too_large``."""

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}


@dataclass(frozen=True)
class Reply:
    """A JSON response: ``body`` with ``status`` (the route's default status if ``None``)."""

    body: Any
    status: int | None = None


@dataclass(frozen=True)
class Call:
    """What a handler works from: the node's service and the request, already checked."""

    service: Any
    request: web.Request
    body: Any
    params: Mapping[str, str]
    query: Mapping[str, Any]
    now: int


Handler = Callable[[Call], Awaitable[Reply | web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    """One operation of the admin API.

    ``path`` is relative to ``/api/v1`` with ``{name}`` placeholders (each checked against
    ``params``, a safe name by default); ``body`` is the JSON Schema of a JSON request body;
    ``upload`` names a non-JSON request media type (the raw bytes are ``Call.body``) with its
    size limit ``upload_limit`` — for ``multipart/form-data``, ``Call.body`` is a
    ``bodies.Upload`` of the parts named in ``parts`` (name → required): those named in
    ``files`` streamed to temporary files (``Upload.files``, removed after the handler), the
    others as bytes (``Upload.data``); ``query`` maps query parameters to schemas (numbers
    converted before checking); ``response`` is the schema of the ``status`` response, or
    ``None`` with ``media`` for a non-JSON response.
    """

    method: str
    path: str
    name: str
    handler: Handler
    summary: str
    status: int = 200
    body: Mapping[str, Any] | None = None
    upload: str | None = None
    upload_limit: int = JSON_BODY_LIMIT
    parts: Mapping[str, bool] = field(default_factory=dict)
    files: frozenset[str] = frozenset()
    query: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    response: Mapping[str, Any] | None = None
    media: str = "application/json"
    description: str = ""
    errors: tuple[int, ...] = ()

    def path_params(self) -> dict[str, Mapping[str, Any]]:
        """Each ``{placeholder}`` of the path with its schema (a safe name unless given)."""
        return {name: self.params.get(name, NAME) for name in re.findall(r"{(\w+)}", self.path)}


def obj(properties: Mapping[str, Any], *, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A closed object schema: only ``properties`` allowed, ``required`` must be there."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": dict(properties),
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema


def array(items: Mapping[str, Any], *, max_items: int | None = None) -> dict[str, Any]:
    """An array schema of ``items``."""
    schema: dict[str, Any] = {"type": "array", "items": dict(items)}
    if max_items is not None:
        schema["maxItems"] = max_items
    return schema


def listing(key: str, items: Mapping[str, Any]) -> dict[str, Any]:
    """A response ``{key: [items…]}`` (lists are wrapped so fields can be added later)."""
    return {"type": "object", "required": [key], "properties": {key: array(items)}}


ROUTES: web.AppKey[tuple[Route, ...]] = web.AppKey("routes")
"""The app's route table, for the OpenAPI document."""

OPEN_OBJECT: dict[str, Any] = {"type": "object"}
"""A response object whose fields are documented in prose (owned by a backend's reference)."""
