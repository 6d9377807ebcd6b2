"""A link: one authenticated, encrypted websocket between two nodes, carrying many sessions.

Every websocket message is one Noise transport record holding one frame (``framing``). Records
leave in priority order — control frames (OPEN, CREDIT, ABORT, PING, PONG) first, then messages
that fit one record, then fragments of large messages — so a small MPC message never waits
behind a bulk transfer. A one-record message sent while nothing is queued or being written is
sealed and written at once by its sender, without waking the writer task; everything else goes
through the writer, which yields to the event loop after each bulk record. One reader task
decrypts, decodes and dispatches. A record that fails to decrypt or decode, an idle peer (no
record within ``idle_timeout``; pings keep a healthy link busy) or a stalled write ends the
link; every session on it then fails with the reason. Both deadlines are kept by one timer per
link, not per record.

Sessions (``network.session``) are multiplexed by a 64-bit id chosen by the application (the
same id on every link of one computation). Either side may open one; both opening it is fine.
Each session has a send window; the receiver grants bytes back as the application consumes
messages, so a peer that ignores flow control is a protocol violation and a slow consumer
throttles only its own session. Across all sessions, the bytes a link holds unread are capped
(``MAX_LINK_UNREAD``): the session whose record would pass the cap is aborted with
``LINK_BUFFER_FULL`` and the link carries on. A session hook that raises aborts only its session.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Protocol

import structlog

from network import framing
from network.channel import Peer
from network.errors import NetworkError, RemoteProtocolError, WireCode
from network.reassembly import Reassembler
from network.recordcipher import TransportCipher
from network.session import (
    BULK,
    CONTROL,
    INITIAL_WINDOW,
    MAX_EARLY_MESSAGES,
    SMALL,
    Session,
)

__all__ = ["INITIAL_WINDOW", "MAX_EARLY_MESSAGES", "Link", "Pipe", "Session"]

IDLE_TIMEOUT = 30.0
PING_INTERVAL = 5.0
WRITE_TIMEOUT = 30.0
MAX_SESSIONS = 1024
MAX_LINK_UNREAD = 256 << 20
"""Frame bytes a link holds unread across all its sessions (partial and unconsumed messages)."""
MAX_CONTROL_BACKLOG = 4096  # control frames queued unwritten; more: the peer reads no replies
_FINISHED_MEMORY = 4096
TAG_SIZE = 16
"""Bytes a Noise record adds to the frame it carries."""


class Pipe(Protocol):
    """The websocket under a link.

    ``send`` must hand the message to the transport before it first suspends (aiohttp does, for
    uncompressed messages), and the link never runs two ``send`` calls at once.
    """

    async def send(self, data: bytes) -> None:
        """Send one binary message."""
        ...

    async def receive(self) -> bytes:
        """The next binary message; raises ``RemoteProtocolError`` when the socket ends."""
        ...

    async def close(self) -> None:
        """Close the socket."""
        ...


class Link:
    """An established link to one peer.

    ``idle_timeout``, ``write_timeout`` and ``max_unread`` default to the module's
    ``IDLE_TIMEOUT``, ``WRITE_TIMEOUT`` and ``MAX_LINK_UNREAD``, read when the link is created.
    """

    def __init__(
        self,
        pipe: Pipe,
        cipher: TransportCipher,
        peer: Peer,
        initiator: bool,
        on_session: Callable[[Session], None] | None = None,
        idle_timeout: float | None = None,
        write_timeout: float | None = None,
        max_unread: int | None = None,
    ) -> None:
        self.peer = peer
        self.initiator = initiator
        self._pipe = pipe
        self._cipher = cipher
        self._on_session = on_session
        self._idle_timeout = IDLE_TIMEOUT if idle_timeout is None else idle_timeout
        self._write_timeout = WRITE_TIMEOUT if write_timeout is None else write_timeout
        self._max_unread = MAX_LINK_UNREAD if max_unread is None else max_unread
        self._queues: tuple[deque[bytes], ...] = (deque(), deque(), deque())
        self._ready = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._writing = False
        self._sessions: dict[int, Session] = {}
        self._finished: OrderedDict[int, None] = OrderedDict()
        self._reassembler = Reassembler()
        self._unread = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[NetworkError] = self._loop.create_future()
        self.rtt: float | None = None
        self._pings: dict[bytes, float] = {}
        self._last_received = self._loop.time()
        self._write_started: float | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._watchdog_at = 0.0  # when the timer fires

    def start(self) -> None:
        """Start the reader, writer and keep-alive tasks and the deadline timer."""
        self._last_received = self._loop.time()
        self._tasks = [
            asyncio.create_task(self._read_loop()),
            asyncio.create_task(self._write_loop()),
            asyncio.create_task(self._keepalive()),
        ]
        self._arm_watchdog()

    @property
    def is_closed(self) -> bool:
        """Whether the link has ended."""
        return self.closed.done()

    @property
    def unread_bytes(self) -> int:
        """Frame bytes held unread across all sessions (partial and unconsumed messages)."""
        return self._unread

    def session(self, session_id: int, kind: str = "mpc") -> Session:
        """The session with this id, opening it towards the peer if we have not yet."""
        if self.is_closed:
            raise self.closed.result()
        session = self._sessions.get(session_id)
        if session is None:
            session = self._new_session(session_id, kind)
        if not session.opened_locally:
            session.opened_locally = True
            self.enqueue_frame(framing.Open(session_id, session.kind, {}))
        return session

    def forget(self, session_id: int) -> None:
        """Drop a finished session and its partial messages; later frames for it are refused."""
        self._sessions.pop(session_id, None)
        self._reassembler.abort(session_id)
        self._finished[session_id] = None
        while len(self._finished) > _FINISHED_MEMORY:
            self._finished.popitem(last=False)

    def hold(self, change: int) -> None:
        """A session's held unread bytes changed by ``change`` (no longer counted once the
        link has ended: it then holds nothing)."""
        if not self.closed.done():
            self._unread += change

    # --- writing --------------------------------------------------------------------------

    def enqueue(self, record: bytes, priority: int) -> None:
        """Queue an encoded frame for the writer."""
        if self.is_closed:
            raise self.closed.result()
        if priority == CONTROL and len(self._queues[CONTROL]) >= MAX_CONTROL_BACKLOG:
            error = RemoteProtocolError(WireCode.PROTOCOL_VIOLATION, "peer does not read replies")
            self._end(error)
            raise error
        self._queues[priority].append(record)
        self._drained.clear()
        self._ready.set()

    def enqueue_frame(self, frame: framing.Frame) -> None:
        """Queue a control frame (highest priority)."""
        if not self.is_closed:
            self.enqueue(framing.encode_frame(frame), CONTROL)

    async def write_small(self, record: bytes) -> None:
        """Send a one-record message: at once if nothing is queued or being written (no task
        switch), else queued ahead of bulk fragments."""
        if self.closed.done():
            raise self.closed.result()
        control, small, bulk = self._queues
        if self._writing or control or small or bulk:
            self.enqueue(record, SMALL)
            return
        with contextlib.suppress(NetworkError):  # the link has ended; sessions fail with it
            await self._write(record)
        if control or small or bulk:
            self._ready.set()  # frames queued while we wrote: the writer takes over

    async def _write(self, record: bytes) -> None:
        """Seal and send one record; a failure ends the link and is raised."""
        self._writing = True
        self._write_started = started = self._loop.time()
        if self._watchdog_at > started + self._write_timeout:
            self._arm_watchdog()
        try:
            await self._pipe.send(self._cipher.seal(record))
        except NetworkError as error:
            self._end(error)
            raise
        except (ConnectionError, RuntimeError):
            broke = NetworkError(WireCode.LINK_LOST, "websocket broke")
            self._end(broke)
            raise broke from None
        finally:
            self._writing = False
            self._write_started = None

    async def _write_loop(self) -> None:
        with contextlib.suppress(NetworkError):
            while True:
                queue = None if self._writing else self._next_queue()
                if queue is None:
                    if not self._writing:
                        self._drained.set()
                    self._ready.clear()
                    await self._ready.wait()
                    continue
                await self._write(queue.popleft())
                if queue is self._queues[BULK]:
                    await asyncio.sleep(0)  # let the reader and small senders in

    def _next_queue(self) -> deque[bytes] | None:
        for queue in self._queues:
            if queue:
                return queue
        return None

    # --- reading --------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        receive, open_record, time = self._pipe.receive, self._cipher.open, self._loop.time
        whole_message, whole = framing.whole_message, self._reassembler.whole
        try:
            while True:
                data = await receive()
                self._last_received = time()
                record = open_record(data)
                found = whole_message(record)  # the fast path: a message in one record
                arrays = None if found is None else whole(*found)
                if found is not None and arrays is not None:
                    self._on_message(found[0], found[1], arrays, len(data))
                else:  # everything else, including whatever is invalid: the full decoder
                    self._dispatch(framing.decode_frame(record), len(data))
        except NetworkError as error:
            self._end(error)
        except (ConnectionError, RuntimeError):
            self._end(NetworkError(WireCode.LINK_LOST, "websocket broke"))
        except Exception as error:  # a bug must not leave the link up and deaf
            structlog.get_logger("network.link").error(
                "link.failed", peer=self.peer.node_id, error=type(error).__name__
            )
            self._end(NetworkError(WireCode.LINK_LOST, "internal error in the reader"))

    def _dispatch(self, frame: framing.Frame, size: int) -> None:
        if isinstance(frame, framing.Data):
            self._on_data(frame, size)
        elif isinstance(frame, framing.Open):
            self._on_open(frame)
        elif isinstance(frame, framing.Credit) and frame.session_id not in self._finished:
            session = self._sessions.get(frame.session_id)  # (a finished one crossed our CLOSE)
            if session is None:
                raise RemoteProtocolError(WireCode.PROTOCOL_VIOLATION, "frame for no session")
            session._grant(frame.granted)
        elif isinstance(frame, framing.Abort | framing.Close):
            self._on_end(frame)
        elif isinstance(frame, framing.Ping):
            self.enqueue_frame(framing.Pong(frame.nonce))
        elif isinstance(frame, framing.Pong):
            sent = self._pings.pop(bytes(frame.nonce), None)
            if sent is not None:
                self.rtt = self._loop.time() - sent

    def _new_session(self, session_id: int, kind: str) -> Session:
        if session_id in self._finished:
            raise RemoteProtocolError(WireCode.PROTOCOL_VIOLATION, "session already finished")
        if len(self._sessions) >= MAX_SESSIONS:
            raise RemoteProtocolError(WireCode.PROTOCOL_VIOLATION, "too many sessions")
        session = Session(self, session_id, kind)
        self._sessions[session_id] = session
        return session

    def _on_open(self, frame: framing.Open) -> None:
        if frame.session_id in self._sessions or frame.session_id in self._finished:
            return  # both opened it, or it crossed our CLOSE or ABORT (which the peer will see)
        if len(self._sessions) >= MAX_SESSIONS:
            self._refuse(frame.session_id, "too many sessions")
            return
        session = self._new_session(frame.session_id, frame.kind)
        if self._on_session is None:
            return
        try:
            self._on_session(session)
        except Exception as error:  # the application's bug ends its session only
            structlog.get_logger("network.link").warning(
                "session.aborted",
                peer=self.peer.node_id,
                code=int(WireCode.SESSION_HANDLER_FAILED),
                reason=WireCode.SESSION_HANDLER_FAILED.name,
                error=type(error).__name__,
            )
            session.abort(WireCode.SESSION_HANDLER_FAILED, "session handler failed")

    def _on_data(self, frame: framing.Data, size: int) -> None:
        session = self._charged(frame.session_id, size - TAG_SIZE)
        if session is not None:
            message = self._reassembler.receive(frame)
            arrays = None if message is None else message.arrays
            session._received(frame.label, size - TAG_SIZE, arrays)

    def _on_message(
        self, session_id: int, label: str, arrays: tuple[framing.AnyArray, ...], size: int
    ) -> None:
        """A whole message in one record (``_on_data`` without the reassembler)."""
        session = self._charged(session_id, size - TAG_SIZE)
        if session is not None:
            session._received(label, size - TAG_SIZE, arrays)

    def _charged(self, session_id: int, record_size: int) -> Session | None:
        """The session a DATA record of this size is charged to, or None if it is dropped."""
        session = self._sessions.get(session_id)
        if session is None:
            if session_id not in self._finished:  # else in flight when the session ended
                self._refuse(session_id, "no session")
            return None
        if self._unread + record_size > self._max_unread:
            session.abort(WireCode.LINK_BUFFER_FULL, "link buffer full")
            return None
        session._charge(record_size)
        return session

    def _refuse(self, session_id: int, reason: str) -> None:
        self.enqueue_frame(framing.Abort(session_id, int(WireCode.PROTOCOL_VIOLATION), reason))

    def _on_end(self, frame: framing.Abort | framing.Close) -> None:
        session = self._sessions.get(frame.session_id)
        if session is None:
            return
        if isinstance(frame, framing.Abort):
            error = NetworkError(WireCode.SESSION_ABORTED, "the peer aborted the session")
        else:
            error = NetworkError(WireCode.SESSION_CLOSED, "the peer closed the session")
        session._fail(error)
        self.forget(frame.session_id)
        session._drop_partial()

    # --- liveness and ending ----------------------------------------------------------------

    async def _keepalive(self) -> None:
        while not self.is_closed:
            await asyncio.sleep(PING_INTERVAL)
            nonce = os.urandom(framing.NONCE_SIZE)
            self._pings = {nonce: self._loop.time()}
            self.enqueue_frame(framing.Ping(nonce))

    def _next_deadline(self) -> float:
        deadline = self._last_received + self._idle_timeout
        if self._write_started is not None:
            deadline = min(deadline, self._write_started + self._write_timeout)
        return deadline

    def _check_deadlines(self) -> None:
        """The link's one timer: end it if the peer is idle or a write stalled, else re-arm."""
        if self.is_closed:
            return
        now = self._loop.time()
        if now >= self._last_received + self._idle_timeout:
            self._end(NetworkError(WireCode.LINK_TIMEOUT, "peer idle"))
        elif self._write_started is not None and now >= self._write_started + self._write_timeout:
            self._end(NetworkError(WireCode.LINK_TIMEOUT, "write stalled"))
        else:
            self._arm_watchdog()

    def _arm_watchdog(self) -> None:
        """(Re)arm the link's one timer for the nearest deadline."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._watchdog_at = self._next_deadline()
        self._watchdog = self._loop.call_at(self._watchdog_at, self._check_deadlines)

    def _end(self, error: NetworkError) -> None:
        if self.closed.done():
            return
        self.closed.set_result(error)
        if self._watchdog is not None:
            self._watchdog.cancel()
        for session in list(self._sessions.values()):
            session._fail(NetworkError(WireCode.LINK_LOST, f"link ended: {error.code.name}"))
            session._drop_partial()
        # The ended link lets go of its sessions: a message delivered before the end stays
        # readable to whoever holds its session, and is freed with the session otherwise
        # (a peer-opened session nobody took, an application that gave up).
        self._sessions.clear()
        self._finished.clear()
        self._unread = 0
        self._reassembler.clear()  # partial messages are never delivered; free them now
        for queue in self._queues:
            queue.clear()
        self._drained.set()
        self._ready.set()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        self._tasks.append(self._loop.create_task(self._close_pipe()))

    async def _close_pipe(self) -> None:
        """Close the websocket, so the peer learns at once that the link ended."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._pipe.close(), 2.0)

    async def aclose(self, code: WireCode = WireCode.LINK_CLOSED, flush: float = 5.0) -> None:
        """Send what is queued (for up to ``flush`` seconds), then close the link and its
        websocket; every session still open fails with ``code``."""
        if not self.is_closed and flush > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), flush)
        self._end(NetworkError(code, "link closed"))
        others = [task for task in self._tasks if task is not asyncio.current_task()]
        if others:  # the websocket's closing among them
            await asyncio.wait(others, timeout=2.5)
