"""The peer endpoint: accepts and dials links, keeps at most one link per pair of nodes.

The websocket endpoint is ``/confide/v1`` with subprotocol ``confide.v1`` on the node's peer
port; compression is off (it is slow on ciphertext and leaks lengths) and the largest websocket
message is one Noise record. Dialling retries with exponential backoff and jitter. When both
nodes dial each other at once, the link whose initiator has the smaller node id is kept and the
other is closed, on both sides alike; a node that dials again while its old link still looks
alive replaces it (the old one is stale: a node with a working link does not dial). A connection
must finish its websocket upgrade within ``UPGRADE_DEADLINE`` seconds and its handshake within
the channel's deadline. Every link's TCP socket gets bounded kernel buffers (``SEND_BUFFER``,
``RECEIVE_BUFFER``), so a small record never waits behind megabytes queued in the kernel. Every
refused handshake and every ended link is logged once (``link.refused``, ``link.ended``) with
its stable code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket as socketlib
import ssl
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from network.channel import PATH, PROTOCOL, Authorizer, LocalParty, Peer, initiate, respond
from network.errors import HandshakeError, NetworkError, RemoteProtocolError, WireCode
from network.link import Link, Session

MAX_MESSAGE = 65535 + 1
"""aiohttp refuses a message of exactly ``max_msg_size``: one Noise record plus one."""
BACKOFF_BASE = 0.05
BACKOFF_CAP = 2.0
UPGRADE_DEADLINE = 5.0
"""Seconds a new connection has to send its whole upgrade request (slow clients are dropped)."""
SEND_BUFFER = 128 << 10
"""``SO_SNDBUF`` of every link's socket: bounds what waits in the kernel ahead of a small record."""
RECEIVE_BUFFER = 128 << 10
"""``SO_RCVBUF`` of every link's socket (0: the kernel's own, which grows to MiBs under load)."""


