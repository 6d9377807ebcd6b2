"""Random shared bits, masks and bitwise circuits against public values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import arithmetic, bits, sharing
from protocols.field import Array
from protocols.program import Context, Program
from protocols.shamir import Committee

from .helpers import (
    COMMITTEE_SIZES,
    QUICK,
    P,
    ProgramFactory,
    agreed,
    as_ints,
    assert_detected,
    corrupt,
    input_from,
    labels,
    run,
    under,
    vector_pairs,
)

SIZES = COMMITTEE_SIZES


def random_bits_program(size: int) -> ProgramFactory:
    """Draw ``size`` shared random bits and open them."""

    def program(ctx: Context) -> Program[Array]:
        shared = yield from bits.random_bits(ctx, size)
        assert shared.shape == (size,)
        return (yield from sharing.open_values(ctx, shared))

    return program


def mask_program(size: int, nbits: int) -> ProgramFactory:
    """Draw a random mask and open its bits and its value."""

    def program(ctx: Context) -> Program[tuple[Array, Array]]:
        mask = yield from bits.random_mask(ctx, size, nbits)
        shared_bits, value = mask.bits, mask.value
        assert mask.pairs is None
        assert shared_bits.shape == (nbits, size)
        assert value.shape == (size,)
        opened_bits = yield from sharing.open_values(ctx, shared_bits)
        opened_value = yield from sharing.open_values(ctx, value)
        return opened_bits, opened_value

    return program


def circuit_program(kind: str, secret: list[int], public: list[int], nbits: int) -> ProgramFactory:
    """Party 0 shares the bits of ``secret``; compare them with the public values' bits."""
    size = len(secret)
    secret_bits = [(v >> i) & 1 for i in range(nbits) for v in secret]
    public_bits = bits.public_bits(np.array(public, dtype=np.uint64), nbits)

    def program(ctx: Context) -> Program[Array]:
        shared = (yield from input_from(ctx, 0, secret_bits)).reshape(nbits, size)
        if kind == "greater":
            result = yield from bits.greater_than_public(ctx, shared, public_bits)
        elif kind == "greater-pairs":
            half = nbits // 2
            pairs = yield from arithmetic.mul(
                ctx, shared[1 : 2 * half : 2], shared[0 : 2 * half : 2]
            )
            result = yield from bits.greater_than_public(ctx, shared, public_bits, pairs)
        else:
            result = yield from bits.equal_public(ctx, shared, public_bits)
        return (yield from sharing.open_values(ctx, result))

    return program


# --- random bits ----------------------------------------------------------------------------


@pytest.mark.parametrize("n", SIZES)
def test_random_bits_are_bits_and_not_constant(n: int) -> None:
    """256 random bits open to 0/1 values, not all equal, the same at every party."""
    results, _ = run(n, random_bits_program(256), seed=50)
    opened = agreed(results, n)
    assert set(opened) <= {0, 1}
    assert 64 < sum(opened) < 192


@pytest.mark.parametrize("n", SIZES)
def test_random_bits_rounds(n: int) -> None:
    """t + 1 parties deal bits (one round), then ⌈log₂(t + 1)⌉ rounds of XOR."""
    t = Committee(n).threshold
    _, runner = run(n, random_bits_program(16), seed=51)
    rounds = labels(runner)
    dealing = under(runner, rounds[0])
    assert {d.sender for d in dealing} == set(range(t + 1))
    assert len(rounds) == 1 + t.bit_length() + 1  # deal, XOR levels, opening


def test_random_bits_depend_on_the_parties_randomness() -> None:
    """Different seeds give different bits; the same seed gives the same bits."""
    first = agreed(run(3, random_bits_program(128), seed=52)[0], 3)
    again = agreed(run(3, random_bits_program(128), seed=52)[0], 3)
    other = agreed(run(3, random_bits_program(128), seed=53)[0], 3)
    assert first == again
    assert first != other


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("nbits", [1, 8, 61])
def test_random_mask_value_is_the_sum_of_its_bits(n: int, nbits: int) -> None:
    """The mask value opens to Σ 2ⁱ·rᵢ mod p of its opened bits."""
    size = 6
    results, _ = run(n, mask_program(size, nbits), seed=54)
    opened_bits, value = results[0]
    assert set(as_ints(opened_bits)) <= {0, 1}
    expected = [sum(int(opened_bits[i, j]) << i for i in range(nbits)) % P for j in range(size)]
    assert as_ints(value) == expected
    for other_bits, other_value in results[1:]:
        assert np.array_equal(other_bits, opened_bits)
        assert np.array_equal(other_value, value)


