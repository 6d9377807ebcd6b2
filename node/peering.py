"""Keeping a running node linked: bootstrap dials, re-dials with backoff, unlinks enforced.

:class:`Peering` is the service's part that decides *whom to dial* (the network layer decides
how). It reads the node's current host, discovery and liveness through a :class:`LinkedNode`
(the service: discovery is replaced when the node's own claims change) and:

- **joins bootstrap nodes** (``node.toml`` and those learnt from invitations) that have no link,
  at the address of their latest record first if that moved, else at the configured one;
- **heals** every ``HEAL_INTERVAL`` seconds (:meth:`Peering.heal_once`): the addresses of the
  records discovery verified go into the :class:`~node.peerbook.PeerBook`; a bootstrap node
  whose link is down is dialled again; a node with no link at all dials every peer of its
  address book. A peer that does not answer is tried again after a delay that doubles up to
  ``HEAL_BACKOFF_CAP``; one warning per streak of failures, one line when it is back. So a
  restarted node — the governance node too, whose members bootstrap from it and which has no
  bootstrap node itself — is linked again within seconds, and its new record spreads;
- **enforces admission** (:meth:`Peering.enforce_admission`): when a data-space link is removed,
  links the handshake would now refuse are closed (``network.admission.enforce``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from typing import Final, Protocol

import aiohttp
import structlog

from network.admission import enforce
from network.channel import Authorizer
from network.discovery import Discovery
from network.errors import NetworkError
from network.host import PeerHost
from network.liveness import Liveness
from network.tasks import TaskSet
from node.config import Bootstrap
from node.errors import NodeError
from node.peerbook import PeerBook

BOOTSTRAP_DEADLINE: Final = 30.0
"""Seconds a first dial of a bootstrap node keeps trying."""
REDIAL_DEADLINE: Final = 10.0
"""Seconds a re-dial by the heal loop keeps trying."""
HEAL_INTERVAL: Final = 2.0
"""Seconds between two heal rounds; also the first delay after a failed dial."""
HEAL_BACKOFF_CAP: Final = 60.0
"""Longest wait before a peer that failed to answer is dialled again."""
_DIAL_ERRORS: Final = (OSError, NetworkError, TimeoutError, aiohttp.ClientError)


class LinkedNode(Protocol):
    """What peering reads of the running node (the service's current parts)."""

    @property
    def host(self) -> PeerHost | None:
        """The peer host, once started."""
        ...

    @property
    def discovery(self) -> Discovery | None:
        """The current discovery, if the node belongs to a data space."""
        ...

    @property
    def liveness(self) -> Liveness | None:
        """The failure detector, once started."""
        ...


class Peering:
    """Whom the node dials, and when; see the module docstring."""

    def __init__(
        self,
        node: LinkedNode,
        node_id: str,
        bootstrap: Callable[[], list[Bootstrap]],
        peerbook: PeerBook,
        authorizer: Callable[[], Authorizer],
        clock: Callable[[], int],
    ) -> None:
        self.node = node
        self.node_id = node_id
        self.bootstrap = bootstrap
        self.peerbook = peerbook
        self.authorizer = authorizer
        self.clock = clock
        self._dialling: set[str] = set()
        self._backoff: dict[str, tuple[float, float]] = {}
        """Per peer that failed to answer: (loop time of the next dial, the last delay)."""
        self._tasks = TaskSet()
        self._log = structlog.get_logger("node.peering")

    def start(self) -> None:
        """Join the bootstrap nodes and start healing."""
        self.dial_bootstrap()
        self._tasks.spawn(self._heal())

    async def aclose(self) -> None:
        """Stop dialling; remember the addresses of the records held now."""
        await self._tasks.aclose()
        with contextlib.suppress(sqlite3.Error, NodeError):  # a full disk must not block a stop
            self.remember()

    # -- dialling ------------------------------------------------------------------------------

    def dial_bootstrap(self) -> None:
        """Join the bootstrap nodes not linked yet (an invitation may have brought new ones)."""
        for entry in self.bootstrap():
            self.dial(entry, BOOTSTRAP_DEADLINE)

    def dial(self, entry: Bootstrap, deadline: float) -> None:
        """Dial ``entry`` in the background unless it is linked or being dialled already."""
        host = self.node.host
        node_id = entry.node_id
        if host is None or node_id == self.node_id or host.link(node_id) is not None:
            return
        if node_id not in self._dialling:
            self._dialling.add(node_id)
            self._tasks.spawn(self._join(entry, deadline))

    async def _join(self, entry: Bootstrap, deadline: float) -> None:
        node_id = entry.node_id
        try:
            await self._link_to(entry, deadline)
        except _DIAL_ERRORS as error:
            code = error.code.name if isinstance(error, NetworkError) else type(error).__name__
            _, delay = self._backoff.get(node_id, (0.0, 0.0))
            if not delay:  # once per streak of failures
                self._log.warning("bootstrap.failed", peer=node_id[:12], reason=code)
            delay = min(HEAL_BACKOFF_CAP, max(HEAL_INTERVAL, delay * 2))
            self._backoff[node_id] = (asyncio.get_running_loop().time() + delay, delay)
            return
        finally:
            self._dialling.discard(node_id)
        redialled = self._backoff.pop(node_id, None) is not None
        self._log.info("peer.redialled" if redialled else "bootstrap.joined", peer=node_id[:12])
        liveness = self.node.liveness
        if liveness is not None:
            liveness.watch(node_id)

    async def _link_to(self, entry: Bootstrap, deadline: float) -> None:
        """A link to ``entry``: at its latest record's address if that moved, else at its own."""
        host, discovery = self.node.host, self.node.discovery
        if host is None:
            raise TimeoutError("the peer host is not started")
        if discovery is None:
            await host.connect(entry.node_id, entry.url, deadline)
            return
        signed = discovery.store.get(entry.node_id, self.clock())
        if signed is not None and entry.url not in signed.record.addresses:
            with contextlib.suppress(*_DIAL_ERRORS):
                await discovery.connect(entry.node_id, deadline / 2)
                return
        await discovery.join(entry.node_id, entry.url, deadline)

    # -- healing -------------------------------------------------------------------------------

    async def _heal(self) -> None:
        while True:
            try:
                self.heal_once()
            except (sqlite3.Error, NodeError) as error:  # a full disk must not stop the node
                self._log.warning("mesh.heal_failed", reason=type(error).__name__)
            await asyncio.sleep(HEAL_INTERVAL)

    def heal_once(self) -> None:
        """One round: remember the addresses of valid records; dial again each bootstrap node
        whose link is down and, with no link at all, every peer of the address book."""
        host = self.node.host
        if host is None:
            return
        now = self.clock()
        self.remember()
        targets = {entry.node_id: entry for entry in self.bootstrap()}
        if not any(host.link(node_id) is not None for node_id in self.peer_ids()):
            for node_id, url in self.peerbook.addresses(now):
                targets.setdefault(node_id, Bootstrap(node_id, url))
        loop_now = asyncio.get_running_loop().time()
        for node_id, entry in targets.items():
            if loop_now >= self._backoff.get(node_id, (0.0, 0.0))[0]:
                self.dial(entry, REDIAL_DEADLINE)

    def remember(self) -> None:
        """Put the first address of every valid record discovery holds into the address book."""
        discovery = self.node.discovery
        if discovery is None:
            return
        now = self.clock()
        seen = []
        for node_id in sorted(discovery.known() - {self.node_id}):
            signed = discovery.store.get(node_id, now)
            if signed is not None and signed.record.addresses:
                seen.append((node_id, signed.record.addresses[0]))
        self.peerbook.remember(seen, now)

    def peer_ids(self) -> set[str]:
        """Every peer the node knows of: records, bootstrap nodes, address book, liveness."""
        ids = {entry.node_id for entry in self.bootstrap()}
        ids |= {node_id for node_id, _ in self.peerbook.addresses(self.clock())}
        discovery, liveness = self.node.discovery, self.node.liveness
        if discovery is not None:
            ids |= discovery.known()
        if liveness is not None:
            ids |= set(liveness.detector.members)
        return ids - {self.node_id}

    # -- admission -----------------------------------------------------------------------------

    async def enforce_admission(self) -> None:
        """Close the links the handshake would refuse now (a data-space link was removed)."""
        host = self.node.host
        if host is None:
            return
        links = [link for n in sorted(self.peer_ids()) if (link := host.link(n)) is not None]
        refused = await enforce(links, self.authorizer())
        if refused:
            self._log.info("node.links_deauthorized", closed=len(refused))
