"""Why frames are rejected: the frame error codes, the two frame errors and the bounded reader.

Shared by the frame codec (``network.framing``), the array codec (``network.arraycodec``) and the
reassembler (``network.reassembly``), so every decoder raises the one :class:`FrameDecodeError`
and a short read anywhere is ``FRAME_TRUNCATED`` rather than an ``IndexError`` or
``struct.error``. Pure: no I/O, no clock.
"""

from __future__ import annotations

import struct
from enum import IntEnum

from network.errors import LocalProtocolError, RemoteProtocolError


class FrameErrorCode(IntEnum):
    """Why frames were rejected: block 200–299 of the network wire codes. Values never change.

    These belong in :class:`network.errors.WireCode` (same names, same values); until that block
    is claimed there, they live here.
    """

    FRAME_TOO_LARGE = 200
    """The record is longer than the largest record."""
    FRAME_TRUNCATED = 201
    """The record ends inside the header or inside a field."""
    FRAME_BAD_VERSION = 202
    FRAME_UNKNOWN_TYPE = 203
    FRAME_BAD_FLAGS = 204
    """A flag bit not defined for this type, or a nonzero reserved byte."""
    FRAME_BAD_LENGTH = 205
    """The body length field disagrees with the record, or bytes are left over."""
    FRAME_BAD_SESSION = 206
    """Session id 0 on a session frame, or nonzero on a link frame."""
    FRAME_BAD_FIELD = 207
    """A field outside its range: kind, label, reason text, credit, nonzero padding."""
    FRAME_BAD_METADATA = 208
    """Metadata that is not a small msgpack map of plain values with string keys."""
    FRAME_BAD_ARRAYS = 209
    """An array list with an unknown dtype, bad shape, or lengths that do not add up."""
    FRAGMENT_OUT_OF_ORDER = 210
    FRAGMENT_DUPLICATED = 211
    FRAGMENT_MISMATCH = 212
    """A fragment disagrees with its message: length, overflow, short last, tiny fragment."""
    REASSEMBLY_LIMIT_EXCEEDED = 213
    """A message would exceed the reassembly bounds (per message, session or link)."""
    MESSAGE_TRUNCATED = 214
    """A session closed while one of its messages was still missing fragments."""
    FRAME_UNENCODABLE = 250
    """Local: our caller built a frame or message that no peer would accept."""


class FrameDecodeError(RemoteProtocolError):
    """The peer sent bytes that are not a valid frame or fragment sequence.

    ``code`` is a :class:`FrameErrorCode`; ``session_id`` names the session when it is known
    (then the session can be aborted with the code; otherwise the link ends). The text holds
    only the code and a fixed reason, never peer data.
    """

    code: FrameErrorCode  # type: ignore[assignment]  # block 200–299, not yet in WireCode

    def __init__(
        self, code: FrameErrorCode, reason: str = "", session_id: int | None = None
    ) -> None:
        super().__init__(code, reason)  # type: ignore[arg-type]  # as above
        self.session_id = session_id


class FrameEncodeError(LocalProtocolError):
    """Our caller asked to encode a frame that no peer would accept (a local bug)."""

    code: FrameErrorCode  # type: ignore[assignment]  # block 200–299, not yet in WireCode

    def __init__(self, reason: str) -> None:
        super().__init__(FrameErrorCode.FRAME_UNENCODABLE, reason)  # type: ignore[arg-type]


class Cursor:
    """Reads fields off a byte view; running past the end is ``FRAME_TRUNCATED``."""

    def __init__(self, view: memoryview) -> None:
        self.view = view
        self.offset = 0

    def take(self, size: int) -> memoryview:
        """The next ``size`` bytes, as a view."""
        end = self.offset + size
        if end > len(self.view):
            raise FrameDecodeError(FrameErrorCode.FRAME_TRUNCATED, "field runs past the end")
        part = self.view[self.offset : end]
        self.offset = end
        return part

    def unpack(self, layout: struct.Struct) -> tuple[int, ...]:
        """The next fields laid out as ``layout``."""
        return layout.unpack(self.take(layout.size))

    def number(self, layout: struct.Struct) -> int:
        """The next single-field ``layout`` as an int."""
        (value,) = self.unpack(layout)
        return int(value)

    def rest(self) -> memoryview:
        """Everything not yet read."""
        return self.take(len(self.view) - self.offset)

    def finish(self) -> None:
        """Raise ``FRAME_BAD_LENGTH`` unless everything was read."""
        if self.offset != len(self.view):
            raise FrameDecodeError(FrameErrorCode.FRAME_BAD_LENGTH, "trailing bytes")
