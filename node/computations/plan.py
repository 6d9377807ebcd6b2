"""From an agreed manifest to the engine program each party runs, and each party's role.

Party indices: the manifest's compute parties, sorted, are the committee ``0 … n − 1``; every
other node that provides an input or receives a result follows, sorted, from ``n``. Every
participant derives the same numbering from the manifest alone. The proposer takes part in the
program only if it has one of those roles; otherwise it only coordinates the run.

Each party's program (:func:`party_program`) is, in order: the committee's session keys
(``key_setup``) and each outside participant's pairwise keys with the committee
(``external_key_setup``); the run's encoding key among the providers
(:func:`~node.computations.inputs.encoding_key`); then the program of the manifest's kind, which
opens its output only towards the recipients. Kinds are plugged in through :data:`KINDS`;
``aggregate`` lives in :mod:`node.computations.aggregating` (rows, public vocabularies, value
bound). :func:`load_input` reads a provider's input for the kind: its rows for an aggregate,
its distinct identifiers otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Final

import numpy as np

from network.canonical import Value
from node.computations import aggregating
from node.computations.inputs import ProviderInput, encoding_key, load_identifiers
from node.consent.manifest import Manifest, ManifestInput
from node.datasets import DatasetStore
from node.errors import InvalidError
from protocols import membership, setops
from protocols.field import Array
from protocols.program import Context, Program, SessionKeys, external_key_setup, key_setup
from protocols.shamir import Committee

Phase = Callable[[str], None]
"""``phase(name)``: called by a program as it enters a phase (for progress)."""


@dataclass(frozen=True)
class Plan:
    """The roles of one manifest's run."""

    manifest: Manifest
    parties: tuple[str, ...]
    n_compute: int

    @property
    def committee(self) -> Committee:
        """The compute parties as an engine committee."""
        return Committee(self.n_compute)

    def index(self, node_id: str) -> int | None:
        """The party index of ``node_id``, or ``None`` if it runs no program."""
        return self.positions.get(node_id)

    @cached_property
    def positions(self) -> Mapping[str, int]:
        """Party index by node id."""
        return {node: index for index, node in enumerate(self.parties)}

    @cached_property
    def providers(self) -> tuple[int, ...]:
        """The providers' party indices, in index order."""
        nodes = {item.provider for item in self.manifest.inputs}
        return tuple(sorted(self.positions[node] for node in nodes))

    @property
    def recipients(self) -> tuple[int, ...]:
        """The recipients' party indices, in index order."""
        return tuple(sorted(self.positions[node] for node in self.manifest.recipients))

    def input_of(self, node_id: str) -> ManifestInput | None:
        """The one input ``node_id`` provides, if any."""
        return next((i for i in self.manifest.inputs if i.provider == node_id), None)

    def column_of(self, item: ManifestInput) -> str:
        """The identifier column of ``item`` that the kind reads."""
        return item.columns[0]


def plan_for(manifest: Manifest) -> Plan:
    """The roles of ``manifest``'s run; ``InvalidError`` ``unsupported_computation`` if this
    node cannot run it (a kind without an engine program yet, or a shape it does not take)."""
    kind = KINDS.get(manifest.kind)
    if kind is None:
        raise _unsupported("this node has no engine program for the manifest's kind yet")
    providers = [item.provider for item in manifest.inputs]
    if len(set(providers)) != len(providers):
        raise _unsupported("each provider gives one input to a run")
    if manifest.kind != "aggregate" and any(len(item.columns) != 1 for item in manifest.inputs):
        raise _unsupported("each input of a set computation is one identifier column")
    kind.check(manifest)
    compute = tuple(sorted(manifest.compute_parties))
    others = sorted({*providers, *manifest.recipients} - set(compute))
    return Plan(manifest, (*compute, *others), len(compute))


def load_input(datasets: DatasetStore, plan: Plan, item: ManifestInput, now: int) -> ProviderInput:
    """This provider's input to the run: its rows for an aggregate, else its identifiers."""
    if plan.manifest.kind == "aggregate":
        return aggregating.load_table(datasets, plan.manifest, item, now)
    return load_identifiers(datasets, item, plan.column_of(item), now)


def _unsupported(message: str) -> InvalidError:
    return InvalidError("unsupported_computation", message)


def _setup(ctx: Context, plan: Plan) -> Program[None]:
    """Session keys: the committee's, then each outside participant's with the committee."""
    if ctx.is_compute:
        ctx.install_keys((yield from key_setup(ctx)))
    for external in range(plan.n_compute, len(plan.parties)):
        if ctx.is_compute or ctx.me == external:
            keys = yield from external_key_setup(ctx, external)
            ctx.install_keys(SessionKeys(pairwise=keys))


def party_program(
    ctx: Context, plan: Plan, mine: ProviderInput | None, phase: Phase
) -> Program[dict[str, Value] | None]:
    """This party's whole program; returns the result body at recipients, ``None`` elsewhere."""
    phase("keys")
    yield from _setup(ctx, plan)
    key = yield from encoding_key(ctx, plan.providers)
    encoded = None if mine is None or key is None else mine.encoded(key)
    phase("computing")
    return (yield from KINDS[plan.manifest.kind].program(ctx, plan, mine, encoded))


