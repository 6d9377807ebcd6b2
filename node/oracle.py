"""Plaintext answers for every kind of the query catalogue: what a run must return.

Only a demo, a test or a benchmark — where every list is known — can compute these; a node never
does. Inputs are the stored columns exactly as ``DatasetStore.load_column`` returns them
(identifiers already normalised: ``list[str]``; categories folded: ``list[str]``; integers:
a masked int64 array), one list or table per provider, so "MPC result vs plaintext" compares
like with like. Run it on ``OrganisationData.person_keys`` (``node.synthetic``) instead of the
identifiers to get the answer a perfect normalisation would give.

Rules, each matching the engine (``docs/engine/``) and the node (``node.computations.inputs``):

* A list is its **distinct non-empty** identifiers: duplicates count once, an empty cell never.
* ``set_difference``: the answer is a *set of candidates* (the proposer's identifiers on none
  of the other lists); a run may return any ``min(limit, d)`` distinct ones of them.
* ``overlap_matrix``: one cell per pair ``(i, j)``, ``i < j``, of list positions (the order of
  ``protocols.setops.overlap_pairs``); a count below ``min_group_size`` is suppressed (None).
* ``aggregate``: cells are the product of the group-by vocabularies (given, or every value
  seen); each cell's *count* is its number of contributing rows. With ``dedup_by``, each provider
  first keeps its first row per identifier, then a row counts only if its identifier is on no
  earlier provider's list — the earliest provider in the order given wins, so pass the tables in
  the order of the run's providers. A cell with count below ``min_group_size`` is suppressed
  (None). A mean is ``round(100 · sum / count)`` in hundredths, halves away from zero
  (``scale`` = 100). A row without a group value or a value cannot be placed and is refused
  (``oracle_value_missing``): the engine takes no row with a hole in it either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations, product

import numpy as np
import numpy.typing as npt

from node.datasets.columns import ColumnData
from node.errors import InvalidError

MEAN_SCALE = 100
"""A mean is given in hundredths, as the engine opens it."""
STATISTICS = ("count", "sum", "mean")
Table = Mapping[str, ColumnData]
Cell = tuple[str, ...]


def distinct(identifiers: Sequence[str]) -> list[str]:
    """The distinct non-empty identifiers of a list, in first-seen order."""
    return list(dict.fromkeys(value for value in identifiers if value))


@dataclass(frozen=True)
class SetDifference:
    """The plaintext answer of a ``set_difference``: which identifiers may come back."""

    candidates: frozenset[str]
    limit: int

    @property
    def size(self) -> int:
        """The size of the difference (only revealed with the providers' consent)."""
        return len(self.candidates)

    @property
    def expected_count(self) -> int:
        """How many identifiers a run returns: ``min(limit, size)``."""
        return min(self.limit, self.size)

    def accepts(self, returned: Sequence[str]) -> bool:
        """Whether ``returned`` is a correct result: distinct candidates, as many as expected."""
        chosen = set(returned)
        return len(chosen) == len(returned) == self.expected_count and chosen <= self.candidates


def set_difference(
    proposer: Sequence[str], others: Sequence[Sequence[str]], limit: int
) -> SetDifference:
    """The proposer's identifiers on none of ``others``, with the run's ``limit``."""
    if limit < 1:
        raise InvalidError("oracle_parameter_invalid", "limit is at least 1")
    elsewhere = set().union(*(distinct(other) for other in others))
    return SetDifference(frozenset(set(distinct(proposer)) - elsewhere), limit)


def intersection(lists: Sequence[Sequence[str]]) -> frozenset[str]:
    """The identifiers on every list."""
    _at_least_two(lists)
    sets = [set(distinct(values)) for values in lists]
    return frozenset(set.intersection(*sets))


def intersection_size(lists: Sequence[Sequence[str]]) -> int:
    """How many identifiers are on every list."""
    return len(intersection(lists))


def union_size(lists: Sequence[Sequence[str]]) -> int:
    """How many distinct identifiers are on any list (each person once)."""
    if not lists:
        raise InvalidError("oracle_parameter_invalid", "a union needs at least one list")
    return len(set().union(*(distinct(values) for values in lists)))


def overlap_matrix(
    lists: Sequence[Sequence[str]], min_group_size: int
) -> dict[tuple[int, int], int | None]:
    """Pairwise intersection sizes by list positions ``(i, j)``, ``i < j``; small ones None."""
    _at_least_two(lists)
    _check_min_group_size(min_group_size)
    sets = [set(distinct(values)) for values in lists]
    cells: dict[tuple[int, int], int | None] = {}
    for i, j in combinations(range(len(sets)), 2):
        count = len(sets[i] & sets[j])
        cells[(i, j)] = count if count >= min_group_size else None
    return cells


@dataclass(frozen=True)
class AggregateAnswer:
    """The plaintext cells of an ``aggregate``, keyed by group values (``()`` without group-by).

    ``cells[c]`` is what a recipient sees: the count, sum or mean (in units of ``1 / scale``),
    or None where suppressed. ``counts[c]`` is the number of contributing rows — plaintext only,
    never part of a result.
    """

    statistic: str
    group_by: tuple[str, ...]
    scale: int
    cells: dict[Cell, int | None]
    counts: dict[Cell, int]

    @property
    def shown(self) -> dict[Cell, int]:
        """The cells that are not suppressed."""
        return {cell: value for cell, value in self.cells.items() if value is not None}


def aggregate(
    tables: Sequence[Table],
    *,
    statistic: str,
    value_column: str | None = None,
    group_by: Sequence[str] = (),
    dedup_by: str | None = None,
    min_group_size: int = 1,
    vocabularies: Mapping[str, Sequence[str]] | None = None,
) -> AggregateAnswer:
    """The cells of an aggregate over ``tables`` (one per provider, in the run's provider order).

    ``vocabularies`` gives the (folded) values of each group-by column, as in the datasets'
    schemas; without it, every value seen in any table.
    """
    if statistic not in STATISTICS:
        raise InvalidError("oracle_parameter_invalid", "statistic is count, sum or mean")
    if (statistic == "count") != (value_column is None) or len(group_by) > 2 or not tables:
        raise InvalidError(
            "oracle_parameter_invalid",
            "count takes no value column, sum and mean one; at most two group-by columns",
        )
    _check_min_group_size(min_group_size)
    vocabulary = _vocabularies(tables, group_by, vocabularies)
    keys = list(product(*(vocabulary[column] for column in group_by)))
    position = {key: index for index, key in enumerate(keys)}
    counts = np.zeros(len(keys), dtype=np.int64)
    sums = np.zeros(len(keys), dtype=np.int64)
    earlier: set[str] = set()
    for table in tables:
        rows = _rows_counted(table, dedup_by, earlier)
        groups = [_text(table, column) for column in group_by]
        try:
            cell = np.array(
                [position[tuple(group[r] for group in groups)] for r in rows], dtype=np.int64
            )
        except KeyError:
            raise InvalidError(
                "oracle_value_missing",
                "a row's group value is empty or outside the vocabulary",
            ) from None
        np.add.at(counts, cell, 1)
        if value_column is not None:
            np.add.at(sums, cell, _values(table, value_column)[rows])
    values = counts if statistic == "count" else sums
    if statistic == "mean":
        values = np.array(
            [
                _rounded(MEAN_SCALE * s, c)
                for s, c in zip(sums.tolist(), counts.tolist(), strict=True)
            ],
            dtype=np.int64,
        )
    cells = {
        key: (int(values[i]) if counts[i] >= min_group_size else None) for i, key in enumerate(keys)
    }
    return AggregateAnswer(
        statistic=statistic,
        group_by=tuple(group_by),
        scale=MEAN_SCALE if statistic == "mean" else 1,
        cells=cells,
        counts={key: int(counts[i]) for i, key in enumerate(keys)},
    )


def _rows_counted(table: Table, dedup_by: str | None, earlier: set[str]) -> list[int]:
    """The rows of ``table`` that count; with dedup, also adds its identifiers to ``earlier``."""
    if dedup_by is None:
        return list(range(_length(table)))
    first: dict[str, int] = {}
    for row, identifier in enumerate(_text(table, dedup_by)):
        if not identifier:
            raise InvalidError("oracle_value_missing", "a row has no identifier to dedup by")
        first.setdefault(identifier, row)
    kept = [row for identifier, row in first.items() if identifier not in earlier]
    earlier.update(first)
    return kept


def _vocabularies(
    tables: Sequence[Table], group_by: Sequence[str], given: Mapping[str, Sequence[str]] | None
) -> dict[str, list[str]]:
    """Each group-by column's values: as given, else every non-empty value seen, sorted."""
    out: dict[str, list[str]] = {}
    for column in group_by:
        if given is not None and column in given:
            out[column] = list(dict.fromkeys(given[column]))
        else:
            seen = set().union(*(_text(table, column) for table in tables))
            out[column] = sorted(seen - {""})
    return out


def _text(table: Table, column: str) -> list[str]:
    """A text column of ``table``."""
    values = _column(table, column)
    if not isinstance(values, list):
        raise InvalidError("oracle_parameter_invalid", "group and identifier columns are text")
    return values


def _values(table: Table, column: str) -> npt.NDArray[np.int64]:
    """A number column of ``table`` with no missing cell."""
    values = _column(table, column)
    if isinstance(values, list):
        raise InvalidError("oracle_parameter_invalid", "the value column holds numbers")
    if np.ma.getmaskarray(values).any():
        raise InvalidError("oracle_value_missing", "a row has no value to sum")
    return np.asarray(np.ma.getdata(values), dtype=np.int64)


def _column(table: Table, column: str) -> ColumnData:
    """Column ``column`` of ``table``, or a clear error."""
    try:
        return table[column]
    except KeyError:
        raise InvalidError(
            "oracle_parameter_invalid", "a table lacks a column the computation reads"
        ) from None


def _length(table: Table) -> int:
    """The number of rows of ``table`` (every column has it)."""
    return len(next(iter(table.values()))) if table else 0


def _rounded(numerator: int, denominator: int) -> int:
    """``round(numerator / denominator)`` with halves away from zero; 0 for an empty cell."""
    if denominator == 0:
        return 0
    magnitude = (2 * abs(int(numerator)) + int(denominator)) // (2 * int(denominator))
    return -magnitude if numerator < 0 else magnitude


def _at_least_two(lists: Sequence[Sequence[str]]) -> None:
    if len(lists) < 2:
        raise InvalidError("oracle_parameter_invalid", "this computation needs at least two lists")


def _check_min_group_size(min_group_size: int) -> None:
    if min_group_size < 1:
        raise InvalidError("oracle_parameter_invalid", "min_group_size is at least 1")
