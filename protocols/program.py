"""The sans-I/O shape of every protocol: programs that yield exchanges.

A protocol is a generator. Each time it needs the network it yields an ``Exchange``: the arrays to
send to which parties, and the parties whose arrays it waits for, all under one ``label``. The
driver (the in-memory ``runner`` in tests, ``network.driver`` in production) sends the arrays,
collects the replies carrying the same label and resumes the generator with them. Protocols
compose with ``yield from``.

Labels are deterministic, so every party routes the same message to the same step without
negotiating: exchanges among the compute parties are numbered ``s1, s2, …`` by each party's
``Context`` (all compute parties run the same program); exchanges with a party outside the
committee (an input provider, a result recipient) carry a tag ``in:<party>:<k>`` or
``out:<party>:<k>`` counted per party, so that party need not run the committee's program.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import TypeVar

import numpy as np

from protocols.errors import AbortCode, LocalProtocolError, ProtocolAbortedError
from protocols.field import MODULUS, Array
from protocols.randomness import Keystream, RandomSource
from protocols.shamir import Committee

T = TypeVar("T")
Replies = Mapping[int, tuple[Array, ...]]


@dataclass(frozen=True)
class Exchange:
    """Instruction: send ``outgoing[party]`` to each party, then wait for ``incoming``.

    ``incoming[party]`` is how many arrays this party expects from ``party`` under ``label``.
    """

    label: str
    outgoing: Mapping[int, tuple[Array, ...]]
    incoming: Mapping[int, int]


Program = Generator[Exchange, Replies, T]


@dataclass(frozen=True)
class SessionKeys:
    """Per-session keys held by one party.

    ``pairwise[j]`` is shared with participant ``j``; ``prss[B]`` is shared by the compute parties
    outside the ``t``-subset ``B``; ``common`` is known to all compute parties (public coins).
    """

    pairwise: Mapping[int, bytes]
    prss: Mapping[frozenset[int], bytes] = field(default_factory=dict)
    common: bytes | None = None


class Context:
    """One party's view of one session: who it is, its keys, its counters."""

    def __init__(
        self,
        me: int,
        committee: Committee,
        source: RandomSource,
        keys: SessionKeys | None = None,
        n_participants: int | None = None,
    ) -> None:
        self.me = me
        self.committee = committee
        self.source = source
        self.n_participants = n_participants or committee.n_parties
        if not 0 <= me < self.n_participants:
            raise LocalProtocolError("party index outside the session")
        self._pairwise: dict[int, Keystream] = {}
        self._prss: dict[frozenset[int], Keystream] = {}
        self._common: Keystream | None = None
        if keys is not None:
            self.install_keys(keys)
        self._step = 0
        self._tags: dict[tuple[str, int], int] = {}
        self.pending_check = 0
        self.tracked = 0
        self.check_coefficients: dict[int, Array] = {}
        self.check_masks: list[np.uint64] = []
        self.has_pending_check = False

    @property
    def is_compute(self) -> bool:
        """Whether this party holds shares."""
        return self.me < self.committee.n_parties

    @property
    def others(self) -> list[int]:
        """The other compute parties."""
        return [p for p in self.committee.parties if p != self.me]

    def next_label(self) -> str:
        """The label of the next exchange among the compute parties."""
        self._step += 1
        return f"s{self._step}"

    def next_tag(self, kind: str, party: int) -> str:
        """The label of the next exchange of ``kind`` with ``party`` (outside the step count)."""
        count = self._tags.get((kind, party), 0) + 1
        self._tags[(kind, party)] = count
        return f"{kind}:{party}:{count}"

    def install_keys(self, keys: SessionKeys) -> None:
        """Add keys agreed by a setup program."""
        self._pairwise.update({peer: Keystream(key) for peer, key in keys.pairwise.items()})
        self._prss.update({subset: Keystream(key) for subset, key in keys.prss.items()})
        if keys.common is not None:
            self._common = Keystream(keys.common)

    def pairwise(self, peer: int) -> Keystream:
        """The keystream shared with ``peer``."""
        try:
            return self._pairwise[peer]
        except KeyError:
            raise LocalProtocolError(f"no pairwise key with party {peer}") from None

    def prss_streams(self) -> Mapping[frozenset[int], Keystream]:
        """The PRSS keystreams this party holds, by excluded subset."""
        return self._prss

    def common(self) -> Keystream:
        """The keystream known to every compute party."""
        if self._common is None:
            raise LocalProtocolError("this session has no common key")
        return self._common


def expect(replies: Replies, party: int, count: int, shape: tuple[int, ...]) -> tuple[Array, ...]:
    """The ``count`` arrays ``party`` sent, each of ``shape``; a malformed reply aborts."""
    return expect_shapes(replies, party, [shape] * count)


def expect_shapes(
    replies: Replies, party: int, shapes: Sequence[tuple[int, ...]]
) -> tuple[Array, ...]:
    """The arrays ``party`` sent, one per entry of ``shapes``; a malformed reply aborts."""
    arrays = replies.get(party)
    if arrays is None or len(arrays) != len(shapes):
        raise ProtocolAbortedError(AbortCode.MALFORMED_MESSAGE, "wrong number of arrays", party)
    for array, shape in zip(arrays, shapes, strict=True):
        if array.shape != shape or array.dtype != np.uint64:
            raise ProtocolAbortedError(AbortCode.MALFORMED_MESSAGE, "wrong shape or type", party)
        if array.size and int(array.max()) >= MODULUS:
            raise ProtocolAbortedError(
                AbortCode.MALFORMED_MESSAGE, "value outside the field", party
            )
    return arrays


