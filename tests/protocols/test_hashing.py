"""Cuckoo and simple hashing: every querier value meets its copies in the same bin."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import hashing
from protocols.errors import AbortCode, ProtocolAbortedError
from protocols.field import MODULUS
from protocols.randomness import InsecureSeededRandomSource


def encoded(values: list[int]) -> np.ndarray:
    """Distinct encodings of integers."""
    return hashing.encode([v.to_bytes(8, "little") for v in values], b"test-key")


def test_encode_is_deterministic_keyed_and_in_range() -> None:
    """Equal inputs give equal codes, another key gives other codes, codes lie in [1, p)."""
    a = hashing.encode([b"anna", b"bob", b"anna"], b"k1")
    b = hashing.encode([b"anna"], b"k2")
    assert a[0] == a[2]
    assert a[0] != a[1]
    assert a[0] != b[0]
    assert int(a.min()) >= 1
    assert int(a.max()) < MODULUS


@settings(max_examples=25, deadline=None)
@given(st.sets(st.integers(0, 2**40), min_size=0, max_size=300))
def test_cuckoo_places_each_value_once_in_a_candidate_bin(values: set[int]) -> None:
    """Every value sits in exactly one of its three candidate bins; other bins are dummies."""
    codes = encoded(sorted(values))
    bins = hashing.bin_count(max(len(codes), 1))
    table = hashing.cuckoo(codes, bins, InsecureSeededRandomSource(1))
    owners = table.owner[table.owner >= 0]
    assert sorted(owners.tolist()) == list(range(len(codes)))
    candidates = hashing.positions(codes, bins, table.seed)
    for slot in np.nonzero(table.owner >= 0)[0]:
        item = table.owner[slot]
        assert slot in candidates[:, item]
        assert table.values[slot] == codes[item]
    assert table.real.sum() == len(codes)


@settings(max_examples=25, deadline=None)
@given(st.sets(st.integers(0, 2**40), min_size=1, max_size=300), st.integers(0, 5))
def test_simple_hashing_puts_values_in_all_candidate_bins(values: set[int], seed: int) -> None:
    """Each value appears in each of its candidate bins, within the public load."""
    codes = encoded(sorted(values))
    bins = hashing.bin_count(len(codes))
    load = hashing.max_load(len(codes), bins)
    table = hashing.simple(codes, bins, load, seed, InsecureSeededRandomSource(2))
    assert table.shape == (load, bins)
    candidates = hashing.positions(codes, bins, seed)
    for item, code in enumerate(codes):
        for slot in candidates[:, item]:
            assert code in table[:, slot]


def test_max_load_grows_slowly_and_bounds_tail() -> None:
    """The padded load is a small number that grows with the list size."""
    loads = [hashing.max_load(m, hashing.bin_count(m)) for m in (10, 1_000, 100_000)]
    assert loads == sorted(loads)
    assert 3 <= loads[0] <= loads[-1] <= 40


def test_simple_hashing_overflow_aborts_with_code() -> None:
    """A list that does not fit the public load aborts with HASHING_FAILED."""
    codes = encoded(list(range(50)))
    with pytest.raises(ProtocolAbortedError) as caught:
        hashing.simple(codes, 4, 1, 0, InsecureSeededRandomSource(3))
    assert caught.value.code == AbortCode.HASHING_FAILED


def test_cuckoo_failure_aborts_with_code() -> None:
    """More values than bins cannot be placed: HASHING_FAILED, not a hang."""
    codes = encoded(list(range(20)))
    with pytest.raises(ProtocolAbortedError) as caught:
        hashing.cuckoo(codes, 10, InsecureSeededRandomSource(4))
    assert caught.value.code == AbortCode.HASHING_FAILED
