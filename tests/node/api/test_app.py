"""The admin API framework over a real socket: token, error shape, limits, validation, logging."""

from __future__ import annotations

import io
from typing import Any

import pytest
from structlog.testing import capture_logs

from node.api.app import all_routes, create_app
from node.api.routes import JSON_BODY_LIMIT, Call, Reply, Route, obj
from node.errors import ConflictError
from tests.node.api.helpers import TOKEN, MiniService, auth, serve

_BODY = obj(
    {
        "name": {"type": "string", "maxLength": 20},
        "count": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}},
        "inner": obj({"flag": {"type": "boolean"}}, required=("flag",)),
    },
    required=("name",),
)


async def _echo(call: Call) -> Reply:
    return Reply({"body": call.body, "params": dict(call.params), "now": call.now}, status=201)


async def _conflict(call: Call) -> Reply:
    raise ConflictError("thing_exists", "that thing exists already", {"name": call.params["name"]})


async def _crash(call: Call) -> Reply:
    raise RuntimeError("secret-value-that-must-not-leak")


def _table(service: Any) -> list[Route]:
    return [
        *all_routes(service),
        Route("POST", "/things/{name}", "things.create", _echo, "Echo", status=201, body=_BODY),
        Route("PUT", "/things/{name}", "things.replace", _conflict, "Conflict", body=_BODY),
        Route("GET", "/crash", "crash.get", _crash, "Crash"),
    ]


def _service() -> MiniService:
    return MiniService()


@pytest.mark.asyncio
async def test_status_needs_the_token() -> None:
    """Without a token, or with a wrong one, every route answers 401 in the error shape."""
    async with serve() as client:
        for headers in (
            {},
            auth("wrong-token"),
            {"Authorization": TOKEN},
            {"Authorization": "Basic x"},
        ):
            response = await client.get("/api/v1/status", headers=headers)
            assert response.status == 401
            body = await response.json()
            assert body["error"]["code"] == "unauthorized"
            assert TOKEN not in await response.text()
        response = await client.get("/api/v1/openapi.json")
        assert response.status == 401


@pytest.mark.asyncio
async def test_status_with_the_token() -> None:
    """With the token, status names the node and the clock's now."""
    service = MiniService()
    async with serve(service) as client:
        response = await client.get("/api/v1/status", headers=auth())
        assert response.status == 200
        body = await response.json()
        assert body["node_id"] == service.identity.node_id
        assert body["name"] == "NGO A"
        assert body["now"] == 1_780_000_000
        assert body["events"] == {"subscribers": 0, "buffered": 0, "dropped": 0}


@pytest.mark.asyncio
async def test_unknown_route_and_method() -> None:
    """An unknown path is 404 not_found; a known path with another method is 405."""
    async with serve() as client:
        response = await client.get("/api/v1/nothing-here", headers=auth())
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "not_found"
        response = await client.delete("/api/v1/status", headers=auth())
        assert response.status == 405
        assert (await response.json())["error"]["code"] == "method_not_allowed"


@pytest.mark.asyncio
async def test_malformed_json() -> None:
    """A body that is not JSON is 400 malformed_json."""
    service = _service()
    async with serve(service, table=_table(service)) as client:
        for raw in (b"{", b"\xff\xfe", b'{"name": "a",}', b""):
            response = await client.post("/api/v1/things/a", data=raw, headers=auth())
            assert response.status == 400
            assert (await response.json())["error"]["code"] == "malformed_json"


@pytest.mark.asyncio
async def test_body_checked_against_its_schema() -> None:
    """Wrong types, unknown and missing fields are all reported at their JSON paths."""
    service = _service()
    async with serve(service, table=_table(service)) as client:
        response = await client.post(
            "/api/v1/things/a",
            json={"count": "Jan Jansen 1990-01-01", "extra": 1, "inner": {"other": 2}},
            headers=auth(),
        )
        assert response.status == 400
        body = await response.json()
        assert body["error"]["code"] == "invalid_body"
        paths = {(e["path"], e["message"]) for e in body["error"]["details"]["errors"]}
        assert ("$.count", "must be of type integer") in paths
        assert ("$.extra", "unknown") in paths
        assert ("$.inner.other", "unknown") in paths
        assert ("$.inner.flag", "is required") in paths
        assert ("$.name", "is required") in paths
        assert "Jan Jansen" not in await response.text()


