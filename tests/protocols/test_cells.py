"""Suppression flags and exact division inside MPC."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import field as gf
from protocols.cells import at_least, divide, quotient_bits, suppress
from protocols.errors import LocalProtocolError
from protocols.field import Array
from protocols.program import Context, Program
from protocols.runner import make_contexts
from protocols.sharing import open_values
from tests.protocols.catalogue import run_all
from tests.protocols.helpers import input_from


def rounded(numerator: int, denominator: int) -> int:
    """round(n / d), halves away from zero."""
    exact = Decimal(numerator) / Decimal(denominator)
    sign = -1 if exact < 0 else 1
    return sign * int(abs(exact).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def divided(numerators: list[int], denominators: list[int], bound: int, n: int = 3) -> list[int]:
    """Open divide(n, d) at every compute party (as signed integers)."""

    def program(ctx: Context) -> Program[Array]:
        a = yield from input_from(ctx, 0, numerators)
        b = yield from input_from(ctx, 1, denominators)
        q = yield from divide(ctx, a, b, bound)
        return (yield from open_values(ctx, q))

    results, _ = run_all(n, 0, program, seed=3)
    return [int(v) for v in gf.to_int(results[0])]


@settings(max_examples=10, deadline=None)
@given(st.lists(st.tuples(st.integers(-(10**9), 10**9), st.integers(1, 1000)), min_size=1))
def test_divide_rounds_like_plaintext(pairs: list[tuple[int, int]]) -> None:
    """divide gives round(n / d) with halves away from zero for signed n."""
    numerators, denominators = zip(*pairs, strict=True)
    assert divided(list(numerators), list(denominators), 1000) == [rounded(a, b) for a, b in pairs]


@pytest.mark.parametrize("n", [3, 5])
def test_divide_edges(n: int) -> None:
    """Zero numerator, exact halves, the largest denominator, five parties."""
    numerators = [0, 1, -1, 3, -3, 5, 10**12]
    denominators = [1, 2, 2, 2, 2, 10**6, 10**6]
    expected = [rounded(a, b) for a, b in zip(numerators, denominators, strict=True)]
    assert divided(numerators, denominators, 10**6, n=n) == expected


def test_quotient_bits_shrink_with_the_denominator_bound() -> None:
    """Q = 59 − bit length of the bound; too large a bound is refused."""
    assert quotient_bits(1) == 58
    assert quotient_bits(1 << 20) == 38
    ctx = make_contexts(3)[0]
    with pytest.raises(LocalProtocolError):
        next(divide(ctx, np.zeros(1, np.uint64), np.ones(1, np.uint64), 1 << 58))


def test_suppression_threshold_is_inclusive() -> None:
    """A count equal to min_group_size is shown; one below is suppressed, with its value zeroed."""
    counts = [4, 5, 6, 0]
    values = [40, 50, -60, 7]

    def program(ctx: Context) -> Program[Array]:
        c = yield from input_from(ctx, 0, counts)
        v = yield from input_from(ctx, 0, values)
        flags = yield from at_least(ctx, c, 5)
        rows = yield from suppress(ctx, c, v, 5)
        return (yield from open_values(ctx, np.concatenate([flags, rows.reshape(-1)])))

    results, _ = run_all(3, 0, program, seed=4)
    opened = [int(x) for x in gf.to_int(results[1])]
    flags, shown_flags, shown_values = opened[:4], opened[4:8], opened[8:]
    assert flags == [0, 1, 1, 0]
    assert shown_flags == [0, 1, 1, 0]
    assert shown_values == [0, 50, -60, 0]
