"""What the node keeps about a dataset besides its values, and what an import reports.

``DatasetInfo`` is one row of the ``datasets`` table (never a value); ``ImportReport`` is what
an import answers, with the line-numbered errors of any rows it skipped.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from node.datasets.csvimport import RowError
from node.datasets.schema import Schema, parse_schema


@dataclass(frozen=True)
class DatasetInfo:
    """The metadata of one stored dataset (never its values)."""

    name: str
    schema: Schema
    row_count: int
    skipped_rows: int
    imported_at: int
    source_sha256: str
    expires_at: int | None

    def expired(self, now: int) -> bool:
        """Whether the dataset is past its expiry at ``now``."""
        return self.expires_at is not None and self.expires_at <= now

    def to_json(self) -> dict[str, Any]:
        """The admin view (local only; other nodes see ``catalog.CatalogEntry``)."""
        return {
            "name": self.name,
            "schema": self.schema.to_json(),
            "row_count": self.row_count,
            "skipped_rows": self.skipped_rows,
            "imported_at": self.imported_at,
            "source_sha256": self.source_sha256,
            "expires_at": self.expires_at,
        }


@dataclass(frozen=True)
class ImportReport:
    """What an import stored, with the errors of the rows it skipped (``skip_invalid``)."""

    dataset: DatasetInfo
    inferred: bool
    replaced: bool
    errors: tuple[RowError, ...]

    def to_json(self) -> dict[str, Any]:
        """The JSON form for the admin API and the CLI."""
        return {
            "dataset": self.dataset.to_json(),
            "inferred": self.inferred,
            "replaced": self.replaced,
            "errors": [e.to_json() for e in self.errors],
        }


def info_from_row(row: sqlite3.Row | tuple[Any, ...]) -> DatasetInfo:
    """Metadata from a row ``(name, schema, row_count, skipped_rows, imported_at, source_sha256,
    expires_at)``."""
    name, schema, row_count, skipped, imported_at, source_sha256, expires_at = tuple(row)
    return DatasetInfo(
        name=name,
        schema=parse_schema(json.loads(schema)),
        row_count=row_count,
        skipped_rows=skipped,
        imported_at=imported_at,
        source_sha256=source_sha256,
        expires_at=expires_at,
    )
