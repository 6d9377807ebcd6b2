"""The catalog exchange on every peer link, and a short cache of the peers' catalogs.

Queries and answers travel on session :data:`CATALOG_SESSION` (kind ``catalog``) of the link
between two nodes, one ``uint8`` array per message (``node.catalog.wire``). Either side may ask:
each side labels its queries ``q1``, ``q2``… and the other answers query ``qN`` under ``aN``, in
order. Each side runs two readers per link once the session is open: one serves the peer's
queries, one hands the answers to the queries it sent.

**Serving.** The asker is the link's authenticated peer. Its answer is what this node's policies
make visible to it (:mod:`node.catalog.visibility`, over the roles this node verified from its
credentials); a peer this node knows as a member of none of its data spaces gets ``refused``
with ``not_a_member``. A query that does not decode ends the session with ABORT
``MALFORMED_ENCODING`` (260), logged once as ``catalog.rejected``; the link and every other
session carry on, and so does the node.

**Asking.** :meth:`Catalogs.fetch` dials the peer if there is no link (``connect``, as consent
does), sends a query and waits for the answer until a deadline (``catalog_timeout``). An answer
that does not decode, or one nobody asked for, ends the session the same way and the fetch
fails with ``catalog_malformed`` (HTTP 502). A finished session id cannot be reopened on a link,
so after such an abort the link carries no catalogs until it is replaced.
A fetched catalog is kept ``cache_seconds`` (30 s) per peer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import aiohttp
import numpy as np
import structlog

from network.errors import NetworkError, WireCode
from network.host import PeerHost
from network.link import Link, Session
from network.tasks import TaskSet
from node.catalog import wire
from node.catalog.visibility import Sight, sight
from node.consent.checks import Facts
from node.consent.policies import PolicyStore
from node.consent.transport import Connect, unreachable_reason
from node.datasets.catalog import CatalogEntry, catalog
from node.datasets.store import DatasetStore
from node.dataspaces import DataSpaces
from node.errors import ForbiddenError, InvalidError, NodeError, UnavailableError

CATALOG_SESSION: Final = 4
"""Session id of the catalog exchange on every link (1 gossip, 2 liveness, 3 consent; runs use
ids with the top bit set)."""
CACHE_SECONDS: Final = 30
DEADLINE: Final = 5.0
"""Seconds a fetch waits for a link and an answer."""
MAX_WAITING: Final = 8
"""Queries one node may have unanswered on one link."""
MAX_CACHED: Final = 256

_log = structlog.get_logger("node.catalog")


class CatalogAnswerError(NodeError):
    """The peer's answer was not a valid catalog message (``catalog_malformed``)."""

    http_status: ClassVar[int] = 502

    def __init__(self) -> None:
        super().__init__("catalog_malformed", "the peer's catalog answer was malformed")


@dataclass(frozen=True)
class RemoteCatalog:
    """A peer's catalog as it answered this node, and when."""

    node_id: str
    entries: tuple[CatalogEntry, ...]
    truncated: bool
    fetched_at: int

    def to_json(self) -> dict[str, Any]:
        """The body of ``GET /peers/{node_id}/catalog``."""
        return {
            "node_id": self.node_id,
            "fetched_at": self.fetched_at,
            "truncated": self.truncated,
            "datasets": [entry.to_json() for entry in self.entries],
        }


