"""The one-record fast path (``single_record``, ``whole_message``, ``Reassembler.whole``)
against the general codec: the same bytes out, the same messages in, nothing else accepted.

(The reassembler's state table is tested in ``test_framing.py``, with the frames.)
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from network.arraycodec import decode_arrays, encode_arrays
from network.frameerrors import FrameDecodeError, FrameEncodeError
from network.framing import (
    MAX_RECORD,
    Data,
    Message,
    decode_frame,
    encode_frame,
    fragment,
    single_record,
    whole_message,
)
from network.reassembly import Reassembler, ReassemblyLimits
from tests.network.test_framing import (
    FAST,
    FUZZ,
    array_lists,
    data_frames,
    labels,
    mutated,
    same_arrays,
    session_ids,
)


def full_path(record: bytes, machine: Reassembler | None = None) -> Message | None:
    """What ``decode_frame`` and a reassembler deliver for one record (None: nothing or an
    error)."""
    try:
        frame = decode_frame(record)
        if not isinstance(frame, Data):
            return None
        return (machine or Reassembler()).receive(frame)
    except FrameDecodeError:
        return None


def fast_path(record: bytes, machine: Reassembler | None = None) -> Message | None:
    """What the link's fast path delivers for one record (None: the full path decides)."""
    found = whole_message(record)
    if found is None:
        return None
    arrays = (machine or Reassembler()).whole(*found)
    return None if arrays is None else Message(found[0], found[1], arrays)


def agree(record: bytes) -> None:
    """The fast path delivers exactly when the full path does, the same message."""
    fast, full = fast_path(record), full_path(record)
    assert (fast is None) == (full is None)
    if fast is not None and full is not None:
        assert (fast.session_id, fast.label) == (full.session_id, full.label)
        assert same_arrays(fast.arrays, full.arrays)


@st.composite
def one_record_messages(draw: st.DrawFn) -> bytes:
    """The record of a message that fits one record."""
    message = Message(draw(session_ids), draw(labels), tuple(draw(array_lists)))
    (record,) = fragment(message)
    return record


@FAST
@given(session_ids, labels, array_lists)
def test_single_record_is_fragments_one_record(session_id: int, label: str, arrays: Any) -> None:
    """single_record gives fragment's bytes exactly, whenever fragment gives one record."""
    records = list(fragment(Message(session_id, label, tuple(arrays))))
    assert single_record(session_id, label, arrays) == records[0]
    assert len(records) == 1


def test_single_record_declines_a_message_over_one_record() -> None:
    """A message one byte too big for a record needs fragments: single_record says None."""
    fits = (MAX_RECORD - 16 - 9 - 2 - 5 - 8 - 16) // 8  # header, DATA, "s1", pad, list, descr.
    assert single_record(1, "s1", [np.zeros(fits, dtype=np.uint64)]) is not None
    assert single_record(1, "s1", [np.zeros(fits + 1, dtype=np.uint64)]) is None
    assert len(list(fragment(Message(1, "s1", (np.zeros(fits + 1, dtype=np.uint64),))))) == 2


@pytest.mark.parametrize(
    ("session_id", "label", "arrays"),
    [(0, "s1", []), (1, "", []), (1, "a b", []), (1, "s1", [np.zeros(2, dtype=np.float64)])],
    ids=["session 0", "empty label", "space in label", "float64"],
)
def test_single_record_checks_like_fragment(session_id: int, label: str, arrays: Any) -> None:
    """single_record refuses what fragment refuses, with FrameEncodeError."""
    with pytest.raises(FrameEncodeError):
        single_record(session_id, label, arrays)
    with pytest.raises(FrameEncodeError):
        fragment(Message(session_id, label, tuple(arrays)))


@FUZZ
@given(st.one_of(one_record_messages(), mutated(one_record_messages())))
def test_fast_path_agrees_on_messages_and_their_damage(record: bytes) -> None:
    """On one-record messages, intact or damaged, both paths deliver the same or nothing."""
    agree(record)


