"""An in-memory multi-party runner: the test double that drives protocol programs.

It runs one program per party in the same process, passes each message to the party it is
addressed to under its label, and records every delivery so tests can check exactly what each
party received. A ``tamper`` hook may rewrite any message in transit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from protocols.errors import LocalProtocolError, ProtocolAbortedError
from protocols.field import Array, from_int
from protocols.program import (
    Context,
    Exchange,
    Program,
    SessionKeys,
    external_key_setup,
    key_setup,
)
from protocols.randomness import InsecureSeededRandomSource, RandomSource
from protocols.shamir import Committee


@dataclass(frozen=True)
class Delivery:
    """One message as it reached its receiver."""

    label: str
    sender: int
    receiver: int
    arrays: tuple[Array, ...]


Tamper = Callable[[Delivery], tuple[Array, ...]]


class Runner:
    """Drive programs of all parties to completion in memory."""

    def __init__(self, tamper: Tamper | None = None) -> None:
        self.tamper = tamper
        self.deliveries: list[Delivery] = []
        self.aborts: dict[int, ProtocolAbortedError] = {}

    def received_by(self, party: int) -> list[Delivery]:
        """Every message ``party`` received, in order."""
        return [d for d in self.deliveries if d.receiver == party]

    def run(self, programs: Sequence[Program[Any]]) -> list[Any]:
        """Run one program per party; return their results, or raise the first abort."""
        mail: dict[tuple[int, str], dict[int, tuple[Array, ...]]] = {}
        waiting: dict[int, Exchange] = {}
        results: dict[int, Any] = {}

        def step(party: int, replies: dict[int, tuple[Array, ...]] | None) -> None:
            program = programs[party]
            try:
                exchange = next(program) if replies is None else program.send(replies)
            except StopIteration as stop:
                results[party] = stop.value
                return
            except ProtocolAbortedError as error:
                self.aborts[party] = error
                return
            self._post(party, exchange, mail)
            waiting[party] = exchange

        for party in range(len(programs)):
            step(party, None)
        while waiting:
            ready = [
                party
                for party, exchange in waiting.items()
                if all(
                    sender in mail.get((party, exchange.label), {}) for sender in exchange.incoming
                )
            ]
            if not ready:
                break
            for party in ready:
                exchange = waiting.pop(party)
                box = mail.get((party, exchange.label), {})
                replies = {sender: box.pop(sender) for sender in exchange.incoming}
                step(party, replies)
        if self.aborts:
            raise self.aborts[min(self.aborts)]
        if waiting:
            stuck = {p: (e.label, sorted(e.incoming)) for p, e in waiting.items()}
            raise LocalProtocolError(f"programs deadlocked: {stuck}")
        return [results[p] for p in range(len(programs))]

    def _post(
        self,
        sender: int,
        exchange: Exchange,
        mail: dict[tuple[int, str], dict[int, tuple[Array, ...]]],
    ) -> None:
        for receiver, arrays in exchange.outgoing.items():
            if receiver == sender:
                raise LocalProtocolError("a party cannot send to itself")
            delivery = Delivery(exchange.label, sender, receiver, tuple(a.copy() for a in arrays))
            if self.tamper is not None:
                delivery = Delivery(delivery.label, sender, receiver, tuple(self.tamper(delivery)))
            self.deliveries.append(delivery)
            box = mail.setdefault((receiver, exchange.label), {})
            if sender in box:
                raise LocalProtocolError(f"two messages under label {exchange.label}")
            box[sender] = delivery.arrays


def _setup(ctx: Context, externals: range) -> Program[Context]:
    if ctx.is_compute:
        ctx.install_keys((yield from key_setup(ctx)))
    for external in externals:
        if ctx.is_compute or ctx.me == external:
            keys = yield from external_key_setup(ctx, external)
            ctx.install_keys(SessionKeys(pairwise=keys))
    return ctx


def make_contexts(
    n_parties: int,
    n_external: int = 0,
    seed: int = 0,
    sources: Sequence[RandomSource] | None = None,
) -> list[Context]:
    """Contexts for a committee of ``n_parties`` plus ``n_external`` others, keys agreed."""
    committee = Committee(n_parties)
    total = n_parties + n_external
    sources = sources or [InsecureSeededRandomSource(seed * 1000 + i) for i in range(total)]
    contexts = [Context(i, committee, sources[i], n_participants=total) for i in range(total)]
    externals = range(n_parties, total)
    Runner().run([_setup(ctx, externals) for ctx in contexts])
    return contexts


def ints(values: Sequence[int]) -> Array:
    """Field elements from small signed Python integers (a test convenience)."""
    return from_int(np.asarray(values, dtype=np.int64))