def test_random_mask_uses_all_61_bits() -> None:
    """Over many masks, every one of the 61 bit positions takes both values."""
    results, _ = run(3, mask_program(64, bits.MASK_BITS), seed=55)
    opened_bits = results[0][0]
    assert opened_bits.shape == (61, 64)
    assert all(0 < int(row.sum()) < 64 for row in opened_bits)


# --- circuits against public values ---------------------------------------------------------

NBITS = [1, 2, 3, 7, 61]


def pairs_for(nbits: int) -> st.SearchStrategy[tuple[list[int], list[int]]]:
    """Pairs of nbits-bit values, with the extremes and many equal pairs."""
    top = (1 << nbits) - 1
    element = st.one_of(st.sampled_from([0, 1, top, top - 1, top >> 1]), st.integers(0, top))
    return vector_pairs(element)


@pytest.mark.parametrize("n", SIZES)
@QUICK
@given(st.data())
def test_greater_than_public(n: int, data: st.DataObject) -> None:
    """greater_than_public opens to [r > c] for shared bits r and public c."""
    nbits = data.draw(st.sampled_from(NBITS), label="nbits")
    secret, public = data.draw(pairs_for(nbits), label="values")
    results, _ = run(n, circuit_program("greater", secret, public, nbits), seed=56)
    assert agreed(results, n) == [int(r > c) for r, c in zip(secret, public, strict=True)]


@pytest.mark.parametrize("n", SIZES)
@QUICK
@given(st.data())
def test_greater_than_public_with_adjacent_products(n: int, data: st.DataObject) -> None:
    """With adjacent-bit products the linear first level gives the same [r > c]."""
    nbits = data.draw(st.sampled_from(NBITS), label="nbits")
    secret, public = data.draw(pairs_for(nbits), label="values")
    results, _ = run(n, circuit_program("greater-pairs", secret, public, nbits), seed=59)
    assert agreed(results, n) == [int(r > c) for r, c in zip(secret, public, strict=True)]


@pytest.mark.parametrize("n", SIZES)
def test_random_mask_adjacent_products(n: int) -> None:
    """with_pairs returns r₂ₖ₊₁·r₂ₖ for every adjacent pair of mask bits."""

    def program(ctx: Context) -> Program[tuple[Array, Array]]:
        mask = yield from bits.random_mask(ctx, 8, 7, with_pairs=True)
        assert mask.pairs is not None
        opened_bits = yield from sharing.open_values(ctx, mask.bits)
        opened_pairs = yield from sharing.open_values(ctx, mask.pairs)
        return opened_bits, opened_pairs

    results, _ = run(n, program, seed=60)
    opened_bits, opened_pairs = results[0]
    assert opened_pairs.shape == (3, 8)
    for k in range(3):
        assert (opened_pairs[k] == opened_bits[2 * k + 1] * opened_bits[2 * k]).all()


@pytest.mark.parametrize("n", SIZES)
@QUICK
@given(st.data())
def test_equal_public(n: int, data: st.DataObject) -> None:
    """equal_public opens to [r = c] for shared bits r and public c."""
    nbits = data.draw(st.sampled_from(NBITS), label="nbits")
    secret, public = data.draw(pairs_for(nbits), label="values")
    results, _ = run(n, circuit_program("equal", secret, public, nbits), seed=57)
    assert agreed(results, n) == [int(r == c) for r, c in zip(secret, public, strict=True)]


def test_greater_than_public_rounds() -> None:
    """The 61-bit comparison circuit takes ⌈log₂ 61⌉ = 6 rounds."""
    _, runner = run(3, circuit_program("greater", [5, 9], [9, 5], 61), seed=58)
    assert len(labels(runner)) == 1 + 6 + 1  # input, circuit, opening


def test_public_bits() -> None:
    """public_bits lists the bits of each value, least significant first."""
    out = bits.public_bits(np.array([0, 5, P - 1], dtype=np.uint64))
    assert out.shape == (61, 3)
    assert out.dtype == np.uint64
    assert out[:, 1].tolist()[:4] == [1, 0, 1, 0]
    assert sum(int(b) << i for i, b in enumerate(out[:, 2])) == P - 1
    assert not out[:, 0].any()
    assert bits.public_bits(np.array([6], dtype=np.uint64), 3)[:, 0].tolist() == [0, 1, 1]


# --- tampering ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("stage", ["deal", "xor"])
def test_tampered_random_bits_abort(n: int, stage: str) -> None:
    """A corrupted bit share (dealing or XOR reshare) is caught when the bits are opened."""
    factory = random_bits_program(32)
    _, clean = run(n, factory, seed=59)
    rounds = labels(clean)
    messages = under(clean, rounds[0] if stage == "deal" else rounds[1])
    for delivery in (messages[0], messages[-1]):
        tamper = corrupt(delivery.label, delivery.sender, delivery.receiver, 0, 5)
        assert_detected(n, factory, tamper, seed=59)
