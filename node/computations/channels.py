"""The sessions of one run at this node: dialled on demand, watched for aborts, counted.

A run uses one session per link between two of its nodes (``wire.session_id``). :class:`Channels`
opens them as the run needs them. Without a link to a peer it gets one through ``connect`` (the
service passes ``Discovery.connect``, which dials the peer's signed record; the default only waits
for a link the peer dials). Between two participants both sides need the session at about the
same time, after ``go``: the smaller node id dials and the larger waits for that link for half its
time before dialling itself, so the two do not race two links of which the host would drop one
(and the session on it).

Control messages pass through each peer's :class:`~node.computations.control.Conversation`, so a
message out of turn ends the run with ``unexpected_message`` and one that does not decode with
``run_message_malformed`` — both naming the peer. Each session is watched for the peer's
``abort``, which stops the run with the peer's reason. Every message's payload bytes are counted
per peer (:class:`Traffic`) for the run's summary line. The engine's transport over the same
sessions is :class:`EngineTransport`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Final

from network.errors import NetworkError
from network.host import PeerHost
from network.link import Link, Session
from network.tasks import TaskSet
from node.computations import wire
from node.computations.control import (
    COORDINATOR,
    PARTICIPANT,
    PEER,
    Conversation,
    Role,
    RunAbortedError,
)
from node.errors import NodeError
from protocols.field import Array

Connect = Callable[[str, float], Awaitable[Link]]
"""``connect(node_id, deadline)``: a link to a member, dialled if there is none."""
Observe = Callable[[str, int, str, tuple[Array, ...]], None]
"""``observe(run_id, sender, label, arrays)``: every engine message this node receives."""

SETTLE_TURNS: Final = 3
"""Loop turns a failing run waits for a peer's ``Abort`` already delivered (it names the cause)."""
ABORT_SEND_TIMEOUT: Final = 1.0
DIAL_FAILURES: Final = (TimeoutError, LookupError, OSError, NetworkError)
"""What a ``connect`` raises when the peer cannot be reached (``LookupError``: no record)."""


@dataclass
class Traffic:
    """Payload bytes of the run's messages to and from one peer."""

    sent: int = 0
    received: int = 0


@dataclass
class Stop:
    """Why a run ends early at this node: the first reason wins."""

    reason: tuple[str, str | None] | None = None
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def set(self, reason: str, party: str | None) -> None:
        """End the run with ``reason`` and the node at fault (a later reason is ignored)."""
        if self.reason is None:
            self.reason = (reason, party)
        self.event.set()

    def or_else(self, reason: str, party: str | None) -> RunAbortedError:
        """The abort to raise: the stop's reason if there is one, else ``reason``."""
        return RunAbortedError(*(self.reason or (reason, party)))


