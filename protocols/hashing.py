"""Hash tables that line identifiers up bin by bin (plaintext, computed by each party locally).

The querier places each of its ``m`` identifiers in one of three candidate bins by cuckoo hashing
(``≈ 1.27·m`` bins, one identifier per bin). Every other list places each identifier in *all*
three candidate bins (simple hashing), each bin padded to a public maximum load. So if a querier
identifier is in another list, the two meet in the same bin, and each bin needs comparing with
only its own few entries rather than with the whole list.

Identifiers reach this module already encoded as field elements (``encode``: keyed BLAKE2b, 61
bits). Bin positions come from the encoded value and a public seed. Empty slots hold random
dummies. The table sizes depend only on the public size bounds, never on the data.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from protocols.errors import AbortCode, ProtocolAbortedError
from protocols.field import MODULUS, Array, P
from protocols.randomness import RandomSource

HASHES = 3
SECURITY_BITS = 40
CUCKOO_SEEDS = 32
_MAX_KICKS = 500


def encode(identifiers: Sequence[bytes], key: bytes) -> Array:
    """Keyed 61-bit encodings of identifiers, in [1, p): equal inputs give equal outputs."""
    out = np.empty(len(identifiers), dtype=np.uint64)
    for i, identifier in enumerate(identifiers):
        digest = hashlib.blake2b(identifier, key=key, digest_size=8).digest()
        out[i] = int.from_bytes(digest, "little") & MODULUS
    out[(out == 0) | (out == P)] = 1
    return out


def bin_count(n_items: int) -> int:
    """Bins for a querier list of ``n_items`` (cuckoo hashing with three functions)."""
    return max(math.ceil(1.27 * n_items), n_items + 8)


def max_load(n_items: int, n_bins: int) -> int:
    """Smallest load L with P(some bin of a simple-hashed list exceeds L) ≤ 2^-40.

    Union bound over bins of the binomial tail of Bin(3·n_items, 1/n_bins).
    """
    trials = HASHES * n_items
    if trials == 0:
        return 1
    q = 1.0 / n_bins
    log_target = -SECURITY_BITS * math.log(2) - math.log(n_bins)
    for load in range(1, trials + 1):
        if _log_tail(trials, q, load + 1) <= log_target:
            return load
    return trials


def _log_tail(trials: int, q: float, at_least: int) -> float:
    """log P(Bin(trials, q) ≥ at_least), summed in log space over the first terms."""
    if at_least > trials:
        return -math.inf
    terms = []
    for k in range(at_least, min(trials, at_least + 200) + 1):
        terms.append(
            math.lgamma(trials + 1)
            - math.lgamma(k + 1)
            - math.lgamma(trials - k + 1)
            + k * math.log(q)
            + (trials - k) * math.log1p(-q)
        )
    top = max(terms)
    return top + math.log(sum(math.exp(t - top) for t in terms))


def positions(values: Array, n_bins: int, seed: int) -> npt.NDArray[np.int64]:
    """Candidate bins, shape ``(3, len(values))``: multiply-shift hashing of the encodings."""
    out = np.empty((HASHES, values.size), dtype=np.int64)
    for j in range(HASHES):
        digest = hashlib.blake2b(f"bins|{seed}|{j}".encode(), digest_size=8).digest()
        multiplier = np.uint64(int.from_bytes(digest, "little") | 1)
        mixed = (values * multiplier) >> np.uint64(20)
        out[j] = (mixed % np.uint64(n_bins)).astype(np.int64)
    return out


@dataclass(frozen=True)
class CuckooTable:
    """The querier's table: one value per bin, which bins are real, and who sits where."""

    values: Array
    real: Array
    owner: np.ndarray
    seed: int


def cuckoo(values: Array, n_bins: int, source: RandomSource) -> CuckooTable:
    """Place distinct values one per bin, trying seeds 0, 1, … until insertion succeeds.

    Raises ``ProtocolAbortedError(HASHING_FAILED)`` if no seed of ``CUCKOO_SEEDS`` works.
    """
    for seed in range(CUCKOO_SEEDS):
        owner = _try_cuckoo(values, n_bins, seed)
        if owner is not None:
            table = source.field(n_bins)
            real = owner >= 0
            table[real] = values[owner[real]]
            return CuckooTable(table, real.astype(np.uint64), owner, seed)
    raise ProtocolAbortedError(AbortCode.HASHING_FAILED, "cuckoo insertion failed")


def _try_cuckoo(values: Array, n_bins: int, seed: int) -> np.ndarray | None:
    candidates = positions(values, n_bins, seed).T.tolist()
    owner = [-1] * n_bins
    for item in range(values.size):
        current, choice = item, 0
        for _ in range(_MAX_KICKS):
            slot = candidates[current][choice]
            current, owner[slot] = owner[slot], current
            if current < 0:
                break
            options = candidates[current]
            choice = (options.index(slot) + 1) % HASHES
        else:
            return None
    return np.asarray(owner, dtype=np.int64)


def simple(values: Array, n_bins: int, load: int, seed: int, source: RandomSource) -> Array:
    """Every value in each of its candidate bins, shape ``(load, n_bins)``, dummies elsewhere.

    Raises ``ProtocolAbortedError(HASHING_FAILED)`` when a bin overflows (probability ≤ 2^-40).
    """
    table = source.field(load * n_bins).reshape(load, n_bins)
    if values.size == 0:
        return table
    bins = positions(values, n_bins, seed)
    items = np.broadcast_to(np.arange(values.size), bins.shape)
    pairs = np.unique(np.stack([bins.reshape(-1), items.reshape(-1)]), axis=1)
    order = np.argsort(pairs[0], kind="stable")
    sorted_bins, sorted_items = pairs[0][order], pairs[1][order]
    first = np.searchsorted(sorted_bins, sorted_bins, side="left")
    rank = np.arange(sorted_bins.size) - first
    if rank.size and int(rank.max()) >= load:
        raise ProtocolAbortedError(AbortCode.HASHING_FAILED, "a bin exceeded the public load")
    table[rank, sorted_bins] = values[sorted_items]
    return table
