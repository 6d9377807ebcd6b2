"""The policy store: the provider's standing consent policies, versioned, in the node's store.

A policy is created once (validated, version 1), updated into new versions (old versions stay
readable: an agreement names the version that allowed it) and retired, which takes effect at
once: :meth:`PolicyStore.active` no longer returns it, so the next evaluation refuses. Every
change is appended to the audit log in the same transaction (``policy.created``,
``policy.updated``, ``policy.retired`` with the policy id, version, dataset and the SHA-256 of
its canonical form) and published on the event bus after it commits.

Tables (store component ``policies``): ``policies`` holds one row per policy id (its dataset,
current version, retirement); ``policy_versions`` one row per version with its canonical JSON.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from node.consent.policy import Policy, Vocabulary, parse_policy
from node.errors import ConflictError, InvalidError, NotFoundError
from node.store import migrate, transaction

COMPONENT: Final = "policies"
ADMIN: Final = "admin"

STEPS: Final = (
    """
    CREATE TABLE policies (
        id         TEXT PRIMARY KEY,
        dataset    TEXT NOT NULL,
        version    INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        retired_at INTEGER
    ) STRICT;
    CREATE INDEX policies_dataset ON policies (dataset);
    CREATE TABLE policy_versions (
        id         TEXT NOT NULL REFERENCES policies (id),
        version    INTEGER NOT NULL,
        document   TEXT NOT NULL,
        digest     TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (id, version)
    ) STRICT;
    """,
)


class AuditSink(Protocol):
    """What the store needs of ``node.audit.AuditLog``."""

    def append(
        self, event: str, details: Mapping[str, Any], *, actor: str | None = None, now: int | None
    ) -> object:
        """Append one entry inside the caller's transaction."""
        ...


Publish = Callable[[str, Mapping[str, Any]], None]


@dataclass(frozen=True)
class StoredPolicy:
    """One stored version of a policy, with when it was written and when the policy retired."""

    policy: Policy
    created_at: int
    retired_at: int | None
    current: bool

    @property
    def retired(self) -> bool:
        """Whether the policy (every version of it) is retired."""
        return self.retired_at is not None

    def to_json(self) -> dict[str, object]:
        """The stored policy as the admin API shows it."""
        return {
            "policy": self.policy.to_json(),
            "digest": self.policy.digest().hex(),
            "created_at": self.created_at,
            "retired_at": self.retired_at,
            "current": self.current,
        }


