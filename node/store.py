"""The node's SQLite store: one file, WAL mode, per-component schema migrations.

Every part of the node that keeps state (datasets, policies, negotiations, audit log…) owns its
own tables and lists its schema as an ordered sequence of migration steps under a component
name. ``migrate`` applies the steps that the store has not seen yet, each inside the same
transaction as the version bump, so a crash mid-migration leaves the previous version intact.

SQLite in WAL mode with ``synchronous=FULL`` makes every committed transaction durable across a
kill -9 or a power cut; an uncommitted one is rolled back on the next open. Nothing
half-written is ever read back.

Connections are used from one thread each (``check_same_thread`` stays on). Long work such as a
CSV import opens its own connection with ``open_store``; WAL lets readers and one writer proceed
together, and ``busy_timeout`` makes a second writer wait instead of failing at once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT_MS = 10_000

_VERSIONS = """
CREATE TABLE IF NOT EXISTS schema_versions (
    component TEXT PRIMARY KEY,
    version   INTEGER NOT NULL
) STRICT
"""


class StoreError(Exception):
    """The store cannot be opened or migrated (corrupt file, newer schema, full disk)."""


def open_store(path: Path | str) -> sqlite3.Connection:
    """Open (creating if needed) the store at ``path`` in WAL mode with durable commits."""
    try:
        connection = sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
        )
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        connection.execute(_VERSIONS)
    except sqlite3.DatabaseError as error:
        raise StoreError(f"cannot open the store: {error}") from None
    return connection


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block in one ``BEGIN IMMEDIATE`` transaction: all of it commits, or none."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def schema_version(connection: sqlite3.Connection, component: str) -> int:
    """The number of migration steps of ``component`` applied to this store (0 if none)."""
    row = connection.execute(
        "SELECT version FROM schema_versions WHERE component = ?", (component,)
    ).fetchone()
    return int(row[0]) if row else 0


def migrate(connection: sqlite3.Connection, component: str, steps: Sequence[str]) -> int:
    """Apply the steps of ``component`` not yet applied, each atomically; return the version.

    A step is one SQL script (several statements are fine). Steps are append-only: never edit
    or reorder a released step, add a new one. A store whose version is ahead of ``steps``
    (written by a newer Confide) is refused rather than used.
    """
    current = schema_version(connection, component)
    if current > len(steps):
        raise StoreError(
            f"the store's {component} schema is version {current}, newer than this "
            f"Confide understands ({len(steps)}); upgrade Confide"
        )
    for version in range(current + 1, len(steps) + 1):
        try:
            with transaction(connection):
                for statement in _statements(steps[version - 1]):
                    connection.execute(statement)
                connection.execute(
                    "INSERT INTO schema_versions (component, version) VALUES (?, ?) "
                    "ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                    (component, version),
                )
        except sqlite3.DatabaseError as error:
            raise StoreError(f"migration {component} v{version} failed: {error}") from None
    return len(steps)


def _statements(script: str) -> Iterator[str]:
    """Split a migration script into complete statements (``executescript`` would commit)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                yield pending.strip()
            pending = ""
    if pending.strip():
        raise StoreError("a migration step ends with an incomplete statement")
