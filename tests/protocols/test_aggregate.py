"""Aggregates: count, sum and mean by 0–2 group-by columns, deduplicated or not, suppressed."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pytest

from protocols.aggregate import MEAN_SCALE, AggregateSpec, Rows, aggregate
from protocols.cells import Cells
from protocols.errors import LocalProtocolError, ProtocolAbortedError
from protocols.program import Context, Program
from tests.protocols.catalogue import codes, mid_share, opened_to, run_all, tag_kinds
from tests.protocols.helpers import DETECTED, corrupt

Table = tuple[list[int], list[list[int]], list[int]]
"""One provider's plaintext rows: identifiers, group columns, values."""


def generate(
    rng: np.random.Generator, sizes: list[int], groups: tuple[int, ...], people: int = 40
) -> list[Table]:
    """Random tables over a shared pool of people (so providers overlap), with duplicates."""
    tables = []
    for size in sizes:
        ids = rng.integers(0, people, size).tolist()
        columns = [rng.integers(0, v, size).tolist() for v in groups]
        values = rng.integers(-500, 1000, size).tolist()
        tables.append((ids, columns, values))
    return tables


def plaintext(spec: AggregateSpec, tables: list[Table]) -> tuple[list[int], list[bool]]:
    """The expected cells: first row per identifier wins within and across providers."""
    seen: set[int] = set()
    cells: dict[int, list[int]] = {}
    for ids, columns, values in tables:
        here: set[int] = set()
        for row, person in enumerate(ids):
            if spec.dedup and (person in seen or person in here):
                continue
            here.add(person)
            cell = 0
            for size, column in zip(spec.groups, columns, strict=True):
                cell = cell * size + column[row]
            cells.setdefault(cell, []).append(values[row])
        seen |= here
    out, shown = [], []
    for cell in range(spec.n_cells):
        found = cells.get(cell, [])
        show = len(found) >= spec.min_group_size
        value = {"count": len(found), "sum": sum(found)}.get(spec.statistic)
        if spec.statistic == "mean" and show:
            exact = Decimal(sum(found) * MEAN_SCALE) / Decimal(len(found))
            sign = -1 if exact < 0 else 1
            value = sign * int(abs(exact).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        out.append(value if show else 0)
        shown.append(show)
    return out, shown


def run_aggregate(
    spec: AggregateSpec,
    tables: list[Table],
    *,
    n: int = 3,
    n_external: int = 0,
    recipients: tuple[int, ...] = (0,),
    seed: int = 1,
    bound_slack: int = 5,
    **extra: Any,
) -> tuple[list[Any], Any]:
    """Providers are the last participants; bounds exceed the table sizes by ``bound_slack``."""
    everyone = list(range(n + n_external))
    providers = everyone[-len(tables) :]
    bounds = [len(t[0]) + bound_slack for t in tables]

    def factory(ctx: Context) -> Program[Cells | None]:
        mine = None
        if ctx.me in providers:
            ids, columns, values = tables[providers.index(ctx.me)]
            groups = np.array(columns, dtype=np.int64).reshape(len(spec.groups), len(ids))
            mine = Rows(groups, np.array(values, dtype=np.int64), codes(ids))
        return aggregate(ctx, spec, providers, bounds, mine, recipients)

    return run_all(n, n_external, factory, seed=seed, **extra)


def check(spec: AggregateSpec, tables: list[Table], **kwargs: Any) -> Cells:
    """Run, and assert the recipient's cells equal the plaintext cells."""
    results, _ = run_aggregate(spec, tables, **kwargs)
    cells = results[kwargs.get("recipients", (0,))[0]]
    values, shown = plaintext(spec, tables)
    assert cells.values.tolist() == values
    assert cells.shown.tolist() == shown
    return cells


@pytest.mark.parametrize("statistic", ["count", "sum", "mean"])
@pytest.mark.parametrize("dedup", [False, True], ids=["plain", "dedup"])
@pytest.mark.parametrize("groups", [(), (3,), (3, 2)], ids=["total", "one", "two"])
def test_cells_match_plaintext(statistic: str, dedup: bool, groups: tuple[int, ...]) -> None:
    """Every statistic × deduplication × group-by shape equals the plaintext computation."""
    rng = np.random.default_rng(len(groups) * 7 + dedup * 3 + len(statistic))
    tables = generate(rng, [25, 30, 20], groups)
    check(AggregateSpec(statistic, groups, dedup, 3), tables)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_five_parties_with_external_providers(seed: int) -> None:
    """Five compute parties, two providers outside the committee, several seeds."""
    rng = np.random.default_rng(seed)
    tables = generate(rng, [20, 15, 25], (4, 3))
    spec = AggregateSpec("mean", (4, 3), True, 2)
    check(spec, tables, n=5, n_external=2, recipients=(6,), seed=seed)


@pytest.mark.parametrize(
    "sizes", [[0, 0, 0], [12, 0, 9], [15]], ids=["all-empty", "one-empty", "one-provider"]
)
def test_empty_tables_and_a_single_provider(sizes: list[int]) -> None:
    """Empty tables contribute nothing; one provider alone is its own deduplicated table."""
    tables = generate(np.random.default_rng(4), sizes, (2,))
    check(AggregateSpec("count", (2,), True, 1), tables)
    check(AggregateSpec("sum", (2,), False, 1), tables)


def test_identical_tables_count_once() -> None:
    """Three providers with the same rows count each person once."""
    table = ([1, 2, 3, 4], [[0, 1, 1, 0]], [10, 20, 30, 40])
    cells = check(AggregateSpec("count", (2,), True, 1), [table, table, table])
    assert cells.values.tolist() == [2, 2]


def test_all_cells_suppressed_open_as_zeros() -> None:
    """With every cell below min_group_size the recipient receives only zeros."""
    tables = generate(np.random.default_rng(5), [10, 10, 10], (3, 2))
    results, runner = run_aggregate(AggregateSpec("sum", (3, 2), True, 100), tables)
    assert not results[0].shown.any()
    assert opened_to(runner, 0, 3) == [[0] * 12]


def test_only_the_recipient_receives_cells() -> None:
    """An external recipient gets one opening of 2·C values; providers and others get none."""
    tables = generate(np.random.default_rng(6), [8, 8, 8], (2, 2))
    spec = AggregateSpec("count", (2, 2), True, 1)
    results, runner = run_aggregate(spec, tables, n_external=2, recipients=(3,))
    expected, shown = plaintext(spec, tables)
    assert opened_to(runner, 3, 3) == [[int(s) for s in shown] + expected]
    assert tag_kinds(runner, 3) <= {"seed", "out"}
    assert tag_kinds(runner, 4) <= {"seed"}
    for party in (0, 1, 2, 4):
        assert opened_to(runner, party, 3) == []
        assert results[party] is None


def test_without_dedup_providers_send_only_cell_totals() -> None:
    """Plain aggregates share C (or 2C) totals per provider: no hashing, no seed."""
    tables = generate(np.random.default_rng(7), [30, 30, 30], (3,))
    _, runner = run_aggregate(AggregateSpec("sum", (3,), False, 1), tables, n_external=3)
    for provider in (3, 4, 5):
        sent = [d for d in runner.deliveries if d.sender == provider]
        assert {d.arrays[0].size for d in sent} == {6}
    assert not any(d.label.startswith("seed") for d in runner.deliveries)


def test_negative_and_halfway_means_round_away_from_zero() -> None:
    """Means round to the nearest hundredth, halves away from zero, negatives included."""
    tables = [([1, 2], [[0, 1]], [-1, 1]), ([3, 4], [[0, 1]], [0, 0]), ([5, 6], [[0, 1]], [0, 0])]
    cells = check(AggregateSpec("mean", (2,), True, 1), tables, recipients=(0,))
    assert cells.values.tolist() == [-33, 33]
    halves = [([1], [[0]], [1]), ([2], [[0]], [0]), ([3, 4, 5], [[0, 0, 0]], [0, 0, 0])]
    half = AggregateSpec("mean", (1,), True, 1)
    assert check(half, halves).values.tolist() == [20]


def test_tampered_share_aborts() -> None:
    """A corrupted share mid-computation aborts with a detection code."""
    tables = generate(np.random.default_rng(8), [12, 12, 12], (2, 2))
    spec = AggregateSpec("mean", (2, 2), True, 1)
    _, clean = run_aggregate(spec, tables)
    with pytest.raises(ProtocolAbortedError) as caught:
        run_aggregate(spec, tables, tamper=corrupt(*mid_share(clean)))
    assert caught.value.code in DETECTED


@pytest.mark.parametrize(
    ("spec", "table"),
    [
        (AggregateSpec("count", (2,), False, 1), ([1], [[2]], [0])),
        (AggregateSpec("sum", (2,), False, 1, value_bound=10), ([1], [[1]], [10])),
        (AggregateSpec("median", (), False, 1), ([1], [], [0])),
        (AggregateSpec("count", (2, 2, 2), False, 1), ([1], [[0], [0], [0]], [0])),
        (AggregateSpec("count", (), True, 0), ([1], [], [0])),
        (AggregateSpec("mean", (), False, 1, value_bound=1 << 50), ([1], [], [0])),
    ],
    ids=["group-outside", "value-outside", "statistic", "three-groups", "zero-min", "too-wide"],
)
def test_bad_parameters_and_rows_are_refused(spec: AggregateSpec, table: Table) -> None:
    """Rows outside the public vocabularies or bounds, and bad parameters, are local errors."""
    with pytest.raises(LocalProtocolError):
        run_aggregate(spec, [table, table, table])


def test_more_rows_than_the_bound_are_refused() -> None:
    """A provider with more rows than its public bound is refused before sending anything."""
    tables = generate(np.random.default_rng(9), [6, 6, 6], (2,))
    with pytest.raises(LocalProtocolError):
        run_aggregate(AggregateSpec("count", (2,), True, 1), tables, bound_slack=-1)
