"""The set computations of the catalogue: intersection and union size, overlaps, intersection.

Every participant calls the same function with the public ``providers`` (participant indices, one
list each), their public size ``bounds`` and the ``recipients``; a provider passes its encoded
identifiers (``hashing.encode``; duplicates are dropped locally), everyone else ``None``. Compute
parties may or may not be providers or recipients. Results come back at the recipients only;
every other party returns ``None`` and receives nothing but shares and masked protocol values.

* ``intersection_size``: the smallest list is the base of one table against all others;
  ``Σ_b [real_b and a_b on every list]`` (``tables.present_in_all``).
* ``union_size``: lists ordered by bound, largest first (the order does not change the answer);
  ``|L_1| + Σ_{i≥2} #{x ∈ L_i on none of L_1 … L_{i−1}}``: one table per list after the first.
* ``overlap_matrix``: lists ordered by bound, smallest first; the table of list i against every
  later list gives the row of pairwise counts; counts below ``min_group_size`` are suppressed
  inside MPC (``cells.suppress``).
* ``intersection``: the recipient's list is the base; the per-bin bits ``[a_b on every list]``
  are opened to the recipient alone in bin order, which tells it exactly which of its own
  identifiers are common (dummy bins open as 0). Indices into its list come back.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np

from protocols import field as gf
from protocols.arithmetic import dot
from protocols.cells import Cells, open_cells, suppress
from protocols.errors import LocalProtocolError
from protocols.field import Array
from protocols.program import Context, Program, parallel
from protocols.sharing import open_to, share_input
from protocols.tables import (
    SharedTable,
    TableShape,
    absent_from_all,
    check_bound,
    distinct,
    present_in_all,
    present_in_each,
    share_table,
)


def _prepare(
    ctx: Context, providers: Sequence[int], bounds: Sequence[int], mine: Array | None
) -> tuple[dict[int, int], Array | None, Array | None]:
    """Public bounds by provider; the caller's distinct values and their first indices."""
    if len(set(providers)) != len(providers) or len(providers) != len(bounds) or not providers:
        raise LocalProtocolError("one list per provider, each with a public bound")
    if any(b < 0 for b in bounds) or any(not 0 <= p < ctx.n_participants for p in providers):
        raise LocalProtocolError("providers must be participants and bounds non-negative")
    by_provider = dict(zip(providers, bounds, strict=True))
    check_bound(ctx, by_provider, mine)
    if ctx.me not in by_provider or mine is None:
        return by_provider, None, None
    values, first = distinct(mine)
    return by_provider, values, first


def _ordered(bounds: dict[int, int], largest_first: bool) -> list[int]:
    sign = -1 if largest_first else 1
    order = list(bounds)
    return sorted(order, key=lambda p: (sign * bounds[p], order.index(p)))


def _mine_for(ctx: Context, members: Sequence[int], values: Array | None) -> Array | None:
    return values if ctx.me in members else None


def _one(opened: Array | None) -> int | None:
    return None if opened is None else int(gf.to_int(opened)[0])


def intersection_size(
    ctx: Context,
    providers: Sequence[int],
    bounds: Sequence[int],
    mine: Array | None,
    recipients: Sequence[int],
) -> Program[int | None]:
    """The number of identifiers on every provider's list, at the recipients."""
    by_provider, values, _ = _prepare(ctx, providers, bounds, mine)
    order = _ordered(by_provider, largest_first=False)
    base, others = order[0], order[1:]
    shape = TableShape.of(by_provider[base], [by_provider[p] for p in others])
    table = yield from share_table(ctx, base, others, shape, _mine_for(ctx, order, values))
    total = None
    if ctx.is_compute:
        common = yield from present_in_all(ctx, table)
        total = np.array([gf.sum_all(common)], dtype=np.uint64)
    return _one((yield from open_to(ctx, total, recipients, 1)))


