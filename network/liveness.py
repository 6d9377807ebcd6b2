"""Liveness: authenticated pings, a failure detector, indirect probes before declaring death.

The detector (``FailureDetector``) is a pure state machine, one row per legal transition in
``TRANSITIONS``; time is a parameter. A member answered recently is ALIVE. When a direct ping
goes unanswered the member becomes SUSPECT and the node asks up to ``INDIRECT_PROBES`` other
peers to ping it on its behalf; any answer, direct or indirect, makes it ALIVE again. Only when
the suspicion deadline passes without one does it become DEAD. A DEAD member that is heard from
again is ALIVE. Membership is advisory: running computations keep their own deadlines.

``Liveness`` drives the detector over the links: pings and probe requests travel on the
liveness session (``LIVENESS_SESSION``) of each link, so they are encrypted and authenticated
like everything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import msgpack
import numpy as np

from network.errors import NetworkError
from network.host import PeerHost
from network.link import Session
from network.tasks import TaskSet

LIVENESS_SESSION = 2
INDIRECT_PROBES = 3
PROBE_TIMEOUT = 1.0
SUSPICION_TIMEOUT = 3.0


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


class Liveness:
    """Pings and indirect probes over the links of one host."""

    def __init__(self, host: PeerHost, clock: Callable[[], float] | None = None) -> None:
        self.host = host
        self.detector = FailureDetector()
        self._clock = clock or asyncio.get_running_loop().time
        self._sessions: dict[str, Session] = {}
        self._serial = 0
        self._replies: dict[int, asyncio.Future[bool]] = {}
        self._tasks = TaskSet()
        self._send_counters: dict[int, list[int]] = {}

    def on_session(self, session: Session) -> None:
        """Host hook: a peer opened its liveness session."""
        if session.session_id == LIVENESS_SESSION:
            self.watch(session.link.peer.node_id)

    def watch(self, node_id: str) -> None:
        """Start answering and probing ``node_id`` over its link."""
        link = self.host.link(node_id)
        if link is None or node_id in self._sessions:
            return
        session = link.session(LIVENESS_SESSION, "liveness")
        self._sessions[node_id] = session
        self.detector.apply(node_id, Event.HEARD, self._clock())
        self._tasks.spawn(self._serve(node_id, session))

    async def probe(self, node_id: str) -> State:
        """Ping ``node_id``; on silence ask others to probe it; return the resulting state."""
        if await self._ping(node_id, node_id):
            return self.detector.apply(node_id, Event.HEARD, self._clock())
        self.detector.apply(node_id, Event.PROBE_FAILED, self._clock())
        helpers = [n for n in self._sessions if n != node_id]
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
        session = self._sessions.get(via)
        if session is None:
            return False
        self._serial += 1
        serial = self._serial
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._replies[serial] = waiter
        try:
            await self._send(session, {"op": "ping", "n": serial, "target": target})
            timeout = PROBE_TIMEOUT if via == target else 2 * PROBE_TIMEOUT
            return await asyncio.wait_for(waiter, timeout)
        except (TimeoutError, NetworkError):
            return False
        finally:
            self._replies.pop(serial, None)

    async def _serve(self, peer: str, session: Session) -> None:
        count = 0
        with contextlib.suppress(NetworkError, ValueError, TypeError, KeyError):
            while True:
                count += 1
                (payload,) = await session.receive(f"l{count}")
                message = msgpack.unpackb(bytes(payload), raw=False)
                self.detector.apply(peer, Event.HEARD, self._clock())
                if message["op"] == "ping":
                    self._tasks.spawn(self._answer(session, message))
                elif message["op"] == "ack":
                    waiter = self._replies.get(int(message["n"]))
                    if waiter is not None and not waiter.done():
                        waiter.set_result(bool(message["ok"]))

    async def _answer(self, session: Session, message: dict[str, object]) -> None:
        target = str(message["target"])
        ok = target == self.host.node_id or await self._ping(target, target)
        await self._send(session, {"op": "ack", "n": message["n"], "ok": ok})

    async def _send(self, session: Session, message: dict[str, object]) -> None:
        counters = self._send_counters.setdefault(id(session), [0])
        counters[0] += 1
        payload = np.frombuffer(msgpack.packb(message), dtype=np.uint8)
        await session.send(f"l{counters[0]}", (payload,))

    async def aclose(self) -> None:
        """Stop serving and probing."""
        await self._tasks.aclose()
