"""GF(2^61 - 1) on uint64 arrays, checked against Python big-integer arithmetic mod p."""

from __future__ import annotations

from itertools import accumulate

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import field as gf

from .helpers import P, as_ints, field_array, field_elements, vector_pairs, vectors

FAST = settings(max_examples=60, deadline=None)

elements = field_elements()
coefficients = st.one_of(
    st.integers(-16, 16),
    st.sampled_from([P, -P, P - 1, P - 7, P - 8, P + 1, P + 7, 2 * P + 3, 1 << 61, -(1 << 61)]),
    st.integers(-(1 << 80), 1 << 80),
)
SIGNED_EDGES = (0, 1, -1, (1 << 60) - 1, -((1 << 60) - 1), 1 << 59, -(1 << 59))
signed_values = st.one_of(st.sampled_from(SIGNED_EDGES), st.integers(-(1 << 60) + 1, (1 << 60) - 1))


def big_random(size: int, seed: int) -> np.ndarray:
    """``size`` uniform field elements with the extremes planted at the start."""
    values = np.random.default_rng(seed).integers(0, P, size, dtype=np.uint64)
    edges = np.array([0, 1, P - 1, P - 2], dtype=np.uint64)
    values[: min(size, 4)] = edges[: min(size, 4)]
    return values


def objects(values: np.ndarray) -> np.ndarray:
    """A uint64 array as an object array of Python integers (for exact reference arithmetic)."""
    return values.astype(object)


def assert_canonical(values: np.ndarray) -> None:
    """Values are uint64 residues in [0, p)."""
    assert values.dtype == np.uint64
    assert values.size == 0 or int(values.max()) < P


# --- elementwise operations against Python integers -----------------------------------------


@FAST
@given(vector_pairs(elements, max_size=40))
def test_mul_matches_integers(pair: tuple[list[int], list[int]]) -> None:
    """mul equals (a·b) mod p elementwise."""
    a, b = pair
    got = gf.mul(field_array(a), field_array(b))
    assert_canonical(got)
    assert as_ints(got) == [x * y % P for x, y in zip(a, b, strict=True)]


@FAST
@given(vector_pairs(elements, max_size=40))
def test_add_matches_integers(pair: tuple[list[int], list[int]]) -> None:
    """add equals (a + b) mod p elementwise."""
    a, b = pair
    got = gf.add(field_array(a), field_array(b))
    assert_canonical(got)
    assert as_ints(got) == [(x + y) % P for x, y in zip(a, b, strict=True)]


@FAST
@given(vector_pairs(elements, max_size=40))
def test_sub_matches_integers(pair: tuple[list[int], list[int]]) -> None:
    """sub equals (a - b) mod p elementwise."""
    a, b = pair
    got = gf.sub(field_array(a), field_array(b))
    assert_canonical(got)
    assert as_ints(got) == [(x - y) % P for x, y in zip(a, b, strict=True)]


@FAST
@given(vectors(elements, max_size=40))
def test_neg_matches_integers(a: list[int]) -> None:
    """neg equals (-a) mod p, and neg(0) is 0 (not p)."""
    got = gf.neg(field_array(a))
    assert_canonical(got)
    assert as_ints(got) == [-x % P for x in a]


@FAST
@given(vectors(elements, max_size=40), coefficients)
def test_scale_matches_integers(a: list[int], coefficient: int) -> None:
    """scale by small, large and negative coefficients equals (a·c) mod p."""
    got = gf.scale(field_array(a), coefficient)
    assert_canonical(got)
    assert as_ints(got) == [x * coefficient % P for x in a]


