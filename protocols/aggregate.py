"""The aggregate of the catalogue: count, sum or mean of a column, grouped by up to two
categorical columns, over the union of all providers' rows, optionally deduplicated.

Cells are the product of the public vocabularies of the group-by columns (one cell without
group-by). Every provider maps its rows to cell numbers locally.

* **Without deduplication** a provider needs no hashing at all: it counts and sums its own rows
  per cell locally and secret-shares those ``C`` (or ``2C``) totals; the committee adds them.
* **With deduplication** by an identifier column, a row counts once per person. Each provider
  first keeps one row per identifier (its *first* row in the order given; the rest are dropped
  locally). Providers are then taken in the given order: provider 1's rows all count (shared as
  cell totals, as above); a row of provider ``i ≥ 2`` counts only if its identifier is on none of
  the lists of providers ``1 … i − 1``, so for a person known to several providers the earliest
  provider's row (its group and value) is the one counted. For each ``i ≥ 2`` provider ``i`` is
  the base of a table against the earlier providers (``tables.share_table``) whose payload per
  bin is the row's one-hot of the first group column ``o¹`` (``V₁`` rows), the row's value times
  that one-hot (``V₁`` rows, for sum and mean) and the one-hot of the second group column ``o²``
  (``V₂`` rows, with two group-by columns). With ``keep_b = tables.absent_from_all``:
  ``x = keep·[o¹; v·o¹]`` (one product round), then cell ``(u, w)`` gets ``Σ_b x_{u,b}·o²_{w,b}``:
  a local inner product per cell and one reshare of the ``2·V₁·V₂`` results.

Then every cell with count ``< min_group_size`` is suppressed inside MPC (``cells.suppress``); a
mean is ``round(sum / count)`` in units of ``1/MEAN_SCALE``, computed inside MPC
(``cells.divide``), so recipients learn the mean of a shown cell and not its count or sum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from protocols import field as gf
from protocols.arithmetic import mul, product_weights
from protocols.cells import Cells, divide, open_cells, quotient_bits, suppress
from protocols.errors import LocalProtocolError
from protocols.field import Array
from protocols.program import Context, Program, parallel
from protocols.sharing import reshare, share_input
from protocols.tables import SharedTable, TableShape, absent_from_all, share_table

STATISTICS = ("count", "sum", "mean")
MEAN_SCALE = 100
"""A mean opens in hundredths, rounded to the nearest (halves away from zero)."""


@dataclass(frozen=True)
class AggregateSpec:
    """The public parameters of one aggregate.

    ``groups``: vocabulary sizes of the 0–2 group-by columns; ``value_bound``: every value of
    the value column satisfies ``|v| < value_bound`` (sum and mean only).
    """

    statistic: str
    groups: tuple[int, ...]
    dedup: bool
    min_group_size: int
    value_bound: int = 1 << 31

    @property
    def n_cells(self) -> int:
        """Number of result cells (the product of the vocabulary sizes)."""
        return int(np.prod(self.groups, dtype=np.int64))

    @property
    def has_values(self) -> bool:
        """Whether the statistic reads the value column."""
        return self.statistic != "count"

    def validate(self, total_bound: int) -> None:
        """Refuse parameters the engine cannot compute exactly."""
        if self.statistic not in STATISTICS:
            raise LocalProtocolError("unknown statistic")
        if len(self.groups) > 2 or any(size < 1 for size in self.groups):
            raise LocalProtocolError("at most two group-by columns, each with a vocabulary")
        if self.min_group_size < 1 or self.value_bound < 1:
            raise LocalProtocolError("min_group_size and value_bound must be positive")
        if self.has_values and total_bound * self.value_bound * MEAN_SCALE >= 1 << 57:
            raise LocalProtocolError("row bounds times value bound exceed the exact range")
        if self.statistic == "mean":
            room = quotient_bits(2 * max(total_bound, 1)) - 1
            if self.value_bound * MEAN_SCALE >= 1 << room:
                raise LocalProtocolError("value bound too large for an exact mean")


@dataclass(frozen=True)
class Rows:
    """One provider's rows: group indices ``(len(groups), m)``, values, encoded identifiers."""

    groups: npt.NDArray[np.int64]
    values: npt.NDArray[np.int64] | None = None
    identifiers: Array | None = None

    @property
    def size(self) -> int:
        """Number of rows."""
        return int(self.groups.shape[1])


def _local_rows(spec: AggregateSpec, rows: Rows) -> tuple[npt.NDArray[np.int64], Rows]:
    """Check the rows, drop duplicate identifiers (first row wins); cells and surviving rows."""
    groups = np.asarray(rows.groups, dtype=np.int64)
    if groups.ndim != 2 or groups.shape[0] != len(spec.groups):
        raise LocalProtocolError("rows need one group index per group-by column")
    sizes = np.array(spec.groups, dtype=np.int64)[:, None]
    if groups.size and (int(groups.min()) < 0 or bool(np.any(groups >= sizes))):
        raise LocalProtocolError("a group index lies outside its public vocabulary")
    values = rows.values
    if spec.has_values:
        if values is None or values.shape != (groups.shape[1],):
            raise LocalProtocolError("sum and mean need one value per row")
        if values.size and int(np.abs(values).max()) >= spec.value_bound:
            raise LocalProtocolError("a value lies outside the public value bound")
    identifiers = rows.identifiers
    if spec.dedup:
        if identifiers is None or identifiers.shape != (groups.shape[1],):
            raise LocalProtocolError("deduplication needs one identifier per row")
        identifiers, first = np.unique(identifiers, return_index=True)
        groups = groups[:, first]
        values = None if values is None else values[first]
    cells = np.zeros(groups.shape[1], dtype=np.int64)
    for size, column in zip(spec.groups, groups, strict=True):
        cells = cells * size + column
    return cells, Rows(groups, values, identifiers)


