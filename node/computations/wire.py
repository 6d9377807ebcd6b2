"""The control messages of a run, their labels, the run's session id and one strict decoder.

A run travels on one session per link, with the id :func:`session_id` derives from the manifest
id and the run id, so every participant opens the same session without negotiating. Control
messages share that session with the engine's messages under labels of their own (``run/…``;
engine labels never hold a ``/``). Each is one canonical map (``network.canonical``) with
``"v": 1`` and a ``"type"``, sent as one ``uint8`` array. The layout of each is in
``docs/spec/run-protocol.md``.

The fuzz rule: :func:`decode` turns any bytes into a message or raises :class:`WireError`
(code ``run_message_malformed``), nothing else.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final, TypeAlias

import numpy as np

from network import canonical
from network.canonical import Value, expect_body, expect_int
from network.errors import NetworkError
from network.identity import check_node_id
from node.consent import messages
from node.consent.problems import InvalidConsentError
from node.errors import InvalidError

VERSION: Final = 1
MAX_MESSAGE: Final = 4 * canonical.MAX_ENCODED
MAX_TIME: Final = (1 << 40) - 1
SESSION_BIT: Final = 1 << 63
"""Set in every run session id, so it never meets the small fixed ids (gossip, liveness…)."""
START, REPLY, GO, ABORT, FINISHED = "run/start", "run/reply", "run/go", "run/abort", "run/finished"
"""The labels of the control messages (at most one of each per direction and session; ``Ready``
and ``Refused`` are the two answers to ``Start`` and share ``REPLY``)."""
_RUN_ID: Final = re.compile(r"r-[0-9a-f]{32}")


class WireError(InvalidError):
    """Bytes that are not a valid run message (``run_message_malformed``), with the field path."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            "run_message_malformed", "not a valid run message", {"path": path, "reason": reason}
        )


@dataclass(frozen=True)
class Start:
    """Proposer → participant: run ``run_id`` of the finalised ``bundle`` before ``deadline``."""

    run_id: str
    bundle: messages.Finalized
    deadline: int


@dataclass(frozen=True)
class Ready:
    """Participant → proposer: every signature checked, agreement live, usage reserved."""

    run_id: str


@dataclass(frozen=True)
class Refused:
    """Participant → proposer: this node will not take part, with a reason code."""

    run_id: str
    reason: str


@dataclass(frozen=True)
class Go:
    """Proposer → participant: every participant is ready; run the program now."""

    run_id: str


@dataclass(frozen=True)
class Abort:
    """Anyone → everyone in the run: the run ended without a result, with a reason code.

    ``party`` names the node at fault where one is known (a lost or refusing party).
    """

    run_id: str
    reason: str
    party: str | None


@dataclass(frozen=True)
class Finished:
    """Participant → proposer: this node's part of the program ended normally."""

    run_id: str


Message: TypeAlias = Start | Ready | Refused | Go | Abort | Finished
LABELS: Final[dict[type, str]] = {
    Start: START,
    Ready: REPLY,
    Refused: REPLY,
    Go: GO,
    Abort: ABORT,
    Finished: FINISHED,
}


def new_run_id(random_bytes: bytes) -> str:
    """A run id from 16 random bytes."""
    if len(random_bytes) != 16:
        raise ValueError("a run id takes 16 random bytes")
    return "r-" + random_bytes.hex()


def check_run_id(value: object) -> str:
    """``value`` if it is a well-formed run id, else :class:`InvalidError` ``invalid_run_id``."""
    if isinstance(value, str) and _RUN_ID.fullmatch(value):
        return value
    raise InvalidError("invalid_run_id", "a run id is r- and 32 lowercase hex digits")


def session_id(manifest_id: str, run_id: str) -> int:
    """The 64-bit session id of run ``run_id`` of ``manifest_id`` on every link."""
    digest = hashlib.sha256(f"confide/v1/run|{manifest_id}|{run_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") | SESSION_BIT


def to_wire(message: Message) -> dict[str, Value]:
    """The canonical map of ``message``."""
    body: dict[str, Value] = {"v": VERSION, "run": message.run_id}
    if isinstance(message, Start):
        body |= {
            "type": "start",
            "bundle": messages.encode(message.bundle),
            "deadline": message.deadline,
        }
    elif isinstance(message, Refused):
        body |= {"type": "refused", "reason": message.reason}
    elif isinstance(message, Abort):
        body |= {"type": "abort", "reason": message.reason, "party": message.party}
    else:
        body["type"] = {Ready: "ready", Go: "go", Finished: "finished"}[type(message)]
    return body


def encode(message: Message) -> np.ndarray:
    """``message`` as the one ``uint8`` array it travels as."""
    return np.frombuffer(canonical.encode(to_wire(message)), dtype=np.uint8)


_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "start": ("bundle", "deadline"),
    "ready": (),
    "refused": ("reason",),
    "go": (),
    "abort": ("reason", "party"),
    "finished": (),
}


def decode(arrays: tuple[object, ...]) -> Message:
    """The message carried by ``arrays``; :class:`WireError` for anything else."""
    if len(arrays) != 1 or not isinstance(arrays[0], np.ndarray) or arrays[0].ndim != 1:
        raise WireError("$", "expected one byte array")
    data = np.ascontiguousarray(arrays[0]).tobytes()
    try:
        return _read(canonical.decode(data, MAX_MESSAGE))
    except WireError:
        raise
    except messages.MessageError as error:
        raise WireError(
            "$.bundle" + str(error.details.get("path", "$"))[1:], "bad bundle"
        ) from None
    except (NetworkError, InvalidConsentError, InvalidError):
        raise WireError("$", "malformed") from None


def _read(value: Value) -> Message:
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise WireError("$.type", "missing message type")
    kind = value["type"]
    assert isinstance(kind, str)
    fields = _FIELDS.get(kind)
    if fields is None:
        raise WireError("$.type", "unknown message type")
    body = expect_body(value, "$", ("v", "type", "run", *fields), VERSION)
    run_id = check_run_id(body["run"])
    if kind == "start":
        bundle = messages.decode(_bytes(body["bundle"], "$.bundle"))
        if not isinstance(bundle, messages.Finalized):
            raise WireError("$.bundle", "not a finalised bundle")
        deadline = expect_int(body["deadline"], "$.deadline", 0, MAX_TIME)
        return Start(run_id, bundle, deadline)
    if kind == "refused":
        return Refused(run_id, canonical.check_name(body["reason"], "$.reason"))
    if kind == "abort":
        party = body["party"]
        who = None if party is None else check_node_id(party, "$.party")
        return Abort(run_id, canonical.check_name(body["reason"], "$.reason"), who)
    if kind == "ready":
        return Ready(run_id)
    return Go(run_id) if kind == "go" else Finished(run_id)


def _bytes(value: Value, path: str) -> bytes:
    """``value`` if it is ``bytes`` of at most ``MAX_MESSAGE`` bytes."""
    if not isinstance(value, bytes) or len(value) > MAX_MESSAGE:
        raise WireError(path, "expected bytes")
    return value
