"""Intersection size, union size, overlap matrix and intersection: plaintext, leakage, tampering."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import setops
from protocols.cells import Cells
from protocols.errors import LocalProtocolError, ProtocolAbortedError
from protocols.program import Context, Program
from protocols.runner import make_contexts
from tests.protocols.catalogue import codes, mid_share, opened_to, run_all, tag_kinds
from tests.protocols.helpers import DETECTED, corrupt

EDGES = {
    "empty-lists": [[], [], []],
    "one-empty": [[1, 2, 3], [], [2, 3]],
    "identical": [[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4]],
    "no-overlap": [[1, 2], [3, 4], [5, 6]],
    "nested": [[1, 2, 3, 4, 5, 6], [2, 3, 4], [3]],
    "duplicates": [[1, 1, 2, 2], [2, 2, 3], [2, 9, 9]],
}


def _setup(lists: list[list[int]], n: int, n_external: int) -> tuple[list[int], list[int]]:
    """Providers (the last compute parties, then the externals) and bounds above the sizes."""
    everyone = list(range(n + n_external))
    providers = everyone[-len(lists) :]
    bounds = [len(x) + 3 for x in lists]
    return providers, bounds


def _run(
    kind: str,
    lists: list[list[int]],
    *,
    n: int = 3,
    n_external: int | None = None,
    recipients: tuple[int, ...] = (0,),
    seed: int = 1,
    min_group_size: int = 1,
    **extra: Any,
) -> tuple[list[Any], Any]:
    n_external = max(0, len(lists) - n) if n_external is None else n_external
    providers, bounds = _setup(lists, n, n_external)

    def factory(ctx: Context) -> Program[Any]:
        mine = codes(lists[providers.index(ctx.me)]) if ctx.me in providers else None
        if kind == "intersection_size":
            return setops.intersection_size(ctx, providers, bounds, mine, recipients)
        if kind == "union_size":
            return setops.union_size(ctx, providers, bounds, mine, recipients)
        if kind == "overlap_matrix":
            return setops.overlap_matrix(ctx, providers, bounds, mine, recipients, min_group_size)
        return setops.intersection(ctx, recipients[0], providers, bounds, mine)

    return run_all(n, n_external, factory, seed=seed, **extra)


def _only_at(results: list[Any], recipients: tuple[int, ...]) -> Any:
    """The recipients' result (they agree); everyone else got ``None``."""
    for party, result in enumerate(results):
        if party not in recipients:
            assert result is None
    first = results[recipients[0]]
    for party in recipients[1:]:
        assert repr(results[party]) == repr(first)
    return first


def _pairs(lists: list[list[int]]) -> list[int]:
    return [len(set(lists[i]) & set(lists[j])) for i, j in combinations(range(len(lists)), 2)]


small_lists = st.lists(st.lists(st.integers(0, 30), max_size=15), min_size=1, max_size=4)


@settings(max_examples=8, deadline=None)
@given(small_lists, st.integers(0, 1000))
def test_sizes_match_plaintext(lists: list[list[int]], seed: int) -> None:
    """Intersection and union sizes equal the plaintext ones for 1–4 random lists."""
    (size,) = [_only_at(_run("intersection_size", lists, seed=seed)[0], (0,))]
    assert size == len(set.intersection(*map(set, lists)))
    union = _only_at(_run("union_size", lists, seed=seed)[0], (0,))
    assert union == len(set().union(*lists))


@settings(max_examples=6, deadline=None)
@given(st.lists(st.lists(st.integers(0, 20), max_size=12), min_size=2, max_size=4))
def test_overlap_and_intersection_match_plaintext(lists: list[list[int]]) -> None:
    """Overlap cells are the pairwise sizes; the intersection is the common identifiers."""
    cells = _only_at(_run("overlap_matrix", lists)[0], (0,))
    assert cells.values.tolist() == _pairs(lists)
    assert cells.shown.tolist() == [count >= 1 for count in _pairs(lists)]
    providers, _ = _setup(lists, 3, max(0, len(lists) - 3))
    recipient = providers[0]
    results, _ = _run("intersection", lists, recipients=(recipient,))
    found = _only_at(results, (recipient,))
    common = set.intersection(*map(set, lists))
    assert {lists[0][i] for i in found} == common
    assert len(found) == len({lists[0].index(v) for v in common})


@pytest.mark.parametrize("name", sorted(EDGES))
@pytest.mark.parametrize("n", [3, 5])
def test_edge_cases(name: str, n: int) -> None:
    """Empty, identical, disjoint, nested lists and duplicates, in 3- and 5-party committees."""
    lists = EDGES[name]
    assert _run("intersection_size", lists, n=n)[0][0] == len(set.intersection(*map(set, lists)))
    assert _run("union_size", lists, n=n)[0][0] == len(set().union(*lists))
    assert _run("overlap_matrix", lists, n=n)[0][0].values.tolist() == _pairs(lists)
    recipient = n - 3
    found = _run("intersection", lists, n=n, recipients=(recipient,))[0][recipient]
    assert {lists[0][i] for i in found} == set.intersection(*map(set, lists))