def union_size(
    ctx: Context,
    providers: Sequence[int],
    bounds: Sequence[int],
    mine: Array | None,
    recipients: Sequence[int],
) -> Program[int | None]:
    """The number of distinct identifiers across all lists, at the recipients."""
    by_provider, values, _ = _prepare(ctx, providers, bounds, mine)
    order = _ordered(by_provider, largest_first=True)
    first = order[0]
    count = None if ctx.me != first or values is None else np.array([values.size], np.uint64)
    total = yield from share_input(ctx, first, count, 1)
    tables: list[SharedTable] = []
    for position in range(1, len(order)):
        base, earlier = order[position], order[:position]
        shape = TableShape.of(by_provider[base], [by_provider[p] for p in earlier])
        mine_here = _mine_for(ctx, order[: position + 1], values)
        tables.append((yield from share_table(ctx, base, earlier, shape, mine_here)))
    if not ctx.is_compute:
        return _one((yield from open_to(ctx, None, recipients, 1)))
    fresh = yield from parallel(*(absent_from_all(ctx, table) for table in tables))
    for bits in fresh:
        total = gf.add(total, np.array([gf.sum_all(bits)], dtype=np.uint64))
    return _one((yield from open_to(ctx, total, recipients, 1)))


def overlap_pairs(n_lists: int) -> list[tuple[int, int]]:
    """The cells of ``overlap_matrix``: pairs (i, j), i < j, of positions in ``providers``."""
    return list(combinations(range(n_lists), 2))


def _pair_counts(ctx: Context, table: SharedTable) -> Program[Array]:
    present = yield from present_in_each(ctx, table)
    real = np.ascontiguousarray(np.broadcast_to(table.real[:, None], present.T.shape))
    return (yield from dot(ctx, real, np.ascontiguousarray(present.T)))


def overlap_matrix(
    ctx: Context,
    providers: Sequence[int],
    bounds: Sequence[int],
    mine: Array | None,
    recipients: Sequence[int],
    min_group_size: int,
) -> Program[Cells | None]:
    """Pairwise intersection sizes, one cell per ``overlap_pairs`` entry, small cells suppressed."""
    if len(providers) < 2:
        raise LocalProtocolError("an overlap matrix needs at least two lists")
    by_provider, values, _ = _prepare(ctx, providers, bounds, mine)
    order = _ordered(by_provider, largest_first=False)
    tables: list[SharedTable] = []
    for position in range(len(order) - 1):
        base, later = order[position], order[position + 1 :]
        shape = TableShape.of(by_provider[base], [by_provider[p] for p in later])
        mine_here = _mine_for(ctx, order[position:], values)
        tables.append((yield from share_table(ctx, base, later, shape, mine_here)))
    pairs = overlap_pairs(len(providers))
    rows = None
    if ctx.is_compute:
        counts = yield from parallel(*(_pair_counts(ctx, table) for table in tables))
        by_pair = {}
        for position, row in enumerate(counts):
            for offset, count in enumerate(row):
                a, b = order[position], order[position + 1 + offset]
                by_pair[frozenset((a, b))] = count
        cells = np.array(
            [by_pair[frozenset((providers[i], providers[j]))] for i, j in pairs], dtype=np.uint64
        )
        rows = yield from suppress(ctx, cells, cells, min_group_size)
    return (yield from open_cells(ctx, rows, recipients, len(pairs)))


def intersection(
    ctx: Context,
    recipient: int,
    providers: Sequence[int],
    bounds: Sequence[int],
    mine: Array | None,
) -> Program[Array | None]:
    """At the recipient (a provider), the sorted indices into its list of the common values."""
    if recipient not in providers:
        raise LocalProtocolError("the recipient of an intersection must provide a list")
    by_provider, values, first = _prepare(ctx, providers, bounds, mine)
    others = [p for p in providers if p != recipient]
    shape = TableShape.of(by_provider[recipient], [by_provider[p] for p in others])
    table = yield from share_table(ctx, recipient, others, shape, values)
    bits = None
    if ctx.is_compute:
        bits = yield from present_in_all(ctx, table)
    opened = yield from open_to(ctx, bits, [recipient], shape.n_bins)
    if opened is None or table.cuckoo is None or first is None:
        return None
    owners = table.cuckoo.owner[(opened == 1) & (table.cuckoo.owner >= 0)]
    return np.sort(first[owners])
