"""The plaintext frames carried inside a link's encrypted records (sans-I/O).

One Noise record holds exactly one frame. Every frame starts with a fixed 16-byte header
(version, type, flags, reserved, session id, body length); the body layout depends on the type.
Only the small metadata maps of OPEN and ACCEPT are msgpack; a message's arrays travel as an
array list (``network.arraycodec``: raw little-endian bytes behind a binary descriptor, back
through ``np.frombuffer`` without per-element Python work). Large messages are split by
:func:`fragment` into records of at most 65519 bytes (what one Noise transport record can carry)
and rebuilt by the bounded reassembler of ``network.reassembly``. The byte layout is specified in
``docs/spec/framing.md``.

The fuzz rule: any bytes given to :func:`decode_frame` (or ``decode_arrays``, or the
reassembler) are either accepted or rejected with :class:`FrameDecodeError` and its stable
``code`` (``network.frameerrors``, re-exported here); sizes are checked before anything is
allocated. Locally built frames that could never decode are refused by the encoders with
:class:`FrameEncodeError`.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final, TypeAlias

import msgpack

from network.arraycodec import AnyArray, array_parts, decode_arrays, padding
from network.frameerrors import Cursor, FrameDecodeError, FrameEncodeError, FrameErrorCode

__all__ = [  # the errors and decode_arrays are re-exported: links and tests reach them here
    "HEADER", "LAST", "MAX_KIND", "MAX_LABEL", "MAX_MESSAGE", "MAX_METADATA",
    "MAX_METADATA_DEPTH", "MAX_REASON_CHARS", "MAX_RECORD", "MIN_FRAGMENT_PAYLOAD", "MIN_RECORD",
    "NONCE_SIZE", "VERSION", "Abort", "Accept", "AnyArray", "Close", "Credit", "Data", "Frame",
    "FrameDecodeError", "FrameEncodeError", "FrameErrorCode", "FrameType", "Gossip", "Message",
    "Metadata", "Open", "Ping", "Pong", "decode_arrays", "decode_frame", "encode_frame",
    "fragment", "single_record", "whole_message",
]  # fmt: skip

VERSION: Final = 1
MAX_RECORD: Final = 65535 - 16
"""Largest record (one encoded frame): the largest Noise transport plaintext (65535 - tag)."""
MIN_RECORD: Final = 4096
"""Smallest ``max_record`` a sender may fragment with."""
MAX_KIND: Final = 32
MAX_LABEL: Final = 128
MAX_METADATA: Final = 4096
MAX_METADATA_DEPTH: Final = 4
MAX_REASON_CHARS: Final = 200
MAX_MESSAGE: Final = (1 << 32) - 1
"""Largest encoded array list the ``u32`` length field can announce (limits are far lower)."""
MIN_FRAGMENT_PAYLOAD: Final = 1024
"""Every DATA fragment but the last carries at least this many payload bytes."""
NONCE_SIZE: Final = 8
LAST: Final = 0x01
"""DATA flag: this fragment ends the message."""

HEADER: Final = struct.Struct("<BBBBQI")
"""version, type, flags, reserved (0), session id, body length."""
_DATA_FIXED: Final = struct.Struct("<IIB")  # fragment index, message length, label length
_DATA_HEAD: Final = struct.Struct("<BBBBQIIIB")
"""The header and the fixed DATA fields in one layout (25 bytes): the per-message fast paths."""
_DATA_START: Final = HEADER.size + _DATA_FIXED.size
_ZEROS: Final = bytes(8)
_U8: Final = struct.Struct("<B")
_U16: Final = struct.Struct("<H")
_U32: Final = struct.Struct("<I")
_KIND = re.compile(rb"[a-z][a-z0-9._-]{0,%d}" % (MAX_KIND - 1))
_LABEL = re.compile(rb"[\x21-\x7e]{1,%d}" % MAX_LABEL)

Metadata: TypeAlias = Mapping[str, Any]


class FrameType(IntEnum):
    """The type byte of a frame. Values are stable on the wire."""

    OPEN = 1
    ACCEPT = 2
    DATA = 3
    ABORT = 4
    CLOSE = 5
    CREDIT = 6
    PING = 7
    PONG = 8
    GOSSIP = 9


@dataclass(frozen=True)
class Open:
    """Open session ``session_id`` of ``kind`` (e.g. ``mpc``, ``consent``) with metadata."""

    session_id: int
    kind: str
    metadata: Metadata


@dataclass(frozen=True)
class Accept:
    """Accept session ``session_id``; the metadata answers the opener's."""

    session_id: int
    metadata: Metadata


