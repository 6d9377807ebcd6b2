"""How membership ends and how data spaces join up: revocations and data-space links.

``LinksAndRevocations`` is the half of ``DataSpaces`` that administers them. A revocation is
signed by the data space's governance and takes effect at every handshake from
``effective_from``; a link needs both governances' signatures before it is kept, and an unlink
only stops honouring it here (the signed link stays in the store, marked removed).
"""

from __future__ import annotations

from collections.abc import Iterable

from network.dataspace import DataSpaceLink, Revocation
from network.errors import NetworkError
from node.dataspaces.tables import DAY, SpaceState, checked
from node.errors import InvalidError, NotFoundError


class LinksAndRevocations(SpaceState):
    """Revocations and links held by this node (tables ``dataspace_revocations``, ``_links``)."""

    # -- revocations -----------------------------------------------------------------------

    def revocations(self) -> list[Revocation]:
        """Every revocation held."""
        rows = self._db.execute("SELECT encoded FROM dataspace_revocations ORDER BY added_at")
        return [Revocation.decode(row[0]) for row in rows]

    def _revocations(self, data_space: str) -> list[Revocation]:
        rows = self._db.execute(
            "SELECT encoded FROM dataspace_revocations WHERE data_space = ?", (data_space,)
        )
        return [Revocation.decode(row[0]) for row in rows]

    def revoke(
        self,
        data_space: str,
        now: int,
        *,
        member: str | None = None,
        serial: bytes | None = None,
        effective_from: int | None = None,
    ) -> Revocation:
        """A revocation signed by this node; kept (and spread) at once if that suffices."""
        charter = self.charter(data_space)
        revocation = checked(
            "revocation",
            lambda: Revocation(
                data_space=data_space,
                issued_at=now,
                effective_from=now if effective_from is None else effective_from,
                serial=serial,
                member=member,
            ).sign(self.identity),
        )
        assert isinstance(revocation, Revocation)
        if charter.governance_threshold == 1:
            self.accept_revocation(revocation, now)
        return revocation

    def accept_revocation(self, revocation: Revocation, now: int) -> bool:
        """Keep a revocation signed by its data space's governance; ``True`` if new."""
        key = revocation.digest()
        if self._db.execute(
            "SELECT 1 FROM dataspace_revocations WHERE digest = ?", (key,)
        ).fetchone():
            return False
        checked("revocation", lambda: self.membership.add_revocation(revocation))
        target = "member" if revocation.member is not None else "serial"
        self._commit(
            "revocation",
            revocation,
            "dataspace.member_revoked",
            {"data_space": revocation.data_space, "target": target},
            "INSERT INTO dataspace_revocations VALUES (?, ?, ?, ?)",
            (key, revocation.data_space, revocation.encode(), now),
        )
        return True

    # -- links -----------------------------------------------------------------------------

    def links(self) -> list[DataSpaceLink]:
        """Every data-space link held and not unlinked."""
        rows = self._db.execute(
            "SELECT encoded FROM dataspace_links WHERE removed_at IS NULL ORDER BY added_at"
        )
        return [DataSpaceLink.decode(row[0]) for row in rows]

    def link(
        self, data_space: str, other: str, purposes: Iterable[str], now: int, valid_days: int = 365
    ) -> DataSpaceLink:
        """A link between two data spaces signed by this node; adopted if already complete."""
        self.charter(data_space)
        self.charter(other)
        if not 1 <= valid_days <= 3660:
            raise InvalidError("validity_invalid", "validity must be 1 to 3660 days")
        link = checked(
            "link",
            lambda: DataSpaceLink(
                data_spaces=(data_space, other),
                purposes=frozenset(purposes),
                issued_at=now,
                valid_until=now + valid_days * DAY,
            ).sign(self.identity),
        )
        assert isinstance(link, DataSpaceLink)
        try:
            self.membership.check_link(link, now)
        except NetworkError:
            return link  # the other governance must co-sign first
        self.accept_link(link, now)
        return link

    def accept_link(self, link: DataSpaceLink, now: int) -> bool:
        """Keep a link both governances signed; ``True`` if new (an unlinked one stays out)."""
        key = link.digest()
        if self._db.execute("SELECT 1 FROM dataspace_links WHERE digest = ?", (key,)).fetchone():
            return False
        checked("link", lambda: self.membership.check_link(link, now))
        first, second = link.data_spaces
        self._commit(
            "link",
            link,
            "dataspace.linked",
            {"data_spaces": [first, second]},
            "INSERT INTO dataspace_links VALUES (?, ?, ?, ?, ?, NULL)",
            (key, first, second, link.encode(), now),
        )
        return True

    def unlink(self, data_space: str, other: str, now: int) -> int:
        """Stop honouring every link between the two data spaces here; returns how many."""
        first, second = sorted((data_space, other))
        count = self._db.execute(
            "SELECT count(*) FROM dataspace_links WHERE space_a = ? AND space_b = ? "
            "AND removed_at IS NULL",
            (first, second),
        ).fetchone()[0]
        if not count:
            raise NotFoundError("link_unknown", "no link between those data spaces is held")
        self._commit(
            "unlink",
            None,
            "dataspace.unlinked",
            {"data_spaces": [first, second]},
            "UPDATE dataspace_links SET removed_at = ? WHERE space_a = ? AND space_b = ? "
            "AND removed_at IS NULL",
            (now, first, second),
        )
        return int(count)
