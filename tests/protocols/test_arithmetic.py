"""Multiplication and its relatives: results against plaintext, traffic, tampering, misuse."""

from __future__ import annotations

from functools import reduce

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import arithmetic, sharing
from protocols import field as gf
from protocols.errors import LocalProtocolError
from protocols.field import Array
from protocols.program import Context, Program
from protocols.runner import make_contexts
from protocols.shamir import Committee

from .helpers import (
    COMMITTEE_SIZES,
    QUICK,
    SIGNED_EDGES,
    P,
    ProgramFactory,
    SharedOp,
    agreed,
    as_ints,
    assert_detected,
    binary_program,
    corrupt,
    field_array,
    input_from,
    labels,
    mod,
    rewrite,
    run,
    run_binary,
    signed,
    under,
    vector_pairs,
)

SIZES = COMMITTEE_SIZES
EDGES = SIGNED_EDGES
values = signed(1 << 60, EDGES)
bits = st.integers(0, 1)


def matrix(rows: int, cols: int) -> st.SearchStrategy[list[list[int]]]:
    """A rows × cols list of signed values."""
    return st.lists(st.lists(values, min_size=cols, max_size=cols), min_size=rows, max_size=rows)


def matrix_program(op: str, a: list[list[int]], b: list[list[int]] | None = None) -> ProgramFactory:
    """Share 2-D inputs (flattened, then reshaped locally), apply ``op``, open."""
    shape = (len(a), len(a[0]))

    def program(ctx: Context) -> Program[Array]:
        x = (yield from input_from(ctx, 0, [v for row in a for v in row])).reshape(shape)
        if op == "product_tree":
            z = yield from arithmetic.product_tree(ctx, x)
        else:
            assert b is not None
            y = (yield from input_from(ctx, 1, [v for row in b for v in row])).reshape(shape)
            z = yield from arithmetic.dot(ctx, x, y)
        return (yield from sharing.open_values(ctx, z))

    return program


# --- results --------------------------------------------------------------------------------


@pytest.mark.parametrize("n", SIZES)
@QUICK
@given(vector_pairs(values))
def test_mul(n: int, pair: tuple[list[int], list[int]]) -> None:
    """mul opens to a·b mod p elementwise."""
    a, b = pair
    got = run_binary(n, arithmetic.mul, a, b, seed=30)
    assert got == [x * y % P for x, y in zip(a, b, strict=True)]


@pytest.mark.parametrize("n", [4, 6])
def test_mul_with_even_committees(n: int) -> None:
    """mul is right when only the first 2t + 1 parties reshare (even n)."""
    a, b = [3, -1, 1 << 58, 0], [-5, -1, 4, 9]
    assert run_binary(n, arithmetic.mul, a, b, seed=31) == [
        x * y % P for x, y in zip(a, b, strict=True)
    ]


@pytest.mark.parametrize("n", SIZES)
def test_mul_of_external_inputs(n: int) -> None:
    """mul works on inputs from a compute party and from an external provider."""
    a, b = [2, -3, 1 << 47], [-(1 << 47), 5, 7]

    def program(ctx: Context) -> Program[Array | None]:
        x = yield from input_from(ctx, n, a)
        y = yield from input_from(ctx, 0, b)
        if not ctx.is_compute:
            return None
        z = yield from arithmetic.mul(ctx, x, y)
        return (yield from sharing.open_values(ctx, z))

    results, _ = run(n, program, seed=32, n_external=1)
    assert agreed(results, n) == [x * y % P for x, y in zip(a, b, strict=True)]


@pytest.mark.parametrize("n", SIZES)
@QUICK
@given(st.integers(1, 5), st.integers(1, 4), st.data())
def test_dot(n: int, rows: int, cols: int, data: st.DataObject) -> None:
    """dot opens to Σₖ a[k]·b[k] along the first axis."""
    a = data.draw(matrix(rows, cols), label="a")
    b = data.draw(matrix(rows, cols), label="b")
    results, _ = run(n, matrix_program("dot", a, b), seed=33)
    expected = [sum(a[k][j] * b[k][j] for k in range(rows)) % P for j in range(cols)]
    assert agreed(results, n) == expected


def test_dot_of_vectors_is_a_scalar() -> None:
    """dot of two 1-D sharings is a 0-d sharing of the inner product."""
    a, b = [1, 2, 3, -4], [5, 6, -7, 8]

    def program(ctx: Context) -> Program[Array]:
        x = yield from input_from(ctx, 0, a)
        y = yield from input_from(ctx, 1, b)
        z = yield from arithmetic.dot(ctx, x, y)
        assert z.shape == ()
        return (yield from sharing.open_values(ctx, z))

    results, _ = run(3, program, seed=34)
    assert agreed(results, 3) == [(5 + 12 - 21 - 32) % P]


