"""The sans-I/O program layer: parallel, key setup, expect/expect_shapes and Context."""

from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np
import pytest

from protocols import arithmetic, sharing
from protocols.errors import AbortCode, LocalProtocolError, ProtocolAbortedError
from protocols.field import Array
from protocols.program import (
    Context,
    Exchange,
    Program,
    Replies,
    SessionKeys,
    expect,
    expect_shapes,
    key_setup,
    parallel,
    prss_subsets,
)
from protocols.randomness import InsecureSeededRandomSource
from protocols.runner import Runner, make_contexts
from protocols.shamir import Committee

from .helpers import (
    P,
    ProgramFactory,
    as_ints,
    assert_detected,
    corrupt,
    field_array,
    input_from,
    labels,
    rewrite,
    run,
    under,
)

SIZES = [3, 4, 5, 7]


def arr(*values: int) -> Array:
    """A small uint64 array."""
    return np.array(values, dtype=np.uint64)


# --- parallel -------------------------------------------------------------------------------


def scripted(label: str, outgoing: tuple[Array, ...], count: int) -> Program[tuple[Array, ...]]:
    """A one-round program: send ``outgoing`` to party 1, expect ``count`` arrays from it."""
    replies = yield Exchange(label, {1: outgoing}, {1: count})
    return tuple(replies[1])


def test_parallel_merges_one_round_and_splits_replies_by_count() -> None:
    """parallel concatenates outgoing arrays in program order and splits replies by counts."""
    a, b, c = arr(1), arr(2), arr(3)
    program = parallel(scripted("s7", (a,), 2), scripted("s8", (b, c), 1))
    exchange = next(program)
    assert exchange.label == "s7"
    assert [int(x[0]) for x in exchange.outgoing[1]] == [1, 2, 3]
    assert dict(exchange.incoming) == {1: 3}
    x, y, z = arr(10), arr(20), arr(30)
    with pytest.raises(StopIteration) as stop:
        program.send({1: (x, y, z)})
    first, second = stop.value.value
    assert [int(v[0]) for v in first] == [10, 20]
    assert [int(v[0]) for v in second] == [30]


def test_parallel_of_nothing_and_of_finished_programs() -> None:
    """parallel() returns [] without an exchange; programs that never yield just return."""

    def immediate(value: int) -> Program[int]:
        return value
        yield  # a generator that finishes before its first exchange

    with pytest.raises(StopIteration) as stop:
        next(parallel())
    assert stop.value.value == []
    with pytest.raises(StopIteration) as stop:
        next(parallel(immediate(1), immediate(2)))
    assert stop.value.value == [1, 2]


def two_inputs() -> tuple[list[int], list[int]]:
    """Inputs for the parallel tests."""
    return [3, -1, 1 << 50], [7, 2, -5]


def parallel_products(depth_second: int) -> ProgramFactory:
    """x·y in parallel with y·y·…·y (``depth_second`` multiplications), then open both."""
    a, b = two_inputs()

    def chain(ctx: Context, y: Array) -> Program[Array]:
        z = y
        for _ in range(depth_second):
            z = yield from arithmetic.mul(ctx, z, y)
        return z

    def program(ctx: Context) -> Program[list[list[int]]]:
        x = yield from input_from(ctx, 0, a)
        y = yield from input_from(ctx, 1, b)
        first, second = yield from parallel(arithmetic.mul(ctx, x, y), chain(ctx, y))
        opened = yield from parallel(
            sharing.open_values(ctx, first), sharing.open_values(ctx, second)
        )
        return [as_ints(v) for v in opened]

    return program


@pytest.mark.parametrize("n", [3, 5])
@pytest.mark.parametrize("depth", [1, 3])
def test_parallel_results_equal_sequential(n: int, depth: int) -> None:
    """Sub-programs in parallel give the results they give alone, in program order."""
    a, b = two_inputs()
    results, runner = run(n, parallel_products(depth), seed=80)
    assert all(r == results[0] for r in results)
    assert results[0][0] == [x * y % P for x, y in zip(a, b, strict=True)]
    assert results[0][1] == [pow(y, depth + 1, P) for y in b]
    # inputs (2) + max(1, depth) multiplication rounds + one merged opening
    assert len(labels(runner)) == 2 + depth + 1


