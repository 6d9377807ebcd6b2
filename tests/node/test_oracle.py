"""Plaintext answers (node/oracle.py) on small hand-made lists and tables, and the engine."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from node import oracle
from node.datasets.columns import ColumnData, numbers
from node.errors import InvalidError
from node.synthetic import generate, proof_of_concept
from protocols import hashing
from protocols.aggregate import AggregateSpec, Rows, aggregate
from protocols.cells import Cells
from protocols.program import Context, Program
from tests.protocols.catalogue import run_all

LEA = [
    "ana popescu|1999-01-02",
    "joy eze|2001-05-06",
    "mei wang|1995-03-04",
    "",
    "joy eze|2001-05-06",
]
NGO_A = ["joy eze|2001-05-06", "lan tran|1990-01-01"]
NGO_B = ["mei wang|1995-03-04", "lan tran|1990-01-01", "kim bos|1988-08-08"]


def test_distinct_drops_empty_cells_and_repeats_in_first_seen_order() -> None:
    """A list is its distinct non-empty identifiers."""
    assert oracle.distinct(LEA) == [
        "ana popescu|1999-01-02",
        "joy eze|2001-05-06",
        "mei wang|1995-03-04",
    ]


def test_set_difference_candidates_and_expected_count() -> None:
    """The proposer's identifiers on no other list, at most ``limit`` of them returned."""
    answer = oracle.set_difference(LEA, [NGO_A, NGO_B], limit=5)
    assert answer.candidates == {"ana popescu|1999-01-02"}
    assert answer.size == 1
    assert answer.expected_count == 1
    assert answer.accepts(["ana popescu|1999-01-02"])
    assert not answer.accepts([])
    assert not answer.accepts(["joy eze|2001-05-06"])


def test_set_difference_accepts_any_limit_sized_subset_only() -> None:
    """With more candidates than ``limit``, any ``limit`` distinct candidates are correct."""
    answer = oracle.set_difference(["a", "b", "c", "d"], [["d"]], limit=2)
    assert answer.expected_count == 2
    assert answer.accepts(["c", "a"])
    assert not answer.accepts(["a", "a"])
    assert not answer.accepts(["a", "b", "c"])
    assert not answer.accepts(["a", "d"])


def test_intersection_union_and_their_sizes() -> None:
    """Intersection and union count each identifier once, ignoring empty cells."""
    assert oracle.intersection([LEA, NGO_B]) == {"mei wang|1995-03-04"}
    assert oracle.intersection_size([LEA, NGO_A, NGO_B]) == 0
    assert oracle.intersection_size([NGO_A, NGO_B]) == 1
    assert oracle.union_size([LEA, NGO_A, NGO_B]) == 5
    assert oracle.union_size([LEA]) == 3
    assert oracle.union_size([[], []]) == 0


def test_overlap_matrix_pairs_and_suppression() -> None:
    """One cell per pair i < j; counts below min_group_size (zero included) are None."""
    assert oracle.overlap_matrix([LEA, NGO_A, NGO_B], 1) == {(0, 1): 1, (0, 2): 1, (1, 2): 1}
    assert oracle.overlap_matrix([LEA, NGO_A, ["x"]], 1) == {(0, 1): 1, (0, 2): None, (1, 2): None}
    assert oracle.overlap_matrix([LEA, NGO_A, NGO_B], 2) == {
        (0, 1): None,
        (0, 2): None,
        (1, 2): None,
    }


def table(ids: list[str], group: list[str], values: list[int]) -> dict[str, ColumnData]:
    """A provider's stored columns: identifier, one category, one integer."""
    return {"id": ids, "type": group, "age": numbers(values, None)}


FIRST = table(["p1", "p2", "p1", "p3"], ["sexual", "labour", "labour", "sexual"], [20, 30, 40, 25])
SECOND = table(["p2", "p4", "p1"], ["sexual", "sexual", "criminal"], [31, 50, 21])


def test_aggregate_count_without_dedup_counts_every_row() -> None:
    """Without dedup every row of every provider counts."""
    answer = oracle.aggregate([FIRST, SECOND], statistic="count", group_by=["type"])
    assert answer.cells == {("criminal",): 1, ("labour",): 2, ("sexual",): 4}
    total = oracle.aggregate([FIRST, SECOND], statistic="count")
    assert total.cells == {(): 7}


def test_aggregate_dedup_first_row_and_first_provider_win() -> None:
    """p1 counts once with FIRST's first row; p2 with FIRST's row; p4 from SECOND."""
    answer = oracle.aggregate(
        [FIRST, SECOND], statistic="sum", value_column="age", group_by=["type"], dedup_by="id"
    )
    assert answer.cells == {("criminal",): None, ("labour",): 30, ("sexual",): 95}
    assert answer.counts == {("criminal",): 0, ("labour",): 1, ("sexual",): 3}
    swapped = oracle.aggregate([SECOND, FIRST], statistic="count", group_by=["type"], dedup_by="id")
    assert swapped.cells == {("criminal",): 1, ("labour",): None, ("sexual",): 3}


