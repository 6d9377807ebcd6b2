"""Dealing, input, resharing and opening: results, what each party receives, tampering."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import field as gf
from protocols import sharing
from protocols.errors import AbortCode, LocalProtocolError, ProtocolAbortedError
from protocols.field import Array
from protocols.program import Context, Program
from protocols.runner import make_contexts
from protocols.shamir import Committee, reconstruct

from .helpers import (
    COMMITTEE_SIZES,
    QUICK,
    SIGNED_EDGES,
    P,
    ProgramFactory,
    agreed,
    as_ints,
    assert_detected,
    corrupt,
    field_array,
    input_from,
    labels,
    mod,
    rewrite,
    run,
    signed,
    under,
    vectors,
)

SIZES = COMMITTEE_SIZES
EDGES = SIGNED_EDGES
values_strategy = vectors(signed(1 << 60, EDGES))


def input_then_open(owner: int, values: list[int]) -> ProgramFactory:
    """``owner`` (compute or external) shares ``values``; compute parties open them."""

    def program(ctx: Context) -> Program[Array | None]:
        x = yield from input_from(ctx, owner, values)
        if not ctx.is_compute:
            return None
        return (yield from sharing.open_values(ctx, x))

    return program


def input_then_open_to(owner: int, values: list[int], recipients: list[int]) -> ProgramFactory:
    """``owner`` shares ``values``; the committee opens them to ``recipients`` only."""

    def program(ctx: Context) -> Program[Array | None]:
        x = yield from input_from(ctx, owner, values)
        return (
            yield from sharing.open_to(ctx, x if ctx.is_compute else None, recipients, len(values))
        )

    return program


# --- results --------------------------------------------------------------------------------


@pytest.mark.parametrize("n", SIZES)
@QUICK
@given(values_strategy, st.data())
def test_share_input_from_a_compute_party(n: int, values: list[int], data: st.DataObject) -> None:
    """Any compute party's input opens to its values at every compute party."""
    owner = data.draw(st.integers(0, n - 1), label="owner")
    results, _ = run(n, input_then_open(owner, values), seed=1)
    assert agreed(results, n) == mod(values)
    assert gf.to_int(results[0]).tolist() == values


@pytest.mark.parametrize("n", SIZES)
@QUICK
@given(values_strategy)
def test_share_input_from_an_external_party(n: int, values: list[int]) -> None:
    """An input provider outside the committee (index n) shares values that open correctly."""
    results, _ = run(n, input_then_open(n, values), seed=2, n_external=1)
    assert agreed(results, n) == mod(values)
    assert results[n] is None


@pytest.mark.parametrize("n", SIZES)
@QUICK
@given(values_strategy, st.data())
def test_open_to_a_compute_party(n: int, values: list[int], data: st.DataObject) -> None:
    """open_to a compute party gives it the values; every other party gets None."""
    recipient = data.draw(st.integers(0, n - 1), label="recipient")
    results, _ = run(n, input_then_open_to(0, values, [recipient]), seed=3, n_external=1)
    assert as_ints(results[recipient]) == mod(values)
    assert all(r is None for i, r in enumerate(results) if i != recipient)


@pytest.mark.parametrize("n", SIZES)
@QUICK
@given(values_strategy)
def test_open_to_an_external_party(n: int, values: list[int]) -> None:
    """open_to an external party gives it the values; compute parties and others get None."""
    results, _ = run(n, input_then_open_to(1, values, [n]), seed=4, n_external=2)
    assert as_ints(results[n]) == mod(values)
    assert all(r is None for i, r in enumerate(results) if i != n)


@pytest.mark.parametrize("n", SIZES)
def test_open_to_several_recipients(n: int) -> None:
    """open_to [compute party, external party] gives both the values, nobody else."""
    values = [5, -7, 0, 1 << 58]
    results, _ = run(n, input_then_open_to(n, values, [n - 1, n]), seed=5, n_external=2)
    assert as_ints(results[n - 1]) == mod(values)
    assert as_ints(results[n]) == mod(values)
    assert [i for i, r in enumerate(results) if r is not None] == [n - 1, n]