@pytest.mark.parametrize("coefficient", [*range(-9, 10), P - 8, P - 7, P + 7, P + 8, -P, 2 * P])
def test_scale_small_coefficient_paths_at_extremes(coefficient: int) -> None:
    """scale's shortcut paths (|c| < 8 mod p) are exact on the largest residues."""
    a = [0, 1, P - 1, P - 2, (P - 1) // 2, 1 << 60]
    assert as_ints(gf.scale(field_array(a), coefficient)) == [x * coefficient % P for x in a]


@FAST
@given(vectors(elements, max_size=40), st.integers(-300, 300))
def test_mul_pow2_matches_integers(a: list[int], exponent: int) -> None:
    """mul_pow2 equals a·2^e mod p for positive, zero and negative exponents."""
    got = gf.mul_pow2(field_array(a), exponent)
    assert_canonical(got)
    factor = pow(2, exponent, P)
    assert as_ints(got) == [x * factor % P for x in a]


@FAST
@given(st.lists(st.integers(0, (1 << 64) - 1), min_size=1, max_size=40))
def test_reduce_maps_any_uint64(values: list[int]) -> None:
    """reduce maps every uint64 to its canonical residue."""
    got = gf.reduce(np.array(values, dtype=np.uint64))
    assert_canonical(got)
    assert as_ints(got) == [v % P for v in values]


def test_reduce_extremes() -> None:
    """reduce handles p, 2p, 2^64 - 1 and multiples of 2^61 exactly."""
    values = [P, 2 * P, 3 * P, (1 << 64) - 1, 1 << 61, 1 << 62, 1 << 63, (1 << 62) - 1]
    assert as_ints(gf.reduce(np.array(values, dtype=np.uint64))) == [v % P for v in values]


@FAST
@given(st.lists(elements, max_size=60))
def test_sum_all_matches_integers(a: list[int]) -> None:
    """sum_all equals Σ a mod p (also for the empty array)."""
    assert gf.sum_all(np.array(a, dtype=np.uint64)) == sum(a) % P


@FAST
@given(st.lists(elements, min_size=1, max_size=60))
def test_cumsum_matches_integers(a: list[int]) -> None:
    """cumsum equals the prefix sums mod p."""
    got = gf.cumsum(field_array(a))
    assert_canonical(got)
    assert as_ints(got) == [s % P for s in accumulate(a)]


@FAST
@given(st.integers(1, 5), st.integers(1, 6), st.data())
def test_cumsum_and_sum_rows_along_axes(rows: int, cols: int, data: st.DataObject) -> None:
    """cumsum and sum_rows on 2-D arrays agree with per-row/per-column integer sums."""
    flat = data.draw(st.lists(elements, min_size=rows * cols, max_size=rows * cols))
    a = field_array(flat).reshape(rows, cols)
    grid = [flat[r * cols : (r + 1) * cols] for r in range(rows)]
    columns = [[grid[r][c] for r in range(rows)] for c in range(cols)]
    assert as_ints(gf.sum_rows(a, axis=0)) == [sum(col) % P for col in columns]
    assert as_ints(gf.sum_rows(a, axis=1)) == [sum(row) % P for row in grid]
    expected_rows = [[s % P for s in accumulate(row)] for row in grid]
    assert gf.cumsum(a, axis=1).tolist() == expected_rows
    expected_cols = [[s % P for s in accumulate(col)] for col in columns]
    assert gf.cumsum(a, axis=0).T.tolist() == expected_cols


def test_sum_rows_of_nothing_is_zero() -> None:
    """sum_rows over an empty axis gives zeros of the remaining shape."""
    out = gf.sum_rows(np.zeros((0, 3), dtype=np.uint64))
    assert out.shape == (3,)
    assert as_ints(out) == [0, 0, 0]


@FAST
@given(st.lists(signed_values, min_size=1, max_size=40))
def test_from_int_to_int_round_trip(values: list[int]) -> None:
    """from_int maps v to v mod p and to_int maps it back, up to ±(2^60 - 1)."""
    encoded = gf.from_int(values)
    assert_canonical(encoded)
    assert as_ints(encoded) == [v % P for v in values]
    decoded = gf.to_int(encoded)
    assert decoded.dtype == np.int64
    assert decoded.tolist() == values


def test_to_int_boundary() -> None:
    """to_int splits the field at (p - 1)/2: 2^60 - 1 stays positive, 2^60 is -(2^60 - 1)."""
    values = np.array([0, 1, (1 << 60) - 1, 1 << 60, P - 1], dtype=np.uint64)
    assert gf.to_int(values).tolist() == [0, 1, (1 << 60) - 1, -((1 << 60) - 1), -1]


@FAST
@given(st.lists(st.tuples(coefficients, vectors(elements, 3)), min_size=1, max_size=5))
def test_linear_combination_matches_integers(terms: list[tuple[int, list[int]]]) -> None:
    """linear_combination equals Σ cᵢ·aᵢ mod p for coefficients of any sign and size."""
    width = min(len(a) for _, a in terms)
    coeffs = [c for c, _ in terms]
    arrays = [a[:width] for _, a in terms]
    got = gf.linear_combination(coeffs, [field_array(a) for a in arrays])
    expected = [
        sum(c * a[k] for c, a in zip(coeffs, arrays, strict=True)) % P for k in range(width)
    ]
    assert as_ints(got) == expected


def test_linear_combination_needs_one_coefficient_per_array() -> None:
    """linear_combination rejects mismatched or empty inputs."""
    with pytest.raises(ValueError, match="one coefficient per array"):
        gf.linear_combination([1, 2], [field_array([1])])
    with pytest.raises(ValueError, match="one coefficient per array"):
        gf.linear_combination([], [])


@FAST
@given(vectors(elements, 10), st.integers(0, 200))
def test_power_matches_integers(a: list[int], exponent: int) -> None:
    """power equals pow(a, e, p) elementwise."""
    assert as_ints(gf.power(field_array(a), exponent)) == [pow(x, exponent, P) for x in a]


@FAST
@given(st.integers(1, P - 1))
def test_inverse(value: int) -> None:
    """inverse gives the multiplicative inverse mod p."""
    assert value * gf.inverse(value) % P == 1
    assert gf.inverse(value + P) == gf.inverse(value)


def test_inverse_of_zero_raises() -> None:
    """Zero (and multiples of p) have no inverse."""
    with pytest.raises(ZeroDivisionError):
        gf.inverse(0)
    with pytest.raises(ZeroDivisionError):
        gf.inverse(P)


def test_constants_and_selection() -> None:
    """constant, constant_array, select_public and concat behave as documented."""
    assert int(gf.constant(-1)) == P - 1
    assert int(gf.constant(P + 5)) == 5
    assert as_ints(gf.constant_array(-2, (2, 2))) == [P - 2] * 4
    cond = np.array([1, 0, 1], dtype=np.uint64)
    picked = gf.select_public(cond, field_array([1, 2, 3]), field_array([4, 5, 6]))
    assert picked.dtype == np.uint64
    assert as_ints(picked) == [1, 5, 3]
    assert as_ints(gf.concat(field_array([1]), field_array([2, 3]))) == [1, 2, 3]


# --- large arrays (chunked path) and broadcasting -------------------------------------------

BIG = 3 * gf.CHUNK + 7


def test_mul_on_arrays_larger_than_chunk() -> None:
    """mul over several chunks (and a ragged last chunk) matches big-integer arithmetic."""
    a, b = big_random(BIG, 1), big_random(BIG, 2)
    got = gf.mul(a, b)
    assert_canonical(got)
    assert np.array_equal(objects(got), objects(a) * objects(b) % P)


def test_mul_on_exactly_one_chunk_and_one_more() -> None:
    """mul at the chunk boundary (CHUNK and CHUNK + 1 elements) is exact."""
    for size in (gf.CHUNK, gf.CHUNK + 1):
        a, b = big_random(size, 3), big_random(size, 4)
        assert np.array_equal(objects(gf.mul(a, b)), objects(a) * objects(b) % P)


def test_mul_does_not_modify_its_inputs() -> None:
    """mul leaves its operands untouched, small or chunked."""
    for size in (10, BIG):
        a, b = big_random(size, 5), big_random(size, 6)
        a_copy, b_copy = a.copy(), b.copy()
        gf.mul(a, b)
        assert np.array_equal(a, a_copy)
        assert np.array_equal(b, b_copy)


def test_mul_on_strided_large_views() -> None:
    """mul of non-contiguous views larger than a chunk is exact."""
    a, b = big_random(2 * BIG, 7), big_random(2 * BIG, 8)
    got = gf.mul(a[::2], b[1::2])
    assert np.array_equal(objects(got), objects(a[::2]) * objects(b[1::2]) % P)


def test_mul_of_large_two_dimensional_arrays() -> None:
    """mul of 2-D arrays over several chunks keeps the shape and is exact."""
    a, b = big_random(4 * gf.CHUNK, 9).reshape(4, -1), big_random(4 * gf.CHUNK, 10).reshape(4, -1)
    got = gf.mul(a, b)
    assert got.shape == a.shape
    assert np.array_equal(objects(got), objects(a) * objects(b) % P)


@pytest.mark.parametrize("size", [1, 5, BIG], ids=["one", "small", "big"])
@pytest.mark.parametrize("scalar", [0, 1, 2, P - 1, (1 << 32) + 3])
def test_mul_broadcasts_a_one_element_array(size: int, scalar: int) -> None:
    """mul by a 1-element array broadcasts on either side, chunked or not."""
    a = big_random(size, 11)
    one = np.array([scalar], dtype=np.uint64)
    expected = objects(a) * scalar % P
    assert np.array_equal(objects(gf.mul(a, one)), expected)
    assert np.array_equal(objects(gf.mul(one, a)), expected)


def test_mul_broadcasts_two_dimensions() -> None:
    """mul broadcasts (3, 1) against (1, 4) like numpy."""
    a = field_array([1, P - 1, 1 << 40]).reshape(3, 1)
    b = field_array([2, 3, P - 2, 1 << 33]).reshape(1, 4)
    got = gf.mul(a, b)
    assert got.shape == (3, 4)
    assert got.tolist() == [[x * y % P for y in b[0].tolist()] for x in a[:, 0].tolist()]


@pytest.mark.parametrize("size", [5, BIG])
def test_add_sub_broadcast_a_one_element_array(size: int) -> None:
    """add and sub with a 1-element array broadcast on either side."""
    a = big_random(size, 12)
    one = np.array([P - 1], dtype=np.uint64)
    assert np.array_equal(objects(gf.add(a, one)), (objects(a) + (P - 1)) % P)
    assert np.array_equal(objects(gf.sub(a, one)), (objects(a) - (P - 1)) % P)
    assert np.array_equal(objects(gf.sub(one, a)), ((P - 1) - objects(a)) % P)


def test_linear_ops_on_large_arrays() -> None:
    """add, sub, neg, scale, mul_pow2 and reduce are exact on arrays larger than a chunk."""
    a, b = big_random(BIG, 13), big_random(BIG, 14)
    oa, ob = objects(a), objects(b)
    assert np.array_equal(objects(gf.add(a, b)), (oa + ob) % P)
    assert np.array_equal(objects(gf.sub(a, b)), (oa - ob) % P)
    assert np.array_equal(objects(gf.neg(a)), (-oa) % P)
    assert np.array_equal(objects(gf.scale(a, -12345678901)), oa * -12345678901 % P)
    assert np.array_equal(objects(gf.scale(a, -3)), oa * -3 % P)
    assert np.array_equal(objects(gf.mul_pow2(a, 45)), oa * (1 << 45) % P)
    raw = np.random.default_rng(15).integers(0, 1 << 64, BIG, dtype=np.uint64)
    assert np.array_equal(objects(gf.reduce(raw)), objects(raw) % P)


def test_sum_all_and_cumsum_on_large_arrays() -> None:
    """sum_all and cumsum stay exact where a naive uint64 sum would overflow."""
    worst = np.full(1 << 20, P - 1, dtype=np.uint64)
    assert gf.sum_all(worst) == (P - 1) * (1 << 20) % P
    a = big_random(BIG, 16)
    assert gf.sum_all(a) == sum(as_ints(a)) % P
    got = gf.cumsum(a)
    assert_canonical(got)
    assert as_ints(got) == [s % P for s in accumulate(as_ints(a))]
    assert as_ints(gf.cumsum(worst[:1000])) == [(P - 1) * k % P for k in range(1, 1001)]


# --- coefficients of the form m·2^k (shortcut paths of scale and linear_combination) --------

small_times_power = st.builds(
    lambda m, k: m * (1 << k), st.integers(-7, 7).filter(bool), st.integers(0, 60)
)


@FAST
@given(vectors(elements, max_size=20), small_times_power)
def test_scale_by_small_multiples_of_powers_of_two(a: list[int], coefficient: int) -> None:
    """scale by m·2^k (|m| < 8), e.g. 1/2 = 2^60 or -3/2, equals (a·c) mod p."""
    for c in (coefficient, coefficient * (1 << 61), pow(coefficient, -1, P)):
        got = gf.scale(field_array(a), c)
        assert_canonical(got)
        assert as_ints(got) == [x * c % P for x in a]


@FAST
@given(
    st.integers(1, 4).flatmap(
        lambda count: st.tuples(
            st.lists(st.integers(-7, 7), min_size=count, max_size=count),
            st.integers(0, 60),
            st.lists(vectors(elements, 6), min_size=count, max_size=count),
        )
    )
)
def test_linear_combination_with_one_common_power_of_two(
    case: tuple[list[int], int, list[list[int]]],
) -> None:
    """Σ mᵢ·2^k·aᵢ (the fused small-coefficient path, zeros included) equals the integer sum."""
    small, k, columns = case
    width = min(len(c) for c in columns)
    arrays = [c[:width] for c in columns]
    coeffs = [m * (1 << k) for m in small]
    got = gf.linear_combination(coeffs, [field_array(a) for a in arrays])
    assert_canonical(got)
    expected = [
        sum(c * a[j] for c, a in zip(coeffs, arrays, strict=True)) % P for j in range(width)
    ]
    assert as_ints(got) == expected


def folds_to_p_or_more(m: int) -> list[int]:
    """Canonical x whose product m·x folds (low 61 bits + high bits) to a value ≥ p.

    m·x = (q + 1)·p + r with r ≤ q: the one-fold reduction of m·x is then p + r, not canonical.
    """
    out = []
    for q in range(m - 1):
        for r in range(q + 1):
            total = (q + 1) * P + r
            if total % m == 0 and total // m < P:
                out.append(total // m)
    return out


FOLD_CASES = [(m, x) for m in range(2, 8) for x in folds_to_p_or_more(m)]


def test_fold_cases_exist() -> None:
    """There are inputs whose small product folds to p or more (e.g. 3·(2p + 1)/3 = 2^62 - 1)."""
    assert (3, (2 * P + 1) // 3) in FOLD_CASES


@pytest.mark.parametrize(("m", "x"), FOLD_CASES, ids=[f"m{m}-x{x}" for m, x in FOLD_CASES])
@pytest.mark.parametrize("k", [0, 1, 60])
def test_scale_and_linear_combination_at_fold_boundaries(m: int, x: int, k: int) -> None:
    """±m·2^k times an x whose product m·x folds to ≥ p still gives a canonical, exact result."""
    a = field_array([x, 0, 1, P - 1])
    for coefficient in (m << k, -(m << k)):
        assert as_ints(gf.scale(a, coefficient)) == [v * coefficient % P for v in as_ints(a)]
        got = gf.linear_combination([coefficient], [a])
        assert_canonical(got)
        assert as_ints(got) == [v * coefficient % P for v in as_ints(a)]
        pair = gf.linear_combination([coefficient, 1 << k], [a, gf.constant_array(0, (4,))])
        assert as_ints(pair) == [v * coefficient % P for v in as_ints(a)]


# --- weighted_bits ---------------------------------------------------------------------------


@FAST
@given(st.integers(0, 61), st.integers(1, 5), st.data())
def test_weighted_bits_matches_integers(count: int, size: int, data: st.DataObject) -> None:
    """weighted_bits equals Σᵢ 2ⁱ·rows[i] mod p for up to 61 rows of any field elements."""
    flat = data.draw(st.lists(elements, min_size=count * size, max_size=count * size))
    rows = field_array(flat).reshape(count, size)
    got = gf.weighted_bits(rows)
    assert_canonical(got)
    assert got.shape == (size,)
    expected = [sum(int(rows[i, j]) << i for i in range(count)) % P for j in range(size)]
    assert as_ints(got) == expected


def test_weighted_bits_of_all_ones_and_too_many_rows() -> None:
    """61 one-bits spell p ≡ 0; more than 61 rows are refused."""
    assert as_ints(gf.weighted_bits(np.ones((61, 2), dtype=np.uint64))) == [0, 0]
    top = np.full((61, 1), P - 1, dtype=np.uint64)
    assert as_ints(gf.weighted_bits(top)) == [(P - 1) * ((1 << 61) - 1) % P]
    with pytest.raises(ValueError, match="61"):
        gf.weighted_bits(np.zeros((62, 1), dtype=np.uint64))


# --- shapes -----------------------------------------------------------------------------------

UNARY = {
    "neg": gf.neg,
    "reduce": gf.reduce,
    "scale-1": lambda a: gf.scale(a, -1),
    "scale3": lambda a: gf.scale(a, 3),
    "scale-big": lambda a: gf.scale(a, 123456789123),
    "mul_pow2": lambda a: gf.mul_pow2(a, 5),
    "square": lambda a: gf.mul(a, a),
    "double": lambda a: gf.add(a, a),
    "minus-self": lambda a: gf.sub(a, a),
}


@pytest.mark.parametrize("shape", [(), (1,), (3,), (2, 3)], ids=["0-d", "1", "3", "2x3"])
@pytest.mark.parametrize("name", list(UNARY))
def test_elementwise_operations_keep_the_shape(name: str, shape: tuple[int, ...]) -> None:
    """Elementwise operations return their operand's shape (0-d arrays included, as dot makes)."""
    a = np.full(shape, 5, dtype=np.uint64)
    out = UNARY[name](a)
    assert out.shape == shape


# --- fused small combinations and masked selection -------------------------------------------

HALF = pow(2, P - 2, P)


@pytest.mark.parametrize(
    "small",
    [(-1, 3), (1, 1), (3, -3), (6, 3), (-7, -7, 7, 7), (0, 5), (0, 0), (7, 7, 7)],
    ids=str,
)
@pytest.mark.parametrize("exponent", [0, 1, 58, 60])
def test_small_multiples_with_a_common_exponent_match_integers(
    small: tuple[int, ...], exponent: int
) -> None:
    """Σ mᵢ·2^k·aᵢ over several chunks, with p − 1 everywhere in the first chunk, is exact."""
    rng = np.random.default_rng(len(small) + exponent)
    arrays = [rng.integers(0, P, BIG, dtype=np.uint64) for _ in small]
    for array in arrays:
        array[: gf.CHUNK] = P - 1
    coefficients = [m * pow(2, exponent, P) % P for m in small]
    got = gf.linear_combination(coefficients, arrays)
    expected = [
        sum(c * int(a[k]) for c, a in zip(coefficients, arrays, strict=True)) % P
        for k in range(BIG)
    ]
    assert as_ints(got) == expected


def test_dealing_weights_share_one_exponent() -> None:
    """−1/2 and 3/2 (a three-party dealer's weights) are combined as (−1, 3)·2^60, exactly."""
    a, b = field_array([P - 1, 0, 5]), field_array([P - 1, 7, 0])
    got = gf.linear_combination([P - HALF, 3 * HALF % P], [a, b])
    expected = [(-(P - 1) + 3 * (P - 1)) * HALF % P, 3 * 7 * HALF % P, -5 * HALF % P]
    assert as_ints(got) == expected


def test_pick_broadcasts_and_selects_by_mask() -> None:
    """pick takes when_true under all-ones words and when_false under zero words, broadcasting."""
    mask = gf.choice_mask(np.array([[1], [0]], dtype=np.uint64))
    assert as_ints(mask) == [2**64 - 1, 0]
    picked = gf.pick(mask, field_array([P - 1, 2, 3]), field_array([4]))
    assert picked.shape == (2, 3)
    assert as_ints(picked) == [P - 1, 2, 3, 4, 4, 4]
    wide = gf.select_public(np.array([2, 0], dtype=np.uint64), field_array([9]), field_array([8]))
    assert as_ints(wide) == [9, 8]
