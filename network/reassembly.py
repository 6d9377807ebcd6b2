"""Reassembly of DATA fragments into messages, within bounded memory (sans-I/O).

Fragments of one message arrive in order on a link; the ``Reassembler`` rebuilds each message per
session and label, reserving the declared length against per-message, per-session and per-link
limits before allocating, and never delivers a truncated message. The record layout is in
``network.framing``; the state table in ``docs/spec/framing.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from network.arraycodec import AnyArray, decode_arrays
from network.frameerrors import FrameDecodeError, FrameErrorCode
from network.framing import MIN_FRAGMENT_PAYLOAD, Data, Message


@dataclass(frozen=True)
class ReassemblyLimits:
    """Bounds on bytes held for messages still missing fragments (declared lengths count)."""

    max_message_bytes: int = 64 << 20
    max_session_bytes: int = 128 << 20
    max_total_bytes: int = 256 << 20
    min_fragment_payload: int = MIN_FRAGMENT_PAYLOAD


@dataclass
class _Partial:
    """A message still missing fragments: its buffer, bytes filled, and the index expected."""

    buffer: bytearray
    received: int
    next_index: int


class Reassembler:
    """Rebuilds messages from DATA fragments, per session and label, within bounded memory.

    Fragments of one message must arrive in order (index 0, 1, 2, …) with the same declared
    length; a message is delivered only when its ``last`` fragment completes it exactly. A
    message's buffer is reserved (against the limits) when its first fragment arrives. Errors
    carry the session id and drop that session's partial messages.
    """

    def __init__(self, limits: ReassemblyLimits | None = None) -> None:
        self.limits = limits if limits is not None else ReassemblyLimits()
        self._partial: dict[int, dict[str, _Partial]] = {}
        self._session_bytes: dict[int, int] = {}
        self._total_bytes = 0

    def receive(self, frame: Data) -> Message | None:
        """Add one fragment; the completed message, or None while fragments are missing."""
        try:
            return self._receive(frame)
        except FrameDecodeError as error:
            error.session_id = frame.session_id
            self.abort(frame.session_id)
            raise

    def whole(
        self, session_id: int, label: str, payload: memoryview
    ) -> tuple[AnyArray, ...] | None:
        """The arrays of a one-record message, if :meth:`receive` would deliver it as is.

        The fast path for what ``framing.whole_message`` found in a record: nothing partial
        under the label, within the message limit, arrays well formed — then the arrays (views
        of the record), with nothing held. Otherwise None, and the caller hands the decoded
        frame to :meth:`receive`, which delivers it or raises the precise error.
        """
        partials = self._partial.get(session_id)
        if partials is not None and label in partials:
            return None
        if len(payload) > self.limits.max_message_bytes:
            return None
        try:
            return decode_arrays(payload)
        except FrameDecodeError:
            return None

    def _receive(self, frame: Data) -> Message | None:
        if not frame.last and len(frame.payload) < self.limits.min_fragment_payload:
            raise FrameDecodeError(FrameErrorCode.FRAGMENT_MISMATCH, "tiny fragment")
        partial = self._partial.get(frame.session_id, {}).get(frame.label)
        if partial is None:
            if frame.index != 0:
                raise FrameDecodeError(FrameErrorCode.FRAGMENT_OUT_OF_ORDER, "no first fragment")
            if frame.total_length > self.limits.max_message_bytes:
                raise FrameDecodeError(
                    FrameErrorCode.REASSEMBLY_LIMIT_EXCEEDED, "message too large"
                )
            if frame.last:  # a message in one record: its arrays are views of the record
                if len(frame.payload) != frame.total_length:
                    raise FrameDecodeError(FrameErrorCode.FRAGMENT_MISMATCH, "last ends short")
                return Message(frame.session_id, frame.label, decode_arrays(frame.payload))
            partial = self._start(frame)
        elif frame.index != partial.next_index:
            code = FrameErrorCode.FRAGMENT_DUPLICATED
            if frame.index > partial.next_index:
                code = FrameErrorCode.FRAGMENT_OUT_OF_ORDER
            raise FrameDecodeError(code, f"index {frame.index}")
        self._append(partial, frame)
        if not frame.last:
            return None
        self._release(frame.session_id, frame.label)
        return Message(frame.session_id, frame.label, decode_arrays(partial.buffer))

    def _start(self, frame: Data) -> _Partial:
        """Reserve the declared length for a new message, or refuse before allocating."""
        length = frame.total_length
        if len(frame.payload) >= length:
            raise FrameDecodeError(FrameErrorCode.FRAGMENT_MISMATCH, "first fills message")
        held = self._session_bytes.get(frame.session_id, 0)
        if (
            held + length > self.limits.max_session_bytes
            or self._total_bytes + length > self.limits.max_total_bytes
        ):
            raise FrameDecodeError(
                FrameErrorCode.REASSEMBLY_LIMIT_EXCEEDED, f"message of {length} bytes"
            )
        self._session_bytes[frame.session_id] = held + length
        self._total_bytes += length
        partial = _Partial(bytearray(length), received=0, next_index=0)
        self._partial.setdefault(frame.session_id, {})[frame.label] = partial
        return partial

    @staticmethod
    def _append(partial: _Partial, frame: Data) -> None:
        """Copy the fragment into place once it agrees with its message."""
        end = partial.received + len(frame.payload)
        if frame.total_length != len(partial.buffer) or end > len(partial.buffer):
            raise FrameDecodeError(FrameErrorCode.FRAGMENT_MISMATCH, "length disagrees")
        if frame.last != (end == len(partial.buffer)):
            raise FrameDecodeError(FrameErrorCode.FRAGMENT_MISMATCH, "ends short or too soon")
        partial.buffer[partial.received : end] = frame.payload
        partial.received = end
        partial.next_index = frame.index + 1

    def _release(self, session_id: int, label: str) -> None:
        partials = self._partial[session_id]
        length = len(partials.pop(label).buffer)
        self._total_bytes -= length
        self._session_bytes[session_id] -= length
        if not partials:
            del self._partial[session_id]
            del self._session_bytes[session_id]

    def close(self, session_id: int) -> None:
        """The session closed normally; a message still missing fragments is an error."""
        if self.abort(session_id):
            raise FrameDecodeError(
                FrameErrorCode.MESSAGE_TRUNCATED, "closed mid-message", session_id
            )

    def abort(self, session_id: int) -> int:
        """Drop the session's partial messages (never delivered); how many there were."""
        partials = self._partial.pop(session_id, {})
        self._total_bytes -= self._session_bytes.pop(session_id, 0)
        return len(partials)

    def clear(self) -> int:
        """Drop every partial message (the link is gone); how many there were."""
        count = sum(len(partials) for partials in self._partial.values())
        self._partial.clear()
        self._session_bytes.clear()
        self._total_bytes = 0
        return count

    def buffered_bytes(self, session_id: int | None = None) -> int:
        """Bytes reserved for partial messages, of one session or of the whole link."""
        if session_id is None:
            return self._total_bytes
        return self._session_bytes.get(session_id, 0)