@pytest.mark.parametrize("n", SIZES)
@QUICK
@given(vector_pairs(bits))
def test_xor(n: int, pair: tuple[list[int], list[int]]) -> None:
    """xor of shared bits opens to a ⊕ b."""
    a, b = pair
    assert run_binary(n, arithmetic.xor, a, b, seed=35) == [
        x ^ y for x, y in zip(a, b, strict=True)
    ]


def test_xor_public() -> None:
    """xor_public flips exactly the positions where the public bit is 1 (locally)."""
    shared = field_array([0, 1, 0, 1])
    public = np.array([0, 0, 1, 1], dtype=np.uint64)
    assert as_ints(arithmetic.xor_public(shared, public)) == [0, 1, 1, 0]


@pytest.mark.parametrize("n", SIZES)
@QUICK
@given(
    st.integers(1, 20).flatmap(
        lambda k: st.tuples(*[st.lists(s, min_size=k, max_size=k) for s in (bits, values, values)])
    )
)
def test_if_else(n: int, triple: tuple[list[int], list[int], list[int]]) -> None:
    """if_else opens to the chosen value per element."""
    condition, yes, no = triple

    def program(ctx: Context) -> Program[Array]:
        c = yield from input_from(ctx, 0, condition)
        t = yield from input_from(ctx, 1, yes)
        f = yield from input_from(ctx, 2, no)
        z = yield from arithmetic.if_else(ctx, c, t, f)
        return (yield from sharing.open_values(ctx, z))

    results, _ = run(n, program, seed=36)
    expected = [y if c else f for c, y, f in zip(condition, yes, no, strict=True)]
    assert agreed(results, n) == mod(expected)


@pytest.mark.parametrize("n", SIZES)
@QUICK
@given(st.integers(1, 9), st.integers(1, 4), st.data())
def test_product_tree(n: int, rows: int, cols: int, data: st.DataObject) -> None:
    """product_tree opens to the product over the first axis (odd and even row counts)."""
    a = data.draw(matrix(rows, cols), label="rows")
    results, runner = run(n, matrix_program("product_tree", a), seed=37)
    expected = [
        reduce(lambda x, y: x * y % P, (a[k][j] for k in range(rows)), 1) for j in range(cols)
    ]
    assert agreed(results, n) == expected
    multiplications = len(labels(runner)) - 2  # one input label, one opening label
    assert multiplications == (rows - 1).bit_length()


@pytest.mark.parametrize("n", SIZES)
def test_linear_operations_are_local(n: int) -> None:
    """Sums, differences and public scalings of shares open correctly with no extra round."""
    a, b = [5, -3, 1 << 58], [-2, 7, -(1 << 58)]

    def program(ctx: Context) -> Program[Array]:
        x = yield from input_from(ctx, 0, a)
        y = yield from input_from(ctx, 1, b)
        z = gf.sub(gf.add(gf.scale(x, 3), y), gf.scale(y, -2))
        return (yield from sharing.open_values(ctx, z))

    results, runner = run(n, program, seed=38)
    assert agreed(results, n) == [(3 * x + 3 * y) % P for x, y in zip(a, b, strict=True)]
    assert len(labels(runner)) == 3


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7, 15])
def test_product_weights(n: int) -> None:
    """The recombination weights cover the first 2t + 1 points and reproduce constants."""
    committee = Committee(n)
    weights = arithmetic.product_weights(committee)
    assert len(weights) == 2 * committee.threshold + 1
    assert sum(weights) % P == 1


# --- traffic --------------------------------------------------------------------------------


def mul_only(size: int) -> ProgramFactory:
    """Two inputs of ``size`` values, one multiplication, no opening."""
    a = list(range(1, size + 1))
    return binary_program(arithmetic.mul, a, a[::-1])


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7])
@pytest.mark.parametrize("size", [1, 13])
def test_mul_traffic(n: int, size: int) -> None:
    """In mul each reshare dealer sends n-1-t arrays of m elements; the others send nothing."""
    _, runner = run(n, mul_only(size), seed=39)
    committee = Committee(n)
    t = committee.threshold
    mul_label = labels(runner)[2]
    sent = under(runner, mul_label)
    for party in range(n):
        mine = [d for d in sent if d.sender == party]
        assert len(mine) <= n - 1 - t
        elements = sum(a.size for d in mine for a in d.arrays)
        nbytes = sum(a.nbytes for d in mine for a in d.arrays)
        if party < 2 * t + 1:
            assert len(mine) == n - 1 - t
            assert elements == (n - 1 - t) * size
            assert nbytes == 8 * elements
        else:
            assert mine == []
        assert all(len(d.arrays) == 1 for d in mine)
        assert {d.receiver for d in mine}.isdisjoint(sharing.prg_targets(committee, party))