class HandshakeLimit:
    """A token bucket per remote address for websocket upgrades: ``burst`` at once, then
    ``rate`` per second. An upgrade without a token is answered 429 before any Noise work (about
    1 ms of CPU per responder handshake). Addresses in ``exempt`` are not limited (default:
    loopback, where the node's own tools, benches and a TLS proxy in front of it dial from).
    At most ``max_addresses`` buckets are kept; the least recently used goes first (it has had
    the longest to refill). The first refusal after an address ran dry is logged once as
    ``handshake.throttled`` (no address in it)."""

    def __init__(
        self,
        rate: float = 5.0,
        burst: int = 20,
        exempt: frozenset[str] = frozenset({"127.0.0.1", "::1"}),
        max_addresses: int = 4096,
    ) -> None:
        if rate <= 0 or burst < 1 or max_addresses < 1:
            raise ValueError("rate, burst and max_addresses must be positive")
        self.rate, self.burst, self.exempt = rate, burst, exempt
        self._max = max_addresses
        self._buckets: OrderedDict[str, tuple[float, float, bool]] = OrderedDict()

    def allow(self, address: str, now: float) -> bool:
        """Take a token for ``address`` at ``now`` (seconds, monotonic); False: refuse it."""
        if address in self.exempt:
            return True
        tokens, then, dry = self._buckets.pop(address, (float(self.burst), now, False))
        tokens = min(float(self.burst), tokens + max(0.0, now - then) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        elif not dry:
            structlog.get_logger("network.host").warning(
                "handshake.throttled", rate=self.rate, burst=self.burst
            )
        self._buckets[address] = (tokens, now, not allowed)
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return allowed


class LinkRefusedError(RemoteProtocolError):
    """A dial ended by an admission verdict: the peer's (its code, e.g. ``REVOKED``), or this
    node's own refusal of the peer. Final for that ``connect``: it is not retried."""


class WebSocketPipe:
    """A client or server aiohttp websocket as a pipe of binary messages."""

    def __init__(self, socket: web.WebSocketResponse | aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self.received = 0
        """Binary messages received so far (during a dial: 2 once the verdict record came)."""
        _bound_kernel_buffers(socket.get_extra_info("socket"))

    async def send(self, data: bytes) -> None:
        """Send one binary message."""
        await self._socket.send_bytes(data)

    async def receive(self) -> bytes:
        """The next binary message; anything else ends the link."""
        message = await self._socket.receive()
        if message.type == aiohttp.WSMsgType.BINARY:
            self.received += 1
            return bytes(message.data)
        if message.type == aiohttp.WSMsgType.TEXT:
            raise RemoteProtocolError(WireCode.RECORD_MALFORMED, "text frame on a link")
        if getattr(message.data, "code", None) == aiohttp.WSCloseCode.MESSAGE_TOO_BIG:
            raise RemoteProtocolError(WireCode.RECORD_MALFORMED, "message over one record")
        raise RemoteProtocolError(WireCode.LINK_LOST, "websocket closed")

    async def close(self) -> None:
        """Close the websocket."""
        await self._socket.close()


class PeerHost:
    """One node's peer endpoint and its links."""

    def __init__(
        self,
        local: LocalParty,
        authorize: Authorizer,
        host: str = "127.0.0.1",
        port: int = 0,
        on_session: Callable[[Session], None] | None = None,
        server_tls: ssl.SSLContext | None = None,
        client_tls: ssl.SSLContext | None = None,
        handshake_limit: HandshakeLimit | None = None,
    ) -> None:
        self.local = local
        self._limit = HandshakeLimit() if handshake_limit is None else handshake_limit
        self._server_tls = server_tls
        self._client_tls = client_tls
        self.node_id = local.identity.node_id
        self._authorize = authorize
        self._host = host
        self._port = port
        self._on_session = on_session
        self._links: dict[str, Link] = {}
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self.port = port

    @property
    def url(self) -> str:
        """The address peers dial (``wss://`` when listening with TLS)."""
        scheme = "ws" if self._server_tls is None else "wss"
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{scheme}://{host}:{self.port}{PATH}"

    async def start(self) -> None:
        """Listen on the peer port."""
        app = web.Application()
        app.router.add_get(PATH, self._accept)
        self._runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            keepalive_timeout=UPGRADE_DEADLINE,
            logger=_PeerPortLog(),
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, ssl_context=self._server_tls)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]
        # wss:// dials check the peer's certificate against client_tls (default: the system's
        # trust store); ws:// dials ignore it. Noise runs inside either way.
        connector = aiohttp.TCPConnector(ssl=self._client_tls or True)
        self._client = aiohttp.ClientSession(connector=connector)

    def link(self, node_id: str) -> Link | None:
        """The open link to ``node_id``, if there is one."""
        link = self._links.get(node_id)
        return None if link is None or link.is_closed else link

    async def wait_for_link(self, node_id: str, timeout: float) -> Link:
        """Wait until a link to ``node_id`` is up (dialled by either side)."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: self.link(node_id) is not None)
        link = self.link(node_id)
        assert link is not None
        return link

    async def connect(self, node_id: str, url: str, deadline: float = 10.0) -> Link:
        """A link to ``node_id`` at ``url``: the existing one, or a new one dialled with
        exponential backoff and jitter until ``deadline`` seconds have passed."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + deadline
        attempt = 0
        while True:
            existing = self.link(node_id)
            if existing is not None:
                return existing
            try:
                return await self._dial(node_id, url)
            except LinkRefusedError:
                raise  # a verdict, not a fault: another attempt would get the same one
            except (OSError, aiohttp.ClientError, NetworkError, TimeoutError):
                delay = min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt) * random.uniform(0.5, 1.5)  # noqa: S311  # jitter, not secrecy
                attempt += 1
                if loop.time() + delay > give_up:
                    raise
                await asyncio.sleep(delay)

    async def _dial(self, node_id: str, url: str) -> Link:
        assert self._client is not None
        socket = await self._client.ws_connect(
            url, protocols=(PROTOCOL,), compress=0, max_msg_size=MAX_MESSAGE, autoping=True
        )
        if socket.protocol != PROTOCOL:
            await socket.close()
            raise RemoteProtocolError(WireCode.RECORD_MALFORMED, "peer spoke another protocol")
        pipe = WebSocketPipe(socket)
        refused_here = False

        def authorize(peer: Peer) -> None:
            nonlocal refused_here
            try:
                self._authorize(peer)
            except RemoteProtocolError:
                refused_here = True
                raise

        try:
            cipher, peer = await initiate(pipe, self.local, authorize, expected=node_id)
        except RemoteProtocolError as error:
            await socket.close()
            if refused_here:
                raise LinkRefusedError(error.code, "this node refused the peer") from None
            if _is_verdict(error, pipe.received):
                raise LinkRefusedError(error.code, "the peer refused the link") from None
            raise
        except BaseException:
            await socket.close()
            raise
        return await self._adopt(Link(pipe, cipher, peer, True, self._on_session))

    async def _accept(self, request: web.Request) -> web.StreamResponse:
        if not self._limit.allow(request.remote or "", asyncio.get_running_loop().time()):
            return web.Response(status=429, headers={"Retry-After": "1"})
        socket = web.WebSocketResponse(
            protocols=(PROTOCOL,), compress=False, max_msg_size=MAX_MESSAGE, autoping=True
        )
        await socket.prepare(request)
        if socket.ws_protocol != PROTOCOL:
            await socket.close(code=aiohttp.WSCloseCode.PROTOCOL_ERROR)
            return socket
        pipe = WebSocketPipe(socket)
        try:
            cipher, peer = await respond(pipe, self.local, self._authorize)
        except NetworkError as error:
            structlog.get_logger("network.host").warning(
                "link.refused", code=int(error.code), reason=error.code.name
            )
            await socket.close(code=aiohttp.WSCloseCode.POLICY_VIOLATION)
            return socket
        link = Link(pipe, cipher, peer, False, self._on_session)
        await self._adopt(link)
        await asyncio.shield(link.closed)  # this connection's link, even if another was kept
        return socket

    async def _adopt(self, link: Link) -> Link:
        """Start ``link``; keep one per peer (smaller initiator id wins; a re-dial replaces)."""
        link.start()
        node_id = link.peer.node_id
        link.closed.add_done_callback(lambda closed: self._ended(link, closed.result()))
        existing = self.link(node_id)
        if existing is not None:
            new_initiator = self.node_id if link.initiator else node_id
            kept, dropped = (link, existing)
            if existing.initiator != link.initiator and min(self.node_id, node_id) != new_initiator:
                kept, dropped = existing, link
            await dropped.aclose(WireCode.LINK_CLOSED, flush=0)
            link = kept
        self._links[node_id] = link
        async with self._changed:
            self._changed.notify_all()
        return link

    def _ended(self, link: Link, error: NetworkError) -> None:
        """Forget an ended link (it holds nothing then) and log its end once."""
        node_id = link.peer.node_id
        if self._links.get(node_id) is link:
            del self._links[node_id]
        _log_end(node_id, error)

    async def aclose(self) -> None:
        """Close every link and stop listening."""
        for link in list(self._links.values()):
            await link.aclose()
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            with contextlib.suppress(Exception):
                await self._runner.cleanup()


