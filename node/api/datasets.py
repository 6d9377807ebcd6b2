"""``/api/v1/datasets``: import (upload), list, read the schema, set retention, delete.

Import is an upload, never a server-side path: ``POST /datasets/{name}`` with a
``multipart/form-data`` body holding the CSV as part ``file`` and, optionally, the schema as
part ``schema`` (JSON; inferred when absent). Options are query parameters. Backed by
``node.datasets.DatasetStore``; the API shows metadata and schemas, never a value.

The CSV part is streamed to a temporary file in the node home (``bodies.py``) and imported in a
worker thread on its own store connection (``DatasetStore.import_file_in_worker``), so a large
import never holds the event loop; a few imports run at once, a few more wait, the rest are
refused with 503 ``imports_busy``.
"""

from __future__ import annotations

import json
from typing import Any

from node.api.bodies import Upload
from node.api.routes import MULTIPART, Call, Reply, Route, listing, obj
from node.datasets import Limits
from node.errors import InvalidError

ADMIN = "admin"

DATASET_SCHEMA = {
    "type": "object",
    "required": ["name", "schema", "row_count", "imported_at", "expires_at"],
    "properties": {
        "name": {"type": "string"},
        "schema": {"type": "object"},
        "row_count": {"type": "integer"},
        "skipped_rows": {"type": "integer"},
        "imported_at": {"type": "integer"},
        "source_sha256": {"type": "string"},
        "expires_at": {"type": ["integer", "null"]},
    },
}
REPORT_SCHEMA = {
    "type": "object",
    "required": ["dataset", "inferred", "replaced", "errors"],
    "properties": {"dataset": DATASET_SCHEMA, "errors": {"type": "array"}},
}
_IMPORT_QUERY: dict[str, dict[str, Any]] = {
    "replace": {"type": "boolean"},
    "skip_invalid": {"type": "boolean"},
    "delimiter": {"enum": ["comma", "semicolon", "tab", "pipe"]},
    "expires_at": {"type": "integer", "minimum": 0},
}
_DELIMITERS = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|"}


def routes(service: Any) -> list[Route]:
    """The dataset routes, for a service with a dataset store."""
    store = getattr(service, "datasets", None)
    if store is None:
        return []
    limits: Limits = store.limits
    return [
        Route(
            "GET",
            "/datasets",
            "datasets.list",
            _list,
            "Datasets held by this node: name, schema, row count, retention",
            response=listing("datasets", DATASET_SCHEMA),
        ),
        Route(
            "POST",
            "/datasets/{name}",
            "datasets.upload",
            _import,
            "Import a CSV upload as dataset `name`: every row or none",
            status=201,
            upload=MULTIPART,
            upload_limit=limits.max_bytes + (1 << 20),  # the CSV plus a schema part
            parts={"file": True, "schema": False},
            files=frozenset({"file"}),
            query=_IMPORT_QUERY,
            response=REPORT_SCHEMA,
            errors=(409, 413, 503),
            description="Parts: `file` (the CSV) and optionally `schema` (JSON; inferred when "
            "absent). `replace=true` overwrites a dataset of that name; `skip_invalid=true` "
            "imports the rows that parse and reports the others by line; `delimiter` "
            "overrides detection. Row errors name the line and column, never the cell.",
        ),
        Route(
            "GET",
            "/datasets/{name}",
            "datasets.get",
            _get,
            "One dataset's metadata and schema",
            response=DATASET_SCHEMA,
            errors=(404,),
        ),
        Route(
            "PUT",
            "/datasets/{name}/expiry",
            "datasets.set_expiry",
            _set_expiry,
            "Set or clear (null) when the dataset is deleted",
            body=obj(
                {"expires_at": {"type": ["integer", "null"], "minimum": 0}},
                required=("expires_at",),
            ),
            response=DATASET_SCHEMA,
            errors=(404,),
        ),
        Route(
            "DELETE",
            "/datasets/{name}",
            "datasets.delete",
            _delete,
            "Delete the dataset and its data (audited)",
            status=204,
            errors=(404,),
        ),
    ]


async def _list(call: Call) -> Reply:
    return Reply({"datasets": [info.to_json() for info in call.service.datasets.datasets()]})


async def _get(call: Call) -> Reply:
    return Reply(call.service.datasets.get(call.params["name"]).to_json())


async def _import(call: Call) -> Reply:
    upload: Upload = call.body
    schema = _schema(upload.data["schema"]) if "schema" in upload.data else None
    delimiter = call.query.get("delimiter")
    report = await call.service.datasets.import_file_in_worker(
        call.params["name"],
        upload.files["file"],
        now=call.now,
        schema=schema,
        delimiter=_DELIMITERS[delimiter] if delimiter else None,
        skip_invalid=call.query.get("skip_invalid", False),
        replace=call.query.get("replace", False),
        expires_at=call.query.get("expires_at"),
        actor=ADMIN,
    )
    return Reply(report.to_json())


async def _set_expiry(call: Call) -> Reply:
    info = call.service.datasets.set_expiry(
        call.params["name"], call.body["expires_at"], now=call.now, actor=ADMIN
    )
    return Reply(info.to_json())


async def _delete(call: Call) -> Reply:
    call.service.datasets.delete(call.params["name"], now=call.now, actor=ADMIN)
    return Reply(None)


def _schema(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidError("malformed_json", "the schema part is not valid JSON") from None
