"""A session on a link: labelled array messages, per-session credit and a bounded mailbox.

A session belongs to one :class:`network.link.Link`. ``send`` fragments a message into records
and hands them to the link's writer once the session's send credit covers them; the link's
reader charges each DATA record to the session, reassembles it and puts complete messages into
the mailbox, where ``receive`` collects them by label.

Credit is counted in frame bytes per direction. Each side starts with ``INITIAL_WINDOW``, enough
for the largest message a peer reassembles (``MAX_MESSAGE_BYTES`` of array list) plus its
framing, so a message of any accepted size arrives without stalling. The receiver gives credit
back in batches, not per message: the bytes of consumed messages are granted in one CREDIT
when the peer's unreturned credit reaches ``GRANT_THRESHOLD`` (half the window), checked as
messages are consumed and as records arrive. While the sender still holds half a window it
needs no credit, so a round trip of small messages sends no CREDIT at all. The state table is in
``docs/spec/link.md`` §6–7.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any, Final

from network import framing
from network.errors import NetworkError, RemoteProtocolError, WireCode
from network.reassembly import ReassemblyLimits

if TYPE_CHECKING:
    from network.link import Link

MAX_MESSAGE_BYTES: Final = ReassemblyLimits().max_message_bytes
"""Largest encoded array list a peer reassembles (64 MiB); larger messages are refused locally."""
INITIAL_WINDOW: Final = MAX_MESSAGE_BYTES + (1 << 20)
"""Credit per session and direction in frame bytes: the largest message's array list plus 1 MiB,
more than its framing (at most 160 bytes per record, 1,027 records)."""
GRANT_THRESHOLD: Final = INITIAL_WINDOW // 2
"""Consumed bytes are granted back once the peer's unreturned credit reaches this."""
MAX_EARLY_MESSAGES: Final = 1024
CONTROL, SMALL, BULK = 0, 1, 2
"""Writer priorities: control frames, one-record messages, fragments of larger ones (and CLOSE)."""


