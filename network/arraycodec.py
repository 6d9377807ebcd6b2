"""The array list codec: the payload of every link message, numpy arrays as raw bytes (pure).

An array list is a small binary descriptor per array (dtype code, dimensions) followed by each
array's little-endian bytes, every section padded to a multiple of 8 bytes. Encoding converts a
big-endian or non-contiguous array once; decoding is ``np.frombuffer`` per array — views into the
buffer, no copies and no per-element Python work. Sizes are checked against the buffer before
anything is allocated. Any bytes given to :func:`decode_arrays` are either accepted or rejected
with :class:`~network.frameerrors.FrameDecodeError` (``FRAME_BAD_ARRAYS``). The layout is in
``docs/spec/framing.md`` ("Array list").
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from enum import IntEnum
from typing import Any, Final, TypeAlias

import numpy as np
import numpy.typing as npt

from network.frameerrors import Cursor, FrameDecodeError, FrameEncodeError, FrameErrorCode

MAX_ARRAYS: Final = 1024
MAX_NDIM: Final = 8
MAX_DIM: Final = (1 << 32) - 1

_ARRAYS_HEAD: Final = struct.Struct("<II")  # array count, reserved (0)
_ARRAY_HEAD: Final = struct.Struct("<BBHI")  # dtype code, ndim, reserved (0), reserved (0)

AnyArray: TypeAlias = npt.NDArray[Any]


class DtypeCode(IntEnum):
    """The dtype byte of an array descriptor. Values are stable on the wire."""

    UINT64 = 1
    INT64 = 2
    UINT8 = 3


_DTYPES: Final[dict[DtypeCode, np.dtype[Any]]] = {
    DtypeCode.UINT64: np.dtype("<u8"),
    DtypeCode.INT64: np.dtype("<i8"),
    DtypeCode.UINT8: np.dtype("u1"),
}
_CODES: Final = {(d.kind, d.itemsize): code for code, d in _DTYPES.items()}


def padding(length: int) -> int:
    """Zero bytes that bring ``length`` to a multiple of 8."""
    return -length % 8


def decode_arrays(buffer: bytes | bytearray | memoryview) -> tuple[AnyArray, ...]:
    """The arrays of one encoded array list, as views into ``buffer`` (no copies)."""
    view = memoryview(buffer).cast("B")
    cursor = Cursor(view)
    try:
        count, reserved = cursor.unpack(_ARRAYS_HEAD)
        if count > MAX_ARRAYS or reserved:
            raise FrameDecodeError(FrameErrorCode.FRAME_BAD_ARRAYS, "array count")
        specs: list[tuple[np.dtype[Any], tuple[int, ...]]] = []
        for _ in range(count):
            code, ndim, zero_a, zero_b = cursor.unpack(_ARRAY_HEAD)
            if code not in _DTYPES or ndim > MAX_NDIM or zero_a or zero_b:
                raise FrameDecodeError(FrameErrorCode.FRAME_BAD_ARRAYS, "array descriptor")
            shape = struct.unpack(f"<{ndim}Q", cursor.take(8 * ndim))
            if any(dim > MAX_DIM for dim in shape):
                raise FrameDecodeError(FrameErrorCode.FRAME_BAD_ARRAYS, "dimension too large")
            specs.append((_DTYPES[DtypeCode(code)], shape))
        arrays = []
        for dtype, shape in specs:
            size = _product(shape)
            nbytes = size * dtype.itemsize
            data = cursor.take(nbytes)  # a view: nothing is allocated for a false size
            if any(cursor.take(padding(nbytes))):
                raise FrameDecodeError(FrameErrorCode.FRAME_BAD_ARRAYS, "nonzero padding")
            arrays.append(np.frombuffer(data, dtype=dtype, count=size).reshape(shape))
    except FrameDecodeError as error:
        if error.code is FrameErrorCode.FRAME_TRUNCATED:
            raise FrameDecodeError(
                FrameErrorCode.FRAME_BAD_ARRAYS, "array list truncated"
            ) from None
        raise
    if cursor.offset != len(view):
        raise FrameDecodeError(FrameErrorCode.FRAME_BAD_ARRAYS, "trailing bytes")
    return tuple(arrays)


def _product(shape: tuple[int, ...]) -> int:
    size = 1
    for dim in shape:
        size *= dim
    return size


def encode_arrays(arrays: Sequence[AnyArray]) -> bytes:
    """The array list encoding: descriptors, then each array's little-endian bytes, padded."""
    if len(arrays) > MAX_ARRAYS:
        raise FrameEncodeError(f"at most {MAX_ARRAYS} arrays per message")
    heads: list[bytes | memoryview] = [_ARRAYS_HEAD.pack(len(arrays), 0)]
    blocks: list[bytes | memoryview] = []
    for array in arrays:
        code = _CODES.get((array.dtype.kind, array.dtype.itemsize))
        if code is None:
            raise FrameEncodeError(f"dtype {array.dtype} is not uint64, int64 or uint8")
        if array.ndim > MAX_NDIM or any(dim > MAX_DIM for dim in array.shape):
            raise FrameEncodeError("too many dimensions or a dimension too large")
        heads.append(_ARRAY_HEAD.pack(code, array.ndim, 0, 0))
        heads.append(struct.pack(f"<{array.ndim}Q", *array.shape))
        raw = np.ascontiguousarray(array, dtype=_DTYPES[code]).reshape(-1).view(np.uint8)
        blocks.append(raw.data)
        blocks.append(bytes(padding(raw.size)))
    return b"".join(heads + blocks)
