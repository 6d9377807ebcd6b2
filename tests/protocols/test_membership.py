"""Membership bits and the proof-of-concept set difference: correctness, leakage, tampering."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import hashing, membership, sharing
from protocols.errors import ProtocolAbortedError
from protocols.field import Array
from protocols.program import Context, Program
from protocols.runner import Runner, make_contexts
from tests.protocols.helpers import DETECTED, corrupt

KEY = b"membership-test"


def codes(values: list[int]) -> Array:
    """Keyed encodings of integers."""
    return hashing.encode([v.to_bytes(8, "little") for v in values], KEY)


def set_difference(
    lists: list[list[int]], limit: int, n: int = 3, runner: Runner | None = None
) -> list[int] | None:
    """Run set_difference with party 0 as querier and parties 1, 2 as holders."""
    contexts = make_contexts(n, seed=11)
    layout = membership.Layout.of(max(len(lists[0]), 1), [max(len(x), 1) for x in lists[1:]])
    programs = [
        membership.set_difference(
            c, 0, [1, 2], codes(lists[c.me]) if c.me < 3 else None, layout, limit
        )
        for c in contexts
    ]
    results = (runner or Runner()).run(programs)
    assert all(r is None for r in results[1:])
    return None if results[0] is None else [lists[0][i] for i in results[0]]


def absent(lists: list[list[int]]) -> set[int]:
    """Querier values on no other list."""
    others = set(lists[1]) | set(lists[2])
    return {v for v in lists[0] if v not in others}


@settings(max_examples=12, deadline=None)
@given(
    st.lists(st.integers(0, 60), max_size=40, unique=True),
    st.lists(st.integers(0, 60), max_size=40, unique=True),
    st.lists(st.integers(0, 60), max_size=40, unique=True),
    st.integers(1, 6),
)
def test_set_difference_matches_plaintext(
    querier: list[int], first: list[int], second: list[int], limit: int
) -> None:
    """The querier gets min(limit, |difference|) of its values that are on no other list."""
    lists = [querier, first, second]
    found = set_difference(lists, limit)
    assert found is not None
    assert set(found) <= absent(lists)
    assert len(found) == min(limit, len(absent(lists)))


@pytest.mark.parametrize(
    "lists",
    [
        [[], [1, 2], [3]],
        [[1, 2, 3], [1, 2, 3], [1, 2, 3]],
        [[1, 2, 3], [4], [5]],
        [[1, 2, 3, 4, 5, 6, 7, 8], [2], []],
        [[7], [], []],
    ],
    ids=["empty-querier", "identical", "no-overlap", "more-than-limit", "empty-holders"],
)
def test_set_difference_edges(lists: list[list[int]]) -> None:
    """Empty lists, identical lists, no overlap, more non-members than the limit."""
    found = set_difference(lists, 5)
    assert found is not None
    assert set(found) <= absent(lists)
    assert len(found) == min(5, len(absent(lists)))


@pytest.mark.parametrize("n", [3, 5])
def test_absent_bits_against_plaintext(n: int) -> None:
    """absent_bits is 1 exactly for real bins whose value is in no column entry."""
    contexts = make_contexts(n, seed=3)
    query = np.array([5, 6, 7, 8], dtype=np.uint64)
    real = np.array([1, 1, 0, 1], dtype=np.uint64)
    lists = np.array([[5, 1, 9, 2], [3, 6, 4, 4]], dtype=np.uint64)

    def program(ctx: Context) -> Program[Array]:
        q = yield from sharing.share_input(ctx, 0, query if ctx.me == 0 else None, 4)
        r = yield from sharing.share_input(ctx, 0, real if ctx.me == 0 else None, 4)
        flat = lists.reshape(-1) if ctx.me == 1 else None
        ys = yield from sharing.share_input(ctx, 1, flat, 8)
        bits = yield from membership.absent_bits(ctx, q, r, ys.reshape(2, 4))
        return (yield from sharing.open_values(ctx, bits))

    results = Runner().run([program(c) for c in contexts])
    assert results[0].tolist() == [0, 0, 0, 1]


def test_only_the_querier_receives_output_and_holders_get_no_result() -> None:
    """Holders receive only shares, masked values and the public seed; only party 0 gets out:."""
    runner = Runner()
    lists = [[1, 2, 3, 4], [2, 9], [3, 10]]
    set_difference(lists, 5, runner=runner)
    for party in (1, 2):
        labels = {d.label.split(":")[0] for d in runner.received_by(party)}
        assert "out" not in labels
        seeds = [d for d in runner.received_by(party) if d.label.startswith("seed:")]
        assert len(seeds) == 1
        assert seeds[0].arrays[0].size == 1
    outputs = [d for d in runner.received_by(0) if d.label.startswith("out:")]
    assert sorted(d.sender for d in outputs) == [1, 2]


def test_tampered_share_aborts_instead_of_a_wrong_answer() -> None:
    """Corrupting one element of one mid-protocol share message aborts with a coded reason."""
    lists = [[1, 2, 3, 4, 5, 6], [2, 9], [3, 10]]
    clean = Runner()
    set_difference(lists, 5, runner=clean)
    shares = [d for d in clean.deliveries if d.label.startswith("s") and d.arrays[0].size > 4]
    target = shares[len(shares) // 2]

    tamper = corrupt(target.label, target.sender, target.receiver)

    with pytest.raises(ProtocolAbortedError) as caught:
        set_difference(lists, 5, runner=Runner(tamper=tamper))
    assert caught.value.code in DETECTED


def test_selection_is_not_in_bin_order() -> None:
    """With more non-members than the limit, different sessions select different members."""
    lists = [list(range(40)), [0, 1], [2, 3]]
    seen = set()
    for seed in range(4):
        contexts = make_contexts(3, seed=100 + seed)
        layout = membership.Layout.of(40, [2, 2])
        programs = [
            membership.set_difference(c, 0, [1, 2], codes(lists[c.me]), layout, 3) for c in contexts
        ]
        found = Runner().run(programs)[0]
        assert len(found) == 3
        assert set(found.tolist()) <= {i for i in range(40) if i > 3}
        seen.add(tuple(found.tolist()))
    assert len(seen) > 1