@pytest.mark.parametrize("n", SIZES)
@QUICK
@given(st.data())
def test_reshare_gives_the_weighted_sum(n: int, data: st.DataObject) -> None:
    """reshare turns local values vᵢ of the first k parties into shares of Σ wᵢ·vᵢ."""
    k = data.draw(st.integers(1, n), label="dealers")
    weights = data.draw(st.lists(signed(1 << 70), min_size=k, max_size=k), label="weights")
    local = data.draw(
        st.lists(st.lists(signed(1 << 61), min_size=3, max_size=3), min_size=n, max_size=n),
        label="local",
    )

    def program(ctx: Context) -> Program[Array]:
        shares = yield from sharing.reshare(ctx, field_array(local[ctx.me]), weights)
        return (yield from sharing.open_values(ctx, shares))

    results, _ = run(n, program, seed=6)
    expected = [sum(w * local[i][j] for i, w in enumerate(weights)) % P for j in range(3)]
    assert agreed(results, n) == expected


@pytest.mark.parametrize("n", SIZES)
def test_deal_from_several_dealers_with_weights(n: int) -> None:
    """deal returns one sharing per dealer, in dealer order, each scaled by its weight."""
    dealers = [n - 1, 0, 1]
    weights = [1, -1, 3]
    vectors_by_party = {d: [d + 1, -(d + 2), 1 << 50] for d in dealers}

    def program(ctx: Context) -> Program[list[Array]]:
        mine = field_array(vectors_by_party[ctx.me]) if ctx.me in dealers else None
        shares = yield from sharing.deal(ctx, dealers, mine, 3, weights=weights)
        assert len(shares) == len(dealers)
        opened = []
        for share in shares:
            opened.append((yield from sharing.open_values(ctx, share)))
        return opened

    results, _ = run(n, program, seed=7)
    for index, dealer in enumerate(dealers):
        expected = [weights[index] * v % P for v in vectors_by_party[dealer]]
        assert as_ints(results[0][index]) == expected
        assert all(as_ints(r[index]) == expected for r in results)


def test_share_input_accepts_two_dimensional_values() -> None:
    """share_input flattens the owner's values; the shares are a flat vector of that size."""
    values = field_array(range(6)).reshape(2, 3)

    def program(ctx: Context) -> Program[Array]:
        x = yield from sharing.share_input(ctx, 0, values if ctx.me == 0 else None, 6)
        assert x.shape == (6,)
        return (yield from sharing.open_values(ctx, x))

    results, _ = run(3, program, seed=8)
    assert agreed(results, 3) == list(range(6))


def test_open_values_keeps_the_shape() -> None:
    """open_values of a 2-D sharing returns a 2-D array."""

    def program(ctx: Context) -> Program[Array]:
        x = yield from input_from(ctx, 0, list(range(6)))
        return (yield from sharing.open_values(ctx, x.reshape(3, 2)))

    results, _ = run(3, program, seed=9)
    assert results[0].shape == (3, 2)
    assert results[0].tolist() == [[0, 1], [2, 3], [4, 5]]


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7, 15])
def test_prg_targets(n: int) -> None:
    """A dealer's t PRG targets are distinct other compute parties; an outsider's are 0..t-1."""
    committee = Committee(n)
    t = committee.threshold
    for dealer in committee.parties:
        targets = sharing.prg_targets(committee, dealer)
        assert len(targets) == t
        assert len(set(targets)) == t
        assert dealer not in targets
        assert all(0 <= p < n for p in targets)
    assert sharing.prg_targets(committee, n) == tuple(range(t))
    assert sharing.prg_targets(committee, n + 3) == tuple(range(t))


@pytest.mark.parametrize("n", [3, 4, 5, 7])
def test_prss_random_is_a_consistent_sharing(n: int) -> None:
    """PRSS shares of all parties lie on one degree-t polynomial; labels give fresh values."""
    ctxs = make_contexts(n, seed=10)
    shares = np.stack([sharing.prss_random(ctx, b"test", 50) for ctx in ctxs])
    value = reconstruct(shares, ctxs[0].committee)
    assert len(set(as_ints(value))) == 50
    other = np.stack([sharing.prss_random(ctx, b"other", 50) for ctx in ctxs])
    assert not np.array_equal(reconstruct(other, ctxs[0].committee), value)
    again = np.stack([sharing.prss_random(ctx, b"test", 50) for ctx in ctxs])
    assert np.array_equal(again, shares)


