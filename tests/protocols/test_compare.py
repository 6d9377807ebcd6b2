"""Exact comparison and equality of shared signed integers, against plaintext."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import compare, sharing
from protocols import field as gf
from protocols.field import Array
from protocols.program import Context, Program
from protocols.shamir import Committee

from .helpers import (
    COMMITTEE_SIZES,
    COMPARE_BOUND,
    COMPARE_EDGES,
    FIELD_EDGES,
    QUICK,
    P,
    ProgramFactory,
    SharedOp,
    agreed,
    assert_detected,
    corrupt,
    field_elements,
    input_from,
    labels,
    run,
    run_binary,
    run_unary,
    signed,
    under,
    vector_pairs,
    vectors,
)

SIZES = COMMITTEE_SIZES
comparable = signed(COMPARE_BOUND, COMPARE_EDGES)
HALF = (P - 1) // 2  # is_negative supports |x| < p/2, i.e. |x| ≤ 2^60 - 1
half_range = signed(HALF + 1, (*COMPARE_EDGES, HALF, -HALF, HALF - 1, -(HALF - 1)))
LSB_EDGES = (*FIELD_EDGES, P - 3, HALF + 2)


@pytest.mark.parametrize("n", SIZES)
@QUICK
@given(vectors(st.one_of(st.sampled_from(LSB_EDGES), field_elements())))
def test_lsb(n: int, values: list[int]) -> None:
    """lsb opens to the lowest bit of y read as an integer in [0, p)."""
    assert run_unary(n, compare.lsb, values, seed=60) == [v & 1 for v in values]


@pytest.mark.parametrize("n", SIZES)
@QUICK
@given(vectors(half_range))
def test_is_negative(n: int, values: list[int]) -> None:
    """is_negative opens to [x < 0] over the whole range |x| < p/2."""
    assert run_unary(n, compare.is_negative, values, seed=61) == [int(v < 0) for v in values]


@pytest.mark.parametrize("n", SIZES)
@QUICK
@given(vector_pairs(comparable))
def test_less_than(n: int, pair: tuple[list[int], list[int]]) -> None:
    """less_than opens to [a < b] for |a|, |b| < 2^59."""
    a, b = pair
    got = run_binary(n, compare.less_than, a, b, seed=62)
    assert got == [int(x < y) for x, y in zip(a, b, strict=True)]


@pytest.mark.parametrize("n", SIZES)
@QUICK
@given(vector_pairs(comparable))
def test_less_equal(n: int, pair: tuple[list[int], list[int]]) -> None:
    """less_equal opens to [a ≤ b] for |a|, |b| < 2^59."""
    a, b = pair
    got = run_binary(n, compare.less_equal, a, b, seed=63)
    assert got == [int(x <= y) for x, y in zip(a, b, strict=True)]


@pytest.mark.parametrize("n", SIZES)
@QUICK
@given(vectors(st.one_of(st.sampled_from(LSB_EDGES), field_elements(), comparable)))
def test_is_zero(n: int, values: list[int]) -> None:
    """is_zero opens to [x = 0] for any field element."""
    assert run_unary(n, compare.is_zero, values, seed=64) == [int(v % P == 0) for v in values]


@pytest.mark.parametrize("n", SIZES)
@QUICK
@given(vector_pairs(comparable))
def test_equal(n: int, pair: tuple[list[int], list[int]]) -> None:
    """equal opens to [a = b]."""
    a, b = pair
    got = run_binary(n, compare.equal, a, b, seed=65)
    assert got == [int(x == y) for x, y in zip(a, b, strict=True)]


EXTREMES = [
    (-(1 << 59) + 1, (1 << 59) - 1),
    ((1 << 59) - 1, -(1 << 59) + 1),
    ((1 << 58), -(1 << 58)),
    (-(1 << 58), (1 << 58)),
    ((1 << 47), (1 << 47) - 1),
    (-(1 << 47), -(1 << 47) + 1),
    (0, 0),
    (-1, 0),
    (0, -1),
    (1, -1),
    ((1 << 59) - 1, (1 << 59) - 1),
]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize(
    "op", [compare.less_than, compare.less_equal, compare.equal], ids=["lt", "le", "eq"]
)
def test_comparisons_at_the_extremes(n: int, op: SharedOp) -> None:
    """All comparisons are exact at the edges of the supported range, in one batch."""
    a = [x for x, _ in EXTREMES]
    b = [y for _, y in EXTREMES]
    reference = {
        compare.less_than: lambda x, y: x < y,
        compare.less_equal: lambda x, y: x <= y,
        compare.equal: lambda x, y: x == y,
    }[op]
    got = run_binary(n, op, a, b, seed=66)
    assert got == [int(reference(x, y)) for x, y in EXTREMES]


@pytest.mark.parametrize("n", SIZES)
def test_comparison_of_external_inputs(n: int) -> None:
    """less_than and equal work on inputs from an external provider and a compute party."""
    a = [1 << 58, -5, 7, 0]
    b = [-(1 << 58), -5, 8, 0]

    def program(ctx: Context) -> Program[Array | None]:
        x = yield from input_from(ctx, n, a)
        y = yield from input_from(ctx, n - 1, b)
        if not ctx.is_compute:
            return None
        lt = yield from compare.less_than(ctx, x, y)
        eq = yield from compare.equal(ctx, x, y)
        return (yield from sharing.open_values(ctx, gf.add(lt, gf.scale(eq, 2))))

    results, _ = run(n, program, seed=67, n_external=1)
    assert agreed(results, n) == [0, 2, 1, 2]


@pytest.mark.parametrize("op", ["lsb", "is_zero"])
def test_batches_larger_than_batch_size(op: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inputs longer than BATCH are processed batch by batch with the same results."""
    monkeypatch.setattr(compare, "BATCH", 4)
    values = [0, 1, 2, 3, -1, -2, 5, 0, 0, 7, -(1 << 58)]
    if op == "lsb":
        results, runner = run(3, _unary(compare.lsb, values), seed=68)
        expected = [v % P & 1 for v in values]
    else:
        results, runner = run(3, _unary(compare.is_zero, values), seed=68)
        expected = [int(v == 0) for v in values]
    assert agreed(results, 3) == expected
    openings = [label for label in labels(runner) if len(under(runner, label)) == 3 * 2]
    committee = Committee(3)
    shapes = [
        next(
            d.arrays[0].shape
            for d in under(runner, label)
            if d.sender in sharing.open_sources(committee, d.receiver)
        )
        for label in openings
    ]
    assert shapes == [(4,), (4,), (3,), (11,)]  # three masked batches, then the result