# --- tampering ------------------------------------------------------------------------------

SMALL = ([4, -2, 1 << 47], [-3, 5, 6])


def small_mul_open() -> ProgramFactory:
    """Two inputs, one multiplication, one opening: every kind of compute-party message."""
    return binary_program(arithmetic.mul, *SMALL)


def _every_message() -> list[tuple[int, str, int, int, int]]:
    cases = []
    for n in (3, 5):
        _, runner = run(n, small_mul_open(), seed=40)
        for d in runner.deliveries:
            cases.extend((n, d.label, d.sender, d.receiver, k) for k in range(len(d.arrays)))
    return cases


EVERY_MESSAGE = _every_message()


@pytest.mark.parametrize(
    ("n", "label", "sender", "receiver", "array"),
    EVERY_MESSAGE,
    ids=[f"n{n}-{lab}-{s}to{r}-a{k}" for n, lab, s, r, k in EVERY_MESSAGE],
)
def test_any_single_corrupted_message_aborts(
    n: int, label: str, sender: int, receiver: int, array: int
) -> None:
    """Adding 1 to one element of any one message of a mul + open run aborts the session."""
    element = (sender + receiver) % len(SMALL[0]) if array == 0 else 0
    tamper = corrupt(label, sender, receiver, array, element)
    assert_detected(n, small_mul_open(), tamper, seed=40)


@pytest.mark.parametrize("n", SIZES)
def test_tampered_reshare_in_mul_aborts(n: int) -> None:
    """A corrupted reshare share inside mul is caught by the check at the opening."""
    _, clean = run(n, small_mul_open(), seed=41)
    delivery = under(clean, labels(clean)[2])[-1]
    tamper = corrupt(delivery.label, delivery.sender, delivery.receiver, 0, 1)
    assert_detected(n, small_mul_open(), tamper, seed=41)


@pytest.mark.parametrize("n", SIZES)
def test_offsetting_corruption_of_one_input_share_aborts(n: int) -> None:
    """+1 and -1 on two elements of one input share, then mul: must abort, not open wrongly."""
    _, clean = run(n, small_mul_open(), seed=42)
    delivery = clean.deliveries[0]

    def offset(arrays: tuple[Array, ...]) -> tuple[Array, ...]:
        share = arrays[0].copy()
        share[0] = np.uint64((int(share[0]) + 1) % P)
        share[1] = np.uint64((int(share[1]) - 1) % P)
        return (share,)

    tamper = rewrite(delivery.label, delivery.sender, delivery.receiver, offset)
    assert_detected(n, small_mul_open(), tamper, seed=42)


@pytest.mark.parametrize("n", SIZES)
def test_offsetting_corruption_of_one_reshare_message_aborts(n: int) -> None:
    """+1 and -1 on two elements of one mul reshare message, then mul again: must abort."""
    a, b = SMALL

    def program(ctx: Context) -> Program[Array]:
        x = yield from input_from(ctx, 0, a)
        y = yield from input_from(ctx, 1, b)
        xy = yield from arithmetic.mul(ctx, x, y)
        z = yield from arithmetic.mul(ctx, xy, y)
        return (yield from sharing.open_values(ctx, z))

    _, clean = run(n, program, seed=43)
    delivery = under(clean, labels(clean)[2])[0]

    def offset(arrays: tuple[Array, ...]) -> tuple[Array, ...]:
        share = arrays[0].copy()
        share[0] = np.uint64((int(share[0]) + 1) % P)
        share[2] = np.uint64((int(share[2]) - 1) % P)
        return (share,)

    tamper = rewrite(delivery.label, delivery.sender, delivery.receiver, offset)
    assert_detected(n, program, tamper, seed=43)


# --- misuse ---------------------------------------------------------------------------------


@pytest.mark.parametrize("op", [arithmetic.mul, arithmetic.dot], ids=["mul", "dot"])
def test_mismatched_shapes_are_a_local_error(op: SharedOp) -> None:
    """mul and dot of differently shaped sharings raise LocalProtocolError."""

    def program(ctx: Context) -> Program[Array]:
        x = yield from input_from(ctx, 0, [1, 2, 3])
        return (yield from op(ctx, x, x[:2]))

    with pytest.raises(LocalProtocolError, match="equally shaped"):
        run(3, program, seed=44)


def test_mul_with_a_scalar_shaped_operand_is_a_local_error() -> None:
    """mul does not broadcast a 1-element sharing: shapes must match exactly."""
    ctx = make_contexts(3, seed=45)[0]
    with pytest.raises(LocalProtocolError):
        next(arithmetic.mul(ctx, field_array([1, 2]), field_array([1])))