@dataclass(frozen=True)
class Data:
    """One fragment of a message labelled ``label`` in session ``session_id``.

    ``total_length`` is the length of the whole encoded array list (the same in every fragment
    of a message); ``payload`` is this fragment's slice of it, a view into the decoded record.
    """

    session_id: int
    label: str
    index: int
    total_length: int
    last: bool
    payload: bytes | memoryview


@dataclass(frozen=True)
class Abort:
    """End session ``session_id`` because of an error; ``reason`` is short printable text."""

    session_id: int
    code: int
    reason: str = ""


@dataclass(frozen=True)
class Close:
    """End session ``session_id`` normally."""

    session_id: int


@dataclass(frozen=True)
class Credit:
    """Grant the peer ``granted`` more bytes of DATA payload in session ``session_id``."""

    session_id: int
    granted: int


@dataclass(frozen=True)
class Ping:
    """Liveness probe carrying an 8-byte nonce."""

    nonce: bytes


@dataclass(frozen=True)
class Pong:
    """Answer to the ``Ping`` with the same nonce."""

    nonce: bytes


@dataclass(frozen=True)
class Gossip:
    """Opaque membership payload (signed node records), parsed by the membership layer."""

    payload: bytes


_DATA_TYPE: Final = int(FrameType.DATA)

Frame: TypeAlias = Open | Accept | Data | Abort | Close | Credit | Ping | Pong | Gossip


@dataclass(frozen=True)
class Message:
    """A complete labelled message: what the driver sends and receives."""

    session_id: int
    label: str
    arrays: tuple[AnyArray, ...]


# ---------------------------------------------------------------------------------------------
# Decoding


def decode_frame(record: bytes | bytearray | memoryview, *, max_record: int = MAX_RECORD) -> Frame:
    """The frame in one decrypted record; anything invalid raises :class:`FrameDecodeError`.

    A DATA frame's payload is a view into ``record``, which must not change afterwards.
    """
    view = memoryview(record).cast("B")
    if len(view) > max_record:
        raise FrameDecodeError(FrameErrorCode.FRAME_TOO_LARGE, f"record of {len(view)} bytes")
    if len(view) < HEADER.size:
        raise FrameDecodeError(FrameErrorCode.FRAME_TRUNCATED, "shorter than the header")
    version, kind, flags, reserved, session_id, length = HEADER.unpack_from(view)
    if version != VERSION:
        raise FrameDecodeError(FrameErrorCode.FRAME_BAD_VERSION, f"version {version}")
    try:
        frame_type = FrameType(kind)
    except ValueError:
        raise FrameDecodeError(FrameErrorCode.FRAME_UNKNOWN_TYPE, f"type {kind}") from None
    allowed = LAST if frame_type is FrameType.DATA else 0
    if flags & ~allowed or reserved:
        raise FrameDecodeError(FrameErrorCode.FRAME_BAD_FLAGS, f"flags {flags:#x}")
    if length != len(view) - HEADER.size:
        raise FrameDecodeError(FrameErrorCode.FRAME_BAD_LENGTH, "body length disagrees with record")
    link_frame = frame_type in (FrameType.PING, FrameType.PONG, FrameType.GOSSIP)
    if (session_id == 0) != link_frame:
        raise FrameDecodeError(FrameErrorCode.FRAME_BAD_SESSION, f"session id on {frame_type.name}")
    body = Cursor(view[HEADER.size :])
    try:
        frame = _decode_body(frame_type, session_id, bool(flags & LAST), body)
    except FrameDecodeError as error:
        if not link_frame:
            error.session_id = session_id
        raise
    body.finish()
    return frame


