"""The store component ``dataspaces``: its tables, and what both halves of ``DataSpaces`` share.

``SpaceState`` holds the connection, the identity, the in-memory ``Membership`` view and the
``changed`` listeners; ``_commit`` writes one change with its audit entry in one transaction and
tells the listeners after it commits. ``DataSpaceError`` wraps a ``network`` validation failure
of a signed object as a node error with its wire code and path.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal, Protocol, TypeAlias

from network.dataspace import Charter, DataSpaceLink, MembershipCredential, Revocation
from network.errors import NetworkError, ValidationError
from network.identity import Identity
from network.membership import Membership
from node.errors import InvalidError, NotFoundError
from node.store import transaction

COMPONENT: Final = "dataspaces"
STEPS: Final = (
    """
    CREATE TABLE dataspace_charters (
        data_space TEXT PRIMARY KEY,
        version    INTEGER NOT NULL,
        encoded    BLOB NOT NULL,
        adopted_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE dataspace_credentials (
        digest      BLOB PRIMARY KEY,
        data_space  TEXT NOT NULL,
        member      TEXT NOT NULL,
        serial      BLOB NOT NULL,
        valid_until INTEGER NOT NULL,
        own         INTEGER NOT NULL,
        encoded     BLOB NOT NULL,
        added_at    INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE dataspace_revocations (
        digest     BLOB PRIMARY KEY,
        data_space TEXT NOT NULL,
        encoded    BLOB NOT NULL,
        added_at   INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE dataspace_links (
        digest     BLOB PRIMARY KEY,
        space_a    TEXT NOT NULL,
        space_b    TEXT NOT NULL,
        encoded    BLOB NOT NULL,
        added_at   INTEGER NOT NULL,
        removed_at INTEGER
    ) STRICT;
    CREATE TABLE dataspace_bootstrap (
        address    TEXT PRIMARY KEY,
        data_space TEXT NOT NULL,
        added_at   INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE dataspace_counters (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) STRICT;
    """,
)
DAY: Final = 86400
Signed: TypeAlias = Charter | MembershipCredential | Revocation | DataSpaceLink
Change: TypeAlias = Literal["credential", "revocation", "link", "charter", "unlink"]


class AuditSink(Protocol):
    """What this part needs of ``node.audit.AuditLog``."""

    def append(self, event: str, details: Mapping[str, Any]) -> object:
        """Append one entry inside the caller's transaction."""
        ...


class DataSpaceError(InvalidError):
    """A signed object does not validate; ``details`` has its wire code and path."""

    def __init__(self, error: NetworkError, what: str) -> None:
        details: dict[str, Any] = {"wire_code": error.code.name.lower()}
        if isinstance(error, ValidationError):
            details["path"] = error.path
        super().__init__(f"{what}_invalid", f"the {what} is not valid: {error.reason}", details)


def checked(what: str, check: Callable[[], Any]) -> Any:
    """``check()``, its ``NetworkError`` raised as a ``DataSpaceError`` about ``what``."""
    try:
        return check()
    except NetworkError as error:
        raise DataSpaceError(error, what) from None


class SpaceState:
    """The state both halves of ``DataSpaces`` work on; ``DataSpaces.__init__`` fills it."""

    _db: sqlite3.Connection
    identity: Identity
    node_id: str
    membership: Membership
    changed: list[Callable[[Change, Signed | None], None]]
    _audit: AuditSink | None
    _seen: set[bytes]

    def charter(self, data_space: str) -> Charter:
        """The charter of ``data_space``; ``NotFoundError`` if we hold none."""
        charter = self.membership.charter(data_space)
        if charter is None:
            raise NotFoundError("data_space_unknown", "this node holds no charter for that space")
        return charter

    def sign(self, obj: Signed) -> Signed:
        """``obj`` with this node's signature added (co-signing a document)."""
        return obj.sign(self.identity)

    def _commit(
        self,
        change: Change,
        obj: Signed | None,
        event: str,
        details: dict[str, Any],
        sql: str,
        parameters: tuple[Any, ...],
    ) -> None:
        with transaction(self._db):
            self._db.execute(sql, parameters)
            if self._audit is not None:
                self._audit.append(event, details)
        if obj is not None:
            self._seen.add(obj.digest())
        for listener in list(self.changed):
            listener(change, obj)
