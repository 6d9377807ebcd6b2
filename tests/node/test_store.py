"""Tests for node/store.py: WAL mode, atomic migrations, refusal of newer schemas."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from node.store import StoreError, migrate, open_store, schema_version, transaction

STEPS = (
    "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL) STRICT;",
    "ALTER TABLE items ADD COLUMN note TEXT;\nCREATE INDEX items_name ON items (name);",
)


def test_open_store_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    """A new store is in WAL mode with foreign keys enforced and durable commits."""
    connection = open_store(tmp_path / "store.sqlite")
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert connection.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_migrate_applies_steps_once(tmp_path: Path) -> None:
    """Steps run in order, once each; reopening and migrating again changes nothing."""
    path = tmp_path / "store.sqlite"
    connection = open_store(path)
    assert migrate(connection, "items", STEPS[:1]) == 1
    connection.execute("INSERT INTO items (name) VALUES ('a')")
    assert migrate(connection, "items", STEPS) == 2
    connection.close()
    again = open_store(path)
    assert migrate(again, "items", STEPS) == 2
    assert schema_version(again, "items") == 2
    assert [tuple(row) for row in again.execute("SELECT name, note FROM items")] == [("a", None)]


def test_failed_step_leaves_previous_version(tmp_path: Path) -> None:
    """A step that fails half-way is rolled back whole and the version stays where it was."""
    connection = open_store(tmp_path / "store.sqlite")
    migrate(connection, "items", STEPS[:1])
    broken = (STEPS[0], "ALTER TABLE items ADD COLUMN extra TEXT;\nCREATE TABLE items (x);")
    with pytest.raises(StoreError, match="migration items v2 failed"):
        migrate(connection, "items", broken)
    assert schema_version(connection, "items") == 1
    columns = [row[1] for row in connection.execute("PRAGMA table_info(items)")]
    assert columns == ["id", "name"]


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A store written by a newer Confide is refused with a message, not silently used."""
    connection = open_store(tmp_path / "store.sqlite")
    migrate(connection, "items", STEPS)
    with pytest.raises(StoreError, match="newer than this Confide understands"):
        migrate(connection, "items", STEPS[:1])


def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    """An exception inside ``transaction`` leaves nothing of the block behind."""
    connection = open_store(tmp_path / "store.sqlite")
    migrate(connection, "items", STEPS[:1])

    def insert_then_fail() -> None:
        with transaction(connection):
            connection.execute("INSERT INTO items (name) VALUES ('lost')")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        insert_then_fail()
    assert connection.execute("SELECT count(*) FROM items").fetchone()[0] == 0


def test_corrupt_file_is_a_store_error(tmp_path: Path) -> None:
    """A file that is not a database gives StoreError, not a raw sqlite3 exception."""
    path = tmp_path / "store.sqlite"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(StoreError, match="cannot open the store"):
        open_store(path)
    assert not isinstance(StoreError("x"), sqlite3.Error)
