"""``/api/v1/datasets`` over a real socket: upload, list, get, retention, delete, bad input."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from node.datasets import store as dataset_store
from tests.node.api.helpers import NOW, auth, node_service, serve

CSV = (
    b"\xef\xbb\xbfname;dob;region\r\n"
    b"Jan Jansen;1990-01-31;Utrecht\r\n"
    b"Piet Smit;1985-06-01;Zwolle\r\n"
)
SCHEMA = {
    "columns": [
        {"name": "person", "type": "identifier", "from": ["name", "dob"]},
        {"name": "region", "type": "category"},
    ]
}


def _form(csv: bytes, schema: object | None = None) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("file", csv, filename="clients.csv", content_type="text/csv")
    if schema is not None:
        form.add_field("schema", json.dumps(schema), content_type="application/json")
    return form


async def _upload(
    client: TestClient,
    token: str,
    name: str,
    csv: bytes,
    schema: object | None = None,
    **query: str,
) -> aiohttp.ClientResponse:
    return await client.post(
        f"/api/v1/datasets/{name}", data=_form(csv, schema), params=query, headers=auth(token)
    )


@pytest.mark.asyncio
async def test_import_list_get_delete(tmp_path: Path) -> None:
    """An uploaded CSV is imported, listed with its schema, and deleted."""
    async with node_service(tmp_path) as service, serve(service) as client:
        token = service.admin_token
        response = await _upload(client, token, "clients-2026", CSV, SCHEMA)
        assert response.status == 201, await response.text()
        report = await response.json()
        assert report["dataset"]["row_count"] == 2
        assert report["inferred"] is False
        assert "Jan" not in json.dumps(report)
        listed = await (await client.get("/api/v1/datasets", headers=auth(token))).json()
        assert [d["name"] for d in listed["datasets"]] == ["clients-2026"]
        one = await client.get("/api/v1/datasets/clients-2026", headers=auth(token))
        names = [c["name"] for c in (await one.json())["schema"]["columns"]]
        assert names == ["person", "region"]
        response = await client.delete("/api/v1/datasets/clients-2026", headers=auth(token))
        assert response.status == 204
        response = await client.get("/api/v1/datasets/clients-2026", headers=auth(token))
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "dataset_not_found"
        events = [e.kind for e in service.events._history]
        assert events == ["dataset.imported", "dataset.deleted"]


@pytest.mark.asyncio
async def test_import_twice_needs_replace(tmp_path: Path) -> None:
    """A second import under the same name is 409 unless replace=true."""
    async with node_service(tmp_path) as service, serve(service) as client:
        token = service.admin_token
        assert (await _upload(client, token, "d", CSV, SCHEMA)).status == 201
        response = await _upload(client, token, "d", CSV, SCHEMA)
        assert response.status == 409
        response = await _upload(client, token, "d", CSV, SCHEMA, replace="true")
        assert response.status == 201
        assert (await response.json())["replaced"] is True


@pytest.mark.asyncio
async def test_bad_rows_reported_by_line_without_values(tmp_path: Path) -> None:
    """A row that does not parse refuses the import, naming its line, never the cell."""
    bad = CSV + b"Kees de Vries;2001-02-03\r\n"  # a field short
    async with node_service(tmp_path) as service, serve(service) as client:
        response = await _upload(client, service.admin_token, "d", bad, SCHEMA)
        assert response.status == 400
        text = await response.text()
        assert "Kees" not in text
        assert (await response.json())["error"]["details"]
        listed = await (
            await client.get("/api/v1/datasets", headers=auth(service.admin_token))
        ).json()
        assert listed == {"datasets": []}


@pytest.mark.asyncio
async def test_upload_bad_input(tmp_path: Path) -> None:
    """Missing or unknown parts, a bad schema part, a bad option and a bad name are all 400."""
    async with node_service(tmp_path) as service, serve(service) as client:
        token = service.admin_token
        form = aiohttp.FormData()
        form.add_field("schema", "{}", content_type="application/json")
        response = await client.post("/api/v1/datasets/d", data=form, headers=auth(token))
        assert (response.status, (await response.json())["error"]["code"]) == (400, "invalid_body")
        form = _form(CSV)
        form.add_field("extra", "x")
        response = await client.post("/api/v1/datasets/d", data=form, headers=auth(token))
        assert response.status == 400
        response = await _upload(client, token, "d", CSV, None, delimiter="colon")
        assert (await response.json())["error"]["code"] == "invalid_query"
        form = aiohttp.FormData()
        form.add_field("file", CSV, filename="x.csv", content_type="text/csv")
        form.add_field("schema", "{not json", content_type="application/json")
        response = await client.post("/api/v1/datasets/d", data=form, headers=auth(token))
        assert (await response.json())["error"]["code"] == "malformed_json"
        response = await _upload(client, token, "d", CSV, {"columns": [], "extra": 1})
        assert response.status == 400
        response = await client.post(
            "/api/v1/datasets/d",
            data=b"name\nx\n",
            headers={**auth(token), "Content-Type": "text/csv"},
        )
        assert response.status == 400
        response = await _upload(client, token, "..%2F..%2Fetc", CSV)
        assert response.status in {400, 404}


@pytest.mark.asyncio
async def test_retention(tmp_path: Path) -> None:
    """Expiry is set through the API; one in the past is refused."""
    async with node_service(tmp_path) as service, serve(service) as client:
        token = service.admin_token
        assert (await _upload(client, token, "d", CSV, SCHEMA)).status == 201
        response = await client.put(
            "/api/v1/datasets/d/expiry", json={"expires_at": NOW + 3600}, headers=auth(token)
        )
        assert (await response.json())["expires_at"] == NOW + 3600
        response = await client.put(
            "/api/v1/datasets/d/expiry", json={"expires_at": NOW - 1}, headers=auth(token)
        )
        assert response.status == 400
        response = await client.put(
            "/api/v1/datasets/d/expiry", json={"expires_at": "soon"}, headers=auth(token)
        )
        assert (await response.json())["error"]["code"] == "invalid_body"


@pytest.mark.asyncio
async def test_node_answers_other_requests_while_an_import_parses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import parsing in its worker does not hold the loop: /status answers meanwhile."""
    parsing, answered = threading.Event(), threading.Event()
    real_read_csv = dataset_store.read_csv

    def slow_read_csv(*args: Any, **kwargs: Any) -> Any:
        parsing.set()
        held = answered.wait(timeout=10)  # on the loop, this would wait out its timeout
        assert held, "the status request was not answered while the import parsed"
        return real_read_csv(*args, **kwargs)

    monkeypatch.setattr(dataset_store, "read_csv", slow_read_csv)
    async with node_service(tmp_path) as service, serve(service) as client:
        token = service.admin_token
        upload = asyncio.ensure_future(_upload(client, token, "d", CSV, SCHEMA))
        while not parsing.is_set():
            await asyncio.sleep(0.01)
        status = await client.get("/api/v1/status", headers=auth(token))
        assert status.status == 200
        answered.set()
        response = await upload
        assert response.status == 201, await response.text()
    assert not list((tmp_path / "home" / "uploads").glob("*"))


