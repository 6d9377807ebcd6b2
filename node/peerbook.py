"""Where peers were last reached: their addresses, kept across restarts.

Discovery's records live in memory, so a node that restarts knows no peer until one dials it
or it dials a bootstrap node — and the governance node, which every other member bootstraps
from, has no bootstrap node of its own. :class:`PeerBook` (store component ``peerbook``) keeps
the address of each peer's latest signed record as discovery verified it; the service dials
these when it has no link at all (at start, or after losing every link), so a restarted node
rejoins the mesh and its new record (perhaps at a new port) spreads by gossip.

An address is only a hint: every dial is authenticated and admitted by the handshake as usual,
so a stale or wrong address costs a failed dial, never trust. Entries not refreshed for
``max_age`` seconds are dropped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Final

from node.store import migrate, transaction

COMPONENT: Final = "peerbook"
STEPS: Final = (
    """
    CREATE TABLE peer_addresses (
        node_id TEXT PRIMARY KEY,
        address TEXT NOT NULL,
        seen_at INTEGER NOT NULL
    ) STRICT;
    """,
)
MAX_AGE: Final = 30 * 86400
"""Seconds an address is kept without being seen again in a valid record."""
REFRESH: Final = 3600
"""An unchanged address is written again at most this often (its ``seen_at``)."""
MAX_PEERS: Final = 4096


class PeerBook:
    """The last known address of each peer (table ``peer_addresses``)."""

    def __init__(self, connection: sqlite3.Connection, max_age: int = MAX_AGE) -> None:
        migrate(connection, COMPONENT, STEPS)
        self._db = connection
        self.max_age = max_age
        self._held: dict[str, tuple[str, int]] = {
            str(row[0]): (str(row[1]), int(row[2]))
            for row in connection.execute("SELECT node_id, address, seen_at FROM peer_addresses")
        }

    def remember(self, seen: Iterable[tuple[str, str]], now: int) -> int:
        """Keep ``(node_id, address)`` pairs seen at ``now``; returns how many rows changed.

        Only a new or moved address, or one last written ``REFRESH`` seconds ago, is written,
        all in one transaction; beyond ``MAX_PEERS`` new peers are ignored.
        """
        changes: list[tuple[str, str, int]] = []
        for node_id, address in seen:
            held = self._held.get(node_id)
            if held is None and len(self._held) + len(changes) >= MAX_PEERS:
                continue
            if held is None or held[0] != address or now - held[1] >= REFRESH:
                changes.append((node_id, address, now))
        if changes:
            with transaction(self._db):
                self._db.executemany(
                    "INSERT INTO peer_addresses (node_id, address, seen_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (node_id) DO UPDATE SET address = excluded.address, "
                    "seen_at = excluded.seen_at",
                    changes,
                )
            for node_id, address, at in changes:
                self._held[node_id] = (address, at)
        return len(changes)

    def addresses(self, now: int) -> list[tuple[str, str]]:
        """``(node_id, address)`` of every peer seen within ``max_age``, most recent first;
        older entries are deleted."""
        stale = [n for n, (_, at) in self._held.items() if now - at > self.max_age]
        if stale:
            with transaction(self._db):
                self._db.executemany(
                    "DELETE FROM peer_addresses WHERE node_id = ?", [(n,) for n in stale]
                )
            for node_id in stale:
                del self._held[node_id]
        ordered = sorted(self._held.items(), key=lambda item: (-item[1][1], item[0]))
        return [(node_id, address) for node_id, (address, _) in ordered]
