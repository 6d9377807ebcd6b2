"""Request bodies of the admin API: JSON read within its limit, multipart uploads spooled to disk.

A JSON body is read into memory up to its route's limit (``JSON_BODY_LIMIT``, 1 MiB) and parsed.
A ``multipart/form-data`` upload is never held in memory whole: each part a route names in
``Route.files`` is streamed, 64 KiB at a time, into a temporary file in the spool directory
(``<node home>/uploads``, mode 0700), and the size limit is enforced while streaming — the
first chunk past it ends the request with 413 and the partial file is removed. Other parts
(a JSON schema) are read into memory, each within ``JSON_BODY_LIMIT`` when the route spools
files (else within the route's limit). ``Upload.close()`` removes every spooled file;
the dispatcher calls it when the handler returns, whatever happened. Files left behind by a
process that was killed mid-upload are removed by ``clear_spool`` when the API starts.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from node.api.routes import JSON_BODY_LIMIT, Route
from node.errors import InvalidError, TooLargeError

CHUNK = 1 << 16
SPOOL_PREFIX = "upload-"


@dataclass
class Upload:
    """The parts of one multipart request: small ones as bytes, spooled ones as file paths."""

    data: dict[str, bytes] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    def __contains__(self, name: object) -> bool:
        return name in self.data or name in self.files

    def close(self) -> None:
        """Remove every spooled file (idempotent)."""
        for path in self.files.values():
            path.unlink(missing_ok=True)
        self.files.clear()


def spool_directory(service: Any) -> Path:
    """Where uploads are spooled: ``<home>/uploads`` for a node, else the system temp dir."""
    home = getattr(service, "home", None)
    path = getattr(home, "path", None)
    if path is None:
        return Path(tempfile.gettempdir())
    spool = Path(path) / "uploads"
    spool.mkdir(mode=0o700, exist_ok=True)
    return spool


def clear_spool(directory: Path) -> int:
    """Remove spooled uploads left by an earlier run (killed mid-upload); how many."""
    removed = 0
    for leftover in directory.glob(SPOOL_PREFIX + "*"):
        leftover.unlink(missing_ok=True)
        removed += 1
    return removed


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request body, refused with 413 if it is (or announces it is) over ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(CHUNK):
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_parts(request: web.Request, route: Route, spool: Path) -> Upload:
    """The parts of a multipart/form-data body: declared names only, each once, within the limit.

    Parts in ``route.files`` go to a file in ``spool``; on any failure every file written so far
    is removed before the error propagates.
    """
    if request.content_length is not None and request.content_length > route.upload_limit:
        raise too_large(route.upload_limit)
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError, KeyError):
        raise InvalidError("invalid_body", "the request body is not multipart/form-data") from None
    upload = Upload()
    try:
        await _read_all(reader, route, spool, upload)
    except BaseException:
        upload.close()
        raise
    return upload


async def _read_all(reader: Any, route: Route, spool: Path, upload: Upload) -> None:
    size = 0
    part_limit = JSON_BODY_LIMIT if route.files else route.upload_limit
    while True:
        try:
            part = await reader.next()
        except ValueError:
            raise InvalidError("invalid_body", "the multipart body is malformed") from None
        if part is None:
            break
        name = getattr(part, "name", None)
        if not isinstance(name, str) or name not in route.parts or name in upload:
            raise InvalidError(
                "invalid_body",
                "the multipart body has an unknown or repeated part",
                {"errors": [{"path": str(name)[:64], "message": "unknown or repeated"}]},
            )
        if name in route.files:
            size = await _spool_part(part, route.upload_limit, size, spool, upload, name)
            continue
        chunks: list[bytes] = []
        held = 0
        while chunk := await part.read_chunk(CHUNK):
            size += len(chunk)
            held += len(chunk)
            if size > route.upload_limit:
                raise too_large(route.upload_limit)
            if held > part_limit:
                raise too_large(part_limit)
            chunks.append(chunk)
        upload.data[name] = b"".join(chunks)
    missing = [n for n, required in route.parts.items() if required and n not in upload]
    if missing:
        raise InvalidError(
            "invalid_body",
            f"the multipart body has no {missing[0]!r} part",
            {"errors": [{"path": n, "message": "is required"} for n in missing]},
        )


async def _spool_part(
    part: Any, limit: int, size: int, spool: Path, upload: Upload, name: str
) -> int:
    """Stream one part into a new private file in ``spool``; the running body size."""
    path = spool / f"{SPOOL_PREFIX}{secrets.token_hex(8)}.part"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    upload.files[name] = path  # removed by Upload.close from here on
    with os.fdopen(descriptor, "wb") as file:
        while chunk := await part.read_chunk(CHUNK):
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            file.write(chunk)  # 64 KiB into the page cache: short enough for the loop
    return size


def too_large(limit: int) -> TooLargeError:
    """413 ``body_too_large`` naming the limit."""
    return TooLargeError(
        "body_too_large", f"the request body is over its limit of {limit} bytes", {"limit": limit}
    )


def _no_constant(name: str) -> Any:
    """``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (RFC 8259); Python would accept them."""
    raise InvalidError("malformed_json", f"the request body is not valid JSON ({name})")


def parse_json(raw: bytes) -> Any:
    """``raw`` as JSON, or 400 ``malformed_json`` with the position of the fault."""
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        position = getattr(error, "pos", getattr(error, "start", 0))
        raise InvalidError(
            "malformed_json", "the request body is not valid JSON", {"position": position}
        ) from None
    except RecursionError:
        raise InvalidError("malformed_json", "the request body nests too deeply") from None
