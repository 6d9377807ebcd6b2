"""Datasets in the node's store: import (all or nothing), list, get, load a column, delete, expire.

Tables (component ``datasets``): ``datasets`` holds one row of metadata per dataset (schema as
JSON, row count, rows skipped at import, ``imported_at``, SHA-256 of the source file,
``expires_at``); ``dataset_columns`` holds one blob per column (``columns.py``). An import is
parsed and checked completely before the store is touched, then written in one transaction
together with its ``dataset.imported`` audit entry: it lands whole or not at all, and a replaced
dataset stays as it was until the new one commits.

Deletion (``delete``, ``expire``) removes the rows in the transaction that audits
``dataset.deleted``. The store runs with ``PRAGMA secure_delete=ON`` so freed pages are
overwritten with zeros rather than left in the file, and ``expire`` checkpoints the write-ahead
log afterwards. No VACUUM is run: the file keeps its size, not the data.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from node.audit import AuditLog
from node.datasets.background import ImportSlots
from node.datasets.columns import ColumnData, decode_column, encode_column
from node.datasets.csvimport import Limits, Table, read_csv
from node.datasets.metadata import DatasetInfo, ImportReport, info_from_row
from node.datasets.schema import Schema, check_name, parse_schema
from node.errors import (
    ConflictError,
    InvalidError,
    NotFoundError,
    TooLargeError,
    UnavailableError,
)
from node.offload import in_worker
from node.store import migrate, transaction

COMPONENT = "datasets"
STEPS = (
    """
    CREATE TABLE datasets (
        name          TEXT PRIMARY KEY,
        schema        TEXT NOT NULL,
        row_count     INTEGER NOT NULL,
        skipped_rows  INTEGER NOT NULL,
        imported_at   INTEGER NOT NULL,
        source_sha256 TEXT NOT NULL,
        expires_at    INTEGER
    ) STRICT;
    CREATE INDEX datasets_expires_at ON datasets (expires_at) WHERE expires_at IS NOT NULL;
    CREATE TABLE dataset_columns (
        dataset  TEXT NOT NULL REFERENCES datasets (name) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        name     TEXT NOT NULL,
        data     BLOB NOT NULL,
        PRIMARY KEY (dataset, name)
    ) STRICT;
    """,
)
Publish = Callable[[str, dict[str, Any]], None]


class DatasetStore:
    """The datasets of one node, over its store connection, auditing every change."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        audit: AuditLog,
        *,
        limits: Limits | None = None,
        publish: Publish | None = None,
    ) -> None:
        self.connection = connection
        self.audit = audit
        self.limits = limits or Limits()
        self.publish = publish
        self.slots = ImportSlots()
        self._write_lock = threading.Lock()  # one import writes at a time (they parse in parallel)
        self._closing = threading.Event()  # set by aclose: imports still parsing write nothing
        connection.execute("PRAGMA secure_delete=ON")
        migrate(connection, COMPONENT, STEPS)

    async def import_file_in_worker(
        self,
        name: str,
        path: Path | str,
        *,
        now: int,
        schema: Schema | Mapping[str, Any] | None = None,
        delimiter: str | None = None,
        skip_invalid: bool = False,
        replace: bool = False,
        expires_at: int | None = None,
        actor: str | None = None,
    ) -> ImportReport:
        """``import_file`` off the event loop: in a worker thread on its own store connection,
        within ``slots`` (``imports_busy`` when too many run or wait). See background.py."""
        check_name(name)

        def work(connection: sqlite3.Connection) -> ImportReport:
            return self._twin(connection).import_file(
                name,
                path,
                now=now,
                schema=schema,
                delimiter=delimiter,
                skip_invalid=skip_invalid,
                replace=replace,
                expires_at=expires_at,
                actor=actor,
            )

        async with self.slots.slot():
            return await in_worker(self.connection, work)

    def _twin(self, connection: sqlite3.Connection) -> DatasetStore:
        """This store over another connection to the same file (for a worker thread)."""
        if connection is self.connection:
            return self
        audit = AuditLog(
            connection,
            self.audit.identity,
            checkpoint_every=self.audit.checkpoint_every,
            clock=self.audit.clock,
        )
        twin = DatasetStore(connection, audit, limits=self.limits, publish=self.publish)
        twin._write_lock = self._write_lock
        twin._closing = self._closing
        return twin

    async def aclose(self, reason: str) -> None:
        """At shutdown: imports still parsing in a worker are abandoned before they write
        (``node_stopping``); one already writing commits whole first."""
        self._closing.set()

    def import_file(
        self,
        name: str,
        path: Path | str,
        *,
        now: int,
        schema: Schema | Mapping[str, Any] | None = None,
        delimiter: str | None = None,
        skip_invalid: bool = False,
        replace: bool = False,
        expires_at: int | None = None,
        actor: str | None = None,
    ) -> ImportReport:
        """Import the CSV file at ``path`` (options as ``import_bytes``); size checked first."""
        check_name(name)
        try:
            size = Path(path).stat().st_size
            if size > self.limits.max_bytes:
                raise TooLargeError(
                    "file_too_large",
                    f"the file is over the import limit of {self.limits.max_bytes} bytes",
                    {"limit": self.limits.max_bytes},
                )
            data = Path(path).read_bytes()
        except OSError:
            raise InvalidError("file_unreadable", "the file cannot be read") from None
        return self.import_bytes(
            name,
            data,
            now=now,
            schema=schema,
            delimiter=delimiter,
            skip_invalid=skip_invalid,
            replace=replace,
            expires_at=expires_at,
            actor=actor,
        )

    def import_bytes(
        self,
        name: str,
        data: bytes,
        *,
        now: int,
        schema: Schema | Mapping[str, Any] | None = None,
        delimiter: str | None = None,
        skip_invalid: bool = False,
        replace: bool = False,
        expires_at: int | None = None,
        actor: str | None = None,
    ) -> ImportReport:
        """Import CSV ``data`` as dataset ``name``: all rows or nothing (see csvimport.py).

        ``schema`` is a ``Schema`` or its JSON form; None infers one. ``replace`` allows
        overwriting an existing dataset; ``expires_at`` (Unix seconds, after ``now``) sets its
        retention. ``actor`` is passed to the audit log (``"admin"`` for the operator).
        """
        check_name(name)
        if expires_at is not None and expires_at <= now:
            raise InvalidError("expiry_in_past", "the expiry must be after the import time")
        declared = schema if schema is None or isinstance(schema, Schema) else parse_schema(schema)
        if not replace and self._exists(name):
            raise _exists_error()
        table = read_csv(
            data,
            declared,
            delimiter=delimiter,
            skip_invalid=skip_invalid,
            limits=self.limits,
        )
        info = DatasetInfo(
            name=name,
            schema=table.schema,
            row_count=table.row_count,
            skipped_rows=table.skipped,
            imported_at=now,
            source_sha256=table.source_sha256,
            expires_at=expires_at,
        )
        replaced = self._write(info, table, replace=replace, actor=actor)
        self._publish("dataset.imported", {"dataset": name, "rows": table.row_count})
        return ImportReport(info, declared is None, replaced, table.errors)

    def datasets(self) -> list[DatasetInfo]:
        """Every stored dataset, by name."""
        rows = self.connection.execute(_SELECT + "ORDER BY name")
        return [info_from_row(row) for row in rows]

    def get(self, name: str) -> DatasetInfo:
        """The metadata of dataset ``name`` (``dataset_not_found`` if none)."""
        row = self.connection.execute(_SELECT + "WHERE name = ?", (check_name(name),)).fetchone()
        if row is None:
            raise NotFoundError("dataset_not_found", "no dataset by that name", {"dataset": name})
        return info_from_row(row)

    def schema(self, name: str) -> Schema:
        """The schema of dataset ``name``."""
        return self.get(name).schema

    def row_count(self, name: str) -> int:
        """The exact number of rows of dataset ``name`` (local use only)."""
        return self.get(name).row_count

    def load_column(self, name: str, column: str, *, now: int | None = None) -> ColumnData:
        """The values of one column: ``list[str]`` or a masked int64 array (see columns.py).

        With ``now``, a dataset past its expiry is refused (``dataset_expired``) even if
        ``expire`` has not run yet.
        """
        info = self.get(name)
        if now is not None and info.expired(now):
            raise NotFoundError("dataset_expired", "the dataset has expired", {"dataset": name})
        row = self.connection.execute(
            "SELECT data FROM dataset_columns WHERE dataset = ? AND name = ?", (name, column)
        ).fetchone()
        if row is None:
            raise NotFoundError(
                "column_not_found", "the dataset has no such column", {"dataset": name}
            )
        return decode_column(bytes(row[0]), info.row_count)

    def delete(
        self, name: str, *, now: int, actor: str | None = None, reason: str = "requested"
    ) -> None:
        """Delete dataset ``name`` and its data, auditing ``dataset.deleted`` with ``reason``."""
        with transaction(self.connection):
            info = self.get(name)
            self._remove(info, now=now, actor=actor, reason=reason)
        self._publish("dataset.deleted", {"dataset": name, "reason": reason})

    def set_expiry(
        self, name: str, expires_at: int | None, *, now: int, actor: str | None = None
    ) -> DatasetInfo:
        """Set or clear the expiry of dataset ``name`` (audited ``dataset.retention_changed``)."""
        if expires_at is not None and expires_at <= now:
            raise InvalidError("expiry_in_past", "the expiry must be in the future")
        with transaction(self.connection):
            self.get(name)
            self.connection.execute(
                "UPDATE datasets SET expires_at = ? WHERE name = ?", (expires_at, name)
            )
            self.audit.append(
                "dataset.retention_changed",
                {"dataset": name, "expires_at": expires_at},
                actor=actor,
                now=now,
            )
        return self.get(name)

    def expire(self, now: int) -> list[str]:
        """Delete every dataset whose expiry is at or before ``now``; return their names."""
        with transaction(self.connection):
            rows = self.connection.execute(
                _SELECT + "WHERE expires_at <= ? ORDER BY name", (now,)
            ).fetchall()
            expired = [info_from_row(row) for row in rows]
            for info in expired:
                self._remove(info, now=now, actor=None, reason="expired")
        if expired:
            self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            for info in expired:
                self._publish("dataset.deleted", {"dataset": info.name, "reason": "expired"})
        return [info.name for info in expired]

    def next_expiry(self) -> int | None:
        """The earliest expiry of any stored dataset: when ``expire`` next has work to do."""
        row = self.connection.execute("SELECT MIN(expires_at) FROM datasets").fetchone()
        return None if row[0] is None else int(row[0])

    def _exists(self, name: str) -> bool:
        """Whether a dataset called ``name`` is stored."""
        row = self.connection.execute("SELECT 1 FROM datasets WHERE name = ?", (name,))
        return row.fetchone() is not None

    def _write(self, info: DatasetInfo, table: Table, *, replace: bool, actor: str | None) -> bool:
        """Store ``table`` as ``info`` in one audited transaction; True if it replaced one.

        The columns are encoded before the transaction starts, so the write lock is held only
        for the inserts."""
        blobs = [encode_column(table.columns[column.name]) for column in info.schema.columns]
        with self._write_lock:
            if self._closing.is_set():
                raise UnavailableError(
                    "node_stopping", "the node is stopping; the import was abandoned, nothing kept"
                )
            return self._insert(info, blobs, replace=replace, actor=actor)

    def _insert(
        self, info: DatasetInfo, blobs: list[bytes], *, replace: bool, actor: str | None
    ) -> bool:
        """The inserts of ``_write``, in one transaction with their audit entry."""
        with transaction(self.connection):
            replaced = self._exists(info.name)
            if replaced and not replace:
                raise _exists_error()
            self.connection.execute("DELETE FROM dataset_columns WHERE dataset = ?", (info.name,))
            self.connection.execute("DELETE FROM datasets WHERE name = ?", (info.name,))
            self.connection.execute(
                _INSERT,
                (
                    info.name,
                    json.dumps(info.schema.to_json(), sort_keys=True, ensure_ascii=False),
                    info.row_count,
                    info.skipped_rows,
                    info.imported_at,
                    info.source_sha256,
                    info.expires_at,
                ),
            )
            for position, (column, blob) in enumerate(zip(info.schema.columns, blobs, strict=True)):
                self.connection.execute(
                    "INSERT INTO dataset_columns (dataset, position, name, data) "
                    "VALUES (?, ?, ?, ?)",
                    (info.name, position, column.name, blob),
                )
            self.audit.append(
                "dataset.imported",
                {
                    "dataset": info.name,
                    "rows": info.row_count,
                    "skipped_rows": info.skipped_rows,
                    "columns": len(info.schema.columns),
                    "source_sha256": info.source_sha256,
                    "replaced": replaced,
                    "expires_at": info.expires_at,
                },
                actor=actor,
                now=info.imported_at,
            )
        return replaced

    def _remove(self, info: DatasetInfo, *, now: int, actor: str | None, reason: str) -> None:
        """Delete one dataset's rows and audit it (inside the caller's transaction)."""
        self.connection.execute("DELETE FROM dataset_columns WHERE dataset = ?", (info.name,))
        self.connection.execute("DELETE FROM datasets WHERE name = ?", (info.name,))
        self.audit.append(
            "dataset.deleted",
            {"dataset": info.name, "rows": info.row_count, "reason": reason},
            actor=actor,
            now=now,
        )

    def _publish(self, kind: str, data: dict[str, Any]) -> None:
        """Tell the event bus, after the change has committed."""
        if self.publish is not None:
            self.publish(kind, data)


_SELECT = (
    "SELECT name, schema, row_count, skipped_rows, imported_at, source_sha256, expires_at "
    "FROM datasets "
)
_INSERT = (
    "INSERT INTO datasets (name, schema, row_count, skipped_rows, imported_at, source_sha256, "
    "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _exists_error() -> ConflictError:
    """Importing over an existing dataset without ``replace``."""
    return ConflictError(
        "dataset_exists", "a dataset by that name exists; import with replace to overwrite it"
    )