class Session:
    """One session on one link: labelled array messages in both directions."""

    def __init__(self, link: Link, session_id: int, kind: str) -> None:
        self.link = link
        self.session_id = session_id
        self.kind = kind
        self.opened_locally = False
        self._mail: dict[str, asyncio.Future[tuple[Any, ...]]] = {}
        self._sizes: dict[str, int] = {}  # frame bytes of each delivered, unconsumed message
        self._partial: dict[str, int] = {}  # frame bytes so far of messages still arriving
        self._credit = INITIAL_WINDOW
        self._credit_changed = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._deadlines: dict[str, float] = {}  # label → when its waiting receive times out
        self._sweep_timer: asyncio.TimerHandle | None = None
        self._sweep_at = math.inf
        self._failure: NetworkError | None = None
        self._outstanding = 0  # bytes charged to the peer and not yet granted back
        self._ungranted = 0  # of those, bytes of messages already consumed
        self._held = 0  # bytes received and held: partial and unconsumed messages

    @property
    def failure(self) -> NetworkError | None:
        """Why the session ended, if it did."""
        return self._failure

    @property
    def unread(self) -> int:
        """Frame bytes received and held: messages still arriving and messages not consumed."""
        return self._held

    async def send(self, label: str, arrays: tuple[Any, ...]) -> None:
        """Send arrays under ``label``; waits for credit when the window is spent.

        A message over ``MAX_MESSAGE_BYTES`` raises ``framing.FrameEncodeError`` (no peer would
        reassemble it); nothing is sent then.
        """
        record = framing.single_record(self.session_id, label, arrays)
        if record is not None:
            if self._credit < len(record) or self._failure is not None:
                await self._take_credit(len(record))
            else:
                self._credit -= len(record)
            await self.link.write_small(record)
            return
        records = list(framing.fragment(framing.Message(self.session_id, label, arrays)))
        first = framing.decode_frame(records[0])
        assert isinstance(first, framing.Data)
        if first.total_length > MAX_MESSAGE_BYTES:
            raise framing.FrameEncodeError(
                f"message of {first.total_length} bytes exceeds {MAX_MESSAGE_BYTES}"
            )
        for record in records:
            await self._take_credit(len(record))
            self.link.enqueue(record, BULK)

    async def _take_credit(self, size: int) -> None:
        while self._credit < size:
            self._raise_if_failed()
            self._credit_changed.clear()
            await self._credit_changed.wait()
        self._raise_if_failed()
        self._credit -= size

    async def receive(self, label: str, timeout: float | None = None) -> tuple[Any, ...]:
        """The arrays the peer sent under ``label`` (also after the peer ended the session, if
        the message was complete); ``SESSION_TIMEOUT`` after ``timeout`` seconds."""
        slot = self._mail.get(label)
        if slot is None or slot.cancelled():  # a delivered message outlives the session's end
            if self._failure is not None:
                raise self._failure
            slot = self._new_slot(label)
        if not slot.done():
            if timeout is not None:  # no timer per receive: see _sweep
                deadline = self._loop.time() + timeout
                self._deadlines[label] = deadline
                if deadline < self._sweep_at:
                    self._arm_sweep(deadline)
            try:
                await slot  # not shielded (a shield costs a turn of the loop): see _new_slot
            except asyncio.CancelledError:
                self._forget_cancelled(label, slot)
                raise
            finally:
                if timeout is not None:
                    self._deadlines.pop(label, None)
        del self._mail[label]
        arrays = slot.result()
        size = self._sizes.pop(label, 0)
        if size:
            self._held -= size
            self.link.hold(-size)
            self._ungranted += size
            if self._outstanding >= GRANT_THRESHOLD:
                self._grant_back()
        return arrays

    def _arm_sweep(self, when: float) -> None:
        if self._sweep_timer is not None:
            self._sweep_timer.cancel()
        self._sweep_at = when
        self._sweep_timer = self._loop.call_at(when, self._sweep)

    def _sweep(self) -> None:
        """The session's one receive timer: fail every waiter whose deadline has passed, then
        re-arm for the earliest one left. A receive only records its deadline (and re-arms
        when it is the earliest), so a message that arrives in time costs no timer at all."""
        self._sweep_timer, self._sweep_at = None, math.inf
        now = self._loop.time()
        for label, deadline in list(self._deadlines.items()):
            if deadline <= now:
                del self._deadlines[label]
                slot = self._mail.get(label)
                if slot is not None and not slot.done():  # (done: it came just in time)
                    del self._mail[label]  # a later message makes a new slot
                    error = RemoteProtocolError(WireCode.SESSION_TIMEOUT, "message did not arrive")
                    slot.set_exception(error)
        if self._deadlines:
            self._arm_sweep(min(self._deadlines.values()))

    def abort(self, code: WireCode, reason: str = "") -> None:
        """End the session with a reason the peer sees; local waiters fail, waiting messages
        are dropped."""
        if self._failure is None:
            self.link.enqueue_frame(framing.Abort(self.session_id, int(code), reason[:200]))
        self._end_locally(NetworkError(code, reason or "aborted locally"))

    def close(self) -> None:
        """End the session normally, after everything already sent on it; waiting messages
        are dropped."""
        if self._failure is None and not self.link.is_closed:
            self.link.enqueue(framing.encode_frame(framing.Close(self.session_id)), BULK)
        self._end_locally(NetworkError(WireCode.SESSION_CLOSED, "session closed"))

    def _end_locally(self, error: NetworkError) -> None:
        self._fail(error)
        self.link.forget(self.session_id)
        self._drop_partial()
        for label in [label for label, slot in self._mail.items() if slot.done()]:
            del self._mail[label]
        self._hold(-sum(self._sizes.values()))
        self._sizes.clear()

    def _hold(self, change: int) -> None:
        self._held += change
        self.link.hold(change)

    def _forget_cancelled(self, label: str, slot: asyncio.Future[tuple[Any, ...]]) -> None:
        """A waiter gave up: its slot was cancelled with it; a later message makes a new one."""
        if slot.cancelled() and self._mail.get(label) is slot:
            del self._mail[label]

    def _new_slot(self, label: str) -> asyncio.Future[tuple[Any, ...]]:
        """A fresh mailbox slot for ``label`` (replacing one whose waiter gave up a moment ago:
        a waiter cancelled on a label cancels its slot)."""
        self._mail.pop(label, None)
        if len(self._mail) >= MAX_EARLY_MESSAGES:
            raise RemoteProtocolError(WireCode.PROTOCOL_VIOLATION, "too many early messages")
        slot: asyncio.Future[tuple[Any, ...]] = self._loop.create_future()
        self._mail[label] = slot
        return slot

    def _charge(self, size: int) -> None:
        """Count a received record against the window we granted the peer."""
        self._outstanding += size
        if self._outstanding > INITIAL_WINDOW:
            raise RemoteProtocolError(WireCode.PROTOCOL_VIOLATION, "peer ignored flow control")
        self._held += size
        self.link.hold(size)
        if self._ungranted and self._outstanding >= GRANT_THRESHOLD:
            self._grant_back()

    def _received(self, label: str, size: int, arrays: tuple[Any, ...] | None) -> None:
        """A charged record of ``label``; its message's ``arrays`` once the record completed it."""
        total = self._partial.pop(label, 0) + size if self._partial else size
        if arrays is None:
            self._partial[label] = total
            return
        slot = self._mail.get(label)
        if slot is None or slot.cancelled():
            slot = self._new_slot(label)
        elif slot.done():
            raise RemoteProtocolError(WireCode.PROTOCOL_VIOLATION, "second message, one label")
        self._sizes[label] = total
        slot.set_result(arrays)

    def _drop_partial(self) -> None:
        """Forget messages still arriving (never delivered) once the session ended."""
        self._hold(-sum(self._partial.values()))
        self._partial.clear()

    def _grant_back(self) -> None:
        """Return the consumed bytes in one CREDIT (the peer's unreturned credit reached
        ``GRANT_THRESHOLD``)."""
        if self._failure is None:
            self.link.enqueue_frame(framing.Credit(self.session_id, self._ungranted))
        self._outstanding -= self._ungranted
        self._ungranted = 0

    def _grant(self, granted: int) -> None:
        self._credit += granted
        if self._credit > INITIAL_WINDOW:
            raise RemoteProtocolError(WireCode.PROTOCOL_VIOLATION, "credit beyond the window")
        self._credit_changed.set()

    def _fail(self, error: NetworkError) -> None:
        if self._failure is not None:
            return
        self._failure = error
        for slot in self._mail.values():
            if not slot.done():
                slot.set_exception(error)
                slot.exception()  # mark retrieved: nobody may be waiting
        self._credit_changed.set()
        if self._sweep_timer is not None:  # every waiter has failed: no deadline is left, and
            self._sweep_timer.cancel()  # the loop's timer must not keep the session alive
            self._sweep_timer, self._sweep_at = None, math.inf
        self._deadlines.clear()

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise self._failure
