"""Discovery: signed node records spread to every member over a gossip session on each link.

Each node signs a record of itself (addresses, data spaces and roles, sequence number, expiry).
On every new link the dialling side opens the gossip session (``GOSSIP_SESSION``); each side
first sends every valid record it knows, then floods each record it newly accepts to all its
other links. A record is accepted only if its signature verifies, it has not expired, its
sequence number is newer than the one held, and its node is a member (``records.RecordStore``);
forged, stale, expired or non-member records are dropped and never forwarded. A node that knows
a peer's record can dial it on demand (``connect``). So a node that joins through one bootstrap
address becomes known to all members, and learns all of them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import msgpack
import numpy as np

from network.errors import NetworkError
from network.host import PeerHost
from network.link import Link, Session
from network.records import IsMember, RecordAccepted, RecordStore, SignedNodeRecord
from network.tasks import TaskSet

GOSSIP_SESSION = 1
MAX_RECORDS_PER_MESSAGE = 64


class Discovery:
    """The record store and gossip of one node."""

    def __init__(
        self,
        own: SignedNodeRecord,
        is_member: IsMember,
        clock: Callable[[], int],
    ) -> None:
        self.store = RecordStore()
        self._own = own
        self._is_member = is_member
        self._clock = clock
        self._host: PeerHost | None = None
        self._outgoing: dict[str, tuple[Session, list[int]]] = {}
        self._tasks = TaskSet()
        self.store.offer(own, clock(), is_member)

    def attach(self, host: PeerHost) -> None:
        """Use ``host``'s links; pass ``discovery.on_session`` as the host's session hook."""
        self._host = host

    def on_session(self, session: Session) -> None:
        """Host hook: a peer opened a session; gossip sessions start here."""
        if session.session_id == GOSSIP_SESSION:
            self._start(session.link)

    async def join(self, node_id: str, url: str, deadline: float = 10.0) -> None:
        """Link to a bootstrap (or any known) node and start gossiping with it."""
        assert self._host is not None
        link = await self._host.connect(node_id, url, deadline)
        self._start(link)

    async def connect(self, node_id: str, deadline: float = 10.0) -> Link:
        """A link to a node known from its record (dialled on demand)."""
        assert self._host is not None
        record = self.store.get(node_id, self._clock())
        if record is None:
            raise LookupError("no valid record for that node")
        link = await self._host.connect(node_id, record.record.addresses[0], deadline)
        self._start(link)
        return link

    def known(self) -> set[str]:
        """Node ids with a valid record."""
        return {r.node_id for r in self.store.records(self._clock())}

    def _start(self, link: Link) -> None:
        peer = link.peer.node_id
        if peer in self._outgoing and not link.is_closed:
            existing, _ = self._outgoing[peer]
            if existing.link is link:
                return
        session = link.session(GOSSIP_SESSION, "gossip")
        self._outgoing[peer] = (session, [0])
        self._send(peer, self.store.records(self._clock()))
        self._tasks.spawn(self._receive_loop(peer, session))

    def _send(self, peer: str, records: list[SignedNodeRecord]) -> None:
        entry = self._outgoing.get(peer)
        if entry is None or not records:
            return
        session, counter = entry
        for start in range(0, len(records), MAX_RECORDS_PER_MESSAGE):
            chunk = [r.encode() for r in records[start : start + MAX_RECORDS_PER_MESSAGE]]
            payload = np.frombuffer(msgpack.packb(chunk, use_bin_type=True), dtype=np.uint8)
            counter[0] += 1
            self._tasks.spawn(self._quietly(session.send(f"g{counter[0]}", (payload,))))

    async def _quietly(self, sending: object) -> None:
        with contextlib.suppress(NetworkError):
            await sending  # type: ignore[misc]  # a coroutine from Session.send

    async def _receive_loop(self, peer: str, session: Session) -> None:
        count = 0
        with contextlib.suppress(NetworkError, ValueError, TypeError):
            while True:
                count += 1
                (payload,) = await session.receive(f"g{count}")
                fresh = self._accept(bytes(payload))
                for other in list(self._outgoing):
                    if other != peer:
                        self._send(other, fresh)

    def _accept(self, payload: bytes) -> list[SignedNodeRecord]:
        encoded = msgpack.unpackb(payload, raw=False)
        if not isinstance(encoded, list) or len(encoded) > MAX_RECORDS_PER_MESSAGE:
            raise ValueError("gossip message is not a short list of records")
        fresh = []
        for item in encoded:
            if not isinstance(item, bytes):
                continue
            outcome = self.store.offer(item, self._clock(), self._is_member)
            if isinstance(outcome, RecordAccepted):
                fresh.append(outcome.record)
        return fresh

    async def aclose(self) -> None:
        """Stop gossiping."""
        await self._tasks.aclose()