class _Channel:
    """The catalog session on one link: queries sent, and the answers still awaited."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.asked = 0
        self.waiting: dict[int, asyncio.Future[wire.Answer | wire.Refused]] = {}


class Catalogs:
    """This node's catalog as each peer may see it, and the peers' catalogs as they answer."""

    def __init__(
        self,
        node_id: str,
        datasets: DatasetStore,
        policies: PolicyStore,
        dataspaces: DataSpaces,
        *,
        host: Callable[[], PeerHost | None],
        clock: Callable[[], int],
        connect: Connect | None = None,
        deadline: float = DEADLINE,
        cache_seconds: int = CACHE_SECONDS,
    ) -> None:
        self.node_id = node_id
        self.datasets = datasets
        self.policies = policies
        self.dataspaces = dataspaces
        self.clock = clock
        self.deadline = deadline
        self.cache_seconds = cache_seconds
        self._host = host
        self._connect = connect
        self._channels: dict[int, _Channel] = {}
        self._cache: collections.OrderedDict[str, RemoteCatalog] = collections.OrderedDict()
        self._tasks = TaskSet()

    # -- this node's catalog -----------------------------------------------------------------

    def sight(self, requester: str, now: int) -> Sight:
        """Which datasets ``requester`` may see now, and why each other one is hidden."""
        spaces = self.dataspaces.summary(now)
        names = [space["data_space"] for space in spaces]
        own = [space["data_space"] for space in spaces if space["member"]]
        facts = Facts.from_membership(
            self.dataspaces.membership, names, self.dataspaces.links(), now
        )
        held = {
            info.name: self.policies.active(info.name)
            for info in self.datasets.datasets()
            if not info.expired(now)
        }
        return sight(requester, held, facts, own, now)

    def reply(self, requester: str, now: int) -> wire.Answer | wire.Refused:
        """What this node answers ``requester``'s query with."""
        seen = self.sight(requester, now)
        if not seen.member:
            return wire.Refused("not_a_member")
        return wire.answer(catalog(self.datasets, seen.visible.__contains__, now=now))

    def view(self, requester: str, now: int) -> dict[str, Any]:
        """The steward's view: what ``requester`` would be answered, and why the rest is hidden."""
        seen = self.sight(requester, now)
        answer = self.reply(requester, now)
        entries = answer.entries if isinstance(answer, wire.Answer) else ()
        return {
            "requester": requester,
            "member": seen.member,
            "refused": answer.code if isinstance(answer, wire.Refused) else None,
            "truncated": isinstance(answer, wire.Answer) and answer.truncated,
            "datasets": [entry.to_json() for entry in entries],
            "hidden": [hidden.to_json() for hidden in seen.hidden],
        }

    # -- peers' catalogs ---------------------------------------------------------------------

    def cached(self, node_id: str, now: int) -> RemoteCatalog | None:
        """The catalog ``node_id`` answered less than ``cache_seconds`` ago, if any."""
        held = self._cache.get(node_id)
        if held is None or not 0 <= now - held.fetched_at < self.cache_seconds:
            return None
        return held

    async def fetch(self, node_id: str, *, refresh: bool = False) -> RemoteCatalog:
        """``node_id``'s catalog as it shows it to this node (from the cache unless
        ``refresh``); raises a ``NodeError`` with a code when it cannot be had."""
        if node_id == self.node_id:
            raise InvalidError("own_node", "this is the node's own id: see GET /catalog")
        held = None if refresh else self.cached(node_id, self.clock())
        if held is not None:
            return held
        try:
            reply = await self._ask(node_id)
        except NodeError as error:
            _log.info("catalog.fetch_failed", peer=node_id[:12], code=error.code)
            raise
        if isinstance(reply, wire.Refused):
            _log.info("catalog.fetch_failed", peer=node_id[:12], code=reply.code)
            raise ForbiddenError(reply.code, "the peer refused its catalog to this node")
        fetched = RemoteCatalog(node_id, reply.entries, reply.truncated, self.clock())
        self._cache[node_id] = fetched
        self._cache.move_to_end(node_id)
        while len(self._cache) > MAX_CACHED:
            self._cache.popitem(last=False)
        _log.info("catalog.fetched", peer=node_id[:12], entries=len(reply.entries))
        return fetched

    async def _ask(self, node_id: str) -> wire.Answer | wire.Refused:
        host = self._host()
        if host is None:
            raise UnavailableError("not_running", "the node's peer host is not running")
        try:
            async with asyncio.timeout(self.deadline):
                link = host.link(node_id) or await self._dial(host, node_id)
                channel = self._channel(link)
                if channel.session.failure is not None:
                    raise UnavailableError(
                        "catalog_session_ended", "the catalog session on this link has ended"
                    )
                if len(channel.waiting) >= MAX_WAITING:
                    raise UnavailableError("catalog_busy", "too many catalog queries waiting")
                channel.asked += 1
                number = channel.asked
                future: asyncio.Future[wire.Answer | wire.Refused]
                future = asyncio.get_running_loop().create_future()
                channel.waiting[number] = future
                try:
                    await channel.session.send(f"q{number}", (_array(wire.Query()),))
                    return await future
                finally:
                    channel.waiting.pop(number, None)
        except TimeoutError:
            raise UnavailableError("catalog_timeout", "the peer did not answer in time") from None
        except (NetworkError, OSError, aiohttp.ClientError) as error:
            raise UnavailableError(
                "peer_unreachable",
                "the peer could not be asked for its catalog",
                {"reason": unreachable_reason(error)},
            ) from None

    async def _dial(self, host: PeerHost, node_id: str) -> Link:
        """A link to ``node_id``: dialled through ``connect``, else one the peer dials."""
        if self._connect is not None:
            with contextlib.suppress(LookupError):  # no record of the peer: perhaps it dials us
                return await self._connect(node_id, self.deadline)
        return await host.wait_for_link(node_id, self.deadline)

    # -- the session ---------------------------------------------------------------------------

    def on_session(self, session: Session) -> None:
        """Host hook: a peer opened its catalog session on a link."""
        if session.session_id == CATALOG_SESSION:
            self._channel(session.link)

    def _channel(self, link: Link) -> _Channel:
        channel = self._channels.get(id(link))
        if channel is None or channel.session.link is not link:
            channel = _Channel(link.session(CATALOG_SESSION, "catalog"))
            self._channels[id(link)] = channel
            self._tasks.spawn(self._serve(link.peer.node_id, channel.session))
            self._tasks.spawn(self._collect(link.peer.node_id, channel))
        return channel

    async def _serve(self, peer: str, session: Session) -> None:
        """Answer the peer's queries in order, until the session or the link ends."""
        count = 0
        with contextlib.suppress(NetworkError):
            while True:
                count += 1
                arrays = await session.receive(f"q{count}")
                try:
                    wire.decode_query(_bytes(arrays))
                except wire.CatalogWireError:
                    _reject(peer, session, "query")
                    return
                try:
                    reply = self.reply(peer, self.clock())
                except (sqlite3.Error, NodeError) as error:
                    _log.warning("catalog.failed", peer=peer[:12], error=type(error).__name__)
                    session.abort(WireCode.SESSION_HANDLER_FAILED, "catalog_failed")
                    return
                await session.send(f"a{count}", (_array(reply),))
                shown = len(reply.entries) if isinstance(reply, wire.Answer) else 0
                outcome = "answered" if isinstance(reply, wire.Answer) else reply.code
                _log.info("catalog.served", peer=peer[:12], outcome=outcome, entries=shown)

    async def _collect(self, peer: str, channel: _Channel) -> None:
        """Hand each answer to the query it answers; end the session on a bad one."""
        count = 0
        try:
            while True:
                count += 1
                arrays = await channel.session.receive(f"a{count}")
                future = channel.waiting.get(count)
                try:
                    if count > channel.asked:
                        raise wire.CatalogWireError("$", "an answer nobody asked for")
                    reply = wire.decode_answer(_bytes(arrays))
                except wire.CatalogWireError:
                    _reject(peer, channel.session, "answer")
                    if future is not None and not future.done():
                        future.set_exception(CatalogAnswerError())
                    return
                if future is not None and not future.done():  # else its asker gave up
                    future.set_result(reply)
        except NetworkError as error:
            for waiting in channel.waiting.values():
                if not waiting.done():
                    waiting.set_exception(error)
        finally:
            if self._channels.get(id(channel.session.link)) is channel and (
                channel.session.link.is_closed
            ):
                del self._channels[id(channel.session.link)]

    async def aclose(self, reason: str) -> None:
        """Stop the readers (queries waiting fail as their links close)."""
        await self._tasks.aclose()
        self._channels.clear()


def _bytes(arrays: tuple[Any, ...]) -> bytes:
    """The one byte array a catalog message travels as."""
    if len(arrays) != 1:
        raise wire.CatalogWireError("$", "expected one byte array")
    (array,) = arrays
    if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.ndim != 1:
        raise wire.CatalogWireError("$", "expected one byte array")
    return array.tobytes()


def _array(message: wire.Message) -> np.ndarray:
    return np.frombuffer(wire.encode(message), dtype=np.uint8)


def _reject(peer: str, session: Session, what: str) -> None:
    """End the catalog session over a malformed message, logged once."""
    _log.warning("catalog.rejected", peer=peer[:12], code="catalog_malformed", message=what)
    session.abort(WireCode.MALFORMED_ENCODING, "catalog_malformed")