def test_track_folds_shares_into_the_pending_check() -> None:
    """track counts sharings and marks a check as pending."""
    ctx = make_contexts(3, seed=11)[0]
    assert not ctx.has_pending_check
    sharing.track(ctx, field_array([1, 2, 3]))
    assert ctx.tracked == 1
    assert ctx.has_pending_check
    assert 0 <= ctx.pending_check < P


def test_flush_checks_without_pending_check_sends_nothing() -> None:
    """flush_checks is free when nothing was received since the last check."""

    def program(ctx: Context) -> Program[int]:
        yield from sharing.flush_checks(ctx)
        return ctx.next_label()

    results, runner = run(3, program, seed=12)
    assert runner.deliveries == []
    assert len(set(results)) == 1


@pytest.mark.parametrize("n", SIZES)
def test_flush_checks_is_one_round_of_one_element(n: int) -> None:
    """A pending check costs one round in which each party sends one element to each other."""

    def program(ctx: Context) -> Program[bool]:
        yield from input_from(ctx, 0, [1, 2, 3])
        assert ctx.has_pending_check
        yield from sharing.flush_checks(ctx)
        return ctx.has_pending_check

    results, runner = run(n, program, seed=13)
    assert results == [False] * n
    check = under(runner, labels(runner)[-1])
    assert len(check) == n * (n - 1)
    assert all(len(d.arrays) == 1 and d.arrays[0].shape == (1,) for d in check)


# --- what each party receives ---------------------------------------------------------------


def test_share_input_from_party_0_with_three_parties() -> None:
    """n=3: party 2 receives one array of the input size, party 1 (the PRG target) nothing."""
    size = 7
    assert sharing.prg_targets(Committee(3), 0) == (1,)

    def program(ctx: Context) -> Program[Array]:
        return (yield from input_from(ctx, 0, list(range(size))))

    _, runner = run(3, program, seed=14)
    assert runner.received_by(1) == []
    assert runner.received_by(0) == []
    (delivery,) = runner.received_by(2)
    assert delivery.sender == 0
    assert [a.shape for a in delivery.arrays] == [(size,)]


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7])
@pytest.mark.parametrize("owner", ["first", "last", "external"])
def test_share_input_sends_one_array_to_each_non_target(n: int, owner: str) -> None:
    """An input reaches each non-PRG-target party as one array of its size, nothing else."""
    dealer = {"first": 0, "last": n - 1, "external": n}[owner]
    size = 5
    _, runner = run(n, input_then_open(dealer, list(range(size))), seed=15, n_external=1)
    first_label = labels(runner)[0]
    targets = sharing.prg_targets(Committee(n), dealer)
    sent = [d for d in runner.deliveries if d.label == first_label]
    assert all(d.sender == dealer for d in sent)
    for party in range(n):
        got = [d for d in sent if d.receiver == party]
        if party in targets or party == dealer:
            assert got == []
        else:
            assert len(got) == 1
            assert [a.shape for a in got[0].arrays] == [(size,)]
    receivers = n - Committee(n).threshold - (0 if dealer == n else 1)
    assert sum(a.size for d in sent for a in d.arrays) == receivers * size


@pytest.mark.parametrize("n", SIZES)
def test_open_to_external_recipient_traffic(n: int) -> None:
    """The recipient gets exactly one array per compute party; others outside get nothing."""
    size = 4
    _, runner = run(n, input_then_open_to(0, [1, 2, 3, 4], [n]), seed=16, n_external=2)
    received = runner.received_by(n)
    assert sorted(d.sender for d in received) == list(range(n))
    assert all(d.label.startswith(f"out:{n}:") for d in received)
    assert all([a.shape for a in d.arrays] == [(size,)] for d in received)
    assert runner.received_by(n + 1) == []
    for party in range(n):
        assert not any(d.label.startswith("out:") for d in runner.received_by(party))


