"""The array list codec: the payload of every link message, numpy arrays as raw bytes (pure).

An array list is a small binary descriptor per array (dtype code, dimensions) followed by each
array's little-endian bytes, every section padded to a multiple of 8 bytes. Encoding converts a
big-endian or non-contiguous array once; decoding is ``np.frombuffer`` per array — views into the
buffer, no copies and no per-element Python work. Sizes are checked against the buffer before
anything is allocated. Any bytes given to :func:`decode_arrays` are either accepted or rejected
with :class:`~network.frameerrors.FrameDecodeError` (``FRAME_BAD_ARRAYS``). The layout is in
``docs/spec/framing.md`` ("Array list").

Both directions run once per link message, so they are written for small messages too: one
precompiled ``struct`` layout per descriptor shape, offsets instead of slices, and the encoder
hands back the pieces (:func:`array_parts`) so a sender joins header and arrays in one copy.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from enum import IntEnum
from typing import Any, Final, TypeAlias

import numpy as np
import numpy.typing as npt

from network.frameerrors import FrameDecodeError, FrameEncodeError, FrameErrorCode

MAX_ARRAYS: Final = 1024
MAX_NDIM: Final = 8
MAX_DIM: Final = (1 << 32) - 1

_ARRAYS_HEAD: Final = struct.Struct("<II")  # array count, reserved (0)
_ARRAY_HEAD: Final = struct.Struct("<BBHI")  # dtype code, ndim, reserved (0), reserved (0)
_SHAPES: Final = tuple(struct.Struct(f"<{ndim}Q") for ndim in range(MAX_NDIM + 1))
_DESCRIPTORS: Final = tuple(struct.Struct(f"<BBHI{ndim}Q") for ndim in range(MAX_NDIM + 1))
"""A whole descriptor (head and dimensions) per ``ndim``."""
_ONE_VECTOR: Final = struct.Struct("<IIBBHIQ")
"""Count, reserved, then the descriptor of one 1-dimensional array: the common message."""
_ZEROS: Final = bytes(8)

AnyArray: TypeAlias = npt.NDArray[Any]
Buffer: TypeAlias = bytes | memoryview
"""A piece of an encoded array list: ``bytes.join`` takes each as it is."""


class DtypeCode(IntEnum):
    """The dtype byte of an array descriptor. Values are stable on the wire."""

    UINT64 = 1
    INT64 = 2
    UINT8 = 3


_DTYPES: Final[dict[int, np.dtype[Any]]] = {
    DtypeCode.UINT64: np.dtype("<u8"),
    DtypeCode.INT64: np.dtype("<i8"),
    DtypeCode.UINT8: np.dtype("u1"),
}
_CODES: Final = {(d.kind, d.itemsize): code for code, d in _DTYPES.items()}
_WIRE_CODES: Final = {d: code for code, d in _DTYPES.items()}
"""The dtypes whose bytes already are the wire form (little-endian), by code."""


def padding(length: int) -> int:
    """Zero bytes that bring ``length`` to a multiple of 8."""
    return -length % 8


def _bad(reason: str) -> FrameDecodeError:
    return FrameDecodeError(FrameErrorCode.FRAME_BAD_ARRAYS, reason)


def decode_arrays(buffer: bytes | bytearray | memoryview) -> tuple[AnyArray, ...]:
    """The arrays of one encoded array list, as views into ``buffer`` (no copies)."""
    view = memoryview(buffer).cast("B")
    length = len(view)
    vector = _one_vector(view, length)
    if vector is not None:
        return (vector,)
    if length < _ARRAYS_HEAD.size:
        raise _bad("array list truncated")
    count, reserved = _ARRAYS_HEAD.unpack_from(view)
    if count > MAX_ARRAYS or reserved:
        raise _bad("array count")
    offset = _ARRAYS_HEAD.size
    specs: list[tuple[np.dtype[Any], tuple[int, ...]]] = []
    for _ in range(count):
        if offset + _ARRAY_HEAD.size > length:
            raise _bad("array list truncated")
        code, ndim, zero_a, zero_b = _ARRAY_HEAD.unpack_from(view, offset)
        dtype = _DTYPES.get(code)
        if dtype is None or ndim > MAX_NDIM or zero_a or zero_b:
            raise _bad("array descriptor")
        offset += _ARRAY_HEAD.size
        if offset + 8 * ndim > length:
            raise _bad("array list truncated")
        shape: tuple[int, ...] = _SHAPES[ndim].unpack_from(view, offset)
        if ndim and max(shape) > MAX_DIM:
            raise _bad("dimension too large")
        offset += 8 * ndim
        specs.append((dtype, shape))
    arrays = []
    for dtype, shape in specs:
        size = math.prod(shape)
        end = offset + size * dtype.itemsize  # checked before anything is allocated
        stop = end + padding(end)  # sections start 8-aligned, so this pads the data block
        if stop > length:
            raise _bad("array list truncated")
        if stop != end and view[end:stop] != _ZEROS[: stop - end]:
            raise _bad("nonzero padding")
        array = np.frombuffer(view, dtype, size, offset)
        arrays.append(array if len(shape) == 1 else array.reshape(shape))
        offset = stop
    if offset != length:
        raise _bad("trailing bytes")
    return tuple(arrays)


def _one_vector(view: memoryview, length: int) -> AnyArray | None:
    """The fast path: a valid list of exactly one 1-dimensional array, read with one layout;
    None for anything else (valid or not), which the general reader then judges."""
    if length < _ONE_VECTOR.size:
        return None
    count, reserved, code, ndim, zero_a, zero_b, size = _ONE_VECTOR.unpack_from(view)
    dtype = _DTYPES.get(code)
    if count != 1 or ndim != 1 or dtype is None or size > MAX_DIM:
        return None
    end = _ONE_VECTOR.size + size * dtype.itemsize
    if reserved or zero_a or zero_b or end + (-end % 8) != length:
        return None
    if view[end:] != _ZEROS[: length - end]:
        return None
    return np.frombuffer(view, dtype, size, _ONE_VECTOR.size)


def array_parts(arrays: Sequence[AnyArray]) -> tuple[list[Buffer], int]:
    """The array list encoding as pieces to join, and its length.

    The pieces are the descriptors, then each array's little-endian bytes (a view of the
    array when it already has them) with its padding. Nothing is copied unless an array must be
    converted (big-endian or not C-contiguous).
    """
    if len(arrays) > MAX_ARRAYS:
        raise FrameEncodeError(f"at most {MAX_ARRAYS} arrays per message")
    heads: list[Buffer] = [_ARRAYS_HEAD.pack(len(arrays), 0)]
    blocks: list[Buffer] = []
    length = _ARRAYS_HEAD.size
    for given in arrays:
        array, shape = given, given.shape  # (ascontiguousarray makes a 0-d array 1-d)
        code = _WIRE_CODES.get(array.dtype)
        if code is None or not array.flags.c_contiguous:
            code = _CODES.get((array.dtype.kind, array.dtype.itemsize))
            if code is None:
                raise FrameEncodeError(f"dtype {array.dtype} is not uint64, int64 or uint8")
            array = np.ascontiguousarray(given, dtype=_DTYPES[code])
        ndim = len(shape)
        if ndim > MAX_NDIM or (ndim and max(shape) > MAX_DIM):
            raise FrameEncodeError("too many dimensions or a dimension too large")
        heads.append(_DESCRIPTORS[ndim].pack(code, ndim, 0, 0, *shape))
        nbytes = array.nbytes
        blocks.append(array.data)  # the array's own memory (C-contiguous, little-endian)
        if nbytes % 8:
            blocks.append(_ZEROS[: padding(nbytes)])
        length += _ARRAY_HEAD.size + 8 * ndim + nbytes + padding(nbytes)
    heads.extend(blocks)
    return heads, length


def encode_arrays(arrays: Sequence[AnyArray]) -> bytes:
    """The array list encoding: descriptors, then each array's little-endian bytes, padded."""
    parts, _ = array_parts(arrays)
    return b"".join(parts)