def test_one_provider_only() -> None:
    """With one list, intersection and union size are its number of distinct identifiers."""
    lists = [[4, 5, 5, 6]]
    assert _run("intersection_size", lists)[0][0] == 3
    assert _run("union_size", lists)[0][0] == 3
    assert _run("intersection", lists, recipients=(2,))[0][2].tolist() == [0, 1, 3]


def test_small_overlaps_are_suppressed_inside_mpc() -> None:
    """Cells below min_group_size open as suppressed zeros; the recipient's messages say no more."""
    lists = [[1, 2, 3, 4, 5], [1, 2, 3, 4, 9], [5, 9, 10]]
    results, runner = _run("overlap_matrix", lists, min_group_size=3, recipients=(0, 1))
    cells: Cells = _only_at(results, (0, 1))
    assert cells.shown.tolist() == [True, False, False]
    assert cells.values.tolist() == [4, 0, 0]
    assert opened_to(runner, 0, 3) == [[1, 0, 0, 4, 0, 0]]


@pytest.mark.parametrize("kind", ["intersection_size", "union_size", "overlap_matrix"])
def test_only_recipients_receive_outputs(kind: str) -> None:
    """External recipient gets one opening of the documented size; no one else gets any."""
    lists = [[1, 2, 3], [2, 3, 4], [3, 4, 5]]
    results, runner = _run(kind, lists, n_external=2, recipients=(4,))
    expected = {
        "intersection_size": [[1]],
        "union_size": [[5]],
        "overlap_matrix": [[1, 1, 1, 2, 1, 2]],
    }[kind]
    assert opened_to(runner, 4, 3) == expected
    assert tag_kinds(runner, 4) <= {"seed", "out"}
    assert tag_kinds(runner, 3) <= {"seed"}
    for party in (0, 1, 2, 3):
        assert opened_to(runner, party, 3) == []
    assert all(results[p] is None for p in range(4))


def test_intersection_opens_only_the_recipients_membership_bits() -> None:
    """The recipient receives one bit per bin: 1 exactly in the bins of common identifiers."""
    lists = [[1, 2, 3, 7], [2, 3, 4], [3, 2, 8]]
    results, runner = _run("intersection", lists, n_external=1, recipients=(1,))
    assert sorted(lists[0][i] for i in results[1]) == [2, 3]
    (bits,) = opened_to(runner, 1, 3)
    assert sorted(set(bits)) == [0, 1]
    assert sum(bits) == 2
    for party in (0, 2, 3):
        assert opened_to(runner, party, 3) == []
        assert results[party] is None


@pytest.mark.parametrize(
    "kind", ["intersection_size", "union_size", "overlap_matrix", "intersection"]
)
def test_tampered_share_aborts(kind: str) -> None:
    """A corrupted share in the middle of the computation aborts with a detection code."""
    lists = [[1, 2, 3, 4, 5, 6], [2, 3, 9], [3, 10, 2]]
    _, clean = _run(kind, lists, recipients=(1,))
    with pytest.raises(ProtocolAbortedError) as caught:
        _run(kind, lists, recipients=(1,), tamper=corrupt(*mid_share(clean)))
    assert caught.value.code in DETECTED


def test_a_list_above_its_bound_is_refused_before_anything_is_sent() -> None:
    """A provider passing more identifiers than its public bound gets a LocalProtocolError."""

    def factory(ctx: Context) -> Program[Any]:
        return setops.union_size(ctx, [0, 1], [2, 2], codes([1, 2, 3]), [0])

    with pytest.raises(LocalProtocolError):
        run_all(3, 0, factory, seed=1)


def test_intersection_recipient_must_provide_a_list() -> None:
    """The intersection maps bins back to identifiers, so its recipient must hold a list."""
    ctx = make_contexts(3)[0]
    with pytest.raises(LocalProtocolError):
        next(setops.intersection(ctx, 0, [1, 2], [1, 1], None))


def test_same_answer_across_seeds() -> None:
    """Fresh randomness (keys, dummies, masks) never changes the answer."""
    lists = [list(range(0, 40, 2)), list(range(0, 40, 3)), list(range(0, 40, 5))]
    answers = {_run("union_size", lists, seed=s)[0][0] for s in range(4)}
    assert answers == {len(set().union(*lists))}
    assert np.unique([_run("intersection_size", lists, seed=s)[0][0] for s in range(3)]).size == 1
