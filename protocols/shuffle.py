"""Oblivious shuffle: permute shared vectors by a permutation no ``t`` parties know.

For every ``t``-subset ``B`` of the committee, the parties outside ``B`` share the PRSS key
``k_B`` and derive from it a random permutation ``π_B``. Applying all of them in turn gives a
permutation that any ``t`` parties miss at least one factor of: the coalition ``C`` does not
know ``π_C``. One step for ``π_B``: the first ``t + 1`` parties outside ``B`` turn their shares into
additive shares of the secrets (times their Lagrange weight at 0), permute them by ``π_B`` and
deal them to everyone, who adds the dealings — a reshare of the permuted vector. Parties in ``B``
see only fresh shares.

Cost: C(n, t) rounds (3 for n = 3), each with ``t + 1`` dealers sending ``n − 1 − t`` field
elements per value. Every dealt sharing goes into the batched consistency check.
"""

from __future__ import annotations

import numpy as np

from protocols import field as gf
from protocols import shamir
from protocols.errors import LocalProtocolError
from protocols.field import Array
from protocols.program import Context, Program, prss_subsets
from protocols.sharing import deal, track


def _permutation(ctx: Context, subset: frozenset[int], size: int, step: str) -> np.ndarray:
    stream = ctx.prss_streams().get(subset)
    if stream is None:
        raise LocalProtocolError("shuffle needs the PRSS keys of a completed key setup")
    keys = stream.field(f"shuffle|{step}".encode(), size)
    return np.argsort(keys, kind="stable")


def shuffle(ctx: Context, rows: Array) -> Program[Array]:
    """Shares of ``rows[:, π]`` for a secret uniformly random permutation π of the columns."""
    committee = ctx.committee
    current = np.ascontiguousarray(rows, dtype=np.uint64)
    count, size = current.shape
    for subset in prss_subsets(committee):
        holders = [p for p in committee.parties if p not in subset]
        dealers = holders[: committee.threshold + 1]
        weights = shamir.lagrange(tuple(committee.point(p) for p in dealers), 0)
        label = ctx.next_label()
        mine = None
        if ctx.me in dealers:
            order = _permutation(ctx, subset, size, label)
            mine = current[:, order].reshape(-1)
        shares = yield from deal(
            ctx, dealers, mine, count * size, weights=list(weights), label=label, tracked=False
        )
        total = shares[0]
        for share in shares[1:]:
            total = gf.add(total, share)
        track(ctx, total)
        current = total.reshape(count, size)
    return current