@pytest.mark.asyncio
async def test_valid_body_reaches_the_handler() -> None:
    """A valid body reaches the handler, which sets the status."""
    service = _service()
    async with serve(service, table=_table(service)) as client:
        response = await client.post(
            "/api/v1/things/a.b-c_1", json={"name": "x", "tags": ["t"]}, headers=auth()
        )
        assert response.status == 201
        body = await response.json()
        assert body == {
            "body": {"name": "x", "tags": ["t"]},
            "params": {"name": "a.b-c_1"},
            "now": 1_780_000_000,
        }


@pytest.mark.asyncio
async def test_huge_body_refused() -> None:
    """A body over the JSON limit is 413 body_too_large, announced or streamed."""
    service = _service()
    huge = b'{"name": "' + b"a" * (JSON_BODY_LIMIT + 10) + b'"}'
    async with serve(service, table=_table(service)) as client:
        response = await client.post("/api/v1/things/a", data=io.BytesIO(huge), headers=auth())
        assert response.status == 413
        assert (await response.json())["error"]["code"] == "body_too_large"

        async def chunks() -> Any:
            for _ in range(20):
                yield b"a" * 65536

        response = await client.post("/api/v1/things/a", data=chunks(), headers=auth())
        assert response.status == 413


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "name",
    ["..", "..%2F..%2Fetc%2Fpasswd", "%2E%2E", "a%2Fb", ".hidden", "a..b", "a%00b", "x" * 200],
)
async def test_path_traversal_in_names(name: str) -> None:
    """Names with separators, dots or control characters are 400 invalid_name (or never routed)."""
    service = _service()
    async with serve(service, table=_table(service)) as client:
        response = await client.post(
            f"/api/v1/things/{name}", json={"name": "x"}, headers=auth(), allow_redirects=False
        )
        assert response.status in {400, 404}
        code = (await response.json())["error"]["code"]
        assert code in {"invalid_name", "not_found"}


@pytest.mark.asyncio
async def test_node_errors_keep_their_status_and_code() -> None:
    """A NodeError from a handler becomes its status and the error shape with details."""
    service = _service()
    async with serve(service, table=_table(service)) as client:
        response = await client.put("/api/v1/things/a", json={"name": "x"}, headers=auth())
        assert response.status == 409
        assert await response.json() == {
            "error": {
                "code": "thing_exists",
                "message": "that thing exists already",
                "details": {"name": "a"},
            }
        }


@pytest.mark.asyncio
async def test_unexpected_errors_are_opaque() -> None:
    """A bug becomes 500 internal_error; its text is neither returned nor logged."""
    service = _service()
    async with serve(service, table=_table(service)) as client:
        with capture_logs() as logs:
            response = await client.get("/api/v1/crash", headers=auth())
        assert response.status == 500
        assert (await response.json())["error"]["code"] == "internal_error"
        assert "secret-value" not in await response.text()
        assert "secret-value" not in repr(logs)
        assert any(entry["event"] == "api.request_failed" for entry in logs)


@pytest.mark.asyncio
async def test_unknown_query_parameter() -> None:
    """Query parameters a route does not declare are refused with 400 invalid_query."""
    async with serve() as client:
        response = await client.get("/api/v1/status?debug=1", headers=auth())
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "invalid_query"


@pytest.mark.asyncio
async def test_one_log_line_per_request_without_secrets() -> None:
    """Each request logs one summary line: method, route, status, duration; no token, no body."""
    service = _service()
    async with serve(service, table=_table(service)) as client:
        with capture_logs() as logs:
            await client.post("/api/v1/things/a", json={"name": "Jan Jansen"}, headers=auth())
            await client.get("/api/v1/status")
        completed = [entry for entry in logs if entry["event"] == "api.request_completed"]
        assert [(e["method"], e["route"], e["status"]) for e in completed] == [
            ("POST", "things.create", 201),
            ("GET", "status.get", 401),
        ]
        assert all(isinstance(e["duration_ms"], float) for e in completed)
        assert TOKEN not in repr(logs)
        assert "Jan Jansen" not in repr(logs)


def test_short_token_refused() -> None:
    """An app is never built with an empty or short admin token."""
    with pytest.raises(ValueError, match="at least 16"):
        create_app(MiniService(admin_token="short"))
