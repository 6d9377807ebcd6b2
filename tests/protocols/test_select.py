"""Selecting the first k flagged positions, and prefix sums, against plaintext."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import field as gf
from protocols import select, sharing
from protocols.field import Array
from protocols.program import Context, Program
from protocols.runner import Runner, make_contexts


def run_select(n: int, flags: list[int], k: int, seed: int = 5) -> list[int]:
    """Share ``flags`` from party 0, select the first ``k``, open to all."""
    contexts = make_contexts(n, seed=seed)
    size = len(flags)
    values = np.array(flags, dtype=np.uint64)

    def program(ctx: Context) -> Program[Array]:
        x = yield from sharing.share_input(ctx, 0, values if ctx.me == 0 else None, size)
        chosen = yield from select.select_first(ctx, x, k)
        return (yield from sharing.open_values(ctx, chosen))

    results = Runner().run([program(c) for c in contexts])
    assert all(np.array_equal(r, results[0]) for r in results)
    return [int(v) for v in results[0]]


def expected(flags: list[int], k: int) -> list[int]:
    """The first ``k`` set flags."""
    seen, out = 0, []
    for flag in flags:
        keep = flag and seen < k
        seen += flag
        out.append(1 if keep else 0)
    return out


@pytest.mark.parametrize("n", [3, 5, 7])
@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(0, 1), min_size=1, max_size=120), st.integers(0, 8))
def test_select_first_matches_plaintext(n: int, flags: list[int], k: int) -> None:
    """select_first marks exactly the first k flagged positions."""
    assert run_select(n, flags, k) == expected(flags, k)


@pytest.mark.parametrize(
    ("flags", "k"),
    [
        ([0] * 50, 5),
        ([1] * 50, 5),
        ([1] * 3, 5),
        ([0] * 49 + [1], 1),
        ([1] + [0] * 200 + [1] * 10, 5),
        ([1, 1, 1, 1, 1], 5),
    ],
)
def test_select_first_edges(flags: list[int], k: int) -> None:
    """No flags, all flags, fewer than k, the last position, exactly k."""
    assert run_select(3, flags, k) == expected(flags, k)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, gf.MODULUS - 1), min_size=1, max_size=60))
def test_prefix_sums_are_local_cumulative_sums(values: list[int]) -> None:
    """prefix_sums is the cumulative sum mod p."""
    got = select.prefix_sums(np.array(values, dtype=np.uint64)).tolist()
    running, want = 0, []
    for v in values:
        running = (running + v) % gf.MODULUS
        want.append(running)
    assert got == want
