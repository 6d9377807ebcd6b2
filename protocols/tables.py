"""One list lined up against others, bin by bin, inside MPC: the shared tables of the catalogue.

Every set computation and the deduplicated aggregate compare one *base* list with some *other*
lists. The base provider cuckoo-hashes its identifiers (one per bin, ``B = bin_count(bound)``
bins) and shares, per bin, its encoded value ``a_b``, a real-flag and optional payload rows (the
row's group one-hots, its value…); every other provider simple-hashes its list into the same
bins with the base's public seed, padded to a public load ``L_j``, and shares the ``(L_j, B)``
table. Table sizes depend only on the public bounds (``hashing.bin_count``, ``hashing.max_load``).

Three tests per bin, all built on ``z = Π_slots (a − y)`` being zero exactly when ``a`` is among
the slots (a field has no zero divisors):

* ``absent_from_all``: ``[real_b and a_b on none of the lists]`` (``membership.absent_bits``);
* ``present_in_each``: ``[a_b on list j]`` for every other list ``j``, one zero test per list;
* ``present_in_all``: ``[real_b and a_b on every list]`` with a single zero test per bin: the
  products ``z_j`` (and ``1 − real_b``) are multiplied by fresh shared random values ``ρ_j`` inside
  the same product tree and summed; ``Σ ρ_j·z_j`` is zero exactly when every term is, except
  with probability 1/p when some ``z_j ≠ 0``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from protocols import field as gf
from protocols import hashing
from protocols.arithmetic import product_tree
from protocols.compare import is_zero
from protocols.errors import LocalProtocolError
from protocols.field import Array
from protocols.hashing import CuckooTable
from protocols.membership import absent_bits, announce_seed
from protocols.program import Context, Program
from protocols.sharing import prss_random, share_input


@dataclass(frozen=True)
class TableShape:
    """Public sizes of one table: bins from the base's bound, a load per other list."""

    n_bins: int
    loads: tuple[int, ...]

    @classmethod
    def of(cls, base_bound: int, other_bounds: Sequence[int]) -> TableShape:
        """Sizes for a base list of at most ``base_bound`` and others of the given bounds."""
        n_bins = hashing.bin_count(base_bound)
        return cls(n_bins, tuple(hashing.max_load(b, n_bins) for b in other_bounds))


@dataclass(frozen=True)
class SharedTable:
    """A compute party's shares of one table (empty arrays at other participants).

    ``query``, ``real``: (B,); ``columns[j]``: (L_j, B) for the j-th other list; ``payload``:
    (E, B) rows the base placed by its cuckoo table (zero in dummy bins). ``cuckoo`` is the base's
    own plaintext table, at the base only.
    """

    query: Array
    real: Array
    columns: tuple[Array, ...]
    payload: Array
    cuckoo: CuckooTable | None


def distinct(values: Array) -> tuple[Array, Array]:
    """A provider's distinct encoded values and, for each, the index of its first occurrence."""
    unique, first = np.unique(np.asarray(values, dtype=np.uint64), return_index=True)
    return unique, first.astype(np.int64)


def check_bound(ctx: Context, bounds: Mapping[int, int], mine: Array | None) -> None:
    """Refuse, before anything is sent, a provider's missing list or one above its bound."""
    if ctx.me in bounds and (mine is None or mine.size > bounds[ctx.me]):
        raise LocalProtocolError("a list must be given and stay within its public size bound")


def share_table(
    ctx: Context,
    base: int,
    others: Sequence[int],
    shape: TableShape,
    mine: Array | None,
    payload: Array | None = None,
    payload_rows: int = 0,
) -> Program[SharedTable]:
    """Build and share the table of ``base`` against ``others`` (every participant calls it).

    ``mine`` is the caller's distinct encoded values if it is the base or one of ``others``;
    ``payload`` (shape ``(payload_rows, len(mine))``, field elements) only at the base.
    """
    table: CuckooTable | None = None
    flat: Array | None = None
    n_bins = shape.n_bins
    if ctx.me == base:
        assert mine is not None
        table = hashing.cuckoo(mine, n_bins, ctx.source)
        placed = np.zeros((payload_rows, n_bins), dtype=np.uint64)
        if payload_rows:
            if payload is None or payload.shape != (payload_rows, mine.size):
                raise LocalProtocolError("the base's payload must have one column per value")
            real = table.owner >= 0
            placed[:, real] = payload[:, table.owner[real]]
        flat = np.concatenate([table.values, table.real, placed.reshape(-1)])
    seed = yield from announce_seed(ctx, base, None if table is None else table.seed)
    shares = yield from share_input(ctx, base, flat, (2 + payload_rows) * n_bins)
    columns = []
    for holder, load in zip(others, shape.loads, strict=True):
        values = None
        if ctx.me == holder:
            assert mine is not None
            values = hashing.simple(mine, n_bins, load, seed, ctx.source).reshape(-1)
        dealt = yield from share_input(ctx, holder, values, load * n_bins)
        columns.append(dealt.reshape(load, n_bins) if ctx.is_compute else dealt)
    if not ctx.is_compute:
        empty = np.zeros(0, dtype=np.uint64)
        return SharedTable(empty, empty, tuple(columns), empty, table)
    rows = shares.reshape(2 + payload_rows, n_bins)
    return SharedTable(rows[0], rows[1], tuple(columns), rows[2:], table)


def absent_from_all(ctx: Context, table: SharedTable) -> Program[Array]:
    """Shares of ``[real_b and a_b is on none of the other lists]``."""
    if not table.columns:
        return table.real
    return (yield from absent_bits(ctx, table.query, table.real, np.concatenate(table.columns)))


def _difference_rows(table: SharedTable, height: int) -> Array:
    """``(height, k, B)``: ``a − y`` for each list's slots, padded with the constant 1."""
    n_bins = table.query.size
    rows = np.ones((height, len(table.columns), n_bins), dtype=np.uint64)
    for j, column in enumerate(table.columns):
        rows[: column.shape[0], j] = gf.sub(np.broadcast_to(table.query, column.shape), column)
    return rows


def present_in_each(ctx: Context, table: SharedTable) -> Program[Array]:
    """Shares of ``[a_b is on list j]``, shape ``(k, B)`` (not multiplied by ``real_b``)."""
    height = max((c.shape[0] for c in table.columns), default=0)
    if not table.columns:
        return np.zeros((0, table.query.size), dtype=np.uint64)
    rows = _difference_rows(table, height)
    products = yield from product_tree(ctx, rows.reshape(height, -1))
    found = yield from is_zero(ctx, products)
    return found.reshape(len(table.columns), -1)


def present_in_all(ctx: Context, table: SharedTable) -> Program[Array]:
    """Shares of ``[real_b and a_b is on every other list]``, one zero test per bin."""
    n_bins, k = table.query.size, len(table.columns)
    height = max((c.shape[0] for c in table.columns), default=1) + 1
    rows = np.ones((height, k + 1, n_bins), dtype=np.uint64)
    rows[:-1, :k] = _difference_rows(table, height - 1)
    rows[0, k] = gf.sub(gf.constant_array(1, (n_bins,)), table.real)
    label = ctx.next_label().encode()
    rows[-1] = prss_random(ctx, b"all|" + label, (k + 1) * n_bins).reshape(k + 1, n_bins)
    products = yield from product_tree(ctx, rows.reshape(height, -1))
    combined = gf.sum_rows(products.reshape(k + 1, n_bins), axis=0)
    return (yield from is_zero(ctx, combined))
