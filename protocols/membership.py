"""Set membership without sorting, and the set difference of the proof of concept.

For each bin ``b`` of the querier's cuckoo table (value ``a_b``, real-flag ``f_b``) and the
simple-hashed entries ``y_{j,b}`` of every other list, ``z_b = f_b · Π_j (a_b − y_{j,b})`` is zero
exactly when the bin is a dummy or ``a_b`` is on some list (a field has no zero divisors). So
``absent_b = 1 − [z_b = 0]`` marks the querier's identifiers that are on none of the lists:
about ``L`` products and one zero test per bin, with ``L`` the public padded load.

``set_difference`` then shuffles the (absent bit, bin number) pairs by a permutation no ``t``
parties know (``shuffle``), selects the first ``limit`` absent entries in that random order
(``select.select_first``) and opens to the querier alone the bin numbers of the selected entries
(zero elsewhere), shuffled once more so that where the selected entries sit says nothing about
how many were absent. The querier maps bins back to its own identifiers and learns ``min(limit, d)``
uniformly chosen members of the difference (so ``d`` itself only when ``d < limit``) and nothing
about its other identifiers; selecting in bin order instead would tell it that every unselected
identifier before the last selected one is on some list. Everyone else learns the public sizes.
``set_difference_and_size`` (a manifest's ``reveal_size``) also opens ``d = Σ_b absent_b`` to the
querier alone, before the selection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from protocols import field as gf
from protocols import hashing
from protocols.arithmetic import mul, product_tree
from protocols.compare import is_zero
from protocols.errors import LocalProtocolError
from protocols.field import Array
from protocols.program import Context, Exchange, Program, expect
from protocols.select import select_first
from protocols.sharing import open_to, share_input
from protocols.shuffle import shuffle


@dataclass(frozen=True)
class Layout:
    """Public table sizes, from the public size bounds of the lists."""

    n_bins: int
    loads: tuple[int, ...]
    querier_bound: int
    list_bounds: tuple[int, ...]

    @classmethod
    def of(cls, querier_size: int, list_sizes: Sequence[int]) -> Layout:
        """Bins for the querier's bound and a padded load per other list."""
        n_bins = hashing.bin_count(querier_size)
        loads = tuple(hashing.max_load(size, n_bins) for size in list_sizes)
        return cls(n_bins, loads, querier_size, tuple(list_sizes))


def absent_bits(ctx: Context, query: Array, real: Array, lists: Array) -> Program[Array]:
    """Shares of ``[real_b and query_b is in no column b of lists]`` (``lists``: (L, B))."""
    if lists.ndim != 2 or lists.shape[1] != query.size:
        raise LocalProtocolError("lists must have one column per bin")
    rows = gf.sub(np.broadcast_to(query, lists.shape), lists)
    product = yield from product_tree(ctx, np.concatenate([real[None, :], rows]))
    zero = yield from is_zero(ctx, product)
    return gf.sub(gf.constant_array(1, zero.shape), zero)


def announce_seed(ctx: Context, querier: int, seed: int | None) -> Program[int]:
    """The querier tells every participant the cuckoo seed it used (public, one small message)."""
    label = ctx.next_tag("seed", querier)
    if ctx.me == querier:
        message = (np.array([seed], dtype=np.uint64),)
        others = [p for p in range(ctx.n_participants) if p != querier]
        yield Exchange(label, dict.fromkeys(others, message), {})
        assert seed is not None
        return seed
    replies = yield Exchange(label, {}, {querier: 1})
    return int(expect(replies, querier, 1, (1,))[0][0])


def set_difference(
    ctx: Context,
    querier: int,
    holders: Sequence[int],
    mine: Array | None,
    layout: Layout,
    limit: int,
) -> Program[Array | None]:
    """Up to ``limit`` of the querier's encoded values that are on none of the holders' lists.

    Every participant calls this; the querier and each holder pass their encoded values
    (``hashing.encode``, at most their public bound in ``layout``), others ``None``. Returns,
    at the querier only, the indices into its own list of the selected values; ``None``
    elsewhere.
    """
    found = yield from _difference(ctx, querier, holders, mine, layout, limit, reveal_size=False)
    return None if found is None else found[0]


def set_difference_and_size(
    ctx: Context,
    querier: int,
    holders: Sequence[int],
    mine: Array | None,
    layout: Layout,
    limit: int,
) -> Program[tuple[Array, int] | None]:
    """:func:`set_difference`, and the size ``d`` of the whole difference, to the querier.

    The size is the sum of the absent bits, opened to the querier alone before the selection;
    so the querier learns ``d`` as well as ``min(limit, d)`` of its members.
    """
    found = yield from _difference(ctx, querier, holders, mine, layout, limit, reveal_size=True)
    if found is None:
        return None
    indices, size = found
    assert size is not None
    return indices, size


def _difference(
    ctx: Context,
    querier: int,
    holders: Sequence[int],
    mine: Array | None,
    layout: Layout,
    limit: int,
    *,
    reveal_size: bool,
) -> Program[tuple[Array, int | None] | None]:
    table = None
    bounds = dict(zip(holders, layout.list_bounds, strict=True)) | {querier: layout.querier_bound}
    if ctx.me in bounds and (mine is None or mine.size > bounds[ctx.me]):
        raise LocalProtocolError("a list must be given and stay within its public size bound")
    if ctx.me == querier:
        assert mine is not None
        table = hashing.cuckoo(mine, layout.n_bins, ctx.source)
    seed = yield from announce_seed(ctx, querier, None if table is None else table.seed)
    query = yield from share_input(
        ctx, querier, None if table is None else table.values, layout.n_bins
    )
    real = yield from share_input(
        ctx, querier, None if table is None else table.real, layout.n_bins
    )
    columns = []
    for holder, load in zip(holders, layout.loads, strict=True):
        values = None
        if ctx.me == holder:
            assert mine is not None
            values = hashing.simple(mine, layout.n_bins, load, seed, ctx.source).reshape(-1)
        shares = yield from share_input(ctx, holder, values, load * layout.n_bins)
        columns.append(shares.reshape(load, layout.n_bins) if ctx.is_compute else shares)
    chosen: Array | None = None
    if ctx.is_compute:
        absent = yield from absent_bits(ctx, query, real, np.concatenate(columns))
    size = None
    if reveal_size:
        total = gf.sum_rows(absent)[None] if ctx.is_compute else None
        opened_size = yield from open_to(ctx, total, [querier], 1)
        size = None if opened_size is None else int(opened_size[0])
    if ctx.is_compute:
        positions = np.arange(1, layout.n_bins + 1, dtype=np.uint64)
        mixed = yield from shuffle(ctx, np.stack([absent, positions]))
        selected = yield from select_first(ctx, mixed[0], limit)
        picked = yield from mul(ctx, selected, mixed[1])
        (chosen,) = yield from shuffle(ctx, picked[None, :])
    opened = yield from open_to(ctx, chosen, [querier], layout.n_bins)
    if ctx.me != querier or table is None or opened is None:
        return None
    bins = opened[opened != 0].astype(np.int64) - 1
    owners = table.owner[bins[(bins >= 0) & (bins < layout.n_bins)]]
    return np.sort(owners[owners >= 0]), size