class Channels:
    """The sessions, control conversations and traffic of one run at this node."""

    def __init__(
        self,
        run_id: str,
        session_id: int,
        me: str,
        coordinator: str,
        host: PeerHost,
        connect: Connect,
        link_timeout: float,
        stop: Stop,
    ) -> None:
        self.run_id = run_id
        self.session_id = session_id
        self.me = me
        self.coordinator = coordinator
        self.host = host
        self.connect = connect
        self.link_timeout = link_timeout
        self.stop = stop
        self.sessions: dict[str, Session] = {}
        self.conversations: dict[str, Conversation] = {}
        self.traffic: dict[str, Traffic] = {}
        self._watchers = TaskSet()

    async def session(self, node: str, *, dial_first: bool = True) -> Session:
        """The run's session with ``node``, opened (and the link dialled) if needed;
        ``party_unreachable`` if no link comes up within the link timeout."""
        session = self.sessions.get(node)
        if session is not None:
            return session
        link = self.host.link(node)
        if link is None:
            link = await self._link(node, dial_first)
        try:
            opened = link.session(self.session_id, "run")
        except NetworkError:
            raise self.stop.or_else("party_lost", node) from None
        return self.attach(node, opened)

    async def _link(self, node: str, dial_first: bool) -> Link:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.link_timeout
        if not dial_first:
            with contextlib.suppress(TimeoutError):
                return await self.host.wait_for_link(node, self.link_timeout / 2)
        try:
            return await self.connect(node, max(0.1, give_up - loop.time()))
        except DIAL_FAILURES:
            raise RunAbortedError("party_unreachable", node) from None

    def attach(self, node: str, session: Session) -> Session:
        """Use ``session`` (opened by either side) for ``node`` and watch it for an abort."""
        self.sessions[node] = session
        self.conversations[node] = Conversation(self._role(node), self.run_id, node)
        self.traffic.setdefault(node, Traffic())
        self._watchers.spawn(self._watch(node, session))
        return session

    def _role(self, node: str) -> Role:
        if self.me == self.coordinator:
            return COORDINATOR
        return PARTICIPANT if node == self.coordinator else PEER

    async def send(self, node: str, message: wire.Message) -> None:
        """Send a control message to ``node`` (``party_lost`` if its session broke)."""
        session = await self.session(node)
        self.conversations[node].sent(message)
        data = wire.encode(message)
        try:
            await session.send(wire.LABELS[type(message)], (data,))
        except NetworkError:
            raise self.stop.or_else("party_lost", node) from None
        self.traffic[node].sent += data.nbytes

    async def receive(self, node: str, label: str) -> wire.Message:
        """The control message ``node`` sent under ``label``, if legal now."""
        session = await self.session(node)
        try:
            raw = await session.receive(label)
        except NetworkError:
            await settle_turns()
            raise self.stop.or_else("party_lost", node) from None
        self.traffic[node].received += _size(raw)
        try:
            message = wire.decode(raw)
        except NodeError as error:
            raise RunAbortedError(error.code, node) from None
        self.conversations[node].received(message)
        return message

    async def _watch(self, node: str, session: Session) -> None:
        """Stop the run when ``node`` says it aborted (its reason names the cause)."""
        try:
            raw = await session.receive(wire.ABORT)
        except NetworkError:
            return
        try:
            message = wire.decode(raw)
            if not isinstance(message, wire.Abort):
                raise RunAbortedError("unexpected_message", node)
            self.conversations[node].received(message)
        except NodeError as error:
            self.stop.set(error.code, node)
            return
        self.stop.set(message.reason, message.party)

    async def abort(self, reason: str, party: str | None) -> None:
        """Tell every peer of the run that it aborted here, briefly (a broken session is
        skipped)."""
        notice = wire.Abort(self.run_id, reason, party)
        data = wire.encode(notice)
        for node, session in self.sessions.items():
            with contextlib.suppress(NodeError):
                self.conversations[node].sent(notice)
            with contextlib.suppress(NetworkError, OSError, TimeoutError):
                await asyncio.wait_for(session.send(wire.ABORT, (data,)), ABORT_SEND_TIMEOUT)
                self.traffic[node].sent += data.nbytes

    async def aclose(self) -> None:
        """Stop watching and close every session of the run."""
        await self._watchers.aclose()
        for session in self.sessions.values():
            session.close()


class EngineTransport:
    """The engine's transport over a run's sessions (``network.driver.Transport``)."""

    def __init__(
        self, channels: Channels, parties: tuple[str, ...], observe: Observe | None
    ) -> None:
        self._channels = channels
        self._parties = parties
        self._observe = observe

    async def send(self, peer: int, label: str, arrays: tuple[Array, ...]) -> None:
        """Send ``arrays`` to party ``peer`` under ``label``."""
        node = self._parties[peer]
        try:
            await self._channels.sessions[node].send(label, arrays)
        except NetworkError:
            await settle_turns()
            raise self._channels.stop.or_else("party_lost", node) from None
        self._channels.traffic[node].sent += _size(arrays)

    async def receive(self, peer: int, label: str) -> tuple[Array, ...]:
        """The arrays party ``peer`` sent under ``label``, as ``uint64``."""
        node = self._parties[peer]
        try:
            raw = await self._channels.sessions[node].receive(label)
        except NetworkError:
            await settle_turns()
            raise self._channels.stop.or_else("party_lost", node) from None
        self._channels.traffic[node].received += _size(raw)
        arrays = tuple(a if a.dtype.name == "uint64" else a.astype("uint64") for a in raw)
        if self._observe is not None:
            self._observe(self._channels.run_id, peer, label, arrays)
        return arrays


def _size(arrays: tuple[Any, ...]) -> int:
    return sum(int(getattr(a, "nbytes", 0)) for a in arrays)


async def settle_turns() -> None:
    """Let a peer's ``Abort`` delivered just before its session ended reach its watcher."""
    for _ in range(SETTLE_TURNS):
        await asyncio.sleep(0)


async def all_of(coroutines: list[Coroutine[Any, Any, Any]]) -> None:
    """Await every coroutine; the first failure cancels the rest and is raised."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        for task in asyncio.as_completed(tasks):
            await task
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
