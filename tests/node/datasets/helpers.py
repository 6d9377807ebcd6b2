"""Shared helpers for the dataset tests: a store with a real audit log, CSV bytes from rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from network.identity import Identity
from node.audit import AuditLog
from node.datasets.csvimport import Limits
from node.datasets.store import DatasetStore, Publish
from node.store import open_store

NOW = 1_780_000_000
"""A fixed "now" (Unix seconds) for every test."""


def make_store(
    tmp_path: Path, *, limits: Limits | None = None, publish: Publish | None = None
) -> tuple[DatasetStore, AuditLog]:
    """A dataset store over a fresh node store, with the audit log it writes to."""
    connection = open_store(tmp_path / "store.sqlite")
    audit = AuditLog(connection, Identity.generate())
    return DatasetStore(connection, audit, limits=limits, publish=publish), audit


def audit_events(connection: sqlite3.Connection) -> list[tuple[str, str]]:
    """(event, details JSON) of every audit entry, in order."""
    rows = connection.execute("SELECT event, details FROM audit_entries ORDER BY seq")
    return [(row[0], row[1]) for row in rows]


def csv_bytes(rows: Sequence[Sequence[str]], *, separator: str = ",", newline: str = "\n") -> bytes:
    """UTF-8 CSV of already-quoted cells."""
    return (newline.join(separator.join(row) for row in rows) + newline).encode("utf-8")
