"""Errors of the MPC engine.

Hierarchy::

    MPCError                      base of everything raised by ``protocols``
    ├── LocalProtocolError        our caller misused the API (wrong shapes, parameters, order)
    └── ProtocolAbortedError      the session must end: a peer sent something inconsistent
                                  (``code`` says what; ``party`` says who, where known)

Wire codes are an ``IntEnum`` whose values never change. Messages never contain shares, keys or
identifiers: only codes, party indices and sizes.
"""

from __future__ import annotations

from enum import IntEnum


class AbortCode(IntEnum):
    """Why a session aborted. Values are stable on the wire."""

    INCONSISTENT_SHARES = 1
    """Opened shares do not lie on one polynomial of the committee's degree."""
    CHECK_FAILED = 2
    """The batched consistency check over received shares failed."""
    MALFORMED_MESSAGE = 3
    """A message had the wrong number of arrays, shape or dtype, or values outside the field."""
    HASHING_FAILED = 4
    """A list did not fit the public hash-table bounds (cuckoo insertion or bin overflow)."""
    PEER_ABORTED = 6
    """Another party aborted the session."""
    TIMEOUT = 7
    """A peer did not answer within the session's deadline."""
    PEER_LOST = 8
    """The link to a peer broke during the session."""


class MPCError(Exception):
    """Base class of engine errors."""


class LocalProtocolError(MPCError):
    """The local caller used the engine wrongly; a bug on our side, never the peer's fault."""


class ProtocolAbortedError(MPCError):
    """The session ended because of a peer's message (or its absence)."""

    def __init__(self, code: AbortCode, detail: str = "", party: int | None = None) -> None:
        self.code = code
        self.detail = detail
        self.party = party
        where = "" if party is None else f" (party {party})"
        text = f"{code.name.lower()}{where}" + (f": {detail}" if detail else "")
        super().__init__(text)
