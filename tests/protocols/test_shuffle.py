"""Oblivious shuffle: a consistent, secret permutation of the columns."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import sharing
from protocols.errors import ProtocolAbortedError
from protocols.field import Array
from protocols.program import Context, Program
from protocols.runner import Runner, make_contexts
from protocols.shuffle import shuffle
from tests.protocols.helpers import DETECTED, corrupt


def shuffled(n: int, rows: list[list[int]], seed: int = 7, runner: Runner | None = None) -> Array:
    """Party 0 shares ``rows``; the committee shuffles and opens them."""
    contexts = make_contexts(n, seed=seed)
    data = np.array(rows, dtype=np.uint64)

    def program(ctx: Context) -> Program[Array]:
        flat = data.reshape(-1) if ctx.me == 0 else None
        shares = yield from sharing.share_input(ctx, 0, flat, data.size)
        mixed = yield from shuffle(ctx, shares.reshape(data.shape))
        return (yield from sharing.open_values(ctx, mixed))

    results = (runner or Runner()).run([program(c) for c in contexts])
    assert all(np.array_equal(r, results[0]) for r in results)
    return results[0]


@pytest.mark.parametrize("n", [3, 5, 7])
@settings(max_examples=8, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=1, max_size=40))
def test_shuffle_permutes_columns_consistently(n: int, values: list[int]) -> None:
    """Every row is permuted by the same permutation; the columns stay intact."""
    rows = [values, [v * 3 + 1 for v in values]]
    out = shuffled(n, rows)
    assert sorted(out[0].tolist()) == sorted(values)
    assert out[1].tolist() == [v * 3 + 1 for v in out[0].tolist()]


def test_shuffle_is_not_the_identity() -> None:
    """A shuffle of 64 distinct values moves them (probability of identity: 1/64!)."""
    values = list(range(64))
    out = shuffled(3, [values])
    assert out[0].tolist() != values
    assert sorted(out[0].tolist()) == values


def test_different_sessions_permute_differently() -> None:
    """Fresh session keys give a fresh permutation."""
    values = list(range(32))
    assert shuffled(3, [values], seed=1)[0].tolist() != shuffled(3, [values], seed=2)[0].tolist()


def test_rounds_one_per_subset() -> None:
    """n = 3 takes C(3, 1) = 3 shuffle rounds between the input and the opening."""
    runner = Runner()
    shuffled(3, [[1, 2, 3]], runner=runner)
    compute_labels = {d.label for d in runner.deliveries if d.label.startswith("s")}
    assert len(compute_labels) == 1 + 3 + 1  # key setup, three steps, opening


def test_tampered_shuffle_message_aborts() -> None:
    """A corrupted share in a shuffle step aborts instead of opening wrong values."""
    clean = Runner()
    shuffled(3, [[5, 6, 7, 8]], runner=clean)
    steps = [d for d in clean.deliveries if d.label.startswith("s") and d.arrays[0].size == 4]
    target = steps[1]

    tamper = corrupt(target.label, target.sender, target.receiver, element=2)

    with pytest.raises(ProtocolAbortedError) as caught:
        shuffled(3, [[5, 6, 7, 8]], runner=Runner(tamper=tamper))
    assert caught.value.code in DETECTED
