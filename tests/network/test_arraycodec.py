"""The array list codec: round trips, zero-copy views, dtypes, and the fuzz rule on damage."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given

from network.arraycodec import decode_arrays, encode_arrays
from network.frameerrors import FrameDecodeError, FrameEncodeError, FrameErrorCode
from tests.network.test_framing import FAST, FUZZ, array_lists, fail_code, mutated, same_arrays


@FAST
@given(array_lists)
def test_array_list_round_trip(values: list[Any]) -> None:
    """Arrays keep dtype (as little-endian), shape and values; padding keeps data aligned."""
    encoded = encode_arrays(values)
    assert len(encoded) % 8 == 0
    decoded = decode_arrays(encoded)
    assert same_arrays(decoded, values)
    assert all(a.flags.aligned for a in decode_arrays(bytearray(encoded)))


def test_decoded_arrays_are_views_of_the_buffer() -> None:
    """decode_arrays copies nothing: the arrays are views into the received buffer."""
    buffer = bytearray(encode_arrays([np.arange(4, dtype=np.uint64)]))
    (array,) = decode_arrays(buffer)
    buffer[-8:] = struct.pack("<Q", 99)
    assert array.tolist() == [0, 1, 2, 99]
    assert not array.flags.owndata


@pytest.mark.parametrize(
    "dtype", ["float64", "int32", "uint32", "bool", "object", "complex128", "<U3"]
)
def test_only_three_dtypes_encode(dtype: str) -> None:
    """Arrays other than uint64, int64 and uint8 are refused when encoding."""
    with pytest.raises(FrameEncodeError):
        encode_arrays([np.zeros(3, dtype=dtype)])


@FUZZ
@given(mutated(array_lists.map(encode_arrays)))
def test_fuzz_mutated_array_lists(buffer: bytes) -> None:
    """Array lists with damage decode or raise FrameDecodeError (FRAME_BAD_ARRAYS), nothing else."""
    code = None
    try:
        decode_arrays(buffer)
    except FrameDecodeError as error:
        code = error.code
    assert code in (None, FrameErrorCode.FRAME_BAD_ARRAYS)


BAD_ARRAY_LISTS = {
    "empty": b"",
    "count over 1024": struct.pack("<II", 1025, 0),
    "reserved": struct.pack("<II", 0, 1),
    "dtype 0": struct.pack("<II", 1, 0) + struct.pack("<BBHI", 0, 0, 0, 0) + bytes(8),
    "dtype 4": struct.pack("<II", 1, 0) + struct.pack("<BBHI", 4, 0, 0, 0) + bytes(8),
    "ndim 9": struct.pack("<II", 1, 0) + struct.pack("<BBHI", 1, 9, 0, 0) + bytes(80),
    "dim 2^32": struct.pack("<II", 1, 0) + struct.pack("<BBHIQ", 1, 1, 0, 0, 1 << 32),
    "huge shape": struct.pack("<II", 1, 0)
    + struct.pack("<BBHI", 1, 8, 0, 0)
    + struct.pack("<8Q", *[(1 << 32) - 1] * 8),
    "short data": struct.pack("<II", 1, 0) + struct.pack("<BBHIQ", 1, 1, 0, 0, 2) + bytes(8),
    "missing padding": struct.pack("<II", 1, 0) + struct.pack("<BBHIQ", 3, 1, 0, 0, 3) + b"abc",
    "nonzero padding": struct.pack("<II", 1, 0)
    + struct.pack("<BBHIQ", 3, 1, 0, 0, 3)
    + b"abc\0\0\0\0\1",
    "trailing": encode_arrays([np.arange(2, dtype=np.uint64)]) + bytes(8),
}


@pytest.mark.parametrize("buffer", BAD_ARRAY_LISTS.values(), ids=BAD_ARRAY_LISTS.keys())
def test_bad_array_lists(buffer: bytes) -> None:
    """Malformed array lists raise FRAME_BAD_ARRAYS without allocating their claimed size."""
    assert fail_code(decode_arrays, buffer) is FrameErrorCode.FRAME_BAD_ARRAYS
