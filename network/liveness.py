"""Liveness: authenticated pings, a failure detector, indirect probes before declaring death.

The detector (``FailureDetector``) is a pure state machine, one row per legal transition in
``TRANSITIONS``; time is a parameter. A member answered recently is ALIVE. When a direct ping
goes unanswered the member becomes SUSPECT and the node asks up to ``INDIRECT_PROBES`` other
peers to ping it on its behalf; any answer, direct or indirect, makes it ALIVE again. Only when
the suspicion deadline passes without one does it become DEAD. A DEAD member that is heard from
again is ALIVE. Membership is advisory: running computations keep their own deadlines.

``Liveness`` drives the detector over the links: pings and probe requests travel on the
liveness session (``LIVENESS_SESSION``) of each link, so they are encrypted and authenticated
like everything else. Their messages are decoded by :func:`decode_liveness` (any bytes are
accepted or raise ``DecodeError``); a peer that sends anything else has its liveness session
aborted with ``PROTOCOL_VIOLATION`` and logged once (``liveness.refused``); the link and its
other sessions carry on. A peer gets at most ``MAX_PENDING_ANSWERS`` probe requests answered at
once; more are dropped unanswered, so a flood costs bounded memory. When a link is replaced (a
re-dial, a restart), :meth:`Liveness.watch` moves to the new link's session.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final, TypeAlias

import msgpack
import numpy as np
import structlog

from network.errors import DecodeError, NetworkError, WireCode
from network.host import PeerHost
from network.link import Session
from network.tasks import TaskSet

LIVENESS_SESSION = 2
INDIRECT_PROBES = 3
PROBE_TIMEOUT = 1.0
SUSPICION_TIMEOUT = 3.0
MAX_PENDING_ANSWERS: Final = 16
"""Probe requests from one peer answered at once; more are dropped unanswered."""
MAX_LIVENESS_MESSAGE: Final = 256
MAX_SERIAL: Final = (1 << 63) - 1
MAX_TARGET: Final = 128
_UNPACK_ERRORS: Final = (ValueError, TypeError, msgpack.UnpackException)


@dataclass(frozen=True)
class Ping:
    """Asks the receiver to confirm ``target`` is alive (itself, or a node it pings for us)."""

    serial: int
    target: str


@dataclass(frozen=True)
class Ack:
    """Answers the ping numbered ``serial``: ``ok`` if the target answered."""

    serial: int
    ok: bool


LivenessMessage: TypeAlias = Ping | Ack


def encode_liveness(message: LivenessMessage) -> bytes:
    """The msgpack bytes of ``message`` (``docs/spec/discovery-and-liveness.md``)."""
    if isinstance(message, Ping):
        body: dict[str, object] = {"op": "ping", "n": message.serial, "target": message.target}
    else:
        body = {"op": "ack", "n": message.serial, "ok": message.ok}
    packed: bytes = msgpack.packb(body)
    return packed


def decode_liveness(data: bytes) -> LivenessMessage:
    """The liveness message in ``data``; raises ``DecodeError`` for anything else."""
    if len(data) > MAX_LIVENESS_MESSAGE:
        raise DecodeError("liveness message too long")
    try:
        body = msgpack.unpackb(data, raw=False, strict_map_key=True, max_map_len=3)
    except _UNPACK_ERRORS:
        raise DecodeError("liveness message is not msgpack") from None
    if not isinstance(body, dict):
        raise DecodeError("liveness message is not a map")
    serial = body.get("n")
    if type(serial) is not int or not 0 <= serial <= MAX_SERIAL:
        raise DecodeError("serial out of range", "$.n")
    op = body.get("op")
    if op == "ping" and set(body) == {"op", "n", "target"}:
        target = body["target"]
        if not isinstance(target, str) or not 0 < len(target) <= MAX_TARGET:
            raise DecodeError("target is not a node id", "$.target")
        return Ping(serial, target)
    if op == "ack" and set(body) == {"op", "n", "ok"}:
        if not isinstance(body["ok"], bool):
            raise DecodeError("ok is not a boolean", "$.ok")
        return Ack(serial, body["ok"])
    raise DecodeError("unknown op or keys", "$.op")


class State(Enum):
    """What a node believes about a member."""

    ALIVE = "alive"
    SUSPECT = "suspect"
    DEAD = "dead"


class Event(Enum):
    """Inputs to the detector."""

    HEARD = "heard"
    PROBE_FAILED = "probe_failed"
    SUSPICION_EXPIRED = "suspicion_expired"


TRANSITIONS: dict[tuple[State, Event], State] = {
    (State.ALIVE, Event.HEARD): State.ALIVE,
    (State.ALIVE, Event.PROBE_FAILED): State.SUSPECT,
    (State.SUSPECT, Event.HEARD): State.ALIVE,
    (State.SUSPECT, Event.PROBE_FAILED): State.SUSPECT,
    (State.SUSPECT, Event.SUSPICION_EXPIRED): State.DEAD,
    (State.DEAD, Event.HEARD): State.ALIVE,
    (State.DEAD, Event.PROBE_FAILED): State.DEAD,
}
"""Every legal transition; any other (state, event) pair is ignored as stale."""


@dataclass
class Member:
    """The detector's view of one member."""

    state: State
    since: float
    suspected_at: float | None = None


