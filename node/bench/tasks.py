"""The engine benchmark tasks: inputs generated from a seed, the program, the plaintext answer.

Each task is defined once and used by every party process. Inputs are derived from the seed per
party, so party 0 can recompute everybody's plaintext inputs and check the opened result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from protocols import compare, hashing, membership, sharing
from protocols import field as gf
from protocols.arithmetic import mul
from protocols.field import Array
from protocols.program import Context, Program

N_PARTIES = 3
LIMIT = 5
_ID_KEY = b"confide-bench-identifier-key"


def _rng(seed: int, party: int) -> np.random.Generator:
    return np.random.default_rng([seed, party])


def signed_inputs(task: str, seed: int, party: int, size: int) -> np.ndarray:
    """The plaintext vector ``party`` contributes to an arithmetic task."""
    rng = _rng(seed, party)
    if task == "sum":
        return rng.integers(-(2**30), 2**30, size)
    if task == "mul":
        return rng.integers(-(2**15), 2**15, size)
    values = rng.integers(-(2**31), 2**31, size)
    if task == "eq" and party == 1:
        other = signed_inputs(task, seed, 0, size)
        values[::2] = other[::2]
    return values


def identifier_lists(seed: int, size: int) -> list[np.ndarray]:
    """Querier list and two other lists; each other list shares about a third with the querier."""
    rng = _rng(seed, 99)
    pool = rng.choice(2**31, size=3 * size, replace=False)
    querier = pool[:size]
    third = size // 3
    first = np.concatenate([querier[:third], pool[size : 2 * size - third]])
    second = np.concatenate([querier[third : 2 * third], pool[2 * size : 3 * size - third]])
    return [querier, first, second]


def encoded(values: np.ndarray) -> Array:
    """Identifiers as field elements, keyed the same at every party."""
    return hashing.encode([int(v).to_bytes(8, "little") for v in values], _ID_KEY)


@dataclass(frozen=True)
class Task:
    """One benchmark task: inputs prepared before the clock starts, then the timed program."""

    prepare: Callable[[int, int, int], Array | None]
    program: Callable[[Context, Array | None, int], Program[Array | None]]
    expected: Callable[[int, int], np.ndarray]
    check: Callable[[Array | None, np.ndarray], bool]


def _arith_prepare(kind: str) -> Callable[[int, int, int], Array | None]:
    def prepare(party: int, seed: int, size: int) -> Array | None:
        if kind != "sum" and party >= 2:
            return None
        return gf.from_int(signed_inputs(kind, seed, party, size))

    return prepare


def _arith(kind: str) -> Callable[[Context, Array | None, int], Program[Array | None]]:
    def program(ctx: Context, mine: Array | None, size: int) -> Program[Array | None]:
        owners = range(N_PARTIES) if kind == "sum" else range(2)
        shares = yield from sharing.share_inputs(ctx, owners, mine, size)
        if kind == "sum":
            result = shares[0]
            for extra in shares[1:]:
                result = gf.add(result, extra)
        elif kind == "mul":
            result = yield from mul(ctx, shares[0], shares[1])
        elif kind == "lt":
            result = yield from compare.less_than(ctx, shares[0], shares[1])
        else:
            result = yield from compare.equal(ctx, shares[0], shares[1])
        return (yield from sharing.open_values(ctx, result))

    return program


def _arith_expected(kind: str) -> Callable[[int, int], np.ndarray]:
    def expected(seed: int, size: int) -> np.ndarray:
        a, b, c = (signed_inputs(kind, seed, p, size) for p in range(N_PARTIES))
        if kind == "sum":
            answer = a + b + c
        elif kind == "mul":
            answer = a * b
        else:
            answer = (a < b) if kind == "lt" else (a == b)
        return np.asarray(answer, dtype=np.int64)

    return expected


def _membership_prepare(party: int, seed: int, size: int) -> Array | None:
    return encoded(identifier_lists(seed, size)[party])


def _membership(ctx: Context, mine: Array | None, size: int) -> Program[Array | None]:
    layout = membership.Layout.of(size, [size, size])
    return (yield from membership.set_difference(ctx, 0, [1, 2], mine, layout, LIMIT))


def _membership_expected(seed: int, size: int) -> np.ndarray:
    querier, first, second = identifier_lists(seed, size)
    others = set(first.tolist()) | set(second.tolist())
    return np.array([i for i, v in enumerate(querier.tolist()) if v not in others])


def _check_arith(result: Array | None, expected: np.ndarray) -> bool:
    return result is not None and bool(np.array_equal(gf.to_int(result), expected))


def _check_membership(result: Array | None, expected: np.ndarray) -> bool:
    if result is None:
        return False
    chosen = set(result.tolist())
    return len(chosen) == min(LIMIT, expected.size) and chosen <= set(expected.tolist())


TASKS: dict[str, Task] = {
    **{
        k: Task(_arith_prepare(k), _arith(k), _arith_expected(k), _check_arith)
        for k in ("sum", "mul", "lt", "eq")
    },
    "membership": Task(_membership_prepare, _membership, _membership_expected, _check_membership),
}
