"""The OpenAPI document matches the app: every route documented, every documented one served."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from jsonschema import Draft202012Validator

from node.api.app import create_app
from node.api.openapi import document
from node.api.routes import PREFIX, ROUTES
from node.service import NodeService
from tests.node.api.helpers import auth, node_service, serve


@pytest_asyncio.fixture
async def service(tmp_path: Path) -> AsyncIterator[NodeService]:
    """A real node service: every resource whose backend exists is mounted."""
    async with node_service(tmp_path) as running:
        yield running


def _mounted(app: web.Application) -> set[tuple[str, str]]:
    """(method, path) of every route aiohttp serves, less the HEAD it adds beside each GET."""
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }


@pytest.mark.asyncio
async def test_document_served_and_equal_to_the_table(service: NodeService) -> None:
    """GET /api/v1/openapi.json returns the document rendered from the app's table."""
    async with serve(service) as client:
        response = await client.get("/api/v1/openapi.json", headers=auth(service.admin_token))
        assert response.status == 200
        served = await response.json()
        app = client.server.app
        assert served == document(app[ROUTES], prefix=PREFIX)
        assert served["openapi"] == "3.1.0"


@pytest.mark.asyncio
async def test_every_mounted_route_is_documented(service: NodeService) -> None:
    """Each (method, path) aiohttp serves is an operation of the document, and vice versa."""
    app = create_app(service)
    spec = document(app[ROUTES], prefix=PREFIX)
    documented = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
    }
    assert documented == _mounted(app)


@pytest.mark.asyncio
async def test_every_documented_operation_resolves(service: NodeService) -> None:
    """Every documented path and method resolves to a handler (no 404 / 405)."""
    app = create_app(service)
    spec = document(app[ROUTES], prefix=PREFIX)
    for path, operations in spec["paths"].items():
        concrete = path.replace("{", "").replace("}", "")
        for method in operations:
            request = make_mocked_request(method.upper(), concrete, app=app)
            match = await app.router.resolve(request)
            assert match.http_exception is None, (method, path)
            assert match.route.name == operations[method]["operationId"]


@pytest.mark.asyncio
async def test_schemas_are_valid_json_schemas(service: NodeService) -> None:
    """Every body, response and parameter schema in the document is a valid JSON Schema."""
    spec = document(create_app(service)[ROUTES], prefix=PREFIX)
    for operations in spec["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                Draft202012Validator.check_schema(parameter["schema"])
            for part in [operation.get("requestBody", {}), *operation["responses"].values()]:
                for media in part.get("content", {}).values():
                    Draft202012Validator.check_schema(media["schema"])
            assert "401" in operation["responses"]


@pytest.mark.asyncio
async def test_operation_ids_unique(service: NodeService) -> None:
    """Every operation has its own id (the route name)."""
    spec = document(create_app(service)[ROUTES], prefix=PREFIX)
    ids = [op["operationId"] for ops in spec["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


@pytest.mark.asyncio
async def test_reference_lists_every_operation(service: NodeService) -> None:
    """docs/reference/api.md has a row for every operation the app serves."""
    reference = (Path(__file__).parents[3] / "docs" / "reference" / "api.md").read_text()
    spec = document(create_app(service)[ROUTES], prefix=PREFIX)
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            row = f"| {method.upper()} | `{path}` | `{operation['operationId']}` |"
            assert row in reference, row
