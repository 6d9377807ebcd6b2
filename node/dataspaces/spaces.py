"""Charters and credentials: who belongs to which data space, as this node holds it.

``DataSpaces`` owns the store component ``dataspaces`` (tables in ``node.dataspaces.tables``) and
keeps a ``network.membership.Membership`` view in step with it. This half reads the store back
(``reload``), answers the handshake (``authorizer``) and the node record (``record_spaces``), and
administers charters and credentials: create a charter, issue or endorse a credential, join with
an invitation, adopt a co-signed document. Revocations and links are the other half
(``node.dataspaces.links``).
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any, Final, Literal

from network.admission import data_space_authorizer
from network.channel import Authorizer, Peer
from network.dataspace import Admission, Charter, DataSpaceLink, MembershipCredential, Revocation
from network.errors import NetworkError
from network.identity import Identity
from network.membership import Membership
from node.dataspaces.links import LinksAndRevocations
from node.dataspaces.tables import (
    COMPONENT,
    DAY,
    STEPS,
    AuditSink,
    Change,
    Signed,
    checked,
)
from node.errors import ConflictError, InvalidError
from node.store import migrate, transaction

MAX_RECORD_SPACES: Final = 4
MAX_RECORD_ROLES: Final = 8


class DataSpaces(LinksAndRevocations):
    """The node's data-space state (store component ``dataspaces``)."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        identity: Identity,
        *,
        audit: AuditSink | None = None,
    ) -> None:
        migrate(connection, COMPONENT, STEPS)
        self._db = connection
        self.identity = identity
        self.node_id = identity.node_id
        self._audit = audit
        self.changed: list[Callable[[Change, Signed | None], None]] = []
        self.membership = Membership()
        self._charter_digests: set[bytes] = set()
        self._seen: set[bytes] = set()
        self._loaded = False
        self.reload()

    # -- reading ---------------------------------------------------------------------------

    def reload(self) -> list[Signed]:
        """Bring the in-memory view up to the store (another process, e.g. the CLI, may have
        written); returns the credentials, revocations and links not seen before, after telling
        the ``changed`` listeners about them. A new charter rebuilds ``membership``."""
        rows = self._db.execute("SELECT encoded FROM dataspace_charters").fetchall()
        charters = [Charter.decode(row[0]) for row in rows]
        digests = {c.digest() for c in charters}
        rebuilt = digests != self._charter_digests
        if rebuilt:
            self.membership = Membership(charters)
            self._charter_digests = digests
        fresh: list[tuple[Change, Signed]] = []
        for key, encoded in self._db.execute(
            "SELECT digest, encoded FROM dataspace_credentials ORDER BY added_at"
        ).fetchall():
            if rebuilt or key not in self._seen:
                credential = MembershipCredential.decode(encoded)
                self.membership.add_credential(credential)
                if key not in self._seen:
                    fresh.append(("credential", credential))
        for key, encoded in self._db.execute(
            "SELECT digest, encoded FROM dataspace_revocations ORDER BY added_at"
        ).fetchall():
            if rebuilt or key not in self._seen:
                revocation = Revocation.decode(encoded)
                self.membership.add_revocation(revocation)
                if key not in self._seen:
                    fresh.append(("revocation", revocation))
        for key, encoded in self._db.execute(
            "SELECT digest, encoded FROM dataspace_links WHERE removed_at IS NULL"
        ).fetchall():
            if key not in self._seen:
                fresh.append(("link", DataSpaceLink.decode(encoded)))
        initial = not self._loaded
        self._loaded = True
        for change, obj in fresh:
            self._seen.add(obj.digest())
            if not initial:
                for listener in list(self.changed):
                    listener(change, obj)
        return [] if initial else [obj for _, obj in fresh]

    def charters(self) -> list[Charter]:
        """Every charter held, by data space."""
        rows = self._db.execute("SELECT encoded FROM dataspace_charters ORDER BY data_space")
        return [Charter.decode(row[0]) for row in rows]

    def own_credentials(self, now: int) -> list[MembershipCredential]:
        """This node's credentials that are in their window and not revoked at ``now``."""
        rows = self._db.execute(
            "SELECT encoded FROM dataspace_credentials WHERE own = 1 AND valid_until > ? "
            "ORDER BY data_space, valid_until DESC",
            (now,),
        )
        usable = []
        for (encoded,) in rows:
            credential = MembershipCredential.decode(encoded)
            charter = self.membership.charter(credential.data_space)
            revoked = any(
                r.revokes(credential, now) for r in self._revocations(credential.data_space)
            )
            if charter is not None and not revoked and credential.issued_at <= now + 60:
                usable.append(credential)
        return usable

    def local_spaces(self, now: int) -> tuple[str, ...]:
        """The data spaces this node takes part in at ``now`` (by its own credentials)."""
        return tuple(sorted({c.data_space for c in self.own_credentials(now)}))

    def record_spaces(self, now: int) -> dict[str, frozenset[str]]:
        """What the node record claims: up to 4 data spaces, up to 8 roles each."""
        claims: dict[str, frozenset[str]] = {}
        for credential in self.own_credentials(now):
            claims[credential.data_space] = (
                claims.get(credential.data_space, frozenset()) | credential.roles
            )
        return {
            space: frozenset(sorted(roles)[:MAX_RECORD_ROLES])
            for space, roles in sorted(claims.items())[:MAX_RECORD_SPACES]
        }

    def credentials(self, data_spaces: Iterable[str] | None = None) -> list[MembershipCredential]:
        """Credentials held (of any member), optionally only of ``data_spaces``."""
        rows = self._db.execute("SELECT data_space, encoded FROM dataspace_credentials")
        wanted = None if data_spaces is None else set(data_spaces)
        return [
            MembershipCredential.decode(encoded)
            for space, encoded in rows
            if wanted is None or space in wanted
        ]

    def bootstrap(self) -> list[str]:
        """Bootstrap addresses learnt from invitations (``NODE_ID@URL``)."""
        rows = self._db.execute("SELECT address FROM dataspace_bootstrap ORDER BY added_at")
        return [row[0] for row in rows]

    def summary(self, now: int) -> list[dict[str, Any]]:
        """What an operator sees per data space (JSON-able; no key material)."""
        own = {c.data_space: c for c in self.own_credentials(now)}
        result = []
        for charter in self.charters():
            space = charter.data_space
            credential = own.get(space)
            result.append(
                {
                    "data_space": space,
                    "version": charter.version,
                    "governance": sorted(charter.governance),
                    "is_governance": self.node_id in charter.governance,
                    "admission": charter.admission.to_wire(),
                    "roles": sorted(charter.roles),
                    "purposes": sorted(charter.purposes),
                    "member": credential is not None,
                    "my_roles": sorted(credential.roles) if credential else [],
                    "valid_until": credential.valid_until if credential else None,
                    "members_known": len(self.membership.members(space, now)),
                    "linked_to": sorted(
                        {
                            s
                            for link in self.links()
                            if space in link.data_spaces
                            for s in link.data_spaces
                        }
                        - {space}
                    ),
                }
            )
        return result

    def authorizer(self, clock: Callable[[], int]) -> Authorizer:
        """The handshake's authoriser: admits members of our or linked data spaces, now.

        Our own data spaces, links and revocations are read at each handshake, so a join, link
        or revocation takes effect at once. Credentials a peer presents that admit it are kept,
        so that its node record is accepted by discovery.
        """

        def authorize(peer: Peer) -> None:
            now = clock()
            check = data_space_authorizer(
                self.membership, self.local_spaces(now), self.links, lambda: now
            )
            check(peer)
            for raw in peer.credentials:
                try:
                    self.accept_credential(MembershipCredential.decode(raw), now)
                except (NetworkError, InvalidError):
                    continue  # checked already by ``check``; one that did not admit is dropped

        return authorize

    def next_sequence(self) -> int:
        """The next node-record sequence number (persisted, so it grows across restarts)."""
        with transaction(self._db):
            self._db.execute(
                "INSERT INTO dataspace_counters (name, value) VALUES ('record_sequence', 1) "
                "ON CONFLICT (name) DO UPDATE SET value = value + 1"
            )
            row = self._db.execute(
                "SELECT value FROM dataspace_counters WHERE name = 'record_sequence'"
            ).fetchone()
        return int(row[0])

    # -- changing --------------------------------------------------------------------------

    def create(
        self,
        data_space: str,
        *,
        roles: Iterable[str],
        purposes: Iterable[str],
        now: int,
        governance: Iterable[str] = (),
        governance_threshold: int = 1,
        admission: Literal["governance", "endorsements"] = "governance",
        admission_threshold: int = 1,
    ) -> Charter:
        """A new charter signed by this node; adopted at once if that signature suffices."""
        if self.membership.charter(data_space) is not None:
            raise ConflictError("data_space_exists", "a charter for that data space is held")
        keys = frozenset(governance) or frozenset({self.node_id})
        charter = checked(
            "charter",
            lambda: Charter(
                data_space=data_space,
                version=1,
                issued_at=now,
                governance=keys,
                governance_threshold=governance_threshold,
                admission=Admission(admission, admission_threshold),
                roles=frozenset(roles),
                purposes=frozenset(purposes),
            ),
        )
        assert isinstance(charter, Charter)
        if self.node_id not in charter.governance:
            raise InvalidError("not_governance", "this node must be one of the governance keys")
        charter = charter.sign(self.identity)
        if governance_threshold == 1:
            self.adopt_charter(charter, now)
        return charter

    def adopt_charter(self, charter: Charter, now: int) -> bool:
        """Hold ``charter`` (a trust anchor, or a newer version its governance signed)."""
        held = self.membership.charter(charter.data_space)
        if held is not None and held.digest() == charter.digest():
            return False
        if held is None:
            checked("charter", lambda: Membership([charter]))
        else:
            checked("charter", lambda: self.membership.update_charter(charter))
        self._commit(
            "charter",
            charter,
            "dataspace.charter_adopted",
            {"data_space": charter.data_space, "version": charter.version},
            "INSERT INTO dataspace_charters VALUES (?, ?, ?, ?) ON CONFLICT (data_space) "
            "DO UPDATE SET version = excluded.version, encoded = excluded.encoded",
            (charter.data_space, charter.version, charter.encode(), now),
        )
        if held is None:
            self.reload()
        return True

    def issue(
        self, data_space: str, member: str, roles: Iterable[str], now: int, valid_days: int = 365
    ) -> MembershipCredential:
        """A credential for ``member`` signed by this node (governance or endorsing member)."""
        self.charter(data_space)
        if not 1 <= valid_days <= 3660:
            raise InvalidError("validity_invalid", "validity must be 1 to 3660 days")
        credential = checked(
            "credential",
            lambda: MembershipCredential(
                data_space=data_space,
                member=member,
                roles=frozenset(roles),
                issued_at=now,
                valid_until=now + valid_days * DAY,
                serial=secrets.token_bytes(16),
            ).sign(self.identity),
        )
        assert isinstance(credential, MembershipCredential)
        checked("credential", lambda: self.membership.add_credential(credential))
        self.accept_credential(credential, now)
        return credential

    def accept_credential(self, credential: MembershipCredential, now: int) -> bool:
        """Keep a credential (ours or another member's); ``True`` if it is new."""
        key = credential.digest()
        if self._db.execute(
            "SELECT 1 FROM dataspace_credentials WHERE digest = ?", (key,)
        ).fetchone():
            return False
        checked("credential", lambda: self.membership.add_credential(credential))
        own = int(credential.member == self.node_id)
        self._commit(
            "credential",
            credential,
            "dataspace.credential_added",
            {
                "data_space": credential.data_space,
                "own": bool(own),
                "serial": credential.serial.hex(),
            },
            "INSERT INTO dataspace_credentials VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                credential.data_space,
                credential.member,
                credential.serial,
                credential.valid_until,
                own,
                credential.encode(),
                now,
            ),
        )
        return True

    def join(
        self, charter: Charter, credential: MembershipCredential, bootstrap: Iterable[str], now: int
    ) -> MembershipCredential:
        """Join with an invitation: adopt its charter, keep the credential as ours."""
        if credential.member != self.node_id:
            raise InvalidError("credential_not_ours", "the credential names another node")
        if credential.data_space != charter.data_space:
            raise InvalidError("credential_invalid", "the credential is for another data space")
        held = self.membership.charter(charter.data_space)
        if held is None or held.version < charter.version:
            self.adopt_charter(charter, now)
        self.accept_credential(credential, now)
        with transaction(self._db):
            for address in bootstrap:
                if not address.startswith(self.node_id + "@"):
                    self._db.execute(
                        "INSERT OR IGNORE INTO dataspace_bootstrap VALUES (?, ?, ?)",
                        (address, charter.data_space, now),
                    )
        return credential

    def adopt(self, obj: Signed, now: int) -> bool:
        """Keep a completed document of any kind; ``True`` if it was new."""
        if isinstance(obj, Charter):
            return self.adopt_charter(obj, now)
        if isinstance(obj, MembershipCredential):
            return self.accept_credential(obj, now)
        if isinstance(obj, Revocation):
            return self.accept_revocation(obj, now)
        return self.accept_link(obj, now)