def _decode_body(frame_type: FrameType, session_id: int, last: bool, body: Cursor) -> Frame:
    """Dispatch on the type byte; each branch reads exactly its layout."""
    if frame_type is FrameType.OPEN:
        kind = bytes(body.take(body.number(_U8)))
        if _KIND.fullmatch(kind) is None:
            raise FrameDecodeError(FrameErrorCode.FRAME_BAD_FIELD, "session kind")
        metadata = _unpack_metadata(body.take(body.number(_U16)))
        return Open(session_id, kind.decode("ascii"), metadata)
    if frame_type is FrameType.ACCEPT:
        return Accept(session_id, _unpack_metadata(body.take(body.number(_U16))))
    if frame_type is FrameType.DATA:
        return _decode_data(session_id, last, body)
    if frame_type is FrameType.ABORT:
        code = body.number(_U16)
        return Abort(session_id, code, _decode_reason(body.take(body.number(_U16))))
    if frame_type is FrameType.CLOSE:
        return Close(session_id)
    if frame_type is FrameType.CREDIT:
        granted = body.number(_U32)
        if granted == 0:
            raise FrameDecodeError(FrameErrorCode.FRAME_BAD_FIELD, "credit of zero bytes")
        return Credit(session_id, granted)
    if frame_type is FrameType.PING:
        return Ping(bytes(body.take(NONCE_SIZE)))
    if frame_type is FrameType.PONG:
        return Pong(bytes(body.take(NONCE_SIZE)))
    return Gossip(bytes(body.rest()))


def _decode_data(session_id: int, last: bool, body: Cursor) -> Data:
    index, total, label_length = body.unpack(_DATA_FIXED)
    label = bytes(body.take(label_length))
    if _LABEL.fullmatch(label) is None:
        raise FrameDecodeError(FrameErrorCode.FRAME_BAD_FIELD, "label")
    if any(body.take(_label_padding(label_length))):
        raise FrameDecodeError(FrameErrorCode.FRAME_BAD_FIELD, "nonzero padding")
    payload = body.rest()
    if len(payload) > total:
        raise FrameDecodeError(FrameErrorCode.FRAGMENT_MISMATCH, "payload exceeds message")
    return Data(session_id, label.decode("ascii"), index, total, last, payload)


def whole_message(
    record: bytes | bytearray | memoryview,
) -> tuple[int, str, memoryview] | None:
    """Session id, label and array list of a record holding one whole message, else None.

    The fast path of a link's reader: a record that is a valid DATA frame with index 0, ``LAST``
    and a payload of exactly the declared length is read with one ``struct`` layout and no
    frame object. Any other record — another frame type, a fragment, or anything invalid —
    gives None, and :func:`decode_frame` then decodes it or raises the precise error. The array
    list is not checked here (``decode_arrays`` does). The payload is a view into ``record``.
    """
    view = memoryview(record).cast("B")
    size = len(view)
    if not _DATA_START < size <= MAX_RECORD:
        return None
    version, kind, flags, reserved, session_id, length, index, total, label_length = (
        _DATA_HEAD.unpack_from(view)
    )
    start = _DATA_START + label_length
    stop = start + padding(start)
    if (
        version != VERSION
        or kind != _DATA_TYPE
        or flags != LAST
        or reserved
        or not session_id
        or length != size - HEADER.size
        or index
        or size - stop != total
        or not 0 < label_length <= MAX_LABEL
    ):
        return None
    label = bytes(view[_DATA_START:start])
    if _LABEL.fullmatch(label) is None or view[start:stop] != _ZEROS[: stop - start]:
        return None
    return session_id, label.decode("ascii"), view[stop:]


def _decode_reason(raw: memoryview) -> str:
    if len(raw) > 4 * MAX_REASON_CHARS:
        raise FrameDecodeError(FrameErrorCode.FRAME_BAD_FIELD, "reason too long")
    try:
        reason = bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise FrameDecodeError(FrameErrorCode.FRAME_BAD_FIELD, "reason is not UTF-8") from None
    if len(reason) > MAX_REASON_CHARS or not reason.isprintable():
        raise FrameDecodeError(FrameErrorCode.FRAME_BAD_FIELD, "reason too long or not printable")
    return reason


def _unpack_metadata(raw: memoryview) -> dict[str, Any]:
    if len(raw) > MAX_METADATA:
        raise FrameDecodeError(FrameErrorCode.FRAME_BAD_METADATA, f"{len(raw)} bytes")
    try:
        value = msgpack.unpackb(
            raw,
            raw=False,
            strict_map_key=True,
            max_str_len=MAX_METADATA,
            max_bin_len=MAX_METADATA,
            max_array_len=MAX_METADATA,
            max_map_len=MAX_METADATA,
            max_ext_len=0,
        )
    # msgpack reports malformed input as ValueError subclasses (ExtraData, FormatError,
    # StackError, UnicodeDecodeError), as UnpackException, or as TypeError for odd map keys.
    except (ValueError, TypeError, msgpack.UnpackException):
        raise FrameDecodeError(FrameErrorCode.FRAME_BAD_METADATA, "not msgpack") from None
    problem = _metadata_problem(value)
    if problem is not None:
        raise FrameDecodeError(FrameErrorCode.FRAME_BAD_METADATA, problem)
    return value  # type: ignore[no-any-return]  # checked to be a str-keyed dict just above


