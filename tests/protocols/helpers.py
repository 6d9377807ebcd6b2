"""Shared helpers for the protocol tests: running programs in memory, inputs, tampering.

A plain module (imported explicitly, no conftest fixtures). Values in tests are Python integers;
``field_array`` reduces them mod p, so signed inputs map to the engine's ``v mod p`` encoding.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st

from protocols.errors import AbortCode, ProtocolAbortedError
from protocols.field import MODULUS, Array
from protocols.program import Context, Program
from protocols.runner import Delivery, Runner, Tamper, make_contexts
from protocols.sharing import open_values, share_input

P = MODULUS
"""The field modulus 2^61 - 1 as a Python integer."""

ProgramFactory = Callable[[Context], Program[Any]]
SharedOp = Callable[..., Generator[Any, Any, Array]]

COMMITTEE_SIZES = [3, 5, 7]
"""The committee sizes every protocol is tested at."""

QUICK = settings(max_examples=15, deadline=None)
"""Hypothesis settings for protocol runs: few examples, no deadline (runs take milliseconds)."""

SIGNED_EDGES = (0, 1, -1, 1 << 47, -(1 << 47), 1 << 58, -(1 << 58), (1 << 60) - 1, -((1 << 60) - 1))
"""Signed inputs at the edges of the range ``from_int`` accepts."""

DETECTED = (AbortCode.INCONSISTENT_SHARES, AbortCode.CHECK_FAILED)
"""The codes an honest party may abort with when a share was corrupted in transit."""

COMPARE_BOUND = 1 << 59
"""Comparisons support |a|, |b| < 2^59."""

COMPARE_EDGES = (
    0,
    1,
    -1,
    2,
    -2,
    1 << 47,
    -(1 << 47),
    (1 << 47) - 1,
    1 << 58,
    -(1 << 58),
    (1 << 59) - 1,
    -((1 << 59) - 1),
)

FIELD_EDGES = (
    0,
    1,
    2,
    3,
    P - 1,
    P - 2,
    (P - 1) // 2,
    (P + 1) // 2,
    (1 << 32) - 1,
    1 << 32,
    1 << 60,
)


# --- values ---------------------------------------------------------------------------------


def field_array(values: Sequence[int]) -> Array:
    """Python integers of any sign and size as canonical field elements."""
    return np.array([v % P for v in values], dtype=np.uint64)


def as_ints(values: Array) -> list[int]:
    """Field elements (any shape) as a flat list of Python integers in [0, p)."""
    return [int(v) for v in np.asarray(values).reshape(-1)]


def mod(values: Sequence[int]) -> list[int]:
    """Python integers reduced mod p."""
    return [v % P for v in values]


# --- strategies -----------------------------------------------------------------------------


def signed(bound: int, edges: Sequence[int] = ()) -> st.SearchStrategy[int]:
    """Integers with |v| < bound, with the given edge values drawn often."""
    inner = st.integers(-(bound - 1), bound - 1)
    if not edges:
        return inner
    return st.one_of(st.sampled_from(list(edges)), inner)


def field_elements() -> st.SearchStrategy[int]:
    """Canonical field elements, edges drawn often."""
    return st.one_of(st.sampled_from(FIELD_EDGES), st.integers(0, P - 1))


def vectors(elements: st.SearchStrategy[int], max_size: int = 20) -> st.SearchStrategy[list[int]]:
    """Non-empty lists of up to ``max_size`` elements."""
    return st.lists(elements, min_size=1, max_size=max_size)


def vector_pairs(
    elements: st.SearchStrategy[int], max_size: int = 20
) -> st.SearchStrategy[tuple[list[int], list[int]]]:
    """Two lists of equal length; about half the positions hold equal values."""

    def build(size: int) -> st.SearchStrategy[tuple[list[int], list[int]]]:
        column = st.lists(elements, min_size=size, max_size=size)
        same = st.lists(st.booleans(), min_size=size, max_size=size)
        return st.tuples(column, column, same).map(
            lambda t: (t[0], [x if eq else y for x, y, eq in zip(*t, strict=True)])
        )

    return st.integers(1, max_size).flatmap(build)


# --- running programs -----------------------------------------------------------------------


def run(
    n: int,
    factory: ProgramFactory,
    *,
    seed: int,
    n_external: int = 0,
    tamper: Tamper | None = None,
) -> tuple[list[Any], Runner]:
    """Fresh contexts (keys agreed), then one program per party; results and the runner."""
    ctxs = make_contexts(n, n_external=n_external, seed=seed)
    runner = Runner(tamper=tamper)
    results = runner.run([factory(ctx) for ctx in ctxs])
    return results, runner


def agreed(results: Sequence[Any], n: int) -> list[int]:
    """The value every compute party opened (asserting they agree), as Python integers."""
    first = as_ints(results[0])
    for other in results[1:n]:
        assert as_ints(other) == first
    return first


def input_from(ctx: Context, owner: int, values: Sequence[int]) -> Program[Array]:
    """``owner`` shares ``values`` (reduced mod p); every other party passes ``None``."""
    mine = field_array(values) if ctx.me == owner else None
    return (yield from share_input(ctx, owner, mine, len(values)))


def unary_program(op: SharedOp, a: Sequence[int], owner: int = 0) -> ProgramFactory:
    """Share ``a`` from ``owner``, apply ``op(ctx, x)``, open the result to all."""

    def program(ctx: Context) -> Program[Array]:
        x = yield from input_from(ctx, owner, a)
        z = yield from op(ctx, x)
        return (yield from open_values(ctx, z))

    return program


def binary_program(
    op: SharedOp, a: Sequence[int], b: Sequence[int], owners: tuple[int, int] = (0, 1)
) -> ProgramFactory:
    """Share ``a`` and ``b`` from ``owners``, apply ``op(ctx, x, y)``, open the result to all."""

    def program(ctx: Context) -> Program[Array]:
        x = yield from input_from(ctx, owners[0], a)
        y = yield from input_from(ctx, owners[1], b)
        z = yield from op(ctx, x, y)
        return (yield from open_values(ctx, z))

    return program


def run_unary(n: int, op: SharedOp, a: Sequence[int], *, seed: int) -> list[int]:
    """Open ``op(a)`` at every compute party; the agreed value as integers in [0, p)."""
    results, _ = run(n, unary_program(op, a), seed=seed)
    return agreed(results, n)


def run_binary(n: int, op: SharedOp, a: Sequence[int], b: Sequence[int], *, seed: int) -> list[int]:
    """Open ``op(a, b)`` at every compute party; the agreed value as integers in [0, p)."""
    results, _ = run(n, binary_program(op, a, b), seed=seed)
    return agreed(results, n)


# --- inspecting and tampering with messages -------------------------------------------------


def labels(runner: Runner) -> list[str]:
    """The distinct labels of a run, in delivery order."""
    return list(dict.fromkeys(d.label for d in runner.deliveries))


def under(runner: Runner, label: str) -> list[Delivery]:
    """The deliveries under ``label``."""
    return [d for d in runner.deliveries if d.label == label]


def bump(array: Array, element: int = 0) -> Array:
    """A copy of ``array`` with one element increased by 1 mod p."""
    out = array.copy()
    out[element] = np.uint64((int(out[element]) + 1) % P)
    return out


def rewrite(
    label: str,
    sender: int,
    receiver: int,
    change: Callable[[tuple[Array, ...]], tuple[Array, ...]],
) -> Tamper:
    """A tamper hook that rewrites the one message ``sender → receiver`` under ``label``."""

    def tamper(delivery: Delivery) -> tuple[Array, ...]:
        if (delivery.label, delivery.sender, delivery.receiver) == (label, sender, receiver):
            return change(delivery.arrays)
        return delivery.arrays

    return tamper


def corrupt(label: str, sender: int, receiver: int, array: int = 0, element: int = 0) -> Tamper:
    """A tamper hook adding 1 mod p to one element of one array of one message."""

    def change(arrays: tuple[Array, ...]) -> tuple[Array, ...]:
        out = list(arrays)
        out[array] = bump(out[array], element)
        return tuple(out)

    return rewrite(label, sender, receiver, change)


def assert_detected(
    n: int,
    factory: ProgramFactory,
    tamper: Tamper,
    *,
    seed: int,
    n_external: int = 0,
    codes: Sequence[AbortCode] = DETECTED,
) -> ProtocolAbortedError:
    """Run with ``tamper``; the session must abort with one of ``codes``."""
    with pytest.raises(ProtocolAbortedError) as info:
        run(n, factory, seed=seed, n_external=n_external, tamper=tamper)
    assert info.value.code in codes, info.value
    return info.value
