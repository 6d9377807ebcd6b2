"""Work off the event loop: a worker thread on its own store connection, or inline in memory."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from node.offload import database_file, in_worker
from node.store import open_store


@pytest.mark.asyncio
async def test_work_runs_in_another_thread_on_a_fresh_connection(tmp_path: Path) -> None:
    """The worker sees the same store through its own connection, closed afterwards."""
    connection = open_store(tmp_path / "store.sqlite")
    connection.execute("CREATE TABLE t (x INTEGER)")
    connection.execute("INSERT INTO t VALUES (7)")
    assert database_file(connection) == tmp_path / "store.sqlite"
    seen: list[object] = []

    def work(own: sqlite3.Connection) -> int:
        seen.extend([own, threading.get_ident()])
        return int(own.execute("SELECT x FROM t").fetchone()[0])

    assert await in_worker(connection, work) == 7
    own, thread = seen
    assert own is not connection
    assert thread != threading.get_ident()
    with pytest.raises(sqlite3.ProgrammingError):
        own.execute("SELECT 1")  # type: ignore[attr-defined]
    connection.close()


@pytest.mark.asyncio
async def test_in_memory_store_runs_on_the_callers_connection() -> None:
    """A store without a file has no second connection: the work runs inline."""
    connection = sqlite3.connect(":memory:")
    assert database_file(connection) is None
    assert await in_worker(connection, lambda own: own is connection) is True
