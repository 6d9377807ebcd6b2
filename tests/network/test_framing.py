"""The frame codec: round trips, layouts, the fuzz rule, fragmentation and bounded reassembly."""

from __future__ import annotations

import struct
from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from network import noise
from network.arraycodec import DtypeCode
from network.errors import LocalProtocolError, RemoteProtocolError
from network.frameerrors import FrameDecodeError, FrameEncodeError, FrameErrorCode
from network.framing import (
    HEADER,
    MAX_RECORD,
    MIN_RECORD,
    Abort,
    Accept,
    Close,
    Credit,
    Data,
    Frame,
    FrameType,
    Gossip,
    Message,
    Open,
    Ping,
    Pong,
    decode_frame,
    encode_frame,
    fragment,
)
from network.reassembly import Reassembler, ReassemblyLimits

FAST = settings(max_examples=60, deadline=None)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

session_ids = st.integers(1, (1 << 64) - 1)
kinds = st.from_regex(r"[a-z][a-z0-9._-]{0,31}", fullmatch=True)
labels = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=128)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(1 << 63), (1 << 64) - 1),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.binary(max_size=20),
)


def nested(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Scalars, or lists and string-keyed maps of ``inner`` (one more level of containers)."""
    return (
        scalars
        | st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    )


values = nested(nested(nested(scalars)))  # with the top-level map: the 4 levels allowed
metadata = st.dictionaries(st.text(max_size=12), values, max_size=6)
reasons = st.text(max_size=200).filter(str.isprintable)
nonces = st.binary(min_size=8, max_size=8)


@st.composite
def data_frames(draw: st.DrawFn) -> Data:
    """A single DATA fragment with a payload that fits one record."""
    label = draw(labels)
    payload = draw(st.binary(max_size=2048))
    total = draw(st.integers(len(payload), (1 << 32) - 1))
    index = draw(st.integers(0, (1 << 32) - 1))
    return Data(draw(session_ids), label, index, total, draw(st.booleans()), payload)


FRAMES: dict[FrameType, st.SearchStrategy[Any]] = {
    FrameType.OPEN: st.builds(Open, session_ids, kinds, metadata),
    FrameType.ACCEPT: st.builds(Accept, session_ids, metadata),
    FrameType.DATA: data_frames(),
    FrameType.ABORT: st.builds(Abort, session_ids, st.integers(0, 0xFFFF), reasons),
    FrameType.CLOSE: st.builds(Close, session_ids),
    FrameType.CREDIT: st.builds(Credit, session_ids, st.integers(1, (1 << 32) - 1)),
    FrameType.PING: st.builds(Ping, nonces),
    FrameType.PONG: st.builds(Pong, nonces),
    FrameType.GOSSIP: st.builds(Gossip, st.binary(max_size=4096)),
}
frames = st.one_of(*FRAMES.values())
dtypes: st.SearchStrategy[np.dtype[Any]] = st.sampled_from(
    [np.dtype("<u8"), np.dtype("<i8"), np.dtype("u1"), np.dtype(">u8")]
)
arrays = hnp.arrays(dtypes, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6))
array_lists = st.lists(arrays, max_size=5)


def accepts_or_rejects(record: bytes) -> Frame | None:
    """Decode ``record``; only FrameDecodeError may escape, and accepted frames re-encode."""
    try:
        frame = decode_frame(record)
    except FrameDecodeError:
        return None
    again = encode_frame(frame)
    assert encode_frame(decode_frame(again)) == again
    return frame


def same_arrays(left: tuple[Any, ...] | list[Any], right: tuple[Any, ...] | list[Any]) -> bool:
    """Equal counts, shapes, values, and the little-endian form of each dtype."""
    return len(left) == len(right) and all(
        a.shape == b.shape and a.dtype == b.dtype.newbyteorder("<") and np.array_equal(a, b)
        for a, b in zip(left, right, strict=True)
    )


def reassemble(records: list[bytes], reassembler: Reassembler | None = None) -> list[Message]:
    """Decode and reassemble records in order; the completed messages."""
    machine = reassembler if reassembler is not None else Reassembler()
    done = []
    for record in records:
        frame = decode_frame(record)
        assert isinstance(frame, Data)
        message = machine.receive(frame)
        if message is not None:
            done.append(message)
    return done


def big_message(size: int = 400_000, label: str = "s1", session_id: int = 7) -> Message:
    """A message of about ``8 × size`` bytes in several arrays and dtypes."""
    rng = np.random.default_rng(size)
    return Message(
        session_id,
        label,
        (
            rng.integers(0, 1 << 61, size, dtype=np.uint64),
            rng.integers(-(1 << 40), 1 << 40, (3, 5), dtype=np.int64),
            rng.integers(0, 256, 1001, dtype=np.uint8),
        ),
    )


def fail_code(call: Any, *args: Any) -> FrameErrorCode:
    """The code of the FrameDecodeError that ``call(*args)`` raises."""
    with pytest.raises(FrameDecodeError) as caught:
        call(*args)
    return caught.value.code


# --- round trips and layouts ------------------------------------------------------------------


@pytest.mark.parametrize("frame_type", list(FrameType), ids=lambda t: t.name)
@FAST
@given(data=st.data())
def test_round_trip_every_frame_type(frame_type: FrameType, data: st.DataObject) -> None:
    """Every frame type decodes to the frame that was encoded, within one record."""
    frame = data.draw(FRAMES[frame_type])
    record = encode_frame(frame)
    assert len(record) <= MAX_RECORD
    assert record[1] == frame_type
    assert decode_frame(record) == frame
    assert decode_frame(bytearray(record)) == frame
    assert decode_frame(memoryview(record)) == frame


def test_a_frame_fits_one_noise_record() -> None:
    """The largest frame is exactly the largest plaintext a Noise transport record carries."""
    assert MAX_RECORD == noise.MAX_MESSAGE - noise.TAGLEN == 65519


def test_wire_values_are_stable() -> None:
    """Type, dtype and error code values never change."""
    assert {t.name: t.value for t in FrameType} == {
        "OPEN": 1, "ACCEPT": 2, "DATA": 3, "ABORT": 4, "CLOSE": 5,
        "CREDIT": 6, "PING": 7, "PONG": 8, "GOSSIP": 9,
    }  # fmt: skip
    assert {c.name: c.value for c in DtypeCode} == {"UINT64": 1, "INT64": 2, "UINT8": 3}
    assert [c.value for c in FrameErrorCode] == [*range(200, 215), 250]


def test_golden_records() -> None:
    """The byte layouts of docs/spec/framing.md, byte for byte."""
    assert encode_frame(Close(1)).hex() == "01050000010000000000000000000000"
    assert encode_frame(Ping(bytes(range(8)))).hex() == (
        "01070000" "0000000000000000" "08000000" "0001020304050607"
    )  # fmt: skip
    assert encode_frame(Credit(2, 65536)).hex() == (
        "01060000" "0200000000000000" "04000000" "00000100"
    )  # fmt: skip
    assert encode_frame(Abort(3, 9, "no")).hex() == (
        "01040000" "0300000000000000" "06000000" "0900" "0200" "6e6f"
    )  # fmt: skip
    assert encode_frame(Open(4, "mpc", {})).hex() == (
        "01010000" "0400000000000000" "07000000" "03" "6d7063" "0100" "80"
    )  # fmt: skip
    (record,) = fragment(Message(5, "s1", (np.array([7], dtype=np.uint64),)))
    assert record.hex() == (
        "01030100" "0500000000000000" "30000000"  # DATA, LAST, session 5, body 48
        "00000000" "20000000" "02" "7331" "0000000000"  # index 0, length 32, "s1", padding
        "01000000" "00000000" "0101000000000000" "0100000000000000" "0700000000000000"
    )  # fmt: skip


# --- the fuzz rule ----------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(record: bytes) -> None:
    """Arbitrary bytes are accepted or raise FrameDecodeError, nothing else."""
    accepts_or_rejects(record)


@FUZZ
@given(
    st.integers(0, 12),
    st.integers(0, 255),
    st.sampled_from([0, 1, 2, 1 << 63]),
    st.binary(max_size=300),
)
def test_fuzz_plausible_headers(kind: int, flags: int, session_id: int, body: bytes) -> None:
    """A well-formed header over any body is accepted or raises FrameDecodeError."""
    accepts_or_rejects(HEADER.pack(1, kind, flags & 1, 0, session_id, len(body)) + body)


@st.composite
def mutated(draw: st.DrawFn, records: st.SearchStrategy[bytes]) -> bytes:
    """A valid record with a few bits flipped, bytes replaced, inserted or cut off."""
    record = bytearray(draw(records))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "set", "insert", "delete", "cut"]))
        position = draw(st.integers(0, max(0, len(record) - 1)))
        if action == "flip" and record:
            record[position] ^= 1 << draw(st.integers(0, 7))
        elif action == "set" and record:
            record[position] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF]))
        elif action == "insert":
            record[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del record[position : position + draw(st.integers(1, 8))]
        else:
            del record[position:]
    return bytes(record)


@FUZZ
@given(mutated(frames.map(encode_frame)))
def test_fuzz_mutated_frames(record: bytes) -> None:
    """Valid frames with bits flipped or bytes cut are accepted or raise FrameDecodeError."""
    accepts_or_rejects(record)


@FUZZ
@given(st.lists(mutated(st.builds(encode_frame, data_frames())), max_size=12))
def test_fuzz_reassembler(records: list[bytes]) -> None:
    """Any fragment sequence ends in messages or FrameDecodeError, within the limits."""
    limits = ReassemblyLimits(max_message_bytes=1 << 20, max_session_bytes=1 << 21)
    machine = Reassembler(limits)
    for record in records:
        try:
            frame = decode_frame(record)
            if isinstance(frame, Data):
                machine.receive(frame)
        except FrameDecodeError:
            pass
        assert machine.buffered_bytes() <= limits.max_total_bytes


def test_error_hierarchy_and_text() -> None:
    """Decode errors are the peer's fault, encode errors ours; the text carries no peer data."""
    with pytest.raises(RemoteProtocolError) as remote:
        decode_frame(HEADER.pack(1, 5, 0, 0, 0, 0))
    assert isinstance(remote.value, FrameDecodeError)
    assert remote.value.code is FrameErrorCode.FRAME_BAD_SESSION
    assert str(remote.value).startswith("frame_bad_session (206)")
    with pytest.raises(LocalProtocolError) as local:
        encode_frame(Close(0))
    assert isinstance(local.value, FrameEncodeError)
    assert local.value.code is FrameErrorCode.FRAME_UNENCODABLE
    secret = "s3cr3t-label"
    with pytest.raises(FrameDecodeError) as caught:
        decode_frame(encode_frame(Data(1, secret, 0, 10, True, b"x" * 10)) + b"\0")
    assert secret not in str(caught.value)


def _header(kind: int, body: bytes, session_id: int = 1, flags: int = 0) -> bytes:
    return HEADER.pack(1, kind, flags, 0, session_id, len(body)) + body


def _open(kind: bytes, meta: bytes) -> bytes:
    return _header(1, bytes([len(kind)]) + kind + struct.pack("<H", len(meta)) + meta)


def _data_with(label: bytes, padding: bytes, payload: bytes = b"") -> bytes:
    body = struct.pack("<IIB", 0, len(payload), len(label)) + label + padding + payload
    return _header(3, body, flags=1)


BAD_RECORDS = {
    "empty": (b"", FrameErrorCode.FRAME_TRUNCATED),
    "short header": (bytes(15), FrameErrorCode.FRAME_TRUNCATED),
    "too large": (bytes(MAX_RECORD + 1), FrameErrorCode.FRAME_TOO_LARGE),
    "version 0": (HEADER.pack(0, 5, 0, 0, 1, 0), FrameErrorCode.FRAME_BAD_VERSION),
    "version 2": (HEADER.pack(2, 5, 0, 0, 1, 0), FrameErrorCode.FRAME_BAD_VERSION),
    "type 0": (_header(0, b""), FrameErrorCode.FRAME_UNKNOWN_TYPE),
    "type 10": (_header(10, b""), FrameErrorCode.FRAME_UNKNOWN_TYPE),
    "close with LAST": (_header(5, b"", flags=1), FrameErrorCode.FRAME_BAD_FLAGS),
    "data flag 2": (_header(3, b"", flags=2), FrameErrorCode.FRAME_BAD_FLAGS),
    "reserved byte": (HEADER.pack(1, 5, 0, 1, 1, 0), FrameErrorCode.FRAME_BAD_FLAGS),
    "body too long": (HEADER.pack(1, 5, 0, 0, 1, 1), FrameErrorCode.FRAME_BAD_LENGTH),
    "body too short": (HEADER.pack(1, 5, 0, 0, 1, 0) + b"x", FrameErrorCode.FRAME_BAD_LENGTH),
    "close trailing": (_header(5, b"x"), FrameErrorCode.FRAME_BAD_LENGTH),
    "close session 0": (_header(5, b"", session_id=0), FrameErrorCode.FRAME_BAD_SESSION),
    "ping session 1": (_header(7, bytes(8)), FrameErrorCode.FRAME_BAD_SESSION),
    "gossip session 1": (_header(9, b"g"), FrameErrorCode.FRAME_BAD_SESSION),
    "ping short nonce": (_header(7, bytes(7), 0), FrameErrorCode.FRAME_TRUNCATED),
    "pong long nonce": (_header(8, bytes(9), 0), FrameErrorCode.FRAME_BAD_LENGTH),
    "credit zero": (_header(6, bytes(4)), FrameErrorCode.FRAME_BAD_FIELD),
    "credit short": (_header(6, bytes(3)), FrameErrorCode.FRAME_TRUNCATED),
    "kind uppercase": (_open(b"MPC", b"\x80"), FrameErrorCode.FRAME_BAD_FIELD),
    "kind empty": (_open(b"", b"\x80"), FrameErrorCode.FRAME_BAD_FIELD),
    "kind too long": (_open(b"a" * 33, b"\x80"), FrameErrorCode.FRAME_BAD_FIELD),
    "metadata empty": (_open(b"mpc", b""), FrameErrorCode.FRAME_BAD_METADATA),
    "metadata list": (_open(b"mpc", b"\x90"), FrameErrorCode.FRAME_BAD_METADATA),
    "metadata int key": (_open(b"mpc", b"\x81\x01\x02"), FrameErrorCode.FRAME_BAD_METADATA),
    "metadata ext": (_open(b"mpc", b"\x81\xa1a\xd4\x05\x00"), FrameErrorCode.FRAME_BAD_METADATA),
    "metadata timestamp": (
        _open(b"mpc", b"\x81\xa1t" + msgpack.packb(msgpack.Timestamp(1, 0))),
        FrameErrorCode.FRAME_BAD_METADATA,
    ),
    "metadata too deep": (
        _open(b"mpc", b"\x81\xa1a" + b"\x91" * 5 + b"\xc0"),
        FrameErrorCode.FRAME_BAD_METADATA,
    ),
    "metadata nested 2000": (
        _open(b"mpc", b"\x81\xa1a" + b"\x91" * 2000 + b"\xc0"),
        FrameErrorCode.FRAME_BAD_METADATA,
    ),
    "metadata bad utf-8": (_open(b"mpc", b"\x81\xa1\xff\xc0"), FrameErrorCode.FRAME_BAD_METADATA),
    "metadata trailing": (_open(b"mpc", b"\x80\xc0"), FrameErrorCode.FRAME_BAD_METADATA),
    "metadata past end": (
        _header(1, b"\x03mpc" + struct.pack("<H", 9) + b"\x80"),
        FrameErrorCode.FRAME_TRUNCATED,
    ),
    "metadata too large": (
        _open(b"mpc", b"\xc6" + struct.pack(">I", 5000) + bytes(5000)),
        FrameErrorCode.FRAME_BAD_METADATA,
    ),
    "reason bad utf-8": (_header(4, b"\x01\x00\x01\x00\xff"), FrameErrorCode.FRAME_BAD_FIELD),
    "reason newline": (_header(4, b"\x01\x00\x01\x00\n"), FrameErrorCode.FRAME_BAD_FIELD),
    "reason 201 chars": (
        _header(4, b"\x01\x00" + struct.pack("<H", 201) + b"a" * 201),
        FrameErrorCode.FRAME_BAD_FIELD,
    ),
    "label empty": (_data_with(b"", bytes(7)), FrameErrorCode.FRAME_BAD_FIELD),
    "label space": (_data_with(b"s 1", bytes(4)), FrameErrorCode.FRAME_BAD_FIELD),
    "label non-ascii": (_data_with(b"s\xc3\xa9", bytes(4)), FrameErrorCode.FRAME_BAD_FIELD),
    "label 129": (_data_with(b"a" * 129, bytes(6)), FrameErrorCode.FRAME_BAD_FIELD),
    "padding nonzero": (_data_with(b"s1", b"\0\0\0\0\1"), FrameErrorCode.FRAME_BAD_FIELD),
    "payload beyond length": (
        _header(3, struct.pack("<IIB", 0, 1, 2) + b"s1" + bytes(5) + b"xy", flags=1),
        FrameErrorCode.FRAGMENT_MISMATCH,
    ),
}


@pytest.mark.parametrize(("record", "code"), BAD_RECORDS.values(), ids=BAD_RECORDS.keys())
def test_bad_records_have_stable_codes(record: bytes, code: FrameErrorCode) -> None:
    """Each kind of malformed record is rejected with its own code."""
    assert fail_code(decode_frame, record) is code


def test_record_size_checked_first() -> None:
    """A record above the caller's limit is refused before any field is read."""
    record = encode_frame(Gossip(bytes(1000)))
    assert (
        fail_code(lambda: decode_frame(record, max_record=1000)) is FrameErrorCode.FRAME_TOO_LARGE
    )


BAD_FRAMES = {
    "session 0": Close(0),
    "session 2^64": Credit(1 << 64, 1),
    "kind uppercase": Open(1, "MPC", {}),
    "kind non-ascii": Open(1, "mpç", {}),
    "metadata tuple key": Open(1, "mpc", {"a": {(1,): 2}}),
    "metadata set": Accept(1, {"a": {1, 2}}),
    "metadata big int": Accept(1, {"a": 1 << 64}),
    "metadata too deep": Accept(1, {"a": [[[[[1]]]]]}),
    "metadata too large": Accept(1, {"a": "x" * 5000}),
    "reason 201 chars": Abort(1, 1, "a" * 201),
    "reason newline": Abort(1, 1, "a\nb"),
    "code 2^16": Abort(1, 1 << 16),
    "credit 0": Credit(1, 0),
    "nonce 7": Ping(bytes(7)),
    "label empty": Data(1, "", 0, 0, True, b""),
    "label non-ascii": Data(1, "é", 0, 0, True, b""),
    "payload over length": Data(1, "s1", 0, 1, True, b"xy"),
    "payload over record": Data(1, "s1", 0, 70000, True, bytes(65530)),
    "gossip over record": Gossip(bytes(MAX_RECORD)),
}


@pytest.mark.parametrize("frame", BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
def test_unencodable_frames(frame: Frame) -> None:
    """Frames no peer would accept are refused by the encoder (a LocalProtocolError)."""
    with pytest.raises(FrameEncodeError):
        encode_frame(frame)


# --- fragmentation and reassembly -------------------------------------------------------------


@pytest.mark.parametrize("max_record", [MIN_RECORD, 10_000, MAX_RECORD])
@pytest.mark.parametrize("size", [0, 1, 8_000, 400_000])
def test_fragment_and_reassemble(size: int, max_record: int) -> None:
    """Messages up to a few MB split into records ≤ max_record and come back exactly."""
    message = big_message(size)
    records = list(fragment(message, max_record))
    assert all(len(r) <= max_record for r in records)
    frames = [decode_frame(r) for r in records]
    assert [f.last for f in frames if isinstance(f, Data)] == [False] * (len(records) - 1) + [True]
    machine = Reassembler()
    (result,) = reassemble(records, machine)
    assert (result.session_id, result.label) == (message.session_id, message.label)
    assert same_arrays(result.arrays, message.arrays)
    assert all(a.flags.aligned for a in result.arrays)
    assert machine.buffered_bytes() == 0


@FAST
@given(array_lists, labels, st.sampled_from([MIN_RECORD, 5000, MAX_RECORD]))
def test_fragment_property(values: list[Any], label: str, max_record: int) -> None:
    """Any array list survives fragmentation and reassembly."""
    (result,) = reassemble(list(fragment(Message(3, label, tuple(values)), max_record)))
    assert same_arrays(result.arrays, values)


def test_single_record_message_is_zero_copy() -> None:
    """A message in one record decodes to views of that record."""
    (record,) = fragment(Message(1, "s1", (np.arange(100, dtype=np.uint64),)))
    frame = decode_frame(record)
    assert isinstance(frame, Data)
    message = Reassembler().receive(frame)
    assert message is not None
    assert np.shares_memory(message.arrays[0], np.frombuffer(record, dtype=np.uint8))


def test_interleaved_messages() -> None:
    """Fragments of messages in different sessions and labels interleave freely."""
    first = list(fragment(big_message(30_000, "s1", 1), MIN_RECORD))
    second = list(fragment(big_message(20_000, "s2", 1), MIN_RECORD))
    third = list(fragment(big_message(25_000, "s1", 2), MIN_RECORD))
    mixed = [r for group in zip(first, second, third, strict=False) for r in group]
    rest = first[len(second) :] + third[len(second) :]
    done = reassemble(mixed + rest)
    assert sorted((m.session_id, m.label) for m in done) == [(1, "s1"), (1, "s2"), (2, "s1")]


def test_fragment_checks_arguments_at_the_call() -> None:
    """fragment() refuses bad arguments before the first record is asked for."""
    message = Message(1, "s1", ())
    for bad in (MIN_RECORD - 1, MAX_RECORD + 1):
        with pytest.raises(FrameEncodeError):
            fragment(message, bad)
    with pytest.raises(FrameEncodeError):
        fragment(Message(1, "has space", ()))
    with pytest.raises(FrameEncodeError):
        fragment(Message(1, "s1", (np.zeros(2, dtype=np.float64),)))


def records_of(message: Message, max_record: int = MIN_RECORD) -> list[bytes]:
    """The DATA records of ``message``."""
    return list(fragment(message, max_record))


def test_duplicate_fragment_is_an_error() -> None:
    """A fragment index seen before raises FRAGMENT_DUPLICATED and nothing is delivered."""
    records = records_of(big_message(5_000))
    machine = Reassembler()
    assert reassemble(records[:2], machine) == []
    assert fail_code(reassemble, [records[1]], machine) is FrameErrorCode.FRAGMENT_DUPLICATED
    assert machine.buffered_bytes() == 0


def test_reordered_fragments_are_an_error() -> None:
    """Fragments out of order raise FRAGMENT_OUT_OF_ORDER."""
    records = records_of(big_message(5_000))
    swapped = [records[0], records[2], records[1], *records[3:]]
    assert fail_code(reassemble, swapped) is FrameErrorCode.FRAGMENT_OUT_OF_ORDER


def test_missing_first_or_middle_fragment_is_an_error() -> None:
    """A sequence with a gap raises FRAGMENT_OUT_OF_ORDER."""
    records = records_of(big_message(5_000))
    assert fail_code(reassemble, records[1:]) is FrameErrorCode.FRAGMENT_OUT_OF_ORDER
    gap = records[:2] + records[3:]
    assert fail_code(reassemble, gap) is FrameErrorCode.FRAGMENT_OUT_OF_ORDER


def test_truncated_message_then_close_is_never_delivered() -> None:
    """Missing last fragment then CLOSE: MESSAGE_TRUNCATED, no message, no memory held."""
    machine = Reassembler()
    assert reassemble(records_of(big_message(5_000))[:-1], machine) == []
    assert machine.buffered_bytes(7) > 0
    with pytest.raises(FrameDecodeError) as caught:
        machine.close(7)
    assert caught.value.code is FrameErrorCode.MESSAGE_TRUNCATED
    assert caught.value.session_id == 7
    assert machine.buffered_bytes() == 0
    machine.close(7)  # nothing pending any more: a clean close


def test_truncated_message_then_abort_is_dropped() -> None:
    """Missing last fragment then ABORT: dropped silently; the late last fragment is an error."""
    records = records_of(big_message(5_000))
    machine = Reassembler()
    assert reassemble(records[:-1], machine) == []
    assert machine.abort(7) == 1
    assert machine.buffered_bytes() == 0
    assert fail_code(reassemble, records[-1:], machine) is FrameErrorCode.FRAGMENT_OUT_OF_ORDER


@FAST
@given(st.integers(1, 12), st.integers(0, 1_000))
def test_no_prefix_is_ever_delivered(size_kib: int, cut: int) -> None:
    """Every proper prefix of a fragment sequence delivers nothing."""
    records = records_of(big_message(size_kib * 128))
    prefix = records[: cut % len(records)]
    assert reassemble(prefix) == []


def _fragment(index: int, total: int, size: int, last: bool, label: str = "s1") -> Data:
    return Data(7, label, index, total, last, bytes(size))


MISMATCHES = {
    "length changes": [_fragment(0, 4096, 2048, False), _fragment(1, 4097, 2048, True)],
    "overflow": [_fragment(0, 4096, 2048, False), _fragment(1, 4096, 2049, True)],
    "last ends short": [_fragment(0, 4096, 2048, False), _fragment(1, 4096, 2047, True)],
    "only fragment short": [_fragment(0, 4096, 4095, True)],
    "tiny fragment": [_fragment(0, 4096, 1023, False)],
    "first not last but complete": [_fragment(0, 4096, 4096, False)],
    "middle not last but complete": [
        _fragment(0, 4096, 2048, False),
        _fragment(1, 4096, 2048, False),
    ],
}


@pytest.mark.parametrize("frames", MISMATCHES.values(), ids=MISMATCHES.keys())
def test_fragment_mismatches(frames: list[Data]) -> None:
    """Fragments that disagree with their message raise FRAGMENT_MISMATCH."""
    machine = Reassembler()
    for frame in frames[:-1]:
        assert machine.receive(frame) is None
    with pytest.raises(FrameDecodeError) as caught:
        machine.receive(frames[-1])
    assert caught.value.code is FrameErrorCode.FRAGMENT_MISMATCH
    assert caught.value.session_id == 7
    assert machine.buffered_bytes() == 0


def test_message_limit_before_allocation() -> None:
    """A first fragment announcing more than the message bound is refused on arrival."""
    machine = Reassembler(ReassemblyLimits(max_message_bytes=1 << 20))
    huge = Data(7, "s1", 0, (1 << 32) - 1, False, bytes(2048))
    assert fail_code(machine.receive, huge) is FrameErrorCode.REASSEMBLY_LIMIT_EXCEEDED
    assert machine.buffered_bytes() == 0


def test_session_and_link_limits() -> None:
    """Partial messages count against their session's and the link's bounds."""
    limits = ReassemblyLimits(
        max_message_bytes=1 << 20, max_session_bytes=1 << 20, max_total_bytes=5 << 18
    )
    machine = Reassembler(limits)
    half = 1 << 19
    assert machine.receive(_fragment(0, half, 2048, False, "a")) is None
    assert machine.receive(_fragment(0, half, 2048, False, "b")) is None
    assert machine.buffered_bytes(7) == 1 << 20
    third = _fragment(0, 2048 * 2, 2048, False, "c")
    assert fail_code(machine.receive, third) is FrameErrorCode.REASSEMBLY_LIMIT_EXCEEDED
    assert machine.buffered_bytes() == 0  # the offending session's partial messages are dropped
    machine.receive(_fragment(0, half, 2048, False, "a"))
    machine.receive(Data(8, "a", 0, half, False, bytes(2048)))
    other = Data(9, "a", 0, half, False, bytes(2048))
    assert fail_code(machine.receive, other) is FrameErrorCode.REASSEMBLY_LIMIT_EXCEEDED
    assert machine.buffered_bytes() == 1 << 20
    assert machine.clear() == 2
    assert machine.buffered_bytes() == 0


def test_completed_message_releases_its_reservation() -> None:
    """Bytes reserved for a message are released once it is delivered."""
    limits = ReassemblyLimits(max_message_bytes=5 << 20, max_session_bytes=5 << 20)
    machine = Reassembler(limits)
    for _ in range(3):
        (message,) = reassemble(records_of(big_message(400_000), MAX_RECORD), machine)
        assert message.arrays[0].size == 400_000
        assert machine.buffered_bytes() == 0
