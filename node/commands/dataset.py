"""``confide dataset``: import, list, show, set the retention of and delete datasets."""

from __future__ import annotations

import argparse
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from node.commands.remote import add_common, call, fields, read_json_file, table


def _list(args: argparse.Namespace) -> int:
    def render(body: dict[str, Any]) -> str:
        rows = [
            (d["name"], d["row_count"], len(d["schema"]["columns"]), d["expires_at"])
            for d in body["datasets"]
        ]
        return table(rows, ["name", "rows", "columns", "expires at"])

    return call(args, lambda client: client.get("/datasets"), render)


def _show(args: argparse.Namespace) -> int:
    def render(body: dict[str, Any]) -> str:
        columns = table(
            [(c["name"], c["type"]) for c in body["schema"]["columns"]], ["column", "type"]
        )
        head = fields(body, ["name", "row_count", "imported_at", "expires_at", "source_sha256"])
        return f"{head}\n\n{columns}"

    return call(args, lambda client: client.get(f"/datasets/{args.name}"), render)


def _import(args: argparse.Namespace) -> int:
    from node.errors import InvalidError

    def action(client: Any) -> Any:
        schema = _json(read_json_file(args.schema)) if args.schema else None
        try:
            file = open(args.file, "rb")  # noqa: SIM115  # closed below, after the upload
        except OSError as error:
            reason = f"cannot read {args.file}: {error.strerror}"
            raise InvalidError("file_unreadable", reason) from None
        with file:
            parts: list[tuple[str, str, str, bytes | BinaryIO]] = [
                ("file", Path(args.file).name, "text/csv", file)
            ]
            if schema is not None:
                parts.append(("schema", "schema.json", "application/json", schema))
            body, length, media = multipart_stream(parts)
            query = {
                "replace": args.replace or None,
                "skip_invalid": args.skip_invalid or None,
                "delimiter": args.delimiter,
                "expires_at": args.expires_at,
            }
            return client.upload(f"/datasets/{args.name}", body, media, query=query, length=length)

    def render(report: dict[str, Any]) -> str:
        info = report["dataset"]
        line = f"imported {info['name']}: {info['row_count']} rows"
        if report["replaced"]:
            line += " (replaced)"
        if report["errors"]:
            skipped = ", ".join(f"line {e['line']} ({e['code']})" for e in report["errors"])
            line += f"; skipped {info['skipped_rows']}: {skipped}"
        return line

    return call(args, action, render)


def _expiry(args: argparse.Namespace) -> int:
    body = {"expires_at": None if args.never else args.at}
    return call(
        args,
        lambda client: client.put(f"/datasets/{args.name}/expiry", body),
        lambda info: f"{info['name']} expires at {info['expires_at'] or 'never'}",
    )


def _delete(args: argparse.Namespace) -> int:
    return call(args, lambda client: client.delete(f"/datasets/{args.name}"), lambda _: "deleted")


def multipart(parts: list[tuple[str, str, str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body of (name, filename, media type, bytes) parts; its media type."""
    boundary = "confide-" + secrets.token_hex(16)
    chunks: list[bytes] = []
    for name, filename, media, data in parts:
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{_quoted(filename)}"\r\nContent-Type: {media}\r\n\r\n'.encode()
        )
        chunks.extend([data, b"\r\n"])
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def multipart_stream(
    parts: list[tuple[str, str, str, bytes | BinaryIO]],
) -> tuple[Iterator[bytes], int, str]:
    """Like ``multipart``, but file parts are read in 1 MiB chunks as the body is sent.

    Returns the body as an iterator of chunks, its exact length (file sizes from ``fstat``) and
    its media type: the CLI never holds a large CSV in memory.
    """
    boundary = "confide-" + secrets.token_hex(16)
    pieces: list[bytes | BinaryIO] = []
    length = 0
    for name, filename, media, data in parts:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{_quoted(filename)}"\r\nContent-Type: {media}\r\n\r\n'
        ).encode()
        size = len(data) if isinstance(data, bytes) else _remaining(data)
        pieces.extend([head, data, b"\r\n"])
        length += len(head) + size + 2
    tail = f"--{boundary}--\r\n".encode()
    pieces.append(tail)
    length += len(tail)

    def chunks() -> Iterator[bytes]:
        for piece in pieces:
            if isinstance(piece, bytes):
                yield piece
                continue
            while block := piece.read(1 << 20):
                yield block

    return chunks(), length, f"multipart/form-data; boundary={boundary}"


def _remaining(file: BinaryIO) -> int:
    return os.fstat(file.fileno()).st_size - file.tell()


def _quoted(filename: str) -> str:
    return "".join(c for c in filename if c.isprintable() and c not in '"\\\r\n')[:100] or "file"


def _json(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``confide dataset`` and its actions to the command parser."""
    dataset = commands.add_parser("dataset", help="import, list, show and delete datasets")
    actions = dataset.add_subparsers(dest="action", required=True)

    listing = actions.add_parser("list", help="the node's datasets")
    add_common(listing)
    listing.set_defaults(handler=_list)

    show = actions.add_parser("show", help="one dataset's metadata and schema")
    show.add_argument("name")
    add_common(show)
    show.set_defaults(handler=_show)

    upload = actions.add_parser("import", help="import a CSV file (every row or none)")
    upload.add_argument("name", help="the dataset's name")
    upload.add_argument("file", help="the CSV file")
    upload.add_argument("--schema", help="JSON schema file (default: inferred)")
    upload.add_argument("--replace", action="store_true", help="overwrite a dataset of that name")
    upload.add_argument(
        "--skip-invalid", action="store_true", help="import the rows that parse; report the rest"
    )
    upload.add_argument("--delimiter", choices=["comma", "semicolon", "tab", "pipe"])
    upload.add_argument("--expires-at", type=int, help="delete it at this Unix time")
    add_common(upload)
    upload.set_defaults(handler=_import)

    expiry = actions.add_parser("expiry", help="set or clear when the dataset is deleted")
    expiry.add_argument("name")
    when = expiry.add_mutually_exclusive_group(required=True)
    when.add_argument("--at", type=int, help="Unix time")
    when.add_argument("--never", action="store_true", help="keep it until deleted")
    add_common(expiry)
    expiry.set_defaults(handler=_expiry)

    delete = actions.add_parser("delete", help="delete a dataset and its data")
    delete.add_argument("name")
    add_common(delete)
    delete.set_defaults(handler=_delete)