class PolicyStore:
    """The node's policies over its store connection (component ``policies``)."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        *,
        audit: AuditSink | None = None,
        publish: Publish | None = None,
    ) -> None:
        migrate(connection, COMPONENT, STEPS)
        self._db = connection
        self._audit = audit
        self._publish = publish

    def create(
        self,
        document: Mapping[str, object],
        *,
        now: int,
        vocabulary: Vocabulary | None = None,
        actor: str = ADMIN,
    ) -> StoredPolicy:
        """Validate and store a new policy as version 1.

        Raises ``InvalidConsentError`` (``invalid_policy``, every problem with its path),
        ``ConflictError`` ``policy_exists`` (the id is taken, retired or not) or
        ``version_conflict`` (the document names a version other than 1).
        """
        policy = parse_policy(document, vocabulary=vocabulary)
        if "version" in document and policy.version != 1:
            raise ConflictError("version_conflict", "a new policy starts at version 1")
        with transaction(self._db):
            if self._head(policy.id) is not None:
                raise ConflictError("policy_exists", "a policy with this id exists already")
            self._db.execute(
                "INSERT INTO policies VALUES (?, ?, 1, ?, ?, NULL)",
                (policy.id, policy.dataset, now, now),
            )
            self._insert(policy, now)
            self._record("policy.created", policy, now, actor)
        self._announce("policy.created", policy)
        return StoredPolicy(policy, now, None, current=True)

    def update(
        self,
        policy_id: str,
        document: Mapping[str, object],
        *,
        now: int,
        vocabulary: Vocabulary | None = None,
        actor: str = ADMIN,
    ) -> StoredPolicy:
        """Store ``document`` as the next version of ``policy_id``; the dataset cannot change.

        If the document names a ``version``, it must be the next one (an optimistic check, so
        two editors do not overwrite each other). Raises ``NotFoundError`` ``policy_not_found``,
        ``InvalidError`` ``policy_id_mismatch``, ``ConflictError`` ``policy_retired``,
        ``policy_dataset_changed`` or ``version_conflict``.
        """
        parsed = parse_policy(document, vocabulary=vocabulary)
        if parsed.id != policy_id:
            raise InvalidError(
                "policy_id_mismatch", "the document's id differs from the policy updated"
            )
        with transaction(self._db):
            head = self._require(policy_id)
            if head["retired_at"] is not None:
                raise ConflictError("policy_retired", "a retired policy cannot be changed")
            if head["dataset"] != parsed.dataset:
                raise ConflictError(
                    "policy_dataset_changed", "a policy stays on its dataset; create a new one"
                )
            version = int(head["version"]) + 1
            if "version" in document and parsed.version != version:
                raise ConflictError(
                    "version_conflict",
                    f"the policy was changed meanwhile; the next version is {version}",
                    {"expected_version": version},
                )
            policy = Policy(**{**parsed.__dict__, "version": version})
            self._db.execute(
                "UPDATE policies SET version = ?, updated_at = ? WHERE id = ?",
                (version, now, policy_id),
            )
            self._insert(policy, now)
            self._record("policy.updated", policy, now, actor)
        self._announce("policy.updated", policy)
        return StoredPolicy(policy, now, None, current=True)

    def retire(self, policy_id: str, *, now: int, actor: str = ADMIN) -> StoredPolicy:
        """Retire ``policy_id`` now: from this moment no evaluation uses any of its versions.

        Agreements it allowed earlier are retired separately (``node.consent.agreements``).
        Raises ``NotFoundError`` ``policy_not_found`` or ``ConflictError`` ``policy_retired``.
        """
        with transaction(self._db):
            head = self._require(policy_id)
            if head["retired_at"] is not None:
                raise ConflictError("policy_retired", "the policy is retired already")
            self._db.execute("UPDATE policies SET retired_at = ? WHERE id = ?", (now, policy_id))
            stored = self._version(policy_id, int(head["version"]))
            self._record("policy.retired", stored.policy, now, actor)
        self._announce("policy.retired", stored.policy)
        return StoredPolicy(stored.policy, stored.created_at, now, current=True)

    def get(self, policy_id: str, version: int | None = None) -> StoredPolicy:
        """The current (or a given) version of a policy; ``NotFoundError`` if there is none."""
        head = self._require(policy_id)
        return self._version(policy_id, int(head["version"]) if version is None else version)

    def versions(self, policy_id: str) -> list[StoredPolicy]:
        """Every version of a policy, oldest first."""
        head = self._require(policy_id)
        return [self._version(policy_id, v) for v in range(1, int(head["version"]) + 1)]

    def list(
        self, *, dataset: str | None = None, include_retired: bool = False
    ) -> list[StoredPolicy]:
        """The current version of each policy (on ``dataset``, if given), in id order."""
        rows = self._db.execute(
            "SELECT id, version FROM policies WHERE (? IS NULL OR dataset = ?)"
            " AND (? OR retired_at IS NULL) ORDER BY id",
            (dataset, dataset, include_retired),
        ).fetchall()
        return [self._version(row["id"], int(row["version"])) for row in rows]

    def active(self, dataset: str) -> builtins.list[Policy]:
        """The current versions of the unretired policies on ``dataset``: what evaluation uses.

        Validity windows are left to :func:`node.consent.evaluate.evaluate`, which reports an
        expired policy by name rather than as no policy at all.
        """
        return [stored.policy for stored in self.list(dataset=dataset)]

    # --- internals ----------------------------------------------------------------------------

    def _head(self, policy_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._db.execute(
            "SELECT dataset, version, retired_at FROM policies WHERE id = ?", (policy_id,)
        ).fetchone()
        return row

    def _require(self, policy_id: str) -> sqlite3.Row:
        head = self._head(policy_id)
        if head is None:
            raise NotFoundError("policy_not_found", "no policy with this id")
        return head

    def _version(self, policy_id: str, version: int) -> StoredPolicy:
        row = self._db.execute(
            "SELECT v.document, v.created_at, p.retired_at, p.version FROM policy_versions v"
            " JOIN policies p ON p.id = v.id WHERE v.id = ? AND v.version = ?",
            (policy_id, version),
        ).fetchone()
        if row is None:
            raise NotFoundError("policy_version_not_found", "the policy has no such version")
        # Stored documents were validated when written; parsing again keeps one code path.
        policy = parse_policy(json.loads(row["document"]))
        current = int(row["version"]) == version
        return StoredPolicy(policy, int(row["created_at"]), row["retired_at"], current)

    def _insert(self, policy: Policy, now: int) -> None:
        document = json.dumps(policy.to_json(), sort_keys=True, separators=(",", ":"))
        self._db.execute(
            "INSERT INTO policy_versions VALUES (?, ?, ?, ?, ?)",
            (policy.id, policy.version, document, policy.digest().hex(), now),
        )

    def _record(self, event: str, policy: Policy, now: int, actor: str) -> None:
        if self._audit is not None:
            self._audit.append(event, _details(policy), actor=actor, now=now)

    def _announce(self, kind: str, policy: Policy) -> None:
        if self._publish is not None:
            self._publish(kind, _details(policy))


def _details(policy: Policy) -> dict[str, Any]:
    """What the audit log and the event bus carry about a policy: ids and a hash, no content."""
    return {
        "policy_id": policy.id,
        "version": policy.version,
        "dataset": policy.dataset,
        "approval": policy.approval,
        "digest": policy.digest().hex(),
    }
