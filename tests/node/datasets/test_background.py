"""Imports off the event loop: worker threads on their own connections, bounded slots."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from node import offload
from node.audit_verify import verify_log
from node.datasets import store as dataset_store
from node.datasets.background import ImportSlots
from node.errors import UnavailableError
from tests.node.datasets.helpers import NOW, audit_events, csv_bytes, make_store

ROWS = [["Naam", "Regio"], ["Anna", "Utrecht"], ["Bob", "Zwolle"]]


@pytest.mark.asyncio
async def test_import_runs_in_a_worker_thread_on_its_own_connection(tmp_path: Path) -> None:
    """The worker's import lands whole, is audited on the one chain, and ran off the loop."""
    datasets, audit = make_store(tmp_path)
    source = tmp_path / "in.csv"
    source.write_bytes(csv_bytes(ROWS))
    threads: list[int] = []
    original = datasets._twin

    def twin(connection: sqlite3.Connection) -> object:
        threads.append(threading.get_ident())
        assert connection is not datasets.connection
        return original(connection)

    datasets._twin = twin  # type: ignore[method-assign]  # observe where the work runs
    report = await datasets.import_file_in_worker("clients", source, now=NOW, actor="admin")
    assert report.dataset.row_count == 2
    assert threads
    assert threads[0] != threading.get_ident()
    assert datasets.get("clients").row_count == 2
    audit.append("node.started", {})
    assert [event for event, _ in audit_events(datasets.connection)] == [
        "dataset.imported",
        "node.started",
    ]
    assert verify_log(datasets.connection, audit.node_id).ok


@pytest.mark.asyncio
async def test_slots_bound_running_and_waiting_imports() -> None:
    """With one slot and one place in the queue, a third import is refused imports_busy."""
    slots = ImportSlots(running=1, waiting=1)
    release = asyncio.Event()
    inside: list[int] = []

    async def hold(number: int) -> None:
        async with slots.slot():
            inside.append(number)
            await release.wait()

    first = asyncio.ensure_future(hold(1))
    second = asyncio.ensure_future(hold(2))
    await asyncio.sleep(0.01)
    assert inside == [1]
    assert slots.admitted == 2
    with pytest.raises(UnavailableError) as refused:
        async with slots.slot():
            pass
    assert refused.value.code == "imports_busy"
    release.set()
    await asyncio.gather(first, second)
    assert inside == [1, 2]
    assert slots.admitted == 0


@pytest.mark.asyncio
async def test_worker_connection_is_closed_even_when_the_work_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing import closes its worker connection and leaves no dataset."""
    datasets, _ = make_store(tmp_path)
    opened: list[sqlite3.Connection] = []
    real_open = offload.open_store

    def recording(path: Path) -> sqlite3.Connection:
        opened.append(real_open(path))
        return opened[-1]

    monkeypatch.setattr(offload, "open_store", recording)
    source = tmp_path / "bad.csv"
    source.write_bytes(csv_bytes([["Naam", "Regio"], ["Anna"]]))
    with pytest.raises(Exception, match="row"):
        await datasets.import_file_in_worker("clients", source, now=NOW)
    assert len(opened) == 1
    with pytest.raises(sqlite3.ProgrammingError):
        opened[0].execute("SELECT 1")
    assert datasets.datasets() == []


@pytest.mark.asyncio
async def test_an_import_parsing_at_shutdown_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aclose while an import parses: the worker abandons it (node_stopping), nothing stored."""
    datasets, _ = make_store(tmp_path)
    source = tmp_path / "in.csv"
    source.write_bytes(csv_bytes(ROWS))
    parsing, closed = threading.Event(), threading.Event()
    real_read_csv = dataset_store.read_csv

    def read_csv_until_closed(*args: Any, **kwargs: Any) -> Any:
        parsing.set()
        assert closed.wait(timeout=10)
        return real_read_csv(*args, **kwargs)

    monkeypatch.setattr(dataset_store, "read_csv", read_csv_until_closed)
    running = asyncio.ensure_future(datasets.import_file_in_worker("clients", source, now=NOW))
    while not parsing.is_set():
        await asyncio.sleep(0.01)
    await datasets.aclose("shutdown")
    closed.set()
    with pytest.raises(UnavailableError) as stopped:
        await running
    assert stopped.value.code == "node_stopping"
    assert datasets.datasets() == []
    assert audit_events(datasets.connection) == []
