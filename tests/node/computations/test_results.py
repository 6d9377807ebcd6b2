"""The run store: results only on completion, aborts without results, recovery after a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from network.identity import Identity
from node.audit import AuditLog
from node.computations.results import NODE_RESTARTED, RunStore
from node.errors import ConflictError, NotFoundError
from node.store import open_store

RUN = "r-" + "1" * 32
MANIFEST = "m-" + "a" * 64


def store(tmp_path: Path) -> RunStore:
    """A run store over a fresh SQLite store with an audit log."""
    connection = open_store(tmp_path / "store.sqlite")
    return RunStore(connection, AuditLog(connection, Identity.generate()))


def audited(runs: RunStore) -> list[str]:
    """The audit events written so far."""
    return [
        str(row[0])
        for row in runs.connection.execute("SELECT event FROM audit_entries ORDER BY seq")
    ]


def test_completion_stores_the_result_with_the_state(tmp_path: Path) -> None:
    """A recipient's result and the completed state land together, audited once."""
    runs = store(tmp_path)
    runs.begin(RUN, MANIFEST, "set_difference", "coordinator", 100)
    runs.progress(RUN, "computing", 40)
    assert runs.get(RUN).phase == "computing"
    runs.complete(RUN, {"identifiers": ["anna smit"], "limit": 5}, 120)
    record = runs.get(RUN)
    assert (record.state, record.percent, record.has_result) == ("completed", 100, True)
    assert runs.result(RUN).body == {"identifiers": ["anna smit"], "limit": 5}
    assert audited(runs)[-2:] == ["run.started", "run.completed"]
    with pytest.raises(ConflictError):
        runs.complete(RUN, None, 130)


def test_an_aborted_run_has_no_result_and_cannot_complete(tmp_path: Path) -> None:
    """An abort records its reason; a later completion is refused; there is never a result."""
    runs = store(tmp_path)
    runs.begin(RUN, MANIFEST, "set_difference", "participant", 100)
    assert runs.abort(RUN, "party_lost", Identity.generate().node_id, 110)
    assert not runs.abort(RUN, "deadline_passed", None, 111)
    with pytest.raises(ConflictError):
        runs.complete(RUN, {"identifiers": []}, 112)
    record = runs.get(RUN)
    assert (record.state, record.reason, record.has_result) == ("aborted", "party_lost", False)
    with pytest.raises(NotFoundError) as error:
        runs.result(RUN)
    assert error.value.code == "no_result"


def test_a_non_recipient_completes_without_a_result(tmp_path: Path) -> None:
    """Completion without a body keeps no result row."""
    runs = store(tmp_path)
    runs.begin(RUN, MANIFEST, "set_difference", "participant", 100)
    runs.complete(RUN, None, 110)
    assert not runs.get(RUN).has_result
    with pytest.raises(NotFoundError):
        runs.result(RUN)


def test_recover_aborts_runs_a_crash_left_running(tmp_path: Path) -> None:
    """After a restart, a run still marked running ends as node_restarted."""
    runs = store(tmp_path)
    runs.begin(RUN, MANIFEST, "set_difference", "participant", 100)
    runs.connection.close()
    again = store(tmp_path)
    assert again.recover(200) == [RUN]
    assert again.get(RUN).reason == NODE_RESTARTED
    assert again.recover(201) == []


def test_a_run_id_is_used_once_and_unknown_runs_are_not_found(tmp_path: Path) -> None:
    """Beginning a known run conflicts; an unknown one is run_not_found."""
    runs = store(tmp_path)
    runs.begin(RUN, MANIFEST, "set_difference", "participant", 100)
    with pytest.raises(ConflictError):
        runs.begin(RUN, MANIFEST, "set_difference", "participant", 100)
    with pytest.raises(NotFoundError) as error:
        runs.get("r-" + "2" * 32)
    assert error.value.code == "run_not_found"
    assert [r.run_id for r in runs.runs(MANIFEST)] == [RUN]