def _unary(op: SharedOp, values: list[int]) -> ProgramFactory:
    def program(ctx: Context) -> Program[Array]:
        x = yield from input_from(ctx, 0, values)
        z = yield from op(ctx, x)
        return (yield from sharing.open_values(ctx, z))

    return program


def test_lsb_round_count() -> None:
    """lsb at n=3: deal and XOR of mask bits, one opening, 6 circuit rounds, one final XOR."""
    _, runner = run(3, _unary(compare.lsb, [1, 2, 3]), seed=69)
    assert len(labels(runner)) == 1 + 2 + 1 + 6 + 1 + 1  # input ... final opening


def test_is_zero_round_count() -> None:
    """is_zero at n=3: deal and XOR of mask bits, one opening, a 6-round product tree."""
    _, runner = run(3, _unary(compare.is_zero, [1, 0, 3]), seed=70)
    assert len(labels(runner)) == 1 + 2 + 1 + 6 + 1


# --- tampering ------------------------------------------------------------------------------


def _every_round(op: SharedOp, unary: bool) -> list[tuple[str, str, int, int, int]]:
    name = op.__name__
    factory = _unary(op, [3, -4, 0]) if unary else _binary(op)
    _, clean = run(3, factory, seed=71)
    cases = []
    for label in labels(clean):
        for d in (under(clean, label)[0], under(clean, label)[-1]):
            cases.extend((name, label, d.sender, d.receiver, k) for k in range(len(d.arrays)))
    return list(dict.fromkeys(cases))


def _binary(op: SharedOp) -> ProgramFactory:
    def program(ctx: Context) -> Program[Array]:
        x = yield from input_from(ctx, 0, [3, -4, 0])
        y = yield from input_from(ctx, 1, [3, 5, -(1 << 58)])
        z = yield from op(ctx, x, y)
        return (yield from sharing.open_values(ctx, z))

    return program


OPS: dict[str, tuple[SharedOp, bool]] = {
    "lsb": (compare.lsb, True),
    "less_than": (compare.less_than, False),
    "is_zero": (compare.is_zero, True),
    "equal": (compare.equal, False),
}
ROUND_CASES = [case for op, unary in OPS.values() for case in _every_round(op, unary)]


@pytest.mark.parametrize(
    ("name", "label", "sender", "receiver", "array"),
    ROUND_CASES,
    ids=[f"{name}-{lab}-{s}to{r}-a{k}" for name, lab, s, r, k in ROUND_CASES],
)
def test_corruption_in_any_round_of_a_comparison_aborts(
    name: str, label: str, sender: int, receiver: int, array: int
) -> None:
    """Adding 1 to one element of a message in any round of lsb/less_than/is_zero/equal aborts."""
    op, unary = OPS[name]
    factory = _unary(op, [3, -4, 0]) if unary else _binary(op)
    assert_detected(3, factory, corrupt(label, sender, receiver, array, 0), seed=71)


@pytest.mark.parametrize("name", list(OPS))
def test_corrupted_masked_opening_aborts_at_n5(name: str) -> None:
    """At n=5, corrupting the masked opening y + r of a comparison aborts (inconsistent shares)."""
    op, unary = OPS[name]
    factory = _unary(op, [3, -4, 0]) if unary else _binary(op)
    _, clean = run(5, factory, seed=72)
    opening = next(
        label
        for label in labels(clean)
        if len(under(clean, label)) == 20 and len(under(clean, label)[0].arrays) == 2
    )
    delivery = under(clean, opening)[7]
    assert_detected(5, factory, corrupt(opening, delivery.sender, delivery.receiver, 0, 1), seed=72)
