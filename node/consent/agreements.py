"""The agreements store: negotiations, signed decisions, finalised agreements and usage counters.

Component ``agreements`` of the node store. Everything a negotiation needs to resume after a
restart is here: the manifest, each (manifest, provider, role) negotiation with its state and
deadline, every signed decision, the usage limits a provider's policies put on each manifest,
the counter-signed agreement, and one row per authorised run.

Usage counters are a ledger, not buckets: a run is *reserved* when the provider authorises it,
*committed* when output is opened and *released* when it aborts before any output. A policy's
``count ≤ n per window`` limit counts the reserved and committed runs whose reservation lies in
the sliding window ``(now - window, now]``, so a reservation counts at once and a release gives
the use back.

Every change runs in one transaction with its audit entry (``consent.<event>``,
``agreement.retired``, ``usage.reserved`` / ``usage.committed`` / ``usage.released``). Methods
join a transaction the caller has open (:meth:`Agreements.atomic`), so a driver can store a
decision and a state change together.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from node.audit import AuditLog
from node.consent import messages
from node.consent.manifest import Manifest
from node.consent.negotiation import Event, Negotiation, Role, State, UsageLimit, step
from node.errors import ConflictError, ForbiddenError, NotFoundError
from node.store import migrate, transaction

COMPONENT: Final = "agreements"
ACTIVE: Final = "active"
RETIRED: Final = "retired"
RESERVED, COMMITTED, RELEASED = "reserved", "committed", "released"

STEPS: Final = (
    """
    CREATE TABLE consent_manifests (
        manifest_id TEXT PRIMARY KEY,
        body        BLOB NOT NULL,
        proposer    TEXT NOT NULL,
        expires_at  INTEGER NOT NULL,
        received_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE consent_negotiations (
        manifest_id  TEXT NOT NULL REFERENCES consent_manifests (manifest_id),
        provider     TEXT NOT NULL,
        role         TEXT NOT NULL,
        state        TEXT NOT NULL,
        deadline     INTEGER,
        reason       TEXT,
        "constraint" TEXT,
        updated_at   INTEGER NOT NULL,
        PRIMARY KEY (manifest_id, provider, role)
    ) STRICT;
    CREATE INDEX consent_negotiations_deadline ON consent_negotiations (deadline)
        WHERE deadline IS NOT NULL;
    CREATE TABLE consent_decisions (
        manifest_id TEXT NOT NULL REFERENCES consent_manifests (manifest_id),
        provider    TEXT NOT NULL,
        message     BLOB NOT NULL,
        PRIMARY KEY (manifest_id, provider)
    ) STRICT;
    CREATE TABLE consent_limits (
        manifest_id TEXT NOT NULL REFERENCES consent_manifests (manifest_id),
        policy_id   TEXT NOT NULL,
        max_count   INTEGER NOT NULL,
        window_s    INTEGER NOT NULL,
        PRIMARY KEY (manifest_id, policy_id)
    ) STRICT;
    CREATE TABLE consent_agreements (
        manifest_id  TEXT PRIMARY KEY REFERENCES consent_manifests (manifest_id),
        bundle       BLOB NOT NULL,
        valid_from   INTEGER NOT NULL,
        valid_until  INTEGER NOT NULL,
        state        TEXT NOT NULL,
        finalized_at INTEGER NOT NULL,
        retired_at   INTEGER,
        reason       TEXT
    ) STRICT;
    CREATE TABLE consent_runs (
        run_id      TEXT PRIMARY KEY,
        manifest_id TEXT NOT NULL REFERENCES consent_agreements (manifest_id),
        reserved_at INTEGER NOT NULL,
        state       TEXT NOT NULL,
        settled_at  INTEGER
    ) STRICT;
    CREATE TABLE consent_usage (
        run_id    TEXT NOT NULL REFERENCES consent_runs (run_id),
        policy_id TEXT NOT NULL,
        PRIMARY KEY (run_id, policy_id)
    ) STRICT;
    """,
)


@dataclass(frozen=True)
class Agreement:
    """A finalised agreement: the counter-signed bundle and its validity window."""

    manifest: Manifest
    bundle: messages.Finalized
    valid_from: int
    valid_until: int
    state: str
    finalized_at: int
    retired_at: int | None
    reason: str | None

    @property
    def manifest_id(self) -> str:
        """The manifest's id."""
        return self.manifest.id


class Agreements:
    """The agreements store of one node (``node_id``) over its store connection."""

    def __init__(
        self, connection: sqlite3.Connection, node_id: str, audit: AuditLog | None = None
    ) -> None:
        self.connection = connection
        self.node_id = node_id
        self.audit = audit
        migrate(connection, COMPONENT, STEPS)

    @contextmanager
    def atomic(self) -> Iterator[sqlite3.Connection]:
        """One transaction around the block, or the caller's if one is open."""
        if self.connection.in_transaction:
            yield self.connection
            return
        with transaction(self.connection) as connection:
            yield connection

    def _audit(
        self, event: str, details: Mapping[str, object], now: int, actor: str | None
    ) -> None:
        if self.audit is not None:
            self.audit.append(event, details, actor=actor, now=now)

    # --- negotiations -------------------------------------------------------------------------

    def begin(
        self, negotiation: Negotiation, manifest: Manifest, *, actor: str | None = None
    ) -> None:
        """Store a new negotiation (and its manifest, once); ``consent.requested`` is audited."""
        with self.atomic() as connection:
            connection.execute(
                "INSERT OR IGNORE INTO consent_manifests VALUES (?, ?, ?, ?, ?)",
                (
                    manifest.id,
                    manifest.encode(),
                    manifest.proposer,
                    manifest.expires_at,
                    negotiation.updated_at,
                ),
            )
            try:
                connection.execute(
                    "INSERT INTO consent_negotiations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    _row(negotiation),
                )
            except sqlite3.IntegrityError:
                raise ConflictError(
                    "negotiation_exists",
                    "this manifest is already being negotiated",
                    {"manifest_id": manifest.id},
                ) from None
            self._audit("consent.requested", _details(negotiation), negotiation.updated_at, actor)

    def transition(
        self,
        negotiation: Negotiation,
        event: Event,
        now: int,
        *,
        deadline: int | None = None,
        reason: str | None = None,
        constraint: str | None = None,
        actor: str | None = None,
        details: Mapping[str, object] | None = None,
    ) -> Negotiation:
        """Apply ``event`` (the table decides) and store the result, audited as ``consent.<event>``.

        Raises ``IllegalTransitionError`` if the table has no such row, and ``ConflictError``
        (``negotiation_changed``) if the stored state is no longer ``negotiation``'s.
        """
        after = step(
            negotiation, event, now, deadline=deadline, reason=reason, constraint=constraint
        )
        with self.atomic() as connection:
            cursor = connection.execute(
                "UPDATE consent_negotiations SET state = ?, deadline = ?, reason = ?,"
                ' "constraint" = ?, updated_at = ?'
                " WHERE manifest_id = ? AND provider = ? AND role = ? AND state = ?",
                (
                    after.state.value,
                    after.deadline,
                    after.reason,
                    after.constraint,
                    now,
                    after.manifest_id,
                    after.provider,
                    after.role.value,
                    negotiation.state.value,
                ),
            )
            if cursor.rowcount != 1:
                raise ConflictError(
                    "negotiation_changed",
                    "the negotiation changed meanwhile; read it again",
                    {"manifest_id": negotiation.manifest_id},
                )
            self._audit(
                f"consent.{event.value}", {**_details(after), **(details or {})}, now, actor
            )
        return after

    def get(self, manifest_id: str, provider: str, role: Role) -> Negotiation | None:
        """One negotiation, if stored."""
        row = self.connection.execute(
            "SELECT * FROM consent_negotiations"
            " WHERE manifest_id = ? AND provider = ? AND role = ?",
            (manifest_id, provider, role.value),
        ).fetchone()
        return None if row is None else _negotiation(row)

    def negotiations(self, manifest_id: str, role: Role) -> list[Negotiation]:
        """Every negotiation of ``manifest_id`` seen from ``role``, by provider."""
        rows = self.connection.execute(
            "SELECT * FROM consent_negotiations"
            " WHERE manifest_id = ? AND role = ? ORDER BY provider",
            (manifest_id, role.value),
        ).fetchall()
        return [_negotiation(row) for row in rows]

    def waiting(self) -> list[Negotiation]:
        """Every negotiation with a deadline (what a driver re-arms after a restart)."""
        rows = self.connection.execute(
            "SELECT * FROM consent_negotiations WHERE deadline IS NOT NULL ORDER BY deadline"
        ).fetchall()
        return [_negotiation(row) for row in rows]

    def pending_approvals(self) -> list[Negotiation]:
        """This node's requests waiting for a person, oldest first."""
        rows = self.connection.execute(
            "SELECT * FROM consent_negotiations WHERE role = ? AND state = ? ORDER BY updated_at",
            (Role.PROVIDER.value, State.PENDING_APPROVAL.value),
        ).fetchall()
        return [_negotiation(row) for row in rows]

    def manifest(self, manifest_id: str) -> Manifest | None:
        """A stored manifest."""
        row = self.connection.execute(
            "SELECT body FROM consent_manifests WHERE manifest_id = ?", (manifest_id,)
        ).fetchone()
        return None if row is None else Manifest.decode(bytes(row[0]))

    def manifest_ids(self, role: Role) -> list[str]:
        """The manifests this node negotiates as ``role``, newest first."""
        rows = self.connection.execute(
            "SELECT manifest_id, MAX(updated_at) AS latest FROM consent_negotiations WHERE role = ?"
            " GROUP BY manifest_id ORDER BY latest DESC",
            (role.value,),
        ).fetchall()
        return [str(row[0]) for row in rows]

    # --- decisions and limits -----------------------------------------------------------------

    def put_decision(self, decision: messages.Decision) -> None:
        """Keep a signed decision (a provider's own, or one the proposer received and checked)."""
        with self.atomic() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO consent_decisions VALUES (?, ?, ?)",
                (decision.manifest_id, decision.provider, messages.encode(decision)),
            )

    def decisions(self, manifest_id: str) -> tuple[messages.Decision, ...]:
        """The stored decisions on ``manifest_id``, by provider."""
        rows = self.connection.execute(
            "SELECT message FROM consent_decisions WHERE manifest_id = ? ORDER BY provider",
            (manifest_id,),
        ).fetchall()
        decoded = [messages.decode(bytes(row[0])) for row in rows]
        return tuple(d for d in decoded if isinstance(d, messages.Decision))

    def set_limits(self, manifest_id: str, limits: Sequence[UsageLimit]) -> None:
        """The usage limits this provider's policies put on runs of ``manifest_id``."""
        with self.atomic() as connection:
            connection.execute("DELETE FROM consent_limits WHERE manifest_id = ?", (manifest_id,))
            connection.executemany(
                "INSERT INTO consent_limits VALUES (?, ?, ?, ?)",
                [(manifest_id, x.policy_id, x.max_count, x.window) for x in limits],
            )

    def limits(self, manifest_id: str) -> list[UsageLimit]:
        """The usage limits on runs of ``manifest_id``."""
        rows = self.connection.execute(
            "SELECT policy_id, max_count, window_s FROM consent_limits WHERE manifest_id = ?"
            " ORDER BY policy_id",
            (manifest_id,),
        ).fetchall()
        return [UsageLimit(str(r[0]), int(r[1]), int(r[2])) for r in rows]

    # --- agreements ---------------------------------------------------------------------------

    def finalize(self, bundle: messages.Bundle, now: int, *, actor: str | None = None) -> Agreement:
        """Keep the checked, counter-signed bundle as this node's agreement (idempotent)."""
        manifest = bundle.manifest
        finalized = messages.Finalized(manifest, bundle.decisions, bundle.signature)
        valid_until = min([manifest.expires_at, *(d.valid_until for d in bundle.decisions)])
        with self.atomic() as connection:
            connection.execute(
                "INSERT OR IGNORE INTO consent_manifests VALUES (?, ?, ?, ?, ?)",
                (manifest.id, manifest.encode(), manifest.proposer, manifest.expires_at, now),
            )
            cursor = connection.execute(
                "INSERT OR IGNORE INTO consent_agreements VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
                (
                    manifest.id,
                    messages.encode(finalized),
                    manifest.created_at,
                    valid_until,
                    ACTIVE,
                    now,
                ),
            )
            if cursor.rowcount == 1:
                details = {
                    "manifest_id": manifest.id,
                    "valid_until": valid_until,
                    "providers": len(bundle.decisions),
                }
                self._audit("agreement.finalized", details, now, actor)
        agreement = self.agreement(manifest.id)
        assert agreement is not None
        return agreement

    def agreement(self, manifest_id: str) -> Agreement | None:
        """The agreement on ``manifest_id``, active or retired."""
        row = self.connection.execute(
            "SELECT * FROM consent_agreements WHERE manifest_id = ?", (manifest_id,)
        ).fetchone()
        if row is None:
            return None
        bundle = messages.decode(bytes(row["bundle"]))
        assert isinstance(bundle, messages.Finalized)
        return Agreement(
            bundle.manifest,
            bundle,
            int(row["valid_from"]),
            int(row["valid_until"]),
            str(row["state"]),
            int(row["finalized_at"]),
            None if row["retired_at"] is None else int(row["retired_at"]),
            row["reason"],
        )

    def agreement_ids(self) -> list[str]:
        """The manifest ids of every agreement held here, active or retired, newest first."""
        rows = self.connection.execute(
            "SELECT manifest_id FROM consent_agreements ORDER BY finalized_at DESC, manifest_id"
        ).fetchall()
        return [str(row[0]) for row in rows]

    def require_active(self, manifest_id: str, now: int) -> Agreement:
        """The agreement, if a run may use it now; else ``ForbiddenError`` with a code.

        What every compute party calls before it touches a share: ``no_agreement``,
        ``agreement_retired``, ``agreement_not_yet_valid`` or ``agreement_expired``.
        """
        agreement = self.agreement(manifest_id)
        if agreement is None:
            raise NotFoundError("no_agreement", "no finalised agreement for this manifest")
        if agreement.state == RETIRED:
            raise ForbiddenError("agreement_retired", "the agreement was retired")
        if now < agreement.valid_from:
            raise ForbiddenError("agreement_not_yet_valid", "the agreement is not valid yet")
        if now >= agreement.valid_until:
            raise ForbiddenError("agreement_expired", "the agreement has expired")
        return agreement

    def retire(
        self, manifest_id: str, reason: str, now: int, *, actor: str | None = None
    ) -> Agreement | None:
        """Retire the agreement at once (``None`` if there is none yet); idempotent."""
        with self.atomic() as connection:
            cursor = connection.execute(
                "UPDATE consent_agreements SET state = ?, retired_at = ?, reason = ?"
                " WHERE manifest_id = ? AND state = ?",
                (RETIRED, now, reason, manifest_id, ACTIVE),
            )
            if cursor.rowcount == 1:
                details = {"manifest_id": manifest_id, "reason": reason}
                self._audit("agreement.retired", details, now, actor)
        return self.agreement(manifest_id)

    # --- usage --------------------------------------------------------------------------------

    def usage(self, policy_id: str, window: int, now: int) -> int:
        """Runs counted against ``policy_id`` in the sliding window ending at ``now``."""
        row = self.connection.execute(
            "SELECT COUNT(*) FROM consent_usage u JOIN consent_runs r ON r.run_id = u.run_id"
            " WHERE u.policy_id = ? AND r.state != ? AND r.reserved_at > ? AND r.reserved_at <= ?",
            (policy_id, RELEASED, now - window, now),
        ).fetchone()
        return int(row[0])

    def usage_since(self, policy_id: str, since: int | None) -> int:
        """Runs counted against ``policy_id`` reserved after ``since`` (``None``: ever); the
        usage counter the policy evaluator reads."""
        row = self.connection.execute(
            "SELECT COUNT(*) FROM consent_usage u JOIN consent_runs r ON r.run_id = u.run_id"
            " WHERE u.policy_id = ? AND r.state != ? AND r.reserved_at > ?",
            (policy_id, RELEASED, -1 if since is None else since),
        ).fetchone()
        return int(row[0])

    def runs(self, manifest_id: str) -> int:
        """Runs of ``manifest_id`` reserved or committed (released ones do not count)."""
        row = self.connection.execute(
            "SELECT COUNT(*) FROM consent_runs WHERE manifest_id = ? AND state != ?",
            (manifest_id, RELEASED),
        ).fetchone()
        return int(row[0])

    def reserve(self, manifest_id: str, run_id: str, now: int) -> None:
        """Authorise one run at this provider: check the agreement, its runs and every limit.

        ``ForbiddenError`` codes: those of :meth:`require_active`, ``runs_exhausted`` (the
        agreement's ``max_runs``), ``usage_exhausted`` (a policy's count per window, with the
        policy id in ``details``); ``ConflictError`` ``run_exists`` for a reused run id.
        """
        with self.atomic() as connection:
            self.require_active(manifest_id, now)
            if connection.execute(
                "SELECT 1 FROM consent_runs WHERE run_id = ?", (run_id,)
            ).fetchone():
                raise ConflictError("run_exists", "a run with this id exists")
            own = [d for d in self.decisions(manifest_id) if d.provider == self.node_id]
            if own and self.runs(manifest_id) >= own[0].max_runs:
                raise ForbiddenError("runs_exhausted", "the agreement allows no further run")
            limits = self.limits(manifest_id)
            for limit in limits:
                if self.usage(limit.policy_id, limit.window, now) >= limit.max_count:
                    raise ForbiddenError(
                        "usage_exhausted",
                        "a policy's usage limit is reached for this window",
                        {"policy_id": limit.policy_id},
                    )
            connection.execute(
                "INSERT INTO consent_runs VALUES (?, ?, ?, ?, NULL)",
                (run_id, manifest_id, now, RESERVED),
            )
            connection.executemany(
                "INSERT INTO consent_usage VALUES (?, ?)", [(run_id, x.policy_id) for x in limits]
            )
            details = {"manifest_id": manifest_id, "run_id": run_id, "policies": len(limits)}
            self._audit("usage.reserved", details, now, None)

    def commit(self, run_id: str, now: int) -> None:
        """Output of the run was opened: its use counts for good."""
        self._settle(run_id, COMMITTED, now)

    def release(self, run_id: str, now: int) -> None:
        """The run aborted before any output: give its use back."""
        self._settle(run_id, RELEASED, now)

    def _settle(self, run_id: str, state: str, now: int) -> None:
        with self.atomic() as connection:
            row = connection.execute(
                "SELECT manifest_id, state FROM consent_runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError("no_run", "no run with this id was authorised")
            if row["state"] != RESERVED:
                raise ConflictError(
                    "run_settled",
                    "the run was already committed or released",
                    {"state": str(row["state"])},
                )
            connection.execute(
                "UPDATE consent_runs SET state = ?, settled_at = ? WHERE run_id = ?",
                (state, now, run_id),
            )
            details = {"manifest_id": str(row["manifest_id"]), "run_id": run_id}
            self._audit(f"usage.{state}", details, now, None)


def _row(n: Negotiation) -> tuple[object, ...]:
    return (
        n.manifest_id,
        n.provider,
        n.role.value,
        n.state.value,
        n.deadline,
        n.reason,
        n.constraint,
        n.updated_at,
    )


def _negotiation(row: sqlite3.Row) -> Negotiation:
    return Negotiation(
        manifest_id=str(row["manifest_id"]),
        provider=str(row["provider"]),
        role=Role(row["role"]),
        state=State(row["state"]),
        deadline=None if row["deadline"] is None else int(row["deadline"]),
        updated_at=int(row["updated_at"]),
        reason=row["reason"],
        constraint=row["constraint"],
    )


def _details(n: Negotiation) -> dict[str, object]:
    details: dict[str, object] = {
        "manifest_id": n.manifest_id,
        "provider": n.provider,
        "role": n.role.value,
        "state": n.state.value,
    }
    if n.reason is not None:
        details["reason"] = n.reason
    if n.constraint is not None:
        details["constraint"] = n.constraint
    return details