def parallel(*programs: Program[T]) -> Program[list[T]]:
    """Run programs side by side, merging their exchanges of each round into one.

    Every party must call ``parallel`` with the same programs in the same order. Each round, the
    arrays for each party are concatenated in program order and split again on receipt by the
    counts each sub-program declared. The merged exchange takes the label of the first pending
    sub-program, which every party computes alike.
    """
    results: dict[int, T] = {}
    pending: dict[int, Exchange] = {}
    for index, program in enumerate(programs):
        _advance(program, index, None, pending, results)
    while pending:
        order = sorted(pending)
        outgoing: dict[int, list[Array]] = {}
        incoming: dict[int, int] = {}
        for index in order:
            exchange = pending[index]
            for party, arrays in exchange.outgoing.items():
                outgoing.setdefault(party, []).extend(arrays)
            for party, count in exchange.incoming.items():
                incoming[party] = incoming.get(party, 0) + count
        replies = yield Exchange(
            pending[order[0]].label, {p: tuple(a) for p, a in outgoing.items()}, incoming
        )
        current = dict(pending)
        pending.clear()
        for party, count in incoming.items():
            if len(replies.get(party, ())) != count:
                raise ProtocolAbortedError(
                    AbortCode.MALFORMED_MESSAGE, "wrong number of arrays", party
                )
        offsets = dict.fromkeys(incoming, 0)
        for index in order:
            mine: dict[int, tuple[Array, ...]] = {}
            for party, count in current[index].incoming.items():
                start = offsets[party]
                mine[party] = tuple(replies.get(party, ()))[start : start + count]
                offsets[party] = start + count
            _advance(programs[index], index, mine, pending, results)
    return [results[i] for i in range(len(programs))]


def _advance(
    program: Program[T],
    index: int,
    replies: Replies | None,
    pending: dict[int, Exchange],
    results: dict[int, T],
) -> None:
    try:
        exchange = program.send(replies) if replies is not None else next(program)
    except StopIteration as stop:
        results[index] = stop.value
        return
    pending[index] = exchange


def prss_subsets(committee: Committee) -> list[frozenset[int]]:
    """The ``t``-subsets of the committee that index the PRSS keys."""
    return [frozenset(c) for c in combinations(committee.parties, committee.threshold)]


def _key_array(key: bytes) -> Array:
    """A 32-byte key as four field elements (244 key bits survive the 61-bit mask)."""
    return np.frombuffer(key, dtype=np.uint64) & np.uint64(MODULUS)


def key_setup(ctx: Context) -> Program[SessionKeys]:
    """Agree fresh per-session keys among the compute parties (one round).

    Pairwise: the lower-numbered party of each pair draws the key. PRSS: for each ``t``-subset
    ``B``, the lowest-numbered party outside ``B`` draws ``k_B`` and sends it to the other
    parties outside ``B``. Common: party 0 draws it. The links that carry this are authenticated
    and encrypted; the keys never leave the session.
    """
    drawn: dict[tuple[str, object], bytes] = {}
    outgoing: dict[int, list[Array]] = {p: [] for p in ctx.others}
    expected: dict[int, list[tuple[str, object]]] = {p: [] for p in ctx.others}
    for kind, what, holders in _key_plan(ctx.committee):
        if ctx.me not in holders:
            continue
        if holders[0] == ctx.me:
            array = _key_array(ctx.source.key())
            drawn[(kind, what)] = array.tobytes()
            for peer in holders[1:]:
                outgoing[peer].append(array)
        else:
            expected[holders[0]].append((kind, what))
    incoming = {p: len(items) for p, items in expected.items() if items}
    label = ctx.next_label()
    replies = yield Exchange(label, {p: tuple(a) for p, a in outgoing.items() if a}, incoming)
    for party, count in incoming.items():
        arrays = expect(replies, party, count, (4,))
        for item, array in zip(expected[party], arrays, strict=True):
            drawn[item] = array.tobytes()
    pairwise: dict[int, bytes] = {}
    prss: dict[frozenset[int], bytes] = {}
    for (_, what), key in drawn.items():
        if isinstance(what, tuple):
            pairwise[what[1] if what[0] == ctx.me else what[0]] = key
        elif isinstance(what, frozenset):
            prss[what] = key
    return SessionKeys(pairwise=pairwise, prss=prss, common=drawn.get(("common", None)))


def _key_plan(committee: Committee) -> list[tuple[str, object, list[int]]]:
    """Every session key: its kind, what it is for, and its holders (the first one draws it)."""
    parties = list(committee.parties)
    plan: list[tuple[str, object, list[int]]] = [
        ("pair", (i, j), [i, j]) for i in parties for j in parties if i < j
    ]
    for subset in prss_subsets(committee):
        plan.append(("prss", subset, [p for p in parties if p not in subset]))
    plan.append(("common", None, parties))
    return plan


def external_key_setup(ctx: Context, external: int) -> Program[dict[int, bytes]]:
    """Pairwise keys between the external participant ``external`` and each compute party.

    Run by ``external`` (who draws and sends the keys) and by every compute party. Returns the
    new pairwise keys of the caller.
    """
    label = ctx.next_tag("keys", external)
    if ctx.me == external:
        keys = {p: _key_array(ctx.source.key()) for p in ctx.committee.parties}
        yield Exchange(label, {p: (k,) for p, k in keys.items()}, {})
        return {p: k.tobytes() for p, k in keys.items()}
    replies = yield Exchange(label, {}, {external: 1})
    (array,) = expect(replies, external, 1, (4,))
    return {external: array.tobytes()}
