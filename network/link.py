"""A link: one authenticated, encrypted websocket between two nodes, carrying many sessions.

Every websocket message is one Noise transport record holding one frame (``framing``). One
writer task sends records in priority order — control frames (OPEN, CREDIT, ABORT, CLOSE, PING,
PONG) first, then messages that fit one record, then fragments of large messages — so a small
MPC message never waits behind a bulk transfer. One reader task decrypts, decodes and
dispatches. A record that fails to decrypt or decode, an idle peer (no record within
``idle_timeout``; pings keep a healthy link busy) or a stalled write ends the link; every session
on it then fails with the reason.

Sessions are multiplexed by a 64-bit id chosen by the application (the same id on every link of
one computation). Either side may open a session; both opening it is fine. Each session has a
send window (``INITIAL_WINDOW`` bytes of records); the receiver grants the bytes back as the
application consumes messages, so a peer that ignores flow control is a protocol violation and
a slow consumer throttles only its own session.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any, Protocol

from network import framing
from network.channel import Peer
from network.errors import NetworkError, RemoteProtocolError, WireCode
from network.noise import TransportCipher
from network.reassembly import Reassembler

INITIAL_WINDOW = 64 << 20
IDLE_TIMEOUT = 30.0
PING_INTERVAL = 5.0
WRITE_TIMEOUT = 30.0
MAX_SESSIONS = 1024
MAX_EARLY_MESSAGES = 1024
MAX_CONTROL_BACKLOG = 4096  # control frames queued unwritten; more: the peer reads no replies
_FINISHED_MEMORY = 4096
TAG_SIZE = 16
"""Bytes a Noise record adds to the frame it carries."""


class Pipe(Protocol):
    """The websocket under a link."""

    async def send(self, data: bytes) -> None:
        """Send one binary message."""
        ...

    async def receive(self) -> bytes:
        """The next binary message; raises ``RemoteProtocolError`` when the socket ends."""
        ...

    async def close(self) -> None:
        """Close the socket."""
        ...


class Session:
    """One session on one link: labelled array messages in both directions."""

    def __init__(self, link: Link, session_id: int, kind: str) -> None:
        self.link = link
        self.session_id = session_id
        self.kind = kind
        self._mail: dict[str, asyncio.Future[tuple[Any, ...]]] = {}
        self._sizes: dict[str, int] = {}
        self._credit = INITIAL_WINDOW
        self._credit_changed = asyncio.Event()
        self._failure: NetworkError | None = None
        self._outstanding = 0
        self.opened_locally = False

    @property
    def failure(self) -> NetworkError | None:
        """Why the session ended, if it did."""
        return self._failure

    async def send(self, label: str, arrays: tuple[Any, ...]) -> None:
        """Send arrays under ``label``; waits for credit when the window is spent."""
        records = list(framing.fragment(framing.Message(self.session_id, label, arrays)))
        priority = _SMALL if len(records) == 1 else _BULK
        for record in records:
            while self._credit < len(record):
                self._raise_if_failed()
                self._credit_changed.clear()
                await self._credit_changed.wait()
            self._raise_if_failed()
            self._credit -= len(record)
            self.link.enqueue(record, priority)

    async def receive(self, label: str, timeout: float | None = None) -> tuple[Any, ...]:
        """The arrays the peer sent under ``label`` (also after the session ended, if complete)."""
        if label not in self._mail:  # a delivered message outlives the session's end
            self._raise_if_failed()
        slot = self._slot(label)
        try:
            arrays = await asyncio.wait_for(asyncio.shield(slot), timeout)
        except TimeoutError:
            raise RemoteProtocolError(WireCode.SESSION_TIMEOUT, "message did not arrive") from None
        self._mail.pop(label, None)
        granted = self._sizes.pop(label, 0)
        if granted:
            self._outstanding -= granted
            self.link.enqueue_frame(framing.Credit(self.session_id, granted))
        return arrays

    def abort(self, code: WireCode, reason: str = "") -> None:
        """End the session with a reason the peer sees; local waiters fail too."""
        if self._failure is None:
            self.link.enqueue_frame(framing.Abort(self.session_id, int(code), reason[:200]))
        self._fail(NetworkError(code, reason or "aborted locally"))
        self.link.forget(self.session_id)

    def close(self) -> None:
        """End the session normally, after everything already sent on it."""
        if self._failure is None and not self.link.is_closed:
            self.link.enqueue(framing.encode_frame(framing.Close(self.session_id)), _BULK)
        self._fail(NetworkError(WireCode.SESSION_CLOSED, "session closed"))
        self.link.forget(self.session_id)

    def _slot(self, label: str) -> asyncio.Future[tuple[Any, ...]]:
        slot = self._mail.get(label)
        if slot is None:
            if len(self._mail) >= MAX_EARLY_MESSAGES:
                raise RemoteProtocolError(WireCode.PROTOCOL_VIOLATION, "too many early messages")
            slot = asyncio.get_running_loop().create_future()
            self._mail[label] = slot
        return slot

    def _deliver(self, message: framing.Message, size: int) -> None:
        slot = self._slot(message.label)
        if slot.done():
            raise RemoteProtocolError(WireCode.PROTOCOL_VIOLATION, "second message, one label")
        self._sizes[message.label] = size
        slot.set_result(message.arrays)

    def _grant(self, granted: int) -> None:
        self._credit += granted
        if self._credit > INITIAL_WINDOW:
            raise RemoteProtocolError(WireCode.PROTOCOL_VIOLATION, "credit beyond the window")
        self._credit_changed.set()

    def _charge(self, size: int) -> None:
        """Count a received record against the window we granted the peer."""
        self._outstanding += size
        if self._outstanding > INITIAL_WINDOW:
            raise RemoteProtocolError(WireCode.PROTOCOL_VIOLATION, "peer ignored flow control")

    def _fail(self, error: NetworkError) -> None:
        if self._failure is not None:
            return
        self._failure = error
        for slot in self._mail.values():
            if not slot.done():
                slot.set_exception(error)
                slot.exception()  # mark retrieved: nobody may be waiting
        self._credit_changed.set()

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise self._failure


_CONTROL, _SMALL, _BULK = 0, 1, 2


class Link:
    """An established link to one peer."""

    def __init__(
        self,
        pipe: Pipe,
        cipher: TransportCipher,
        peer: Peer,
        initiator: bool,
        on_session: Callable[[Session], None] | None = None,
        idle_timeout: float | None = None,
    ) -> None:
        self.peer = peer
        self.initiator = initiator
        self._pipe = pipe
        self._cipher = cipher
        self._on_session = on_session
        self._idle_timeout = IDLE_TIMEOUT if idle_timeout is None else idle_timeout
        self._queues: tuple[deque[bytes], ...] = (deque(), deque(), deque())
        self._ready = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._sessions: dict[int, Session] = {}
        self._finished: OrderedDict[int, None] = OrderedDict()
        self._partial_sizes: dict[int, dict[str, int]] = {}
        self._reassembler = Reassembler()
        self._tasks: list[asyncio.Task[None]] = []
        self.closed: asyncio.Future[NetworkError] = asyncio.get_running_loop().create_future()
        self.rtt: float | None = None
        self._pings: dict[bytes, float] = {}

    def start(self) -> None:
        """Start the reader, writer and keep-alive tasks."""
        self._tasks = [
            asyncio.create_task(self._read_loop()),
            asyncio.create_task(self._write_loop()),
            asyncio.create_task(self._keepalive()),
        ]

    @property
    def is_closed(self) -> bool:
        """Whether the link has ended."""
        return self.closed.done()

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
        self._partial_sizes.pop(session_id, None)
        self._finished[session_id] = None
        while len(self._finished) > _FINISHED_MEMORY:
            self._finished.popitem(last=False)

    def enqueue(self, record: bytes, priority: int) -> None:
        """Queue an encoded frame for the writer."""
        if self.is_closed:
            raise self.closed.result()
        if priority == _CONTROL and len(self._queues[_CONTROL]) >= MAX_CONTROL_BACKLOG:
            error = RemoteProtocolError(WireCode.PROTOCOL_VIOLATION, "peer does not read replies")
            self._end(error)
            raise error
        self._queues[priority].append(record)
        self._drained.clear()
        self._ready.set()

    def enqueue_frame(self, frame: framing.Frame) -> None:
        """Queue a control frame (highest priority)."""
        if not self.is_closed:
            self.enqueue(framing.encode_frame(frame), _CONTROL)

    def _new_session(self, session_id: int, kind: str) -> Session:
        if session_id in self._finished:
            raise RemoteProtocolError(WireCode.PROTOCOL_VIOLATION, "session already finished")
        if len(self._sessions) >= MAX_SESSIONS:
            raise RemoteProtocolError(WireCode.PROTOCOL_VIOLATION, "too many sessions")
        session = Session(self, session_id, kind)
        self._sessions[session_id] = session
        return session

    async def _write_loop(self) -> None:
        try:
            while True:
                record = self._next_record()
                if record is None:
                    self._drained.set()
                    self._ready.clear()
                    await self._ready.wait()
                    continue
                sealed = self._cipher.seal(record)
                await asyncio.wait_for(self._pipe.send(sealed), WRITE_TIMEOUT)
        except TimeoutError:
            self._end(NetworkError(WireCode.LINK_TIMEOUT, "write stalled"))
        except NetworkError as error:
            self._end(error)
        except (ConnectionError, RuntimeError):
            self._end(NetworkError(WireCode.LINK_LOST, "websocket broke"))

    def _next_record(self) -> bytes | None:
        for queue in self._queues:
            if queue:
                return queue.popleft()
        return None

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await asyncio.wait_for(self._pipe.receive(), self._idle_timeout)
                frame = framing.decode_frame(self._cipher.open(data))
                self._dispatch(frame, len(data))
        except TimeoutError:
            self._end(NetworkError(WireCode.LINK_TIMEOUT, "peer idle"))
        except NetworkError as error:
            self._end(error)
        except (ConnectionError, RuntimeError):
            self._end(NetworkError(WireCode.LINK_LOST, "websocket broke"))

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
                self.rtt = asyncio.get_running_loop().time() - sent

    def _on_open(self, frame: framing.Open) -> None:
        if frame.session_id in self._sessions or frame.session_id in self._finished:
            return  # both opened it, or it crossed our CLOSE or ABORT (which the peer will see)
        if len(self._sessions) >= MAX_SESSIONS:
            self._refuse(frame.session_id, "too many sessions")
            return
        session = self._new_session(frame.session_id, frame.kind)
        if self._on_session is not None:
            self._on_session(session)

    def _on_data(self, frame: framing.Data, size: int) -> None:
        session = self._sessions.get(frame.session_id)
        if session is None:
            if frame.session_id not in self._finished:  # else in flight when the session ended
                self._refuse(frame.session_id, "no session")
            return
        record_size = size - TAG_SIZE
        session._charge(record_size)
        partial_sizes = self._partial_sizes.setdefault(frame.session_id, {})
        total = partial_sizes.pop(frame.label, 0) + record_size
        message = self._reassembler.receive(frame)
        if message is None:
            partial_sizes[frame.label] = total
            return
        if not partial_sizes:
            del self._partial_sizes[frame.session_id]
        session._deliver(message, total)

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

    async def _keepalive(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.is_closed:
            await asyncio.sleep(PING_INTERVAL)
            nonce = os.urandom(framing.NONCE_SIZE)
            self._pings = {nonce: loop.time()}
            self.enqueue_frame(framing.Ping(nonce))

    def _end(self, error: NetworkError) -> None:
        if self.closed.done():
            return
        self.closed.set_result(error)
        for session in list(self._sessions.values()):
            session._fail(NetworkError(WireCode.LINK_LOST, f"link ended: {error.code.name}"))
        self._reassembler.clear()  # partial messages are never delivered; free them now
        self._partial_sizes.clear()
        for queue in self._queues:
            queue.clear()
        self._ready.set()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        self._tasks.append(asyncio.get_running_loop().create_task(self._close_pipe()))

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
