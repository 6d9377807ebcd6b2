"""The in-memory runner: routing by label, recording, tampering, aborts and deadlocks."""

from __future__ import annotations

import numpy as np
import pytest

from protocols import sharing
from protocols.errors import AbortCode, LocalProtocolError, ProtocolAbortedError
from protocols.field import Array
from protocols.program import Context, Exchange, Program
from protocols.randomness import InsecureSeededRandomSource
from protocols.runner import Delivery, Runner, ints, make_contexts

from .helpers import P, as_ints, input_from, run


def arr(*values: int) -> Array:
    """A small uint64 array."""
    return np.array(values, dtype=np.uint64)


def sender(messages: list[tuple[str, dict[int, tuple[Array, ...]]]]) -> Program[str]:
    """Send each (label, outgoing) in turn, expecting nothing back."""
    for label, outgoing in messages:
        yield Exchange(label, outgoing, {})
    return "sent"


def receiver(expected: list[tuple[str, dict[int, int]]]) -> Program[list[list[int]]]:
    """Wait for each (label, incoming) in turn; return what arrived, flattened."""
    got = []
    for label, incoming in expected:
        replies = yield Exchange(label, {}, incoming)
        got.extend(as_ints(a) for party in sorted(replies) for a in replies[party])
    return got


def test_results_come_back_in_party_order() -> None:
    """run returns each party's program result at its index."""
    runner = Runner()
    results = runner.run([sender([("a", {1: (arr(5),)})]), receiver([("a", {0: 1})]), sender([])])
    assert results == ["sent", [[5]], "sent"]


def test_deliveries_are_recorded_per_receiver() -> None:
    """Every message is recorded with label, sender, receiver and arrays."""
    runner = Runner()
    runner.run(
        [
            sender([("a", {1: (arr(1),), 2: (arr(2), arr(3))})]),
            receiver([("a", {0: 1})]),
            receiver([("a", {0: 2})]),
        ]
    )
    assert [(d.label, d.sender, d.receiver) for d in runner.deliveries] == [
        ("a", 0, 1),
        ("a", 0, 2),
    ]
    (to_two,) = runner.received_by(2)
    assert [as_ints(a) for a in to_two.arrays] == [[2], [3]]
    assert runner.received_by(0) == []


def test_messages_are_copied_when_sent() -> None:
    """A sender mutating its array after sending does not change the delivered message."""
    payload = arr(7)

    def mutating() -> Program[None]:
        yield Exchange("a", {1: (payload,)}, {})
        payload[0] = 99
        yield Exchange("b", {}, {})

    runner = Runner()
    results = runner.run([mutating(), receiver([("b", {}), ("a", {0: 1})])])
    assert results[1] == [[7]]
    assert as_ints(runner.deliveries[0].arrays[0]) == [7]


def test_messages_wait_for_their_label() -> None:
    """Mail is routed by label: a message sent early waits until the receiver asks for it."""
    runner = Runner()
    results = runner.run(
        [
            sender([("x", {1: (arr(1),)}), ("y", {1: (arr(2),)})]),
            receiver([("y", {0: 1}), ("x", {0: 1})]),
        ]
    )
    assert results[1] == [[2], [1]]


def test_tamper_sees_every_delivery_and_its_result_is_delivered() -> None:
    """The tamper hook is called once per message; what it returns is delivered and recorded."""
    seen: list[Delivery] = []

    def tamper(delivery: Delivery) -> tuple[Array, ...]:
        seen.append(delivery)
        return (arr(int(delivery.arrays[0][0]) + 100),)

    runner = Runner(tamper=tamper)
    results = runner.run([sender([("a", {1: (arr(1),)})]), receiver([("a", {0: 1})])])
    assert results[1] == [[101]]
    assert [(d.label, d.sender, d.receiver) for d in seen] == [("a", 0, 1)]
    assert as_ints(runner.deliveries[0].arrays[0]) == [101]


def test_deadlock_is_a_local_error() -> None:
    """Programs that wait for a message nobody sends end in LocalProtocolError."""
    with pytest.raises(LocalProtocolError, match="deadlocked"):
        Runner().run([receiver([("a", {1: 1})]), receiver([("a", {0: 1})])])