def test_parallel_messages_carry_both_programs_arrays() -> None:
    """In a merged round each dealer sends one message holding both programs' arrays."""
    _, runner = run(3, parallel_products(1), seed=81)
    merged = under(runner, labels(runner)[2])
    assert len(merged) == 3  # one message per dealer and non-PRG party
    assert all([a.shape for a in d.arrays] == [(3,), (3,)] for d in merged)


def test_parallel_round_is_tamper_checked() -> None:
    """A corrupted array inside a merged message is still caught."""
    factory = parallel_products(2)
    _, clean = run(3, factory, seed=82)
    for label in labels(clean):
        d = under(clean, label)[-1]
        for array in range(len(d.arrays)):
            assert_detected(3, factory, corrupt(label, d.sender, d.receiver, array, 0), seed=82)


@pytest.mark.parametrize("where", ["mul", "open"])
def test_parallel_message_missing_an_array_is_malformed(where: str) -> None:
    """A merged message with one array too few aborts with MALFORMED_MESSAGE."""
    factory = parallel_products(1)
    _, clean = run(3, factory, seed=83)
    d = under(clean, labels(clean)[2 if where == "mul" else -1])[0]
    tamper = rewrite(d.label, d.sender, d.receiver, lambda arrays: arrays[:-1])
    with pytest.raises(ProtocolAbortedError) as info:
        run(3, factory, seed=83, tamper=tamper)
    assert info.value.code == AbortCode.MALFORMED_MESSAGE


@pytest.mark.parametrize("where", ["mul", "open"])
def test_parallel_message_with_an_extra_array_is_malformed(where: str) -> None:
    """A merged message with one array too many aborts with MALFORMED_MESSAGE, like any other."""
    factory = parallel_products(1)
    _, clean = run(3, factory, seed=84)
    d = under(clean, labels(clean)[2 if where == "mul" else -1])[0]
    tamper = rewrite(d.label, d.sender, d.receiver, lambda arrays: (*arrays, arrays[0].copy()))
    with pytest.raises(ProtocolAbortedError) as info:
        run(3, factory, seed=84, tamper=tamper)
    assert info.value.code == AbortCode.MALFORMED_MESSAGE


def test_nested_parallel() -> None:
    """parallel composes: a parallel inside a parallel gives the same results."""
    a, b = two_inputs()

    def program(ctx: Context) -> Program[list[int]]:
        x = yield from input_from(ctx, 0, a)
        y = yield from input_from(ctx, 1, b)
        inner = parallel(arithmetic.mul(ctx, x, y), arithmetic.mul(ctx, x, x))
        (xy, xx), yy = yield from parallel(inner, arithmetic.mul(ctx, y, y))
        total = yield from sharing.open_values(ctx, np.concatenate([xy, xx, yy]))
        return as_ints(total)

    results, runner = run(3, program, seed=85)
    expected = [x * y % P for x, y in zip(a, b, strict=True)]
    expected += [x * x % P for x in a] + [y * y % P for y in b]
    assert results[0] == expected
    assert len(labels(runner)) == 4


# --- key setup ------------------------------------------------------------------------------


def agree_keys(n: int, seed: int) -> tuple[list[SessionKeys], Runner]:
    """Run key_setup among n fresh contexts."""
    committee = Committee(n)
    ctxs = [Context(i, committee, InsecureSeededRandomSource(seed + i)) for i in range(n)]
    runner = Runner()
    keys = runner.run([key_setup(ctx) for ctx in ctxs])
    return keys, runner


@pytest.mark.parametrize("n", SIZES)
def test_key_setup_pairwise_keys_are_shared_by_each_pair(n: int) -> None:
    """Each pair of parties ends with one common 32-byte key, distinct across pairs."""
    keys, _ = agree_keys(n, 100)
    seen = set()
    for i, j in combinations(range(n), 2):
        assert keys[i].pairwise[j] == keys[j].pairwise[i]
        assert len(keys[i].pairwise[j]) == 32
        seen.add(keys[i].pairwise[j])
    assert len(seen) == comb(n, 2)
    assert all(set(k.pairwise) == set(range(n)) - {i} for i, k in enumerate(keys))