@pytest.mark.asyncio
async def test_bad_cells_never_reach_errors_logs_audit_or_events(tmp_path: Path) -> None:
    """A name in a bad cell is in no API answer, log line, audit entry or published event."""
    name = "Zwanhilde Oosterveld-Bakx"
    csv = (
        "naam;geboortedatum;leeftijd\r\n"
        "Jan Jansen;1990-01-31;36\r\n"
        f"Piet Smit;1985-06-01;{name}\r\n"  # a name where a number belongs
        f"{name};1985-13-45;40\r\n"  # an impossible date in the identifier
    ).encode()
    schema = {
        "columns": [
            {"name": "persoon", "type": "identifier", "from": ["naam", "geboortedatum"]},
            {"name": "leeftijd", "type": "integer"},
        ]
    }
    async with node_service(tmp_path) as service, serve(service) as client:
        token = service.admin_token
        with capture_logs() as logs:
            refused = await _upload(client, token, "d", csv, schema)
            kept = await _upload(client, token, "d", csv, schema, skip_invalid="true")
        completed = [e["route"] for e in logs if e["event"] == "api.request_completed"]
        assert completed == ["datasets.upload", "datasets.upload"]
        texts = [await refused.text(), await kept.text(), repr(logs)]
        assert refused.status == 400
        assert kept.status == 201
        lines = [e["line"] for e in (await kept.json())["errors"]]
        assert 3 in lines
        texts += [row[0] for row in service.connection.execute("SELECT details FROM audit_entries")]
        texts += [repr(event.data) for event in service.events._history]
        for text in texts:
            for part in ("Zwanhilde", "Oosterveld", "Bakx", "zwanhilde", "oosterveld"):
                assert part not in text