def test_sending_to_oneself_is_a_local_error() -> None:
    """A party addressing itself is a bug in the program."""
    with pytest.raises(LocalProtocolError, match="itself"):
        Runner().run([sender([("a", {0: (arr(1),)})])])


def test_two_messages_under_one_label_are_a_local_error() -> None:
    """Reusing a label towards the same receiver is refused."""
    with pytest.raises(LocalProtocolError, match="two messages"):
        Runner().run(
            [sender([("a", {1: (arr(1),)}), ("a", {1: (arr(2),)})]), receiver([("a", {0: 1})])]
        )


def test_first_abort_by_party_index_is_raised() -> None:
    """When several parties abort, run raises the lowest party's error and records all."""

    def aborting(code: AbortCode) -> Program[None]:
        yield Exchange("a", {}, {})
        raise ProtocolAbortedError(code)

    runner = Runner()
    with pytest.raises(ProtocolAbortedError) as info:
        runner.run([sender([]), aborting(AbortCode.TIMEOUT), aborting(AbortCode.PEER_LOST)])
    assert info.value.code == AbortCode.TIMEOUT
    assert sorted(runner.aborts) == [1, 2]


def test_abort_while_others_wait_is_raised_not_deadlock() -> None:
    """A party's abort surfaces even though its peers are left waiting for it."""

    def aborting() -> Program[None]:
        raise ProtocolAbortedError(AbortCode.CHECK_FAILED)
        yield  # a generator that aborts before its first exchange

    with pytest.raises(ProtocolAbortedError) as info:
        Runner().run([receiver([("a", {1: 1})]), aborting()])
    assert info.value.code == AbortCode.CHECK_FAILED


def test_local_errors_in_programs_propagate() -> None:
    """A LocalProtocolError inside a program propagates out of run unchanged."""

    def broken() -> Program[None]:
        raise LocalProtocolError("misuse")
        yield  # a generator that fails before its first exchange

    with pytest.raises(LocalProtocolError, match="misuse"):
        Runner().run([broken(), sender([])])


@pytest.mark.parametrize(("n", "n_external"), [(3, 0), (3, 2), (5, 1), (7, 0)])
def test_make_contexts(n: int, n_external: int) -> None:
    """make_contexts gives n compute and n_external other contexts with keys agreed."""
    ctxs = make_contexts(n, n_external=n_external, seed=3)
    assert [c.me for c in ctxs] == list(range(n + n_external))
    assert [c.is_compute for c in ctxs] == [True] * n + [False] * n_external
    assert all(c.n_participants == n + n_external for c in ctxs)
    assert all(c.committee.n_parties == n for c in ctxs)
    for external in range(n, n + n_external):
        for party in range(n):
            left = ctxs[external].pairwise(party).field(b"probe", 2)
            assert np.array_equal(left, ctxs[party].pairwise(external).field(b"probe", 2))


def test_make_contexts_is_deterministic_per_seed() -> None:
    """The same seed reproduces the keys; another seed changes them."""
    first = make_contexts(3, seed=1)[0].common().field(b"probe", 1)
    again = make_contexts(3, seed=1)[0].common().field(b"probe", 1)
    other = make_contexts(3, seed=2)[0].common().field(b"probe", 1)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_make_contexts_uses_given_sources() -> None:
    """Explicit random sources replace the seeded defaults."""
    sources = [InsecureSeededRandomSource(10 + i) for i in range(3)]
    ctxs = make_contexts(3, sources=sources)
    assert all(c.source is s for c, s in zip(ctxs, sources, strict=True))


def test_run_helper_with_real_protocols() -> None:
    """A share-and-open program runs end to end and records the expected traffic."""

    def program(ctx: Context) -> Program[Array]:
        x = yield from input_from(ctx, 0, [1, -2])
        return (yield from sharing.open_values(ctx, x))

    results, runner = run(3, program, seed=4)
    assert [as_ints(r) for r in results] == [[1, P - 2]] * 3
    assert len(runner.deliveries) == 1 + 6


def test_ints() -> None:
    """ints maps small signed integers to field elements."""
    got = ints([0, 1, -1, -(1 << 40)])
    assert got.dtype == np.uint64
    assert as_ints(got) == [0, 1, P - 1, P - (1 << 40)]
