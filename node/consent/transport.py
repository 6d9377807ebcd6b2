"""The consent session on each peer link: per-peer outboxes in, decoded messages out.

Messages of the consent negotiation travel on the session :data:`CONSENT_SESSION` of each link,
one ``uint8`` array per message, labelled ``c1``, ``c2``… per direction, so the receiver reads
them in the order they were sent. Each peer has one outbox and one worker that sends its
messages in order. With no link to the peer, the worker dials it through ``connect(node_id,
deadline)`` (the service passes discovery's, which dials the address of the peer's signed
record); without ``connect``, or when no record of the peer is known (``LookupError``), it waits
up to ``link_timeout`` for a link the peer dials. A message to this node itself goes through the
same codec without a link. A message that cannot be sent is handed to ``on_unreachable`` with a
reason code: the handshake's refusal (:func:`unreachable_reason`, e.g. ``no_shared_data_space``
once a data-space link is gone) or ``unreachable``. Bytes that do not decode are logged once and
skipped (the session stays usable: labels keep the two sides in step).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Final

import aiohttp
import numpy as np
import structlog

from network.errors import NetworkError, WireCode
from network.host import PeerHost
from network.link import Link, Session
from network.tasks import TaskSet
from node.consent import messages

CONSENT_SESSION: Final = 3
"""Session id of the consent negotiation on every link (1 is gossip, 2 liveness)."""

Handler = Callable[[str, messages.Message], None]
"""``handle(sender, message)``: the sender is the authenticated node at the link's far end."""
Unreachable = Callable[[str, messages.Message, str], None]
"""``on_unreachable(node_id, message, reason)``: ``message`` could not be sent to ``node_id``."""
Connect = Callable[[str, float], Awaitable[Link]]
"""``connect(node_id, deadline)``: a link to a peer, dialled on demand (``LookupError`` if the
peer's address is not known)."""

UNREACHABLE: Final = "unreachable"
_ADMISSION: Final = frozenset(
    {code for code in WireCode if 260 <= code < 300} | {WireCode.NOT_AUTHORIZED}
)


def unreachable_reason(error: BaseException) -> str:
    """The reason code of a failed send: a handshake refusal by admission (the wire code's
    name, e.g. ``no_shared_data_space``, ``revoked``, ``not_a_member``) or ``unreachable``."""
    if isinstance(error, NetworkError) and error.code in _ADMISSION:
        return error.code.name.lower()
    return UNREACHABLE


_log = structlog.get_logger("node.consent")


class _Channel:
    """The consent session on one link and its send counter."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.sent = 0


class ConsentTransport:
    """Sends and receives consent messages over the links of one host."""

    def __init__(
        self,
        host: PeerHost,
        handle: Handler,
        on_unreachable: Unreachable,
        link_timeout: float = 10.0,
        connect: Connect | None = None,
    ) -> None:
        self.host = host
        self.node_id = host.node_id
        self._handle = handle
        self._on_unreachable = on_unreachable
        self.link_timeout = link_timeout
        self._connect = connect
        self._channels: dict[int, _Channel] = {}
        self._outboxes: dict[str, asyncio.Queue[messages.Message]] = {}
        self._tasks = TaskSet()

    def on_session(self, session: Session) -> None:
        """Host hook: a peer opened its consent session on a link."""
        if session.session_id == CONSENT_SESSION:
            self._channel(session.link)

    def post(self, node_id: str, message: messages.Message) -> None:
        """Queue ``message`` for ``node_id``; each peer's messages are sent in order."""
        outbox = self._outboxes.get(node_id)
        if outbox is None:
            outbox = asyncio.Queue()
            self._outboxes[node_id] = outbox
            self._tasks.spawn(self._deliver(node_id, outbox))
        outbox.put_nowait(message)

    async def aclose(self) -> None:
        """Stop the outbox workers and the readers."""
        await self._tasks.aclose()

    async def _deliver(self, node_id: str, outbox: asyncio.Queue[messages.Message]) -> None:
        while True:
            message = await outbox.get()
            try:
                await self._send(node_id, message)
            except Exception:  # one faulty message must not wedge the peer's outbox
                _log.exception("consent.send_failed", peer=node_id)

    async def _send(self, node_id: str, message: messages.Message) -> None:
        data = messages.encode(message)
        if node_id == self.node_id:
            self._handle(self.node_id, messages.decode(data))
            return
        try:
            link = self.host.link(node_id) or await self._dial(node_id)
            channel = self._channel(link)
            channel.sent += 1
            payload = np.frombuffer(data, dtype=np.uint8)
            await channel.session.send(f"c{channel.sent}", (payload,))
        except (NetworkError, OSError, TimeoutError, aiohttp.ClientError) as error:
            reason = unreachable_reason(error)
            _log.warning("consent.unreachable", peer=node_id, reason=reason)
            self._on_unreachable(node_id, message, reason)

    async def _dial(self, node_id: str) -> Link:
        """A link to ``node_id``: dialled through ``connect``, else one the peer dials."""
        if self._connect is not None:
            try:
                return await self._connect(node_id, self.link_timeout)
            except LookupError:  # no record of the peer yet: perhaps it dials us
                pass
        return await self.host.wait_for_link(node_id, self.link_timeout)

    def _channel(self, link: Link) -> _Channel:
        channel = self._channels.get(id(link))
        if channel is None or channel.session.link is not link:
            session = link.session(CONSENT_SESSION, "consent")
            channel = _Channel(session)
            self._channels[id(link)] = channel
            self._tasks.spawn(self._read(link.peer.node_id, session))
        return channel

    async def _read(self, peer: str, session: Session) -> None:
        count = 0
        with contextlib.suppress(NetworkError):
            while True:
                count += 1
                (payload,) = await session.receive(f"c{count}")
                try:
                    data = np.ascontiguousarray(payload, dtype=np.uint8).tobytes()
                    message = messages.decode(data)
                except (messages.MessageError, ValueError, TypeError):
                    _log.warning("consent.rejected", peer=peer, code="message_malformed")
                    continue
                self._handle(peer, message)