def _metadata_problem(value: object, depth: int = 1) -> str | None:
    """Why ``value`` is not acceptable metadata (a map at the top), or None.

    ``depth`` counts containers: the top-level map is 1, and at most ``MAX_METADATA_DEPTH``.
    """
    if depth == 1 and not isinstance(value, dict):
        return "not a map"
    if value is None or isinstance(value, bool | float | str | bytes):
        return None
    if isinstance(value, int):
        return None if -(1 << 63) <= value < 1 << 64 else "integer out of range"
    if not isinstance(value, list | tuple | dict):
        return f"value of type {type(value).__name__}"
    if depth > MAX_METADATA_DEPTH:
        return "nested too deeply"
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            return "map key that is not a string"
        value = list(value.values())
    problems = (_metadata_problem(item, depth + 1) for item in value)
    return next((p for p in problems if p is not None), None)


def _label_padding(label_length: int) -> int:
    """Zero bytes after the label so a DATA payload starts 8-byte aligned in its record."""
    return padding(HEADER.size + _DATA_FIXED.size + label_length)


# ---------------------------------------------------------------------------------------------
# Encoding


def encode_frame(frame: Frame) -> bytes:
    """The record for one frame; frames no peer would accept raise :class:`FrameEncodeError`."""
    if isinstance(frame, Data):
        return _encode_data(frame)
    if isinstance(frame, Open | Accept | Abort):
        return _encode_opening_or_abort(frame)
    if isinstance(frame, Close):
        return _record(FrameType.CLOSE, frame.session_id, b"")
    if isinstance(frame, Credit):
        if not 0 < frame.granted < 1 << 32:
            raise FrameEncodeError("credit must be between 1 and 2^32 - 1 bytes")
        return _record(FrameType.CREDIT, frame.session_id, _U32.pack(frame.granted))
    if isinstance(frame, Ping | Pong):
        if len(frame.nonce) != NONCE_SIZE:
            raise FrameEncodeError("a nonce has 8 bytes")
        frame_type = FrameType.PING if isinstance(frame, Ping) else FrameType.PONG
        return _record(frame_type, 0, bytes(frame.nonce))
    if isinstance(frame, Gossip):
        return _record(FrameType.GOSSIP, 0, bytes(frame.payload))
    raise FrameEncodeError(f"not a frame: {type(frame).__name__}")


def _encode_opening_or_abort(frame: Open | Accept | Abort) -> bytes:
    if isinstance(frame, Abort):
        if len(frame.reason) > MAX_REASON_CHARS or not frame.reason.isprintable():
            raise FrameEncodeError(f"reason must be ≤ {MAX_REASON_CHARS} printable characters")
        if not 0 <= frame.code < 1 << 16:
            raise FrameEncodeError("abort code must fit in 16 bits")
        reason = frame.reason.encode("utf-8")
        body = _U16.pack(frame.code) + _U16.pack(len(reason)) + reason
        return _record(FrameType.ABORT, frame.session_id, body)
    meta = _pack_metadata(frame.metadata)
    if isinstance(frame, Accept):
        return _record(FrameType.ACCEPT, frame.session_id, _U16.pack(len(meta)) + meta)
    kind = frame.kind.encode("ascii") if frame.kind.isascii() else b""
    if _KIND.fullmatch(kind) is None:
        raise FrameEncodeError("session kind must match [a-z][a-z0-9._-]{0,31}")
    body = b"".join((_U8.pack(len(kind)), kind, _U16.pack(len(meta)), meta))
    return _record(FrameType.OPEN, frame.session_id, body)