@pytest.mark.parametrize("n", [3, 4, 5, 7])
def test_open_values_sends_full_shares_to_t_parties_and_digests_to_the_rest(n: int) -> None:
    """Opening: full shares to the t parties after the sender, a 4-element digest to the rest."""
    size = 6
    committee = Committee(n)
    t = committee.threshold
    _, runner = run(n, input_then_open(0, list(range(size))), seed=17)
    opening = under(runner, labels(runner)[-1])
    assert len(opening) == n * (n - 1)
    for d in opening:
        full = d.sender in sharing.open_sources(committee, d.receiver)
        assert [a.shape for a in d.arrays] == [(size,) if full else (4,), (1,)]
    for party in range(n):
        sent = [d for d in opening if d.sender == party]
        elements = sum(a.size for d in sent for a in d.arrays)
        assert elements == t * size + (n - 1 - t) * 4 + (n - 1)


def test_open_values_without_pending_check_sends_no_check_element() -> None:
    """A second opening with nothing received in between sends shares or digests only."""

    def program(ctx: Context) -> Program[Array]:
        x = yield from input_from(ctx, 0, [1, 2])
        yield from sharing.open_values(ctx, x)
        return (yield from sharing.open_values(ctx, gf.add(x, x)))

    results, runner = run(3, program, seed=18)
    assert agreed(results, 3) == [2, 4]
    assert all(len(d.arrays) == 1 for d in under(runner, labels(runner)[-1]))


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7, 15])
def test_open_sources(n: int) -> None:
    """Each party gets full shares from the t parties before it; each sends to exactly t."""
    committee = Committee(n)
    t = committee.threshold
    senders = []
    for party in committee.parties:
        sources = sharing.open_sources(committee, party)
        assert len(sources) == len(set(sources)) == t
        assert party not in sources
        assert all(0 <= s < n for s in sources)
        senders.extend(sources)
    assert sorted(senders) == sorted(list(committee.parties) * t)


def test_digest() -> None:
    """digest: four field elements, deterministic, sensitive to any element and to order."""
    a = field_array([1, 2, 3, P - 1])
    d = sharing.digest(a)
    assert d.shape == (4,)
    assert d.dtype == np.uint64
    assert int(d.max()) < P
    assert np.array_equal(d, sharing.digest(a.copy()))
    assert not np.array_equal(d, sharing.digest(field_array([1, 2, 3, P - 2])))
    assert not np.array_equal(d, sharing.digest(field_array([2, 1, 3, P - 1])))


@pytest.mark.parametrize("n", SIZES)
def test_share_inputs_from_several_parties_in_one_round(n: int) -> None:
    """share_inputs: each owner shares its own vector; one round; results in owner order."""
    owners = [n - 1, 0, 1]
    vectors_by_owner = {p: [p, -p - 1, 1 << 50, p * 7] for p in owners}

    def program(ctx: Context) -> Program[list[list[int]]]:
        mine = field_array(vectors_by_owner[ctx.me]) if ctx.me in owners else None
        shares = yield from sharing.share_inputs(ctx, owners, mine, 4)
        opened = yield from sharing.open_values(ctx, np.stack(shares))
        return [as_ints(row) for row in opened]

    results, runner = run(n, program, seed=27)
    assert all(r == results[0] for r in results)
    assert results[0] == [mod(vectors_by_owner[p]) for p in owners]
    assert len(labels(runner)) == 2


def test_share_inputs_refuses_external_owners() -> None:
    """share_inputs takes compute parties only."""

    def program(ctx: Context) -> Program[list[Array]]:
        mine = field_array([1]) if ctx.me == 3 else None
        return (yield from sharing.share_inputs(ctx, [0, 3], mine, 1))

    with pytest.raises(LocalProtocolError, match="compute parties"):
        run(3, program, seed=28, n_external=1)