class _PeerPortLog(logging.Logger):
    """aiohttp's server logger on the peer port. aiohttp logs a malformed request (bad request
    line, oversized header, TLS on the plain port…) with a traceback quoting up to 100 bytes of
    it; here each becomes one structured warning ``http.refused`` with the HTTP status and the
    error's type name — never the peer's bytes nor its address. An error in our own handler is
    one ``http.failed`` error line with the type name. aiohttp's debug chatter is dropped."""

    def __init__(self) -> None:
        super().__init__("network.host.http")

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        """What aiohttp reports with a traceback: a refused request, or a handler failure."""
        error = kwargs.get("exc_info")
        log = structlog.get_logger("network.host")
        if isinstance(error, HttpProcessingError):
            log.warning("http.refused", status=int(error.code or 400), error=type(error).__name__)
        else:
            log.error("http.failed", error=type(error).__name__ if error else "unknown")

    error = exception

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        """aiohttp's debug lines; one is the non-HTTP first request (refused with 400)."""
        error = kwargs.get("exc_info")
        if isinstance(error, HttpProcessingError):
            self.exception(msg, exc_info=error)


def _bound_kernel_buffers(sock: Any) -> None:
    """Cap the kernel's buffering on a link's TCP socket, so a small record queued after bulk
    data waits behind at most this much (Linux doubles the value for its bookkeeping)."""
    if sock is None:  # a transport without a socket
        return
    with contextlib.suppress(OSError):
        if SEND_BUFFER:
            sock.setsockopt(socketlib.SOL_SOCKET, socketlib.SO_SNDBUF, SEND_BUFFER)
        if RECEIVE_BUFFER:
            sock.setsockopt(socketlib.SOL_SOCKET, socketlib.SO_RCVBUF, RECEIVE_BUFFER)


_RECORD_FAULTS = frozenset(
    {WireCode.RECORD_DECRYPT_FAILED, WireCode.RECORD_MALFORMED, WireCode.RECORD_CIPHER_FAILED}
)


def _is_verdict(error: RemoteProtocolError, received: int) -> bool:
    """Whether a dial's handshake ended with the responder's refusal: the verdict is the second
    message the initiator receives, and the first record that opens (handshake errors and
    record faults are not verdicts; a malformed verdict is a ``HandshakeError``)."""
    return (
        received == 2
        and not isinstance(error, HandshakeError)
        and error.code not in _RECORD_FAULTS
        and error.code != WireCode.LINK_LOST
    )


def _log_end(node_id: str, error: NetworkError) -> None:
    """One summary line per link when it ends."""
    structlog.get_logger("network.host").info(
        "link.ended", peer=node_id, code=int(error.code), reason=error.code.name
    )
