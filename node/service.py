"""``confide run``: one ``NodeService`` composes the node's parts, its peer host and admin API.

``NodeService.open(home)`` loads the configuration, identity and store and builds the parts
that exist (audit log, event bus, data spaces, datasets, policies, agreements, runs); the admin
API reads them as attributes. Anything with an async ``aclose(reason)`` can be registered with
``add_part`` and is stopped, newest first, at shutdown.

``start()`` listens on the peer port (admission by data-space membership credentials), builds
the consent protocol, the runs (``Computations``, whose interrupted runs are recovered first)
and ``proposals`` (what ``/computations``, ``/approvals`` and ``/agreements`` serve) over it —
a run is authorised by ``consent.authorize_run``, and the proposer's first run starts when its
agreement is finalised — then starts
discovery and liveness once the node belongs to a data space, dials the bootstrap nodes, serves
the admin API on ``admin.host:admin.port`` and publishes its address in ``admin.url``.
``aclose(reason)`` undoes all of it in reverse: parts abort their in-flight work with the reason,
links close, the audit log signs a checkpoint, the store is closed.

Changes written to the store by another process while the node runs (the offline
``confide dataspace`` commands) are picked up within ``POLL_INTERVAL`` seconds
(``PRAGMA data_version``); a new revocation is then spread by discovery at once. When the
node's own claims change (it joined a data space, or a credential of its own was revoked),
``_refresh_claims`` updates what the handshake presents, replaces the ``Discovery`` object
(its record is signed once, at construction) and dials the bootstrap nodes not yet joined.
Peers already linked through the old discovery are re-dialled: a gossip session cannot be
reopened on a link, so those links are closed first.

Whom to dial is ``node.peering``'s: bootstrap nodes, re-dials after a peer or this node
restarted (from the address book ``node.peerbook``), and closing the links a removed data-space
link no longer admits — unlinked through the API, or offline and seen by the store poll.
Consent messages and runs dial a peer they have no link to through discovery.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Protocol

import structlog
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from network.channel import LocalParty
from network.dataspace import MembershipCredential, Revocation
from network.discovery import Discovery
from network.errors import NetworkError, WireCode
from network.host import PeerHost
from network.identity import Identity
from network.link import Link, Session
from network.liveness import Liveness, State
from network.tasks import TaskSet
from node.api import create_app
from node.audit import AuditLog
from node.catalog import Catalogs
from node.computations import Computations, RunStore
from node.config import Bootstrap, NodeConfig
from node.consent.agreements import Agreements
from node.consent.policies import PolicyStore
from node.consent.protocol import ConsentProtocol
from node.datasets import DatasetStore
from node.dataspaces import Change, DataSpaces, Signed
from node.errors import NodeError, UnavailableError
from node.events import EventBus
from node.home import Home
from node.peerbook import PeerBook
from node.peering import BOOTSTRAP_DEADLINE, Peering
from node.proposals import Proposals, policy_evaluator
from node.store import open_store

POLL_INTERVAL: Final = 1.0
LIVENESS_INTERVAL: Final = 5.0
EXPIRY_INTERVAL: Final = 60.0


class Part(Protocol):
    """A part of the node the service stops at shutdown."""

    async def aclose(self, reason: str) -> None:
        """Abort in-flight work with ``reason`` and release resources."""
        ...


class _Closing:
    """A part whose ``aclose`` takes no reason."""

    def __init__(self, close: Callable[[], Awaitable[None]]) -> None:
        self._close = close

    async def aclose(self, reason: str) -> None:
        """Close it (the reason is the caller's; this part has no work to abort)."""
        await self._close()


def system_clock() -> int:
    """Unix seconds now."""
    return int(time.time())


class NodeService:
    """The running node: its parts, peer host and admin API, under one object."""

    def __init__(
        self,
        home: Home,
        config: NodeConfig,
        identity: Identity,
        connection: sqlite3.Connection,
        admin_token: str,
        clock: Callable[[], int] = system_clock,
    ) -> None:
        self.home = home
        self.config = config
        self.identity = identity
        self.connection = connection
        self.admin_token = admin_token
        self.clock = clock
        self.events = EventBus()
        self.audit = AuditLog(connection, identity, clock=clock)
        self.dataspaces = DataSpaces(connection, identity, audit=self.audit)
        self.datasets = DatasetStore(connection, self.audit, publish=self.events.publish)
        self.policies = PolicyStore(connection, audit=self.audit, publish=self.events.publish)
        self.agreements = Agreements(connection, identity.node_id, self.audit)
        self.runs = RunStore(connection, self.audit)
        self.peerbook = PeerBook(connection)
        self.peering = Peering(
            self,
            identity.node_id,
            self._bootstrap,
            self.peerbook,
            lambda: self.dataspaces.authorizer(self.clock),
            clock,
        )
        self.consent: ConsentProtocol | None = None
        self.computations: Computations | None = None
        self.proposals: Proposals | None = None
        self.host: PeerHost | None = None
        self.discovery: Discovery | None = None
        self.liveness: Liveness | None = None
        self.started_at: int | None = None
        self.admin_url: str | None = None
        self.session_handlers: list[Callable[[Session], None]] = []
        self._parts: list[Part] = [self.datasets]  # imports in a worker stop writing
        self._tasks = TaskSet()
        self._runner: web.AppRunner | None = None
        self._data_version = -1
        self._claims: tuple[object, ...] = ()
        self._claims_lock = asyncio.Lock()
        self._link_digests: frozenset[bytes] = frozenset()
        self._log = structlog.get_logger("node.service")
        self.dataspaces.changed.append(self._on_dataspace_change)
        self.catalogs = Catalogs(
            identity.node_id,
            self.datasets,
            self.policies,
            self.dataspaces,
            host=lambda: self.host,
            clock=clock,
            connect=self._connect,
        )
        self.session_handlers.append(self.catalogs.on_session)
        self.add_part(self.catalogs)

    @classmethod
    def open(cls, home: Home, clock: Callable[[], int] = system_clock) -> NodeService:
        """Load ``home`` (config, identity, token, store) and build the parts."""
        config = home.config()
        identity = home.identity()
        token = home.admin_token()
        connection = open_store(home.store_path)
        try:
            return cls(home, config, identity, connection, token, clock)
        except BaseException:
            connection.close()
            raise

    def add_part(self, part: Part) -> None:
        """Stop ``part`` (``await part.aclose(reason)``) at shutdown, before the links close."""
        self._parts.append(part)

    # -- start -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on the peer and admin ports, join the bootstrap nodes."""
        now = self.clock()
        credentials = self.dataspaces.own_credentials(now)
        local = LocalParty(
            self.identity,
            X25519PrivateKey.generate(),
            self.dataspaces.local_spaces(now),
            tuple(c.encode() for c in credentials[:8]),
        )
        self.host = PeerHost(
            local,
            self.dataspaces.authorizer(self.clock),
            host=self.config.peer.host,
            port=self.config.peer.port,
            on_session=self._on_session,
            server_tls=self.config.peer.server_tls(self.home.path),
            client_tls=self.config.peer.client_tls(self.home.path),
        )
        await self.host.start()
        self._start_computing(self.host)
        self.liveness = Liveness(self.host)
        spaces = self.dataspaces.record_spaces(now)
        self._claims = self._own_claims(now)
        if spaces:
            self.discovery = self._discovery(spaces, credentials)
        self.admin_url = await self._start_admin()
        self.home.write_admin_url(self.admin_url)
        self.started_at = now
        self._data_version = self._store_version()
        self._link_digests = self._held_links()
        self._tasks.spawn(self._poll_store())
        self._tasks.spawn(self._probe_peers())
        self._tasks.spawn(self._expire_datasets())
        self.peering.start()

    def _start_computing(self, host: PeerHost) -> None:
        """The consent protocol and the runs over ``host``; runs a crash cut short end first.

        Every run is authorised by ``consent.authorize_run`` (the provider's policies evaluated
        again, then the agreement's usage reserved), so a retired policy or agreement stops
        a run at once.
        """
        evaluator = policy_evaluator(
            self.identity.node_id, self.policies, self.dataspaces, self.agreements
        )
        self.consent = ConsentProtocol(
            host,
            self.identity,
            self.agreements,
            evaluator,
            self._publish,
            clock=self.clock,
            connect=self._connect,
        )
        self.computations = Computations(
            host,
            self.identity,
            self.agreements,
            self.datasets,
            self.runs,
            self.consent.authorize_run,
            self._publish,
            clock=self.clock,
            connect=self._connect,
        )
        ended = self.computations.recover()
        if ended:
            self._log.info("run.recovered", aborted=len(ended))
        self.proposals = Proposals(
            self.identity.node_id,
            self.config.name,
            self.consent,
            self.computations,
            self.agreements,
            self.runs,
            publish=self.events.publish,
            data_space=self.config.data_space,
            clock=self.clock,
        )
        self.session_handlers += [self.consent.on_session, self.computations.on_session]
        self.add_part(_Closing(self.consent.aclose))
        self.add_part(self.computations)
        self.consent.start()

    async def _connect(self, node_id: str, deadline: float) -> Link:
        """A link to a member of one of our data spaces, dialled from its discovery record."""
        if self.discovery is None:
            raise LookupError("this node discovers no peers")
        return await self.discovery.connect(node_id, deadline)

    def _publish(self, kind: str, data: Mapping[str, Any]) -> None:
        """Events of the consent and run protocols: to the bus, and a finalised agreement to
        the proposer's first run."""
        self.events.publish(kind, data)
        if kind == "agreement.finalized" and self.proposals is not None:
            self.proposals.on_finalized(str(data["manifest_id"]))

    def _discovery(
        self, spaces: dict[str, frozenset[str]], credentials: list[MembershipCredential]
    ) -> Discovery | None:
        """Discovery with our signed record, or None if our credentials admit us nowhere."""
        assert self.host is not None
        try:
            discovery = Discovery(
                self.identity,
                (self.config.peer.address(self.host.port),),
                spaces,
                credentials[:8],
                self.dataspaces.membership,
                self.clock,
            )
        except NetworkError as error:
            self._log.warning("discovery.disabled", reason=error.code.name)
            return None
        discovery.attach(self.host)
        discovery.start()
        for revocation in self.dataspaces.revocations():
            discovery.revoke(revocation)
        return discovery

    @property
    def peer_url(self) -> str | None:
        """The address peers dial (after ``start``)."""
        return None if self.host is None else self.config.peer.address(self.host.port)

    async def _start_admin(self) -> str:
        app = create_app(self, clock=self.clock)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.admin.host, self.config.admin.port)
        try:
            await site.start()
        except OSError as error:
            raise UnavailableError(
                "admin_port_unavailable", f"cannot listen on the admin port ({error.strerror})"
            ) from None
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        port = sockets[0].getsockname()[1]
        host = self.config.admin.host
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    def _own_claims(self, now: int) -> tuple[object, ...]:
        """What the node presents about itself: its spaces, roles and credentials."""
        credentials = tuple(sorted(c.digest() for c in self.dataspaces.own_credentials(now)))
        return (tuple(sorted(self.dataspaces.record_spaces(now).items())), credentials)

    async def _refresh_claims(self) -> None:
        """Present the node's current data spaces: handshake, discovery record, bootstrap."""
        async with self._claims_lock:
            host = self.host
            now = self.clock()
            claims = self._own_claims(now)
            if host is None or claims == self._claims:
                self.peering.dial_bootstrap()
                return
            self._claims = claims
            credentials = self.dataspaces.own_credentials(now)
            host.local = dataclasses.replace(
                host.local,
                data_spaces=self.dataspaces.local_spaces(now),
                credentials=tuple(c.encode() for c in credentials[:8]),
            )
            old, self.discovery = self.discovery, None
            redial: list[Bootstrap] = []
            if old is not None:
                await old.aclose()
                for node_id in sorted(old.known() - {self.identity.node_id}):
                    signed = old.store.get(node_id, now)
                    link = host.link(node_id)
                    if signed is None or link is None:
                        continue
                    await link.aclose(WireCode.LINK_CLOSED, flush=1.0)
                    redial.append(Bootstrap(node_id, signed.record.addresses[0]))
            spaces = self.dataspaces.record_spaces(now)
            if spaces:
                self.discovery = self._discovery(spaces, credentials)
            self._log.info("node.claims_changed", data_spaces=len(spaces), relinked=len(redial))
            for entry in redial:
                self.peering.dial(entry, BOOTSTRAP_DEADLINE)
            self.peering.dial_bootstrap()

    def _bootstrap(self) -> list[Bootstrap]:
        seen: dict[str, Bootstrap] = {}
        learnt = [Bootstrap.parse(a) for a in self.dataspaces.bootstrap()]
        for entry in (*self.config.bootstrap, *learnt):
            if entry.node_id != self.identity.node_id:
                seen.setdefault(entry.node_id, entry)
        return list(seen.values())

    def _held_links(self) -> frozenset[bytes]:
        return frozenset(link.digest() for link in self.dataspaces.links())

    # -- running ---------------------------------------------------------------------------

    def _on_session(self, session: Session) -> None:
        if self.discovery is not None:
            self.discovery.on_session(session)
        if self.liveness is not None:
            self.liveness.on_session(session)
        for handler in list(self.session_handlers):
            handler(session)

    def _on_dataspace_change(self, change: Change, obj: Signed | None) -> None:
        if self.discovery is not None:
            self.discovery.membership = self.dataspaces.membership
            if isinstance(obj, Revocation):
                self.discovery.revoke(obj)
        if self.host is not None and change in {"credential", "revocation", "charter"}:
            self._tasks.spawn(self._refresh_claims())
        if self.host is not None and change == "unlink":
            self._link_digests = self._held_links()
            self._tasks.spawn(self.peering.enforce_admission())
        self.events.publish(f"dataspace.{change}_changed", {"change": change})

    def _store_version(self) -> int:
        return int(self.connection.execute("PRAGMA data_version").fetchone()[0])

    async def _poll_store(self) -> None:
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            version = self._store_version()
            if version != self._data_version:
                self._data_version = version
                self.dataspaces.reload()
                held = self._held_links()
                removed = self._link_digests - held
                self._link_digests = held
                if removed:  # unlinked offline (``confide dataspace unlink``)
                    await self.peering.enforce_admission()

    async def _expire_datasets(self) -> None:
        """Delete datasets whose retention ended (audited by the store), checking every minute."""
        while True:
            try:
                self.datasets.expire(self.clock())
            except (sqlite3.Error, NodeError) as error:  # a full disk must not stop the node
                self._log.warning("dataset.expiry_failed", reason=type(error).__name__)
            await asyncio.sleep(EXPIRY_INTERVAL)

    async def _probe_peers(self) -> None:
        while True:
            await asyncio.sleep(LIVENESS_INTERVAL)
            liveness = self.liveness
            if liveness is None:
                continue
            for node_id in list(liveness.detector.members):
                if liveness.detector.state(node_id) is State.DEAD:
                    continue
                if await liveness.probe(node_id) is State.DEAD:
                    self._log.info("peer.declared_dead", peer=node_id[:12])

    def status(self) -> dict[str, Any]:
        """A summary for operators (JSON-able; no key material)."""
        now = self.clock()
        peers = []
        if self.liveness is not None:
            for node_id, member in sorted(self.liveness.detector.members.items()):
                peers.append({"node_id": node_id, "state": member.state.value})
        return {
            "node_id": self.identity.node_id,
            "name": self.config.name,
            "started_at": self.started_at,
            "peer_url": self.peer_url,
            "data_spaces": self.dataspaces.summary(now),
            "peers": peers,
        }

    # -- stop ------------------------------------------------------------------------------

    async def aclose(self, reason: str = "shutdown") -> None:
        """Stop everything in reverse order of start; the store is closed last."""
        await self._tasks.aclose()
        await self.peering.aclose()
        for part in reversed(self._parts):
            with contextlib.suppress(Exception):
                await part.aclose(reason)
        self.home.remove_admin_url()
        self.events.close_subscriptions()
        if self._runner is not None:
            await self._runner.cleanup()
        closers: list[Callable[[], Awaitable[None]]] = []
        if self.discovery is not None:
            closers.append(self.discovery.aclose)
        if self.liveness is not None:
            closers.append(self.liveness.aclose)
        if self.host is not None:
            closers.append(self.host.aclose)
        for close in closers:
            with contextlib.suppress(Exception):
                await close()
        if self.started_at is not None:
            self.audit.append("node.stopped", {"reason": reason})
        self.audit.close()
        self.connection.close()
