"""Long store work off the event loop: a worker thread on its own connection to the store.

Work that may take seconds — a CSV import of a few hundred megabytes, verifying a long audit
log — must not run on the node's event loop, or every link, event stream and API request
stalls for that long. ``in_worker(connection, work)`` runs ``work`` in a worker thread on a
fresh connection to the same store file (``node.store.open_store``; a connection is never
shared between threads) and closes it afterwards, whatever happened. SQLite's WAL mode lets
the loop's connection read meanwhile; a writer waits for another for up to the store's busy
timeout.

A store without a file (an in-memory database, used by some tests) has no second connection:
the work then runs on the caller's connection, on the loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from node.store import open_store

T = TypeVar("T")


def database_file(connection: sqlite3.Connection) -> Path | None:
    """The file of the store behind ``connection``; None for an in-memory database."""
    for row in connection.execute("PRAGMA database_list").fetchall():
        if row[1] == "main":
            return Path(row[2]) if row[2] else None
    return None


async def in_worker(connection: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """``work(own_connection)`` in a worker thread, on a fresh connection to the same store."""
    path = database_file(connection)
    if path is None:
        return work(connection)

    def run() -> T:
        own = open_store(path)
        try:
            return work(own)
        finally:
            own.close()

    return await asyncio.to_thread(run)
