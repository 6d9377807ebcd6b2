"""The run protocol's control conversation with one peer: every legal transition in one table.

Sans I/O: a :class:`Conversation` is told what this node sent to, or received from, one peer of a
run (``sent`` / ``received``) and moves along :data:`TRANSITIONS`; anything the table does not
hold is an error. A message the peer should not have sent — a ``go`` to the coordinator, a second
``ready``, a message of another run — is the peer's fault (``unexpected_message``, naming it); a
message this node should not send is a bug here (``internal_error``). ``abort`` is legal in both
directions with every peer of the run, from every state but ``aborted`` (an abort also reaches a
party that refused or finished: the run ended elsewhere).

The three roles of a conversation, seen from this node:

* ``coordinator`` — this node started the run; the peer is a participant;
* ``participant`` — the peer is the coordinator of a run this node joined;
* ``peer`` — two participants: only engine messages and ``abort`` pass between them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from node.computations import wire
from node.errors import UnavailableError

Role = Literal["coordinator", "participant", "peer"]
Direction = Literal["sent", "received"]
COORDINATOR: Final = "coordinator"
PARTICIPANT: Final = "participant"
PEER: Final = "peer"
IDLE, STARTED, READY, RUNNING, FINISHED, REFUSED, ABORTED = (
    "idle",
    "started",
    "ready",
    "running",
    "finished",
    "refused",
    "aborted",
)

_NAMES: Final[Mapping[type, str]] = {
    wire.Start: "start",
    wire.Ready: "ready",
    wire.Refused: "refused",
    wire.Go: "go",
    wire.Abort: "abort",
    wire.Finished: "finished",
}

TRANSITIONS: Final[Mapping[tuple[Role, str, Direction, str], str]] = {
    # this node coordinates; the peer is a participant
    ("coordinator", IDLE, "sent", "start"): STARTED,
    ("coordinator", STARTED, "received", "ready"): READY,
    ("coordinator", STARTED, "received", "refused"): REFUSED,
    ("coordinator", READY, "sent", "go"): RUNNING,
    ("coordinator", RUNNING, "received", "finished"): FINISHED,
    # this node takes part; the peer is the coordinator
    ("participant", IDLE, "received", "start"): STARTED,
    ("participant", STARTED, "sent", "ready"): READY,
    ("participant", STARTED, "sent", "refused"): REFUSED,
    ("participant", READY, "received", "go"): RUNNING,
    ("participant", RUNNING, "sent", "finished"): FINISHED,
}
"""``(role, state, direction, message) → next state``; ``abort`` (any state but ``aborted`` →
``aborted``) is the one rule outside the table."""


class RunAbortedError(UnavailableError):
    """A run ended without a result; ``code`` is the reason, ``party`` the node at fault."""

    def __init__(self, reason: str, party: str | None = None) -> None:
        super().__init__(reason, "the run was aborted", {"party": party} if party else None)
        self.party = party


@dataclass
class Conversation:
    """The control state of one run with one peer."""

    role: Role
    run_id: str
    peer: str
    state: str = IDLE

    def sent(self, message: wire.Message) -> None:
        """This node sends ``message``; ``internal_error`` if that is not legal now."""
        nxt = self._next("sent", message)
        if nxt is None:
            raise RunAbortedError("internal_error")
        self.state = nxt

    def received(self, message: wire.Message) -> None:
        """``message`` arrived from the peer; ``unexpected_message`` (the peer's fault) if it
        is not legal now or belongs to another run."""
        nxt = self._next("received", message) if message.run_id == self.run_id else None
        if nxt is None:
            raise RunAbortedError("unexpected_message", self.peer)
        self.state = nxt

    def _next(self, direction: Direction, message: wire.Message) -> str | None:
        name = _NAMES[type(message)]
        if name == "abort":
            return None if self.state == ABORTED else ABORTED
        return TRANSITIONS.get((self.role, self.state, direction, name))