class FailureDetector:
    """Pure SWIM-style detector: feed it events with the current time, read the states."""

    def __init__(self, suspicion_timeout: float = SUSPICION_TIMEOUT) -> None:
        self.suspicion_timeout = suspicion_timeout
        self.members: dict[str, Member] = {}

    def state(self, node_id: str) -> State | None:
        """The current belief about ``node_id`` (None if never heard of)."""
        member = self.members.get(node_id)
        return None if member is None else member.state

    def apply(self, node_id: str, event: Event, now: float) -> State:
        """Apply one event; returns the new state."""
        member = self.members.get(node_id)
        if member is None:
            member = self.members[node_id] = Member(State.ALIVE, now)
        target = TRANSITIONS.get((member.state, event))
        if target is None:
            return member.state
        if target is State.SUSPECT and member.state is not State.SUSPECT:
            member.suspected_at = now
        if target is not State.SUSPECT:
            member.suspected_at = None
        if target is not member.state:
            member.state, member.since = target, now
        return member.state

    def expire(self, now: float) -> list[str]:
        """Declare DEAD every SUSPECT whose suspicion outlived the timeout; returns them."""
        dead = []
        for node_id, member in self.members.items():
            if (
                member.state is State.SUSPECT
                and member.suspected_at is not None
                and now - member.suspected_at >= self.suspicion_timeout
            ):
                self.apply(node_id, Event.SUSPICION_EXPIRED, now)
                dead.append(node_id)
        return dead


