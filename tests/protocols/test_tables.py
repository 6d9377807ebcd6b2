"""Shared tables and the three per-bin tests (absent from all, present in each, present in all)."""

from __future__ import annotations

import numpy as np
import pytest

from protocols import hashing
from protocols.field import Array
from protocols.program import Context, Program
from protocols.sharing import open_values
from protocols.tables import (
    TableShape,
    absent_from_all,
    distinct,
    present_in_all,
    present_in_each,
    share_table,
)
from tests.protocols.catalogue import codes, run_all

BASE = [1, 2, 3, 4, 5, 6]
OTHERS = [[2, 3, 4, 40], [3, 4, 5, 50], [4, 6]]


def per_bin(n: int, seed: int = 2) -> tuple[Array, list[Array], Array, Array, Array]:
    """Open the three tests for BASE (party 0's list) against OTHERS; and the base's owners."""
    providers = list(range(n))[: 1 + len(OTHERS)]
    lists = [BASE, *OTHERS]
    shape = TableShape.of(8, [5, 5, 5])

    def program(ctx: Context) -> Program[tuple[Array, ...]]:
        mine = codes(lists[ctx.me]) if ctx.me in providers else None
        table = yield from share_table(ctx, 0, providers[1:], shape, mine)
        each = yield from present_in_each(ctx, table)
        every = yield from present_in_all(ctx, table)
        none = yield from absent_from_all(ctx, table)
        opened = yield from open_values(ctx, np.concatenate([each.reshape(-1), every, none]))
        owner = table.cuckoo.owner if table.cuckoo is not None else np.zeros(0, np.int64)
        return opened, owner

    results, _ = run_all(n, 0, program, seed=seed)
    opened, owner = results[0]
    bins = shape.n_bins
    each = opened[: 3 * bins].reshape(3, bins)
    return owner, list(each), opened[3 * bins : 4 * bins], opened[4 * bins :], opened


@pytest.mark.parametrize("n", [4, 5])
def test_per_bin_bits_match_plaintext(n: int) -> None:
    """Each bin's bits say whether its base identifier is on each, every, or no other list."""
    owner, each, every, none, _ = per_bin(n)
    real = owner >= 0
    values = np.array(BASE)[np.where(real, owner, 0)]
    for j, other in enumerate(OTHERS):
        assert (each[j][real] == np.isin(values[real], other)).all()
    on_all = np.all([np.isin(values, o) for o in OTHERS], axis=0) & real
    on_none = ~np.any([np.isin(values, o) for o in OTHERS], axis=0) & real
    assert every.tolist() == on_all.astype(int).tolist()
    assert none.tolist() == on_none.astype(int).tolist()
    assert sorted(np.array(BASE)[owner[every == 1]].tolist()) == [4]


def test_shape_comes_from_bounds_only() -> None:
    """Bins from the base bound, one load per other bound, as in hashing."""
    shape = TableShape.of(100, [100, 10])
    assert shape.n_bins == hashing.bin_count(100)
    assert shape.loads == (hashing.max_load(100, shape.n_bins), hashing.max_load(10, shape.n_bins))


def test_distinct_keeps_first_occurrences() -> None:
    """Duplicates are dropped and each kept value points at its first row."""
    values, first = distinct(np.array([7, 3, 7, 9, 3], dtype=np.uint64))
    assert values.tolist() == [3, 7, 9]
    assert first.tolist() == [1, 0, 3]