TRIPLE_FOLD = (2 * P + 1) // 3
"""(2p + 1)/3: three times it is 2^62 - 1, which a single 61-bit fold maps to p + 1, not 1."""


@pytest.mark.parametrize("owner", [0, 1, 2, 3, 4])
def test_input_of_two_p_plus_one_thirds_with_four_parties(owner: int) -> None:
    """n=4: an honest input of (2p + 1)/3 (the integer -768614336404564650) opens correctly."""
    values = [TRIPLE_FOLD, 5]
    assert gf.to_int(field_array(values)).tolist() == [-768614336404564650, 5]
    results, _ = run(4, input_then_open(owner, values), seed=29, n_external=1)
    assert agreed(results, 4) == values


# --- tampering ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", SIZES)
def test_tampered_share_input_aborts(n: int) -> None:
    """A corrupted input share is caught by the check before anything is opened."""
    factory = input_then_open(0, [3, 1, 4, 1, 5])
    _, clean = run(n, factory, seed=19)
    first = clean.deliveries[0]
    error = assert_detected(
        n, factory, corrupt(first.label, first.sender, first.receiver, 0, 2), seed=19
    )
    assert error.code == AbortCode.CHECK_FAILED


@pytest.mark.parametrize("n", SIZES)
def test_tampered_external_input_aborts(n: int) -> None:
    """A corrupted share from an external input provider is caught."""
    factory = input_then_open(n, [3, 1, 4])
    _, clean = run(n, factory, seed=20, n_external=1)
    for delivery in under(clean, labels(clean)[0]):
        tamper = corrupt(delivery.label, delivery.sender, delivery.receiver, 0, 1)
        assert_detected(n, factory, tamper, seed=20, n_external=1)


@pytest.mark.parametrize("n", [3, 5])
@pytest.mark.parametrize("array", [0, 1], ids=["values", "check"])
def test_tampered_open_values_aborts(n: int, array: int) -> None:
    """Corrupting any party's opened shares or check element to any receiver aborts."""
    factory = input_then_open(1, [9, 8, 7])
    _, clean = run(n, factory, seed=21)
    expected = AbortCode.INCONSISTENT_SHARES if array == 0 else AbortCode.CHECK_FAILED
    for delivery in under(clean, labels(clean)[-1]):
        tamper = corrupt(delivery.label, delivery.sender, delivery.receiver, array, 0)
        error = assert_detected(n, factory, tamper, seed=21)
        assert error.code == expected


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("recipient", ["compute", "external"])
def test_tampered_open_to_aborts(n: int, recipient: str) -> None:
    """A corrupted share on its way to the recipient makes the recipient abort."""
    target = 1 if recipient == "compute" else n
    factory = input_then_open_to(0, [2, 7, 1], [target])
    _, clean = run(n, factory, seed=22, n_external=1)
    for delivery in clean.deliveries:
        if delivery.label.startswith("out:"):
            tamper = corrupt(delivery.label, delivery.sender, delivery.receiver, 0, 2)
            error = assert_detected(n, factory, tamper, seed=22, n_external=1)
            assert error.code == AbortCode.INCONSISTENT_SHARES
            assert error.party is None


@pytest.mark.parametrize("n", SIZES)
def test_tampered_check_before_open_to_aborts(n: int) -> None:
    """Corrupting the committee's check round before open_to aborts with CHECK_FAILED."""
    factory = input_then_open_to(0, [2, 7, 1], [n])
    _, clean = run(n, factory, seed=23, n_external=1)
    check = [d for d in clean.deliveries if d.label.startswith("s")][-1]
    error = assert_detected(
        n, factory, corrupt(check.label, check.sender, check.receiver), seed=23, n_external=1
    )
    assert error.code == AbortCode.CHECK_FAILED


def _short(arrays: tuple[Array, ...]) -> tuple[Array, ...]:
    return (arrays[0][:-1], *arrays[1:])


def _long(arrays: tuple[Array, ...]) -> tuple[Array, ...]:
    return (np.concatenate([arrays[0], arrays[0][:1]]), *arrays[1:])


def _two_dimensional(arrays: tuple[Array, ...]) -> tuple[Array, ...]:
    return (arrays[0].reshape(1, -1), *arrays[1:])