@pytest.mark.parametrize("n", SIZES)
def test_key_setup_prss_keys_are_held_by_the_complement(n: int) -> None:
    """k_B is held, identically, by exactly the parties outside each t-subset B."""
    keys, _ = agree_keys(n, 200)
    subsets = prss_subsets(Committee(n))
    assert len(subsets) == comb(n, Committee(n).threshold)
    for subset in subsets:
        holders = [i for i in range(n) if i not in subset]
        assert {keys[i].prss[subset] for i in holders} == {keys[holders[0]].prss[subset]}
        assert all(subset not in keys[i].prss for i in subset)
    assert len({keys[0].prss[s] for s in keys[0].prss}) == len(keys[0].prss)


@pytest.mark.parametrize("n", SIZES)
def test_key_setup_common_key_and_one_round(n: int) -> None:
    """Every party gets party 0's common key, in a single round."""
    keys, runner = agree_keys(n, 300)
    assert keys[0].common is not None
    assert {k.common for k in keys} == {keys[0].common}
    assert len(labels(runner)) == 1
    assert all(a.shape == (4,) for d in runner.deliveries for a in d.arrays)


def test_key_setup_depends_on_the_randomness() -> None:
    """Different sources give different keys."""
    first, _ = agree_keys(3, 400)
    second, _ = agree_keys(3, 500)
    assert first[0].pairwise[1] != second[0].pairwise[1]
    assert first[0].common != second[0].common


def test_key_setup_rejects_a_key_outside_the_field() -> None:
    """A key message with a value outside the field aborts with MALFORMED_MESSAGE."""
    committee = Committee(3)
    ctxs = [Context(i, committee, InsecureSeededRandomSource(i)) for i in range(3)]

    def tamper_fn(arrays: tuple[Array, ...]) -> tuple[Array, ...]:
        bad = arrays[0].copy()
        bad[0] = np.uint64(P)
        return (bad, *arrays[1:])

    with pytest.raises(ProtocolAbortedError) as info:
        Runner(tamper=rewrite("s1", 0, 1, tamper_fn)).run([key_setup(c) for c in ctxs])
    assert info.value.code == AbortCode.MALFORMED_MESSAGE
    assert info.value.party == 0


@pytest.mark.parametrize("n", [3, 5])
def test_installed_keystreams_agree(n: int) -> None:
    """After make_contexts, pairwise, PRSS and common keystreams agree between holders."""
    ctxs = make_contexts(n, n_external=2, seed=7)
    for i, j in combinations(range(n + 2), 2):
        if i >= n and j >= n:
            with pytest.raises(LocalProtocolError):
                ctxs[i].pairwise(j)
            continue
        left = ctxs[i].pairwise(j).field(b"probe", 4)
        right = ctxs[j].pairwise(i).field(b"probe", 4)
        assert np.array_equal(left, right)
    commons = {ctxs[i].common().field(b"probe", 2).tobytes() for i in range(n)}
    assert len(commons) == 1
    with pytest.raises(LocalProtocolError):
        ctxs[n].common()
    for subset in prss_subsets(ctxs[0].committee):
        outputs = {
            ctxs[i].prss_streams()[subset].field(b"probe", 2).tobytes()
            for i in range(n)
            if i not in subset
        }
        assert len(outputs) == 1


# --- expect / expect_shapes -----------------------------------------------------------------


def test_expect_returns_well_formed_arrays() -> None:
    """expect returns the sender's arrays when count, shape, dtype and range are right."""
    replies: Replies = {2: (arr(1, 2), arr(P - 1, 0))}
    got = expect(replies, 2, 2, (2,))
    assert [as_ints(a) for a in got] == [[1, 2], [P - 1, 0]]
    assert expect({0: (np.zeros(0, dtype=np.uint64),)}, 0, 1, (0,))[0].shape == (0,)


def test_expect_shapes_checks_each_array_against_its_shape() -> None:
    """expect_shapes accepts differently shaped arrays in the declared order."""
    replies: Replies = {1: (arr(1, 2, 3), arr(4))}
    assert len(expect_shapes(replies, 1, [(3,), (1,)])) == 2
    with pytest.raises(ProtocolAbortedError) as info:
        expect_shapes(replies, 1, [(1,), (3,)])
    assert info.value.code == AbortCode.MALFORMED_MESSAGE


