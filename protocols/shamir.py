"""Shamir secret sharing over GF(2^61 - 1) as pure functions.

Party ``i`` (0-based) of an ``n``-party committee holds the evaluation at ``x = i + 1`` of a random
polynomial of degree ``t = ⌊(n - 1)/2⌋`` whose value at 0 is the secret. Any ``t + 1`` shares
determine the secret; any ``t`` reveal nothing. With all ``n`` shares, the ``n - t - 1`` extra
points let an opening check that the shares lie on one polynomial of degree ``t``; a mismatch
aborts with ``INCONSISTENT_SHARES`` instead of returning a wrong value.

Lagrange weights are cached per (points, target).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np

from protocols import field as gf
from protocols.errors import AbortCode, LocalProtocolError, ProtocolAbortedError
from protocols.field import MODULUS, Array
from protocols.randomness import RandomSource

MIN_PARTIES = 3
MAX_PARTIES = 15


@dataclass(frozen=True)
class Committee:
    """The compute parties of a session: their number and the sharing threshold."""

    n_parties: int
    threshold: int = field(init=False)

    def __post_init__(self) -> None:
        if not MIN_PARTIES <= self.n_parties <= MAX_PARTIES:
            raise LocalProtocolError(
                f"a committee has {MIN_PARTIES} to {MAX_PARTIES} parties, not {self.n_parties}"
            )
        object.__setattr__(self, "threshold", (self.n_parties - 1) // 2)

    @property
    def parties(self) -> range:
        """Indices of the compute parties."""
        return range(self.n_parties)

    def point(self, party: int) -> int:
        """The evaluation point of ``party``."""
        return party + 1


@cache
def lagrange(points: tuple[int, ...], target: int) -> tuple[int, ...]:
    """Weights wᵢ with f(target) = Σ wᵢ·f(pointsᵢ) for every f of degree < len(points)."""
    weights = []
    for i, xi in enumerate(points):
        num, den = 1, 1
        for j, xj in enumerate(points):
            if i != j:
                num = num * (target - xj) % MODULUS
                den = den * (xi - xj) % MODULUS
        weights.append(num * gf.inverse(den) % MODULUS)
    return tuple(weights)


def share(secrets: Array, committee: Committee, source: RandomSource) -> Array:
    """Deal fresh shares of ``secrets``: an array of shape ``(n_parties, *secrets.shape)``."""
    secrets = np.asarray(secrets, dtype=np.uint64)
    t = committee.threshold
    coefficients = source.field(t * secrets.size).reshape((t, *secrets.shape))
    out = np.empty((committee.n_parties, *secrets.shape), dtype=np.uint64)
    for party in committee.parties:
        x = committee.point(party)
        value = secrets
        power = 1
        for k in range(t):
            power = power * x % MODULUS
            value = gf.add(value, gf.scale(coefficients[k], power))
        out[party] = value
    return out


def reconstruct(shares: Array, committee: Committee, degree: int | None = None) -> Array:
    """Recover secrets from all ``n`` shares (shape ``(n, ...)``), checking consistency.

    Interpolates from the first ``degree + 1`` shares and checks that the polynomial predicts
    every other share. Raises ``ProtocolAbortedError(INCONSISTENT_SHARES)`` on a mismatch.
    """
    degree = committee.threshold if degree is None else degree
    n = committee.n_parties
    if shares.shape[0] != n:
        raise LocalProtocolError("reconstruct needs one share per compute party")
    basis = tuple(committee.point(i) for i in range(degree + 1))
    rows = [shares[i] for i in range(degree + 1)]
    for extra in range(degree + 1, n):
        predicted = gf.linear_combination(list(lagrange(basis, committee.point(extra))), rows)
        if not np.array_equal(predicted, shares[extra]):
            raise ProtocolAbortedError(AbortCode.INCONSISTENT_SHARES, party=None)
    return gf.linear_combination(list(lagrange(basis, 0)), rows)
