"""Shamir sharing over GF(2^61 - 1): round trips, consistency checks, Lagrange weights."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import field as gf
from protocols import shamir
from protocols.errors import AbortCode, LocalProtocolError, ProtocolAbortedError
from protocols.randomness import InsecureSeededRandomSource
from protocols.shamir import Committee

from .helpers import P, as_ints, field_array, field_elements, vectors

SIZES = [3, 4, 5, 6, 7, 15]
FAST = settings(max_examples=25, deadline=None)
seeds = st.integers(0, 2**32)


def deal(n: int, secrets: list[int], seed: int) -> tuple[Committee, np.ndarray]:
    """Shares of ``secrets`` for a committee of ``n``."""
    committee = Committee(n)
    return committee, shamir.share(
        field_array(secrets), committee, InsecureSeededRandomSource(seed)
    )


def evaluate(coefficients: list[int], x: int) -> int:
    """A polynomial (constant term first) at ``x`` mod p."""
    return sum(c * pow(x, k, P) for k, c in enumerate(coefficients)) % P


@pytest.mark.parametrize("n", SIZES)
@FAST
@given(vectors(field_elements()), seeds)
def test_share_reconstruct_round_trip(n: int, secrets: list[int], seed: int) -> None:
    """Dealing then reconstructing from all n shares gives the secrets back."""
    committee, shares = deal(n, secrets, seed)
    assert shares.shape == (n, len(secrets))
    assert shares.dtype == np.uint64
    assert int(shares.max()) < P
    assert as_ints(shamir.reconstruct(shares, committee)) == secrets


@pytest.mark.parametrize("n", SIZES)
@FAST
@given(vectors(field_elements()), seeds, st.data())
def test_any_t_plus_one_shares_determine_the_secret(
    n: int, secrets: list[int], seed: int, data: st.DataObject
) -> None:
    """Interpolating any t + 1 shares at 0 gives the secret (the shares have degree t)."""
    committee, shares = deal(n, secrets, seed)
    t = committee.threshold
    subset = sorted(data.draw(st.permutations(range(n)))[: t + 1])
    weights = shamir.lagrange(tuple(committee.point(i) for i in subset), 0)
    got = gf.linear_combination(list(weights), [shares[i] for i in subset])
    assert as_ints(got) == secrets


@pytest.mark.parametrize("n", SIZES)
@FAST
@given(vectors(field_elements()), seeds, st.data())
def test_any_single_altered_share_is_detected(
    n: int, secrets: list[int], seed: int, data: st.DataObject
) -> None:
    """Changing one element of one party's share makes reconstruct abort."""
    committee, shares = deal(n, secrets, seed)
    party = data.draw(st.integers(0, n - 1), label="party")
    element = data.draw(st.integers(0, len(secrets) - 1), label="element")
    delta = data.draw(st.integers(1, P - 1), label="delta")
    shares[party, element] = (int(shares[party, element]) + delta) % P
    with pytest.raises(ProtocolAbortedError) as info:
        shamir.reconstruct(shares, committee)
    assert info.value.code == AbortCode.INCONSISTENT_SHARES
    assert info.value.party is None


@pytest.mark.parametrize(("n", "party"), [(n, i) for n in (3, 4, 5, 7) for i in range(n)])
def test_bumping_each_share_by_one_is_detected(n: int, party: int) -> None:
    """The smallest change (+1) to any party's share, basis or extra point, is caught."""
    committee, shares = deal(n, [0, 1, P - 1], 99)
    shares[party, 1] = (int(shares[party, 1]) + 1) % P
    with pytest.raises(ProtocolAbortedError) as info:
        shamir.reconstruct(shares, committee)
    assert info.value.code == AbortCode.INCONSISTENT_SHARES


@pytest.mark.parametrize("n", [3, 5, 7])
@FAST
@given(vectors(field_elements(), 8), vectors(field_elements(), 8), seeds)
def test_product_of_shares_reconstructs_at_degree_2t(
    n: int, a: list[int], b: list[int], seed: int
) -> None:
    """Local products of shares lie on a degree-2t polynomial through a·b (when n ≥ 2t + 1)."""
    width = min(len(a), len(b))
    a, b = a[:width], b[:width]
    committee, sa = deal(n, a, seed)
    _, sb = deal(n, b, seed + 1)
    product = gf.mul(sa, sb)
    got = shamir.reconstruct(product, committee, degree=2 * committee.threshold)
    assert as_ints(got) == [x * y % P for x, y in zip(a, b, strict=True)]


def test_two_dimensional_secrets() -> None:
    """share keeps the secrets' shape behind the party axis."""
    committee = Committee(5)
    secrets = field_array(range(12)).reshape(3, 4)
    shares = shamir.share(secrets, committee, InsecureSeededRandomSource(1))
    assert shares.shape == (5, 3, 4)
    assert np.array_equal(shamir.reconstruct(shares, committee), secrets)


def test_sharing_is_randomised_by_the_source() -> None:
    """The same secret dealt from two seeds gives different shares, same seed the same."""
    _, one = deal(5, [42] * 4, 1)
    _, again = deal(5, [42] * 4, 1)
    _, other = deal(5, [42] * 4, 2)
    assert np.array_equal(one, again)
    assert not np.array_equal(one[0], other[0])
    assert len(set(as_ints(one[0]))) == 4  # fresh coefficients per element


@FAST
@given(
    st.lists(st.integers(1, 1000), min_size=1, max_size=8, unique=True),
    st.data(),
    st.integers(-1000, 1000),
)
def test_lagrange_weights_interpolate_random_polynomials(
    points: list[int], data: st.DataObject, target: int
) -> None:
    """Σ wᵢ·f(xᵢ) = f(target) for random f of degree < len(points)."""
    degree = data.draw(st.integers(0, len(points) - 1), label="degree")
    coefficients = data.draw(
        st.lists(field_elements(), min_size=degree + 1, max_size=degree + 1), label="f"
    )
    weights = shamir.lagrange(tuple(points), target)
    assert len(weights) == len(points)
    combined = sum(w * evaluate(coefficients, x) for w, x in zip(weights, points, strict=True))
    assert combined % P == evaluate(coefficients, target)


def test_lagrange_at_a_basis_point_is_a_unit_vector() -> None:
    """Interpolating at one of the points selects that point's value."""
    assert shamir.lagrange((1, 2, 3), 2) == (0, 1, 0)
    assert sum(shamir.lagrange((1, 2, 3, 4), 0)) % P == 1  # constants interpolate to themselves


@pytest.mark.parametrize("n", range(3, 16))
def test_committee_sizes_and_thresholds(n: int) -> None:
    """Committees of 3 to 15 parties have t = ⌊(n - 1)/2⌋ and points i + 1."""
    committee = Committee(n)
    assert committee.threshold == (n - 1) // 2
    assert list(committee.parties) == list(range(n))
    assert [committee.point(i) for i in committee.parties] == list(range(1, n + 1))


@pytest.mark.parametrize("n", [-1, 0, 1, 2, 16, 100])
def test_committee_outside_3_to_15_is_refused(n: int) -> None:
    """A committee of fewer than 3 or more than 15 parties is a LocalProtocolError."""
    with pytest.raises(LocalProtocolError):
        Committee(n)


def test_reconstruct_needs_one_share_per_party() -> None:
    """reconstruct refuses a share array without exactly n rows."""
    committee, shares = deal(5, [1, 2], 0)
    with pytest.raises(LocalProtocolError):
        shamir.reconstruct(shares[:4], committee)