def _value(value: int) -> Callable[[tuple[Array, ...]], tuple[Array, ...]]:
    def change(arrays: tuple[Array, ...]) -> tuple[Array, ...]:
        first = arrays[0].copy()
        first[0] = np.uint64(value)
        return (first, *arrays[1:])

    return change


def _dtype(arrays: tuple[Array, ...]) -> tuple[Array, ...]:
    return (arrays[0].astype(np.int64), *arrays[1:])


def _drop_all(arrays: tuple[Array, ...]) -> tuple[Array, ...]:
    return ()


def _drop_last(arrays: tuple[Array, ...]) -> tuple[Array, ...]:
    return arrays[:-1]


def _extra(arrays: tuple[Array, ...]) -> tuple[Array, ...]:
    return (*arrays, arrays[-1].copy())


MALFORMED: dict[str, Callable[[tuple[Array, ...]], tuple[Array, ...]]] = {
    "short": _short,
    "long": _long,
    "2-d": _two_dimensional,
    "p": _value(P),
    "2^61": _value(1 << 61),
    "2^64-1": _value((1 << 64) - 1),
    "int64": _dtype,
    "no-arrays": _drop_all,
    "one-array-less": _drop_last,
    "extra-array": _extra,
}


def _message(n: int, kind: str) -> tuple[ProgramFactory, Any]:
    """A small program and the delivery of ``kind`` (input, open, check, out) to malform."""
    if kind == "input":
        factory = input_then_open(0, [1, 2, 3])
        _, clean = run(n, factory, seed=24, n_external=1)
        return factory, clean.deliveries[0]
    if kind == "open":
        factory = input_then_open(0, [1, 2, 3])
        _, clean = run(n, factory, seed=24, n_external=1)
        return factory, under(clean, labels(clean)[-1])[-1]
    factory = input_then_open_to(0, [1, 2, 3], [n])
    _, clean = run(n, factory, seed=24, n_external=1)
    if kind == "check":
        return factory, [d for d in clean.deliveries if d.label.startswith("s")][-1]
    return factory, next(d for d in clean.deliveries if d.label.startswith("out:"))


@pytest.mark.parametrize("kind", ["input", "open", "check", "out"])
@pytest.mark.parametrize("change", list(MALFORMED), ids=list(MALFORMED))
def test_malformed_messages_abort(kind: str, change: str) -> None:
    """Wrong shape, dtype, out-of-field values or array count abort with MALFORMED_MESSAGE."""
    n = 3
    factory, delivery = _message(n, kind)
    if change == "one-array-less" and len(delivery.arrays) == 1:
        change = "no-arrays"
    tamper = rewrite(delivery.label, delivery.sender, delivery.receiver, MALFORMED[change])
    with pytest.raises(ProtocolAbortedError) as info:
        run(n, factory, seed=24, n_external=1, tamper=tamper)
    assert info.value.code == AbortCode.MALFORMED_MESSAGE
    assert info.value.party == delivery.sender


# --- misuse ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values", [None, [1, 2], [1, 2, 3, 4]], ids=["missing", "too-few", "too-many"]
)
def test_dealer_with_wrong_size_is_a_local_error(values: list[int] | None) -> None:
    """A dealer whose values do not match the announced size raises LocalProtocolError."""

    def program(ctx: Context) -> Program[Array]:
        mine = None if values is None or ctx.me != 0 else field_array(values)
        return (yield from sharing.share_input(ctx, 0, mine, 3))

    with pytest.raises(LocalProtocolError, match="announced size"):
        run(3, program, seed=25)


def test_deal_with_wrong_size_is_a_local_error() -> None:
    """deal refuses a dealer vector whose shape is not (size,)."""

    def program(ctx: Context) -> Program[list[Array]]:
        mine = field_array([1, 2, 3, 4]).reshape(2, 2) if ctx.me == 0 else None
        return (yield from sharing.deal(ctx, [0], mine, 4))

    with pytest.raises(LocalProtocolError):
        run(3, program, seed=26)
