"""Shared helpers for the catalogue tests (set operations, aggregate): inputs, runs, leakage.

A plain module, imported explicitly. Lists are small Python integers encoded with a fixed test
key; every run agrees fresh session keys (``make_contexts``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from protocols import hashing, shamir
from protocols.field import MODULUS, Array
from protocols.program import Context, Program
from protocols.runner import Runner, Tamper, make_contexts
from protocols.shamir import Committee

KEY = b"catalogue-test-key"


def codes(values: Sequence[int]) -> Array:
    """Keyed encodings of small integers (the identifiers of the tests)."""
    return hashing.encode([int(v).to_bytes(8, "little") for v in values], KEY)


def run_all(
    n: int,
    n_external: int,
    factory: Callable[[Context], Program[Any]],
    *,
    seed: int,
    tamper: Tamper | None = None,
) -> tuple[list[Any], Runner]:
    """One program per participant; results and the runner with its delivery log."""
    contexts = make_contexts(n, n_external=n_external, seed=seed)
    runner = Runner(tamper=tamper)
    return runner.run([factory(ctx) for ctx in contexts]), runner


def tag_kinds(runner: Runner, party: int) -> set[str]:
    """The kinds of labels (``s``, ``in``, ``out``, ``seed``) of what ``party`` received."""
    return {d.label.split(":")[0] if ":" in d.label else "s" for d in runner.received_by(party)}


def opened_to(runner: Runner, party: int, n: int) -> list[list[int]]:
    """Every value ``party`` could reconstruct from ``out:`` messages, one list per opening.

    Interpolates at 0 from the shares the compute parties sent it (plus nothing of its own, so
    this is what the messages alone carry).
    """
    by_label: dict[str, dict[int, Array]] = {}
    for delivery in runner.received_by(party):
        if delivery.label.startswith("out:"):
            by_label.setdefault(delivery.label, {})[delivery.sender] = delivery.arrays[0]
    committee = Committee(n)
    opened = []
    for shares in by_label.values():
        senders = sorted(shares)[: committee.threshold + 1]
        weights = shamir.lagrange(tuple(committee.point(p) for p in senders), 0)
        total = sum(
            int(w) * shares[p].astype(object) for w, p in zip(weights, senders, strict=True)
        )
        opened.append([int(v) % MODULUS for v in np.asarray(total).reshape(-1)])
    return opened


def mid_share(runner: Runner, min_size: int = 8) -> tuple[str, int, int]:
    """A committee share message from the middle of a clean run: (label, sender, receiver)."""
    shares = [
        d
        for d in runner.deliveries
        if d.label.startswith("s") and d.arrays and d.arrays[0].size >= min_size
    ]
    target = shares[len(shares) // 2]
    return target.label, target.sender, target.receiver