def _record(frame_type: FrameType, session_id: int, body: bytes) -> bytes:
    link_frame = frame_type in (FrameType.PING, FrameType.PONG, FrameType.GOSSIP)
    if not link_frame and not 0 < session_id < 1 << 64:
        raise FrameEncodeError("session ids are between 1 and 2^64 - 1")
    if HEADER.size + len(body) > MAX_RECORD:
        raise FrameEncodeError(f"frame of {HEADER.size + len(body)} bytes exceeds a record")
    return HEADER.pack(VERSION, frame_type, 0, 0, session_id, len(body)) + body


def _pack_metadata(metadata: Metadata) -> bytes:
    value = dict(metadata) if isinstance(metadata, Mapping) else metadata
    problem = _metadata_problem(value)
    if problem is not None:
        raise FrameEncodeError(f"metadata: {problem}")
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    if len(packed) > MAX_METADATA:
        raise FrameEncodeError(f"metadata of {len(packed)} bytes exceeds {MAX_METADATA}")
    return packed


def _data_prefix(
    session_id: int, label: bytes, index: int, total: int, last: bool, payload_length: int
) -> bytes:
    """Header, DATA fields, label and padding: everything before a payload of that length."""
    label_length = len(label)
    pad = _label_padding(label_length)
    length = _DATA_FIXED.size + label_length + pad + payload_length
    flags = LAST if last else 0
    head = _DATA_HEAD.pack(
        VERSION, FrameType.DATA, flags, 0, session_id, length, index, total, label_length
    )
    return head + label + _ZEROS[:pad]


def _check_data_fields(session_id: int, label: str) -> bytes:
    encoded = label.encode("ascii") if label.isascii() else b""
    if _LABEL.fullmatch(encoded) is None:
        raise FrameEncodeError(f"labels are 1 to {MAX_LABEL} printable ASCII characters")
    if not 0 < session_id < 1 << 64:
        raise FrameEncodeError("session ids are between 1 and 2^64 - 1")
    return encoded


def _encode_data(frame: Data) -> bytes:
    """One explicit fragment (tests use this to build bad fragment sequences)."""
    label = _check_data_fields(frame.session_id, frame.label)
    size = len(frame.payload)
    if not 0 <= frame.index < 1 << 32 or not size <= frame.total_length < 1 << 32:
        raise FrameEncodeError("fragment index or message length out of range")
    prefix = _data_prefix(
        frame.session_id, label, frame.index, frame.total_length, frame.last, size
    )
    if len(prefix) + size > MAX_RECORD:
        raise FrameEncodeError("fragment exceeds a record")
    return prefix + bytes(frame.payload)


def single_record(session_id: int, label: str, arrays: Sequence[AnyArray]) -> bytes | None:
    """The one DATA record carrying a message, or None when it needs more than one record.

    The fast path of ``Session.send``: arguments are checked as :func:`fragment` checks them,
    and the record is built with one join (no intermediate array list). The bytes are exactly
    ``fragment``'s for a one-record message; for None, call :func:`fragment`.
    """
    encoded = _check_data_fields(session_id, label)
    parts, total = array_parts(arrays)
    prefix = _data_prefix(session_id, encoded, 0, total, True, total)
    if len(prefix) + total > MAX_RECORD:
        return None
    parts.insert(0, prefix)
    return b"".join(parts)


def fragment(message: Message, max_record: int = MAX_RECORD) -> Iterator[bytes]:
    """The DATA records of ``message``, each at most ``max_record`` bytes, in order.

    Arguments are checked (and the arrays encoded) at the call; the records are produced lazily
    so a writer can interleave other frames between them.
    """
    if not MIN_RECORD <= max_record <= MAX_RECORD:
        raise FrameEncodeError(f"max_record must be between {MIN_RECORD} and {MAX_RECORD}")
    label = _check_data_fields(message.session_id, message.label)
    parts, _ = array_parts(message.arrays)
    body = b"".join(parts)
    if len(body) > MAX_MESSAGE:
        raise FrameEncodeError(f"message of {len(body)} bytes exceeds {MAX_MESSAGE}")
    capacity = max_record - len(_data_prefix(message.session_id, label, 0, 0, False, 0))
    return _fragments(message.session_id, label, memoryview(body), capacity)


def _fragments(session_id: int, label: bytes, body: memoryview, capacity: int) -> Iterator[bytes]:
    count = max(1, -(-len(body) // capacity))
    for index in range(count):
        chunk = body[index * capacity : (index + 1) * capacity]
        last = index == count - 1
        yield _data_prefix(session_id, label, index, len(body), last, len(chunk)) + chunk
