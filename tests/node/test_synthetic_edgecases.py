"""Corner-case data spaces (node/synthetic/edgecases.py) have the property they are named for."""

from __future__ import annotations

from pathlib import Path

import pytest

from node import oracle
from node.errors import InvalidError
from node.synthetic import Synthetic, generate
from node.synthetic.edgecases import (
    disjoint,
    edge_cases,
    empty,
    few_missing,
    identical,
    suppressed,
)
from tests.node.datasets.helpers import NOW, make_store


def lists(data: Synthetic) -> list[list[str]]:
    """The identifier lists of the LEA and the two NGOs."""
    return [item.identifiers for item in data.organisations]


def test_empty_ngo_lists_leave_every_lea_name_a_non_member() -> None:
    """Both NGO files are a header only; every LEA identifier is a candidate."""
    scenario = empty(30)
    lea, ngo_a, ngo_b = lists(generate(scenario.config))
    assert ngo_a == ngo_b == []
    answer = oracle.set_difference(lea, [ngo_a, ngo_b], scenario.limit)
    assert answer.candidates == set(lea)
    assert answer.expected_count == scenario.limit
    assert oracle.intersection_size([lea, ngo_a, ngo_b]) == 0


def test_identical_lists_differ_only_in_spelling() -> None:
    """Three spellings of the same people: one set of identifiers, no non-member."""
    data = generate(identical(30).config)
    lea, ngo_a, ngo_b = lists(data)
    assert set(lea) == set(ngo_a) == set(ngo_b)
    assert data.organisations[0].csv.splitlines()[1:] != data.organisations[1].csv.splitlines()[1:]
    assert oracle.set_difference(lea, [ngo_a, ngo_b], 5).expected_count == 0
    assert (
        oracle.union_size([lea, ngo_a, ngo_b])
        == oracle.intersection_size([lea, ngo_a, ngo_b])
        == 30
    )


def test_disjoint_lists_share_nobody() -> None:
    """No identifier is on two lists: union is the sum, every overlap is zero."""
    lea, ngo_a, ngo_b = lists(generate(disjoint(30).config))
    assert oracle.union_size([lea, ngo_a, ngo_b]) == 90
    assert oracle.overlap_matrix([lea, ngo_a, ngo_b], 1) == {
        (0, 1): None,
        (0, 2): None,
        (1, 2): None,
    }


@pytest.mark.parametrize("missing", [0, 1, 4])
def test_fewer_non_members_than_limit(missing: int) -> None:
    """Exactly ``missing`` (< limit) LEA identifiers are on no NGO list."""
    scenario = few_missing(30, missing)
    lea, ngo_a, ngo_b = lists(generate(scenario.config))
    answer = oracle.set_difference(lea, [ngo_a, ngo_b], scenario.limit)
    assert answer.size == answer.expected_count == missing < scenario.limit


def test_every_cell_is_suppressed() -> None:
    """Overlaps and aggregate cells all fall below the scenario's min_group_size."""
    scenario = suppressed()
    data = generate(scenario.config)
    tables = [item.columns for item in data.organisations]
    overlaps = oracle.overlap_matrix(lists(data), scenario.min_group_size)
    assert set(overlaps.values()) == {None}
    for group_by in ((), ("exploitation_type",), ("region", "age_band")):
        answer = oracle.aggregate(
            tables, statistic="count", group_by=group_by, min_group_size=scenario.min_group_size
        )
        assert answer.shown == {}
        assert sum(answer.counts.values()) > 0


def test_non_empty_scenario_files_import(tmp_path: Path) -> None:
    """Every non-empty file of every scenario imports with its schema."""
    store, _ = make_store(tmp_path)
    for scenario in edge_cases(seed=3):
        for item in generate(scenario.config).organisations:
            if item.rows:
                name = f"{scenario.name.replace('_', '-')}-{item.name}"
                report = store.import_bytes(name, item.csv, now=NOW, schema=item.schema)
                assert report.dataset.row_count == item.rows


def test_impossible_corner_cases_are_refused() -> None:
    """A few_missing at or above limit, or a suppressed case that could reach the minimum."""
    with pytest.raises(InvalidError):
        few_missing(30, 5, limit=5)
    with pytest.raises(InvalidError):
        suppressed(4, min_group_size=10)