@dataclass(frozen=True)
class Kind:
    """One kind of computation: a manifest check and the program every party runs."""

    check: Callable[[Manifest], None]
    program: Callable[
        [Context, Plan, ProviderInput | None, Array | None], Program[dict[str, Value] | None]
    ]


def _set_difference(
    ctx: Context, plan: Plan, mine: ProviderInput | None, encoded: Array | None
) -> Program[dict[str, Value] | None]:
    """The proposer's identifiers on none of the other lists, up to ``limit``, to the proposer."""
    manifest = plan.manifest
    querier = plan.positions[manifest.proposer]
    holders = [p for p in plan.providers if p != querier]
    bounds = {plan.positions[i.provider]: i.bound for i in manifest.inputs}
    layout = membership.Layout.of(bounds[querier], [bounds[h] for h in holders])
    limit = manifest.parameters["limit"]
    assert isinstance(limit, int)
    size: int | None = None
    if manifest.parameters["reveal_size"]:
        both = yield from membership.set_difference_and_size(
            ctx, querier, holders, encoded, layout, limit
        )
        chosen, size = (None, None) if both is None else both
    else:
        chosen = yield from membership.set_difference(ctx, querier, holders, encoded, layout, limit)
    if ctx.me != querier or chosen is None or mine is None:
        return None
    indices = np.asarray(chosen, dtype=np.int64)
    found = sorted(mine.identifiers[int(i)] for i in indices)
    body: dict[str, Value] = {"identifiers": list[Value](found), "limit": limit}
    if size is not None:
        body["size"] = size
    return body


def _bounds(plan: Plan) -> list[int]:
    """The providers' public bounds, in ``plan.providers`` order."""
    by_index = {plan.positions[i.provider]: i.bound for i in plan.manifest.inputs}
    return [by_index[p] for p in plan.providers]


def _no_check(manifest: Manifest) -> None:
    """Every manifest of the kind that validates is runnable."""


def _check_intersection(manifest: Manifest) -> None:
    if manifest.recipients[0] not in manifest.providers:
        raise _unsupported("the recipient of an intersection must provide a list")


def _intersection_size(
    ctx: Context, plan: Plan, mine: ProviderInput | None, encoded: Array | None
) -> Program[dict[str, Value] | None]:
    """How many identifiers are on every list, to the recipients."""
    size = yield from setops.intersection_size(
        ctx, plan.providers, _bounds(plan), encoded, plan.recipients
    )
    return None if size is None else {"size": size}


def _union_size(
    ctx: Context, plan: Plan, mine: ProviderInput | None, encoded: Array | None
) -> Program[dict[str, Value] | None]:
    """How many distinct identifiers the lists hold together, to the recipients."""
    size = yield from setops.union_size(
        ctx, plan.providers, _bounds(plan), encoded, plan.recipients
    )
    return None if size is None else {"size": size}


def _overlap_matrix(
    ctx: Context, plan: Plan, mine: ProviderInput | None, encoded: Array | None
) -> Program[dict[str, Value] | None]:
    """Pairwise intersection sizes by pair of providers; suppressed cells are ``None``."""
    minimum = plan.manifest.parameters["min_group_size"]
    assert isinstance(minimum, int)
    cells = yield from setops.overlap_matrix(
        ctx, plan.providers, _bounds(plan), encoded, plan.recipients, minimum
    )
    if cells is None:
        return None
    rows: list[Value] = []
    for (a, b), value, shown in zip(
        setops.overlap_pairs(len(plan.providers)), cells.values, cells.shown, strict=True
    ):
        rows.append(
            {
                "a": plan.parties[plan.providers[a]],
                "b": plan.parties[plan.providers[b]],
                "count": int(value) if shown else None,
            }
        )
    return {"cells": rows, "min_group_size": minimum}


def _intersection(
    ctx: Context, plan: Plan, mine: ProviderInput | None, encoded: Array | None
) -> Program[dict[str, Value] | None]:
    """The recipient's identifiers that are on every other list, to the recipient alone."""
    (recipient,) = plan.recipients
    indices = yield from setops.intersection(ctx, recipient, plan.providers, _bounds(plan), encoded)
    if indices is None or mine is None:
        return None
    found = sorted(mine.identifiers[int(i)] for i in indices)
    return {"identifiers": list[Value](found)}


KINDS: Final[dict[str, Kind]] = {
    "set_difference": Kind(_no_check, _set_difference),
    "intersection_size": Kind(_no_check, _intersection_size),
    "union_size": Kind(_no_check, _union_size),
    "overlap_matrix": Kind(_no_check, _overlap_matrix),
    "intersection": Kind(_check_intersection, _intersection),
    "aggregate": Kind(aggregating.check, aggregating.program),
}
"""The kinds this node can run, by manifest kind."""
