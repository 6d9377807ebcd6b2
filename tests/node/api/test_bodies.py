"""Request bodies over a real socket: uploads spooled to files, limits while streaming, cleanup."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from node.api.app import all_routes, create_app
from node.api.bodies import Upload, parse_json
from node.api.routes import JSON_BODY_LIMIT, MULTIPART, Call, Reply, Route
from node.errors import InvalidError
from tests.node.api.helpers import auth, node_service, serve

BOUNDARY = "test-boundary-7f3a"


async def _inspect(call: Call) -> Reply:
    upload: Upload = call.body
    path = upload.files["file"]
    return Reply(
        {
            "spooled": path.is_file(),
            "size": path.stat().st_size,
            "mode": path.stat().st_mode & 0o777,
            "directory": str(path.parent),
            "schema": upload.data.get("schema", b"").decode(),
        }
    )


def _table(service: object, limit: int = 4096) -> list[Route]:
    return [
        *all_routes(service),
        Route(
            "POST",
            "/uploads",
            "uploads.create",
            _inspect,
            "Inspect an upload",
            upload=MULTIPART,
            upload_limit=limit,
            parts={"file": True, "schema": False},
            files=frozenset({"file"}),
        ),
    ]


def _form(data: bytes, schema: bytes | None = None) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("file", io.BytesIO(data), filename="x.csv", content_type="text/csv")
    if schema is not None:
        form.add_field(
            "schema", io.BytesIO(schema), filename="s.json", content_type="application/json"
        )
    return form


async def _chunked(data: bytes) -> AsyncIterator[bytes]:
    """A multipart body with no Content-Length: the server only learns its size by reading."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    for start in range(0, len(data), 1024):
        yield data[start : start + 1024]
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def _spooled(directory: Path) -> list[Path]:
    return sorted((directory / "home" / "uploads").glob("*"))


@pytest.mark.asyncio
async def test_file_part_is_spooled_privately_and_removed(tmp_path: Path) -> None:
    """The file part is a 0600 file in <home>/uploads while the handler runs, gone after."""
    async with node_service(tmp_path) as service:
        async with serve(service, table=_table(service)) as client:
            response = await client.post(
                "/api/v1/uploads",
                data=_form(b"a,b\n1,2\n", b"{}"),
                headers=auth(service.admin_token),
            )
            assert response.status == 200, await response.text()
            seen = await response.json()
        assert seen["spooled"] is True
        assert seen["size"] == 8
        assert seen["mode"] == 0o600
        assert seen["directory"] == str(tmp_path / "home" / "uploads")
        assert seen["schema"] == "{}"
        assert _spooled(tmp_path) == []


@pytest.mark.asyncio
async def test_limit_enforced_while_streaming_and_partial_file_removed(tmp_path: Path) -> None:
    """A chunked upload past the limit is 413 body_too_large and leaves no file behind."""
    async with node_service(tmp_path) as service:
        async with serve(service, table=_table(service, limit=4096)) as client:
            headers = {
                **auth(service.admin_token),
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            }
            response = await client.post(
                "/api/v1/uploads", data=_chunked(b"x" * 20_000), headers=headers
            )
            assert response.status == 413
            assert (await response.json())["error"]["code"] == "body_too_large"
            response = await client.post(
                "/api/v1/uploads", data=_chunked(b"y" * 1000), headers=headers
            )
            assert response.status == 200, await response.text()
        assert _spooled(tmp_path) == []


@pytest.mark.asyncio
async def test_small_parts_are_capped_at_the_json_limit(tmp_path: Path) -> None:
    """A schema part over the JSON body limit is refused even when the upload limit is larger."""
    async with node_service(tmp_path) as service:
        table = _table(service, limit=4 * JSON_BODY_LIMIT)
        async with serve(service, table=table) as client:
            form = _form(b"a\n1\n", b" " * (JSON_BODY_LIMIT + 1))
            response = await client.post(
                "/api/v1/uploads", data=form, headers=auth(service.admin_token)
            )
            assert response.status == 413
        assert _spooled(tmp_path) == []


@pytest.mark.asyncio
async def test_leftover_uploads_are_cleared_when_the_api_starts(tmp_path: Path) -> None:
    """Files left in the spool by a killed node are removed when the next API is created."""
    async with node_service(tmp_path) as service:
        spool = tmp_path / "home" / "uploads"
        spool.mkdir(exist_ok=True)
        (spool / "upload-deadbeef.part").write_bytes(b"half an upload")
        create_app(service, table=_table(service))
        assert _spooled(tmp_path) == []


@pytest.mark.parametrize("raw", [b"NaN", b'{"a": Infinity}', b"[-Infinity]"])
def test_non_json_constants_are_malformed(raw: bytes) -> None:
    """NaN and the infinities, which Python's json accepts, are refused as malformed JSON."""
    with pytest.raises(InvalidError) as caught:
        parse_json(raw)
    assert caught.value.code == "malformed_json"


def test_json_numbers_still_parse() -> None:
    """Ordinary numbers, nested values and unicode parse as before."""
    assert parse_json('{"a": [1, 2.5, -3e2], "b": "é"}'.encode()) == {
        "a": [1, 2.5, -300.0],
        "b": "é",
    }