def _cell_totals(spec: AggregateSpec, cells: npt.NDArray[np.int64], rows: Rows) -> Array:
    """A provider's own counts (and sums) per cell, as field elements: ``(1 or 2)·C`` values."""
    counts = np.bincount(cells, minlength=spec.n_cells).astype(np.int64)
    if not spec.has_values:
        return gf.from_int(counts)
    assert rows.values is not None
    sums = np.zeros(spec.n_cells, dtype=np.int64)
    np.add.at(sums, cells, rows.values)
    return gf.from_int(np.concatenate([counts, sums]))


def _payload(spec: AggregateSpec, rows: Rows) -> Array:
    """Per row: one-hot of group 1, value × that one-hot, one-hot of group 2 (field elements)."""
    first = spec.groups[0] if spec.groups else 1
    index = rows.groups[0] if spec.groups else np.zeros(rows.size, dtype=np.int64)
    one_hot = (np.arange(first)[:, None] == index[None, :]).astype(np.int64)
    parts = [one_hot]
    if spec.has_values:
        assert rows.values is not None
        parts.append(one_hot * rows.values[None, :])
    if len(spec.groups) == 2:
        parts.append((np.arange(spec.groups[1])[:, None] == rows.groups[1][None, :]).astype(int))
    return gf.from_int(np.concatenate(parts))


def _payload_rows(spec: AggregateSpec) -> int:
    first = spec.groups[0] if spec.groups else 1
    second = spec.groups[1] if len(spec.groups) == 2 else 0
    return first * (2 if spec.has_values else 1) + second


def _table_totals(ctx: Context, spec: AggregateSpec, table: SharedTable) -> Program[Array]:
    """Shares of the kept rows' counts (and sums) per cell for one provider's table."""
    keep = yield from absent_from_all(ctx, table)
    first = spec.groups[0] if spec.groups else 1
    width = first * (2 if spec.has_values else 1)
    kept = yield from mul(
        ctx, np.ascontiguousarray(table.payload[:width]), np.tile(keep, (width, 1))
    )
    if len(spec.groups) < 2:
        totals = gf.sum_rows(kept, axis=1)
    else:
        second = table.payload[width:]
        local = np.stack([gf.sum_rows(gf.mul(kept, row[None, :]), axis=1) for row in second])
        totals = yield from reshare(ctx, local.T.reshape(-1), product_weights(ctx.committee))
        totals = totals.reshape(width, spec.groups[1])
    if not spec.has_values:
        return totals.reshape(-1)
    return np.concatenate([totals[:first].reshape(-1), totals[first:].reshape(-1)])


def aggregate(
    ctx: Context,
    spec: AggregateSpec,
    providers: Sequence[int],
    bounds: Sequence[int],
    mine: Rows | None,
    recipients: Sequence[int],
) -> Program[Cells | None]:
    """The cells of ``spec`` over all providers' rows, at the recipients (``None`` elsewhere).

    Cells are numbered row-major over the group-by vocabularies (cell ``u·V₂ + w``).
    """
    if len(set(providers)) != len(providers) or len(providers) != len(bounds) or not providers:
        raise LocalProtocolError("one table per provider, each with a public bound")
    spec.validate(sum(bounds))
    by_provider = dict(zip(providers, bounds, strict=True))
    if ctx.me in by_provider and (mine is None or mine.size > by_provider[ctx.me]):
        raise LocalProtocolError("a table must be given and stay within its public row bound")
    cells, rows = (None, None) if mine is None else _local_rows(spec, mine)
    width = spec.n_cells * (2 if spec.has_values else 1)
    sharers = providers if not spec.dedup else providers[:1]
    totals = np.zeros(width, dtype=np.uint64)
    for provider in sharers:
        own = None
        if ctx.me == provider and rows is not None and cells is not None:
            own = _cell_totals(spec, cells, rows)
        shares = yield from share_input(ctx, provider, own, width)
        if ctx.is_compute:
            totals = gf.add(totals, shares)
    tables = []
    if spec.dedup:
        for position in range(1, len(providers)):
            base, earlier = providers[position], list(providers[:position])
            shape = TableShape.of(by_provider[base], [by_provider[p] for p in earlier])
            member = rows is not None and ctx.me in providers[: position + 1]
            values = rows.identifiers if member and rows is not None else None
            payload = _payload(spec, rows) if ctx.me == base and rows is not None else None
            table = yield from share_table(
                ctx, base, earlier, shape, values, payload, _payload_rows(spec)
            )
            tables.append(table)
    result = None
    if ctx.is_compute:
        parts = yield from parallel(*(_table_totals(ctx, spec, table) for table in tables))
        for part in parts:
            totals = gf.add(totals, part)
        counts = totals[: spec.n_cells]
        shown = counts
        if spec.statistic == "sum":
            shown = totals[spec.n_cells :]
        elif spec.statistic == "mean":
            sums = gf.scale(totals[spec.n_cells :], MEAN_SCALE)
            shown = yield from divide(ctx, sums, counts, max(sum(bounds), 1))
        result = yield from suppress(ctx, counts, shown, spec.min_group_size)
    scale = MEAN_SCALE if spec.statistic == "mean" else 1
    return (yield from open_cells(ctx, result, recipients, spec.n_cells, scale))