class _Watched:
    """The liveness session with one peer, its send label counter and answers in progress."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.sent = 0
        self.answering = 0

    @property
    def usable(self) -> bool:
        """Whether the session can still carry pings (its link is up and it did not end)."""
        return not self.session.link.is_closed and self.session.failure is None


class Liveness:
    """Pings and indirect probes over the links of one host."""

    def __init__(self, host: PeerHost, clock: Callable[[], float] | None = None) -> None:
        self.host = host
        self.detector = FailureDetector()
        self._clock = clock or asyncio.get_running_loop().time
        self._peers: dict[str, _Watched] = {}
        self._serial = 0
        self._replies: dict[int, asyncio.Future[bool]] = {}
        self._tasks = TaskSet()
        self._log = structlog.get_logger("network.liveness")

    def on_session(self, session: Session) -> None:
        """Host hook: a peer opened its liveness session."""
        if session.session_id == LIVENESS_SESSION:
            self.watch(session.link.peer.node_id)

    def watch(self, node_id: str) -> None:
        """Start answering and probing ``node_id`` over its link (again, if the link changed)."""
        link = self.host.link(node_id)
        held = self._peers.get(node_id)
        if link is None or (held is not None and held.session.link is link and held.usable):
            return
        try:
            session = link.session(LIVENESS_SESSION, "liveness")
        except NetworkError:  # the link just ended, or we aborted its liveness session
            return
        watched = self._peers[node_id] = _Watched(session)
        self.detector.apply(node_id, Event.HEARD, self._clock())
        self._tasks.spawn(self._serve(node_id, watched))

    async def probe(self, node_id: str) -> State:
        """Ping ``node_id``; on silence ask others to probe it; return the resulting state."""
        if await self._ping(node_id, node_id):
            return self.detector.apply(node_id, Event.HEARD, self._clock())
        self.detector.apply(node_id, Event.PROBE_FAILED, self._clock())
        helpers = [n for n, w in self._peers.items() if n != node_id and w.usable]
        random.shuffle(helpers)
        asked = helpers[:INDIRECT_PROBES]
        results = await asyncio.gather(*(self._ping(h, node_id) for h in asked))
        if any(results):
            return self.detector.apply(node_id, Event.HEARD, self._clock())
        member = self.detector.members[node_id]
        if member.suspected_at is not None:
            deadline = member.suspected_at + self.detector.suspicion_timeout
            await asyncio.sleep(max(0.0, deadline - self._clock()))
        self.detector.expire(self._clock())
        state = self.detector.state(node_id)
        assert state is not None
        return state

    async def _ping(self, via: str, target: str) -> bool:
        """Ask ``via`` to confirm ``target`` is alive (``via == target``: a direct ping)."""
        watched = self._peers.get(via)
        if watched is None or not watched.usable:
            return False
        self._serial += 1
        serial = self._serial
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._replies[serial] = waiter
        try:
            await self._send(watched, Ping(serial, target))
            timeout = PROBE_TIMEOUT if via == target else 2 * PROBE_TIMEOUT
            return await asyncio.wait_for(waiter, timeout)
        except (TimeoutError, NetworkError):
            return False
        finally:
            self._replies.pop(serial, None)

    async def _serve(self, peer: str, watched: _Watched) -> None:
        count = 0
        try:
            while True:
                count += 1
                arrays = await watched.session.receive(f"l{count}")
                if len(arrays) != 1:
                    raise DecodeError("a liveness message is one array")
                message = decode_liveness(bytes(arrays[0]))
                self.detector.apply(peer, Event.HEARD, self._clock())
                if isinstance(message, Ping):
                    if watched.answering < MAX_PENDING_ANSWERS:
                        watched.answering += 1
                        self._tasks.spawn(self._answer(watched, message))
                else:
                    waiter = self._replies.get(message.serial)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(message.ok)
        except DecodeError as error:
            self._log.warning("liveness.refused", peer=peer, code=int(error.code))
            watched.session.abort(WireCode.PROTOCOL_VIOLATION, "malformed liveness message")
        except NetworkError:
            pass  # the link ended; the host logs it
        finally:
            if self._peers.get(peer) is watched:
                del self._peers[peer]

    async def _answer(self, watched: _Watched, ping: Ping) -> None:
        try:
            ok = ping.target == self.host.node_id or await self._ping(ping.target, ping.target)
            with contextlib.suppress(NetworkError):
                await self._send(watched, Ack(ping.serial, ok))
        finally:
            watched.answering -= 1

    async def _send(self, watched: _Watched, message: LivenessMessage) -> None:
        watched.sent += 1
        payload = np.frombuffer(encode_liveness(message), dtype=np.uint8)
        await watched.session.send(f"l{watched.sent}", (payload,))

    async def aclose(self) -> None:
        """Stop serving and probing."""
        await self._tasks.aclose()
