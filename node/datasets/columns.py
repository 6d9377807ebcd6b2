"""Column values in memory and as stored blobs.

In memory, an ``identifier`` or ``category`` column is a ``list[str]``; an ``integer`` or ``date``
column is a ``numpy.ma.MaskedArray`` of ``int64`` whose mask marks empty optional cells (dates
as days since 1970-01-01). A masked array keeps "missing" impossible to overlook: a sum over it
skips masked cells, and ``.filled()`` must be asked for explicitly.

Stored, each column is one blob: a format byte, then

- ``0x01`` text: msgpack array of UTF-8 strings;
- ``0x02`` numbers: msgpack array ``[values, mask]`` — ``values`` the little-endian int64 bytes,
  ``mask`` the ``numpy.packbits`` of the missing flags, or nil when no cell is missing.

msgpack, never pickle: a blob read back cannot run code. One blob per column loads 100,000 rows
in milliseconds (one ``frombuffer`` for numbers, one msgpack unpack for text).
"""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np

from node.errors import NodeError

NumberColumn = np.ma.MaskedArray[Any, np.dtype[np.int64]]
ColumnData = list[str] | NumberColumn

TEXT_FORMAT = 0x01
NUMBER_FORMAT = 0x02


def numbers(values: list[int], missing: list[bool] | None) -> NumberColumn:
    """A masked int64 column from values and optional missing flags."""
    array = np.asarray(values, dtype=np.int64)
    mask = np.zeros(array.shape, dtype=bool) if missing is None else np.asarray(missing, bool)
    return np.ma.MaskedArray(array, mask=mask)


def encode_column(data: ColumnData) -> bytes:
    """The stored blob of a column."""
    if isinstance(data, list):
        body: bytes = msgpack.packb(data, use_bin_type=True)
        return bytes([TEXT_FORMAT]) + body
    values = np.ma.getdata(data).astype("<i8").tobytes()
    mask = np.ma.getmaskarray(data)
    packed = np.packbits(mask).tobytes() if mask.any() else None
    body = msgpack.packb([values, packed], use_bin_type=True)
    return bytes([NUMBER_FORMAT]) + body


def decode_column(blob: bytes, row_count: int) -> ColumnData:
    """A column from its stored blob; a blob that does not decode is a corrupt store."""
    try:
        kind, body = blob[0], blob[1:]
        if kind == TEXT_FORMAT:
            text = msgpack.unpackb(body, raw=False)
            if not isinstance(text, list) or len(text) != row_count:
                raise ValueError("length")
            return text
        if kind == NUMBER_FORMAT:
            values, packed = msgpack.unpackb(body, raw=False)
            array = np.frombuffer(values, dtype="<i8").astype(np.int64)
            if array.size != row_count:
                raise ValueError("length")
            mask = (
                np.zeros(row_count, dtype=bool)
                if packed is None
                else np.unpackbits(np.frombuffer(packed, np.uint8), count=row_count).astype(bool)
            )
            return np.ma.MaskedArray(array, mask=mask)
        raise ValueError("format")
    except (ValueError, TypeError, IndexError, msgpack.UnpackException):
        raise NodeError(
            "dataset_corrupt", "a stored dataset column does not decode; re-import it"
        ) from None