def test_aggregate_two_group_columns_with_declared_vocabularies() -> None:
    """Cells are the product of the vocabularies, in order; empty cells are suppressed."""
    tables = [{**FIRST, "region": ["utrecht", "utrecht", "zeeland", "zeeland"]}]
    answer = oracle.aggregate(
        tables,
        statistic="count",
        group_by=["region", "type"],
        vocabularies={"region": ["utrecht", "zeeland"], "type": ["sexual", "labour"]},
    )
    assert list(answer.cells) == [
        ("utrecht", "sexual"),
        ("utrecht", "labour"),
        ("zeeland", "sexual"),
        ("zeeland", "labour"),
    ]
    assert answer.shown == dict.fromkeys(answer.cells, 1)


@pytest.mark.parametrize(
    ("values", "mean"),
    [([1, 2], 150), ([1, 1, 2], 133), ([-1, -2], -150), ([2, 2, 3], 233), ([-1, 0, 0], -33)],
)
def test_mean_in_hundredths_rounds_halves_away_from_zero(values: list[int], mean: int) -> None:
    """The mean is round(100 · sum / count), halves away from zero, scale 100."""
    rows = table([f"p{i}" for i in range(len(values))], ["x"] * len(values), values)
    answer = oracle.aggregate([rows], statistic="mean", value_column="age")
    assert answer.cells == {(): mean}
    assert answer.scale == 100


def test_small_cells_are_suppressed_but_counted() -> None:
    """A cell below min_group_size shows None; its count stays available to tests only."""
    answer = oracle.aggregate(
        [FIRST, SECOND], statistic="mean", value_column="age", group_by=["type"], min_group_size=2
    )
    assert answer.cells == {("criminal",): None, ("labour",): 3500, ("sexual",): 3150}
    assert answer.counts[("criminal",)] == 1


@pytest.mark.parametrize(
    ("tables", "arguments", "code"),
    [
        ([table(["p1"], [""], [1])], {"group_by": ["type"], "vocabularies": {"type": ["x"]}},
         "oracle_value_missing"),
        ([{"id": ["p1"], "type": ["x"], "age": numbers([1], [True])}],
         {"statistic": "sum", "value_column": "age"}, "oracle_value_missing"),
        ([FIRST], {"value_column": "age"}, "oracle_parameter_invalid"),
        ([FIRST], {"statistic": "median"}, "oracle_parameter_invalid"),
        ([FIRST], {"group_by": ["missing"]}, "oracle_parameter_invalid"),
        ([FIRST], {"min_group_size": 0}, "oracle_parameter_invalid"),
        ([], {}, "oracle_parameter_invalid"),
    ],
    ids=["empty-group", "missing-value", "count-with-value", "statistic", "column", "min", "none"],
)  # fmt: skip
def test_aggregate_refuses_what_it_cannot_place(
    tables: list[dict[str, ColumnData]], arguments: dict[str, Any], code: str
) -> None:
    """Holes in used columns and bad parameters are refused with a stable code."""
    with pytest.raises(InvalidError) as caught:
        oracle.aggregate(tables, **{"statistic": "count", **arguments})
    assert caught.value.code == code


def test_set_kinds_refuse_too_few_lists_and_bad_parameters() -> None:
    """Intersections and overlaps need two lists; limit and min_group_size are at least 1."""
    for call in (
        lambda: oracle.intersection([LEA]),
        lambda: oracle.overlap_matrix([LEA], 1),
        lambda: oracle.overlap_matrix([LEA, NGO_A], 0),
        lambda: oracle.set_difference(LEA, [NGO_A], 0),
        lambda: oracle.union_size([]),
    ):
        with pytest.raises(InvalidError):
            call()


def test_oracle_matches_the_engine_on_generated_data() -> None:
    """The engine's deduplicated mean by two columns equals the oracle's cells, on real-looking
    generated lists (three providers, spelling noise, duplicates, disagreeing categories)."""
    data = generate(proof_of_concept(24, seed=11))
    tables = [item.columns for item in data.organisations]
    group_by = ("exploitation_type", "age_band")
    vocabularies = {c: sorted(set().union(*(set(t[c]) for t in tables))) for c in group_by}
    expected = oracle.aggregate(
        tables,
        statistic="mean",
        value_column="age",
        group_by=group_by,
        dedup_by="name_dob",
        min_group_size=2,
        vocabularies=vocabularies,
    )
    spec = AggregateSpec("mean", tuple(len(vocabularies[c]) for c in group_by), True, 2, 1000)
    providers = [3, 4, 5]
    bounds = [item.rows + 3 for item in data.organisations]

    def factory(ctx: Context) -> Program[Cells | None]:
        mine = None
        if ctx.me in providers:
            columns = tables[providers.index(ctx.me)]
            groups = np.array(
                [[vocabularies[c].index(v) for v in columns[c]] for c in group_by],
                dtype=np.int64,
            )
            ids = hashing.encode([i.encode() for i in columns["name_dob"]], b"oracle-test-key")
            ages = np.asarray(np.ma.getdata(columns["age"]), dtype=np.int64)
            mine = Rows(groups, ages, ids)
        return aggregate(ctx, spec, providers, bounds, mine, (0,))

    results, _ = run_all(3, 3, factory, seed=5)
    cells: Cells = results[0]
    assert [
        None if not s else int(v) for v, s in zip(cells.values, cells.shown, strict=True)
    ] == list(expected.cells.values())
