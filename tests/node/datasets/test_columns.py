"""Tests for node/datasets/columns.py: the stored column blobs round-trip and reject garbage."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.datasets.columns import decode_column, encode_column, numbers
from node.errors import NodeError


@given(st.lists(st.text(max_size=20), max_size=50))
def test_text_round_trips(values: list[str]) -> None:
    """Any list of strings decodes to itself."""
    assert decode_column(encode_column(values), len(values)) == values


@given(st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), st.booleans()), max_size=50))
def test_numbers_round_trip_with_mask(cells: list[tuple[int, bool]]) -> None:
    """Int64 values and their missing mask decode unchanged."""
    column = numbers([v for v, _ in cells], [m for _, m in cells])
    back = decode_column(encode_column(column), len(cells))
    assert isinstance(back, np.ma.MaskedArray)
    assert list(np.ma.getdata(back)) == [v for v, _ in cells]
    assert list(np.ma.getmaskarray(back)) == [m for _, m in cells]


@given(st.binary(max_size=64))
def test_garbage_is_a_coded_error(blob: bytes) -> None:
    """Any blob either decodes or raises dataset_corrupt, nothing else."""
    code = None
    try:
        decode_column(blob, 3)
    except NodeError as error:
        code = error.code
    assert code in {None, "dataset_corrupt"}


def test_wrong_length_is_corrupt() -> None:
    """A blob whose length disagrees with the row count is refused."""
    with pytest.raises(NodeError):
        decode_column(encode_column(["a", "b"]), 3)
