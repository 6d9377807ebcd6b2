"""Runs and their results in the node's store (component ``computations``).

``computation_runs`` holds one row per run this node took part in or coordinated: its manifest,
this node's role, state (``running`` → ``completed`` | ``aborted``), the last phase and
percentage, the reason code of an abort (with the node at fault, where known), and for a completed
run the rounds its program computed and the hash of what fixes them (``progress.shape_of``), from
which the next run of the same shape estimates its percentage.
``computation_results`` holds a result only at a recipient, written in the same transaction that
marks the run ``completed`` and audits ``run.completed``: a result is there whole or not at all,
and an aborted run never has one. The body is canonical msgpack (``network.canonical``); it may
hold the recipient's own identifiers (a ``set_difference`` result), so it never reaches a log,
an event or an audit entry.

A run still ``running`` when the store is opened was cut short by a crash or a kill:
:meth:`RunStore.recover` marks it ``aborted`` with ``node_restarted``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Final

from network import canonical
from network.canonical import Value
from node.audit import AuditLog
from node.errors import ConflictError, NotFoundError
from node.store import migrate, transaction

COMPONENT: Final = "computations"
RUNNING, COMPLETED, ABORTED = "running", "completed", "aborted"
COORDINATOR, PARTICIPANT = "coordinator", "participant"
NODE_RESTARTED: Final = "node_restarted"

STEPS: Final = (
    """
    CREATE TABLE computation_runs (
        run_id      TEXT PRIMARY KEY,
        manifest_id TEXT NOT NULL,
        kind        TEXT NOT NULL,
        role        TEXT NOT NULL,
        state       TEXT NOT NULL,
        phase       TEXT NOT NULL,
        percent     INTEGER NOT NULL,
        reason      TEXT,
        party       TEXT,
        started_at  INTEGER NOT NULL,
        ended_at    INTEGER
    ) STRICT;
    CREATE INDEX computation_runs_manifest ON computation_runs (manifest_id, started_at);
    CREATE TABLE computation_results (
        run_id      TEXT PRIMARY KEY REFERENCES computation_runs (run_id),
        manifest_id TEXT NOT NULL,
        kind        TEXT NOT NULL,
        body        BLOB NOT NULL,
        stored_at   INTEGER NOT NULL
    ) STRICT;
    """,
    """
    ALTER TABLE computation_runs ADD COLUMN shape TEXT;
    ALTER TABLE computation_runs ADD COLUMN rounds INTEGER;
    CREATE INDEX computation_runs_shape ON computation_runs (shape, state, ended_at);
    """,
)


@dataclass(frozen=True)
class RunRecord:
    """One run as this node saw it (no result values)."""

    run_id: str
    manifest_id: str
    kind: str
    role: str
    state: str
    phase: str
    percent: int
    reason: str | None
    party: str | None
    started_at: int
    ended_at: int | None
    has_result: bool

    def to_json(self) -> dict[str, object]:
        """The JSON form for the admin API and the CLI."""
        return {
            "run_id": self.run_id,
            "manifest_id": self.manifest_id,
            "kind": self.kind,
            "role": self.role,
            "state": self.state,
            "phase": self.phase,
            "percent": self.percent,
            "reason": self.reason,
            "party": self.party,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "has_result": self.has_result,
        }


@dataclass(frozen=True)
class Result:
    """A result delivered to this node as a recipient."""

    run_id: str
    manifest_id: str
    kind: str
    body: dict[str, Value]
    stored_at: int


class RunStore:
    """Runs and results of one node, over its store connection, audited."""

    def __init__(self, connection: sqlite3.Connection, audit: AuditLog | None = None) -> None:
        self.connection = connection
        self.audit = audit
        migrate(connection, COMPONENT, STEPS)

    def begin(self, run_id: str, manifest_id: str, kind: str, role: str, now: int) -> None:
        """Record a new run (``run.started``); ``ConflictError`` ``run_exists`` if known."""
        with transaction(self.connection) as connection:
            try:
                connection.execute(
                    "INSERT INTO computation_runs (run_id, manifest_id, kind, role, state, phase,"
                    " percent, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (run_id, manifest_id, kind, role, RUNNING, "starting", 0, now),
                )
            except sqlite3.IntegrityError:
                raise ConflictError("run_exists", "a run with this id exists") from None
            self._audit(
                "run.started",
                {"run_id": run_id, "manifest_id": manifest_id, "role": role},
                now,
            )

    def progress(self, run_id: str, phase: str, percent: int) -> None:
        """Note the phase a running run entered."""
        with transaction(self.connection) as connection:
            connection.execute(
                "UPDATE computation_runs SET phase = ?, percent = ? WHERE run_id = ? AND state = ?",
                (phase, percent, run_id, RUNNING),
            )

    def complete(
        self,
        run_id: str,
        body: dict[str, Value] | None,
        now: int,
        *,
        shape: str | None = None,
        rounds: int | None = None,
    ) -> None:
        """Mark the run completed and, at a recipient, keep its result, in one transaction;
        ``rounds`` the program's computing rounds at this node, ``shape`` what fixes them
        (``progress.shape_of``), for :meth:`expected_rounds`."""
        with transaction(self.connection) as connection:
            row = self._running(connection, run_id)
            connection.execute(
                "UPDATE computation_runs SET state = ?, phase = ?, percent = 100, ended_at = ?,"
                " shape = ?, rounds = ? WHERE run_id = ?",
                (COMPLETED, COMPLETED, now, shape, rounds, run_id),
            )
            if body is not None:
                connection.execute(
                    "INSERT INTO computation_results VALUES (?, ?, ?, ?, ?)",
                    (run_id, row["manifest_id"], row["kind"], canonical.encode(body), now),
                )
            details = {
                "run_id": run_id,
                "manifest_id": str(row["manifest_id"]),
                "result_stored": body is not None,
            }
            self._audit("run.completed", details, now)

    def abort(self, run_id: str, reason: str, party: str | None, now: int) -> bool:
        """Mark a running run aborted with ``reason``; ``False`` if it had ended already."""
        with transaction(self.connection) as connection:
            row = connection.execute(
                "SELECT manifest_id, state FROM computation_runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is None or row["state"] != RUNNING:
                return False
            connection.execute(
                "UPDATE computation_runs SET state = ?, reason = ?, party = ?, ended_at = ?"
                " WHERE run_id = ?",
                (ABORTED, reason, party, now, run_id),
            )
            details: dict[str, object] = {
                "run_id": run_id,
                "manifest_id": str(row["manifest_id"]),
                "reason": reason,
            }
            if party is not None:
                details["party"] = party
            self._audit("run.aborted", details, now)
        return True

    def expected_rounds(self, shape: str) -> int | None:
        """The computing rounds of the newest completed run of ``shape``, if there is one."""
        row = self.connection.execute(
            "SELECT rounds FROM computation_runs WHERE shape = ? AND state = ?"
            " AND rounds IS NOT NULL ORDER BY ended_at DESC LIMIT 1",
            (shape, COMPLETED),
        ).fetchone()
        return None if row is None else int(row[0])

    def recover(self, now: int) -> list[str]:
        """Abort every run left ``running`` by a crash (``node_restarted``); their ids."""
        rows = self.connection.execute(
            "SELECT run_id FROM computation_runs WHERE state = ?", (RUNNING,)
        ).fetchall()
        ended = [str(row[0]) for row in rows]
        for run_id in ended:
            self.abort(run_id, NODE_RESTARTED, None, now)
        return ended

    def get(self, run_id: str) -> RunRecord:
        """One run; ``NotFoundError`` ``run_not_found``."""
        row = self.connection.execute(_SELECT + " WHERE r.run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFoundError("run_not_found", "no run with this id is known here")
        return _record(row)

    def runs(self, manifest_id: str | None = None) -> list[RunRecord]:
        """Runs, newest first (started in the same second: the later one first); of one manifest
        if given."""
        if manifest_id is None:
            rows = self.connection.execute(_SELECT + " ORDER BY r.started_at DESC, r.rowid DESC")
        else:
            rows = self.connection.execute(
                _SELECT + " WHERE r.manifest_id = ? ORDER BY r.started_at DESC, r.rowid DESC",
                (manifest_id,),
            )
        return [_record(row) for row in rows]

    def result(self, run_id: str) -> Result:
        """The result this node received; ``NotFoundError`` ``run_not_found`` or
        ``no_result`` (not a recipient, or the run did not complete)."""
        self.get(run_id)
        row = self.connection.execute(
            "SELECT * FROM computation_results WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError("no_result", "this node holds no result of the run")
        body = canonical.decode(bytes(row["body"]), 1 << 30)
        assert isinstance(body, dict)
        return Result(
            run_id, str(row["manifest_id"]), str(row["kind"]), body, int(row["stored_at"])
        )

    def _running(self, connection: sqlite3.Connection, run_id: str) -> sqlite3.Row:
        row: sqlite3.Row | None = connection.execute(
            "SELECT manifest_id, kind, state FROM computation_runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError("run_not_found", "no run with this id is known here")
        if row["state"] != RUNNING:
            raise ConflictError("run_ended", "the run has ended", {"state": str(row["state"])})
        return row

    def _audit(self, event: str, details: dict[str, object], now: int) -> None:
        if self.audit is not None:
            self.audit.append(event, details, now=now)


_SELECT = (
    "SELECT r.*, EXISTS (SELECT 1 FROM computation_results x WHERE x.run_id = r.run_id)"
    " AS has_result FROM computation_runs r"
)


def _record(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        run_id=str(row["run_id"]),
        manifest_id=str(row["manifest_id"]),
        kind=str(row["kind"]),
        role=str(row["role"]),
        state=str(row["state"]),
        phase=str(row["phase"]),
        percent=int(row["percent"]),
        reason=row["reason"],
        party=row["party"],
        started_at=int(row["started_at"]),
        ended_at=None if row["ended_at"] is None else int(row["ended_at"]),
        has_result=bool(row["has_result"]),
    )