@FUZZ
@given(
    st.one_of(
        st.builds(encode_frame, data_frames()), mutated(st.builds(encode_frame, data_frames()))
    )
)
def test_fast_path_agrees_on_arbitrary_data_frames(record: bytes) -> None:
    """On any DATA frame (fragments, wrong lengths, random payloads) the paths agree."""
    agree(record)


@FUZZ
@given(st.binary(max_size=200))
def test_fast_path_on_arbitrary_bytes(record: bytes) -> None:
    """Arbitrary bytes: the fast path never raises, and agrees with the full path."""
    agree(record)


def test_fast_path_defers_to_a_partial_message_under_the_label() -> None:
    """A whole message under a label whose fragments are still arriving is the reassembler's
    to refuse (FRAGMENT_DUPLICATED): the fast path says None."""
    machine = Reassembler()
    first = Data(7, "s1", 0, 4096, False, bytes(2048))
    assert machine.receive(first) is None
    (record,) = fragment(Message(7, "s1", (np.arange(3, dtype=np.uint64),)))
    assert fast_path(record, machine) is None
    assert fast_path(record) is not None  # another reassembler has nothing partial
    (other_label,) = fragment(Message(7, "s2", (np.arange(3, dtype=np.uint64),)))
    assert fast_path(other_label, machine) is not None


def test_fast_path_defers_to_the_message_limit() -> None:
    """A whole message above the reassembler's message limit is left to receive (which
    refuses it with REASSEMBLY_LIMIT_EXCEEDED)."""
    machine = Reassembler(ReassemblyLimits(max_message_bytes=64))
    (small,) = fragment(Message(1, "s1", (np.zeros(2, dtype=np.uint64),)))
    (large,) = fragment(Message(1, "s1", (np.zeros(20, dtype=np.uint64),)))
    assert fast_path(small, machine) is not None
    assert fast_path(large, machine) is None
    assert full_path(large, machine) is None


def test_fast_path_arrays_are_views_of_the_record() -> None:
    """The fast path copies nothing: arrays are views into the decrypted record."""
    record = bytearray(next(iter(fragment(Message(1, "s1", (np.arange(4, dtype=np.uint64),))))))
    found = whole_message(record)
    assert found is not None
    arrays = Reassembler().whole(*found)
    assert arrays is not None
    (array,) = arrays
    record[-8:] = struct.pack("<Q", 99)
    assert array.tolist() == [0, 1, 2, 99]


def test_one_vector_fast_path_matches_the_general_reader() -> None:
    """One 1-d array of each dtype and a few sizes decodes as the general reader decodes it;
    two arrays, a 2-d array or a 0-d array take the general reader."""
    for dtype in ("<u8", "<i8", "u1"):
        for size in (0, 1, 3, 8, 9):
            array = np.arange(size).astype(dtype)
            (got,) = decode_arrays(encode_arrays([array]))
            assert got.dtype == np.dtype(dtype)
            assert got.tolist() == array.tolist()
    cases = [
        [np.arange(3, dtype=np.uint64), np.arange(2, dtype=np.uint8)],
        [np.arange(6, dtype=np.uint64).reshape(2, 3)],
        [np.array(5, dtype=np.uint64)],
    ]
    for arrays in cases:
        assert same_arrays(decode_arrays(encode_arrays(arrays)), arrays)


@pytest.mark.parametrize(
    "arrays", [(np.arange(3, dtype=np.uint8),), (np.arange(2, dtype=np.uint64),)]
)
def test_fast_path_agrees_on_every_single_byte_change(arrays: tuple[Any, ...]) -> None:
    """Every byte of a one-record message set to 0, 1 or 0xFF, and every cut: both paths
    deliver the same message or nothing (label and array padding included)."""
    (record,) = fragment(Message(5, "s1", arrays))
    assert fast_path(record) is not None
    for position in range(len(record)):
        for value in (0, 1, 0xFF):
            changed = bytearray(record)
            changed[position] = value
            agree(bytes(changed))
        agree(record[:position])