@pytest.mark.parametrize(
    "replies",
    [
        pytest.param({}, id="missing-sender"),
        pytest.param({1: ()}, id="no-arrays"),
        pytest.param({1: (arr(1, 2),)}, id="one-array-short"),
        pytest.param({1: (arr(1, 2), arr(1, 2), arr(1, 2))}, id="one-array-extra"),
        pytest.param({1: (arr(1, 2), arr(1, 2, 3))}, id="wrong-length"),
        pytest.param({1: (arr(1, 2), arr(1, 2).reshape(1, 2))}, id="wrong-rank"),
        pytest.param({1: (arr(1, 2), np.array([1, 2], dtype=np.int64))}, id="int64"),
        pytest.param({1: (arr(1, 2), np.array([1, 2], dtype=np.uint32))}, id="uint32"),
        pytest.param({1: (arr(1, 2), np.array([1.0, 2.0]))}, id="float"),
        pytest.param({1: (arr(1, 2), arr(0, P))}, id="value-p"),
        pytest.param({1: (arr(1, 2), arr((1 << 64) - 1, 0))}, id="value-2^64-1"),
    ],
)
def test_expect_rejects_malformed_replies(replies: Replies) -> None:
    """Any malformed reply aborts with MALFORMED_MESSAGE naming the sender."""
    with pytest.raises(ProtocolAbortedError) as info:
        expect(replies, 1, 2, (2,))
    assert info.value.code == AbortCode.MALFORMED_MESSAGE
    assert info.value.party == 1


def test_abort_error_fields_and_text() -> None:
    """ProtocolAbortedError exposes code, party and detail, and names the code in its text."""
    error = ProtocolAbortedError(AbortCode.CHECK_FAILED, "detail", party=3)
    assert (error.code, error.party, error.detail) == (AbortCode.CHECK_FAILED, 3, "detail")
    assert str(error) == "check_failed (party 3): detail"
    assert str(ProtocolAbortedError(AbortCode.TIMEOUT)) == "timeout"
    assert {c.name: int(c) for c in AbortCode} == {
        "INCONSISTENT_SHARES": 1,
        "CHECK_FAILED": 2,
        "MALFORMED_MESSAGE": 3,
        "HASHING_FAILED": 4,
        "PEER_ABORTED": 6,
        "TIMEOUT": 7,
        "PEER_LOST": 8,
    }, "wire codes never change value"


# --- Context --------------------------------------------------------------------------------


def test_context_counters() -> None:
    """next_label counts s1, s2, …; next_tag counts per (kind, party) independently."""
    ctx = Context(0, Committee(3), InsecureSeededRandomSource(0), n_participants=5)
    assert [ctx.next_label() for _ in range(3)] == ["s1", "s2", "s3"]
    assert ctx.next_tag("in", 3) == "in:3:1"
    assert ctx.next_tag("in", 3) == "in:3:2"
    assert ctx.next_tag("in", 4) == "in:4:1"
    assert ctx.next_tag("out", 3) == "out:3:1"
    assert ctx.next_label() == "s4"


def test_context_roles() -> None:
    """Compute parties are those below n; others lists the other compute parties."""
    committee = Committee(3)
    source = InsecureSeededRandomSource(0)
    assert Context(1, committee, source).others == [0, 2]
    assert Context(1, committee, source).is_compute
    external = Context(3, committee, source, n_participants=4)
    assert not external.is_compute
    assert external.others == [0, 1, 2]
    assert Context(0, committee, source).n_participants == 3


@pytest.mark.parametrize(("me", "total"), [(3, None), (-1, None), (5, 5)])
def test_context_outside_the_session_is_a_local_error(me: int, total: int | None) -> None:
    """A party index outside the session raises LocalProtocolError."""
    with pytest.raises(LocalProtocolError):
        Context(me, Committee(3), InsecureSeededRandomSource(0), n_participants=total)


def test_context_without_keys() -> None:
    """Asking for a key that was never agreed raises LocalProtocolError."""
    ctx = Context(0, Committee(3), InsecureSeededRandomSource(0))
    with pytest.raises(LocalProtocolError, match="pairwise"):
        ctx.pairwise(1)
    with pytest.raises(LocalProtocolError, match="common"):
        ctx.common()
    assert ctx.prss_streams() == {}


def test_protocols_need_keys() -> None:
    """share_input without agreed keys is a LocalProtocolError, not a silent failure."""
    ctx = Context(0, Committee(3), InsecureSeededRandomSource(0))
    with pytest.raises(LocalProtocolError):
        next(sharing.share_input(ctx, 0, field_array([1]), 1))
