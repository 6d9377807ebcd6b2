"""The ``aggregate`` kind in a run: each provider's rows, the public vocabularies, the program.

A provider's input (:class:`TableInput`) is its rows, read from its dataset:

- each ``group_by`` column must be a ``category`` column whose vocabulary is *declared* in the
  dataset's schema (public: it is in the catalog); a row maps to the index of its value in that
  vocabulary. An empty or unknown value refuses the run at that provider (``value_missing``);
- the ``value_column`` (sum, mean) must be an ``integer`` column with no empty cell, every
  ``|value|`` below the run's public value bound (``value_over_bound``);
- with ``dedup_by``, one identifier per row (none empty), encoded with the run's key.

The rows, not the distinct identifiers, are what the manifest's ``bound`` limits.

**Value bound.** The engine needs a public bound on ``|value|`` that every party knows; the
manifest has none, so it is derived from the manifest alone (:func:`value_bound`): the largest
bound the engine computes exactly for the sum of the providers' row bounds. Every party derives
the same number; a provider whose values exceed it refuses.

**Vocabularies.** Compute parties and recipients that hold no dataset do not know the
vocabularies, so the first provider sends its declared vocabularies (canonical msgpack, seven
bytes per field element) to every other party in two exchanges labelled ``vocab:<p>:…``
(length, then bytes). Every other provider checks them against its own schema and refuses
(``vocabulary_mismatch``) if they differ: cells are only comparable on one vocabulary.

**Provider order.** With ``dedup_by`` a person on several lists counts once, with the group and
value of the *first* provider's row; providers are taken in the manifest's input order (sorted
by node id), so every party, and the plaintext oracle given the same order, agree.

Result body at recipients: ``{"statistic", "group_by", "scale", "min_group_size", "cells":
[{"group": [value, …], "value": int | None}]}``, one cell per combination of the vocabularies
(row-major, in vocabulary order); ``value`` is ``None`` where fewer than ``min_group_size``
rows contribute; a mean is in units of ``1 / scale``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from network import canonical
from network.canonical import Value
from network.errors import DecodeError
from node.computations.inputs import ProviderInput
from node.consent.manifest import Manifest, ManifestInput
from node.datasets import DatasetStore
from node.datasets.schema import Column, Schema, fold_category
from node.errors import InvalidError
from protocols.aggregate import MEAN_SCALE, AggregateSpec, Rows, aggregate
from protocols.cells import quotient_bits
from protocols.errors import AbortCode, LocalProtocolError, ProtocolAbortedError
from protocols.field import Array
from protocols.program import Context, Exchange, Program, expect

if TYPE_CHECKING:
    from node.computations.plan import Plan

MAX_VOCABULARY_BYTES: Final = 1 << 20
_EXACT: Final = 1 << 57
"""Engine limit: ``total rows * value bound * MEAN_SCALE`` stays below this."""


@dataclass(frozen=True, eq=False)
class TableInput(ProviderInput):
    """A provider's rows for an aggregate (kept local; never logged or sent in the clear).

    ``identifiers`` holds one identifier per row (for ``dedup_by``; empty without it).
    """

    groups: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    values: npt.NDArray[np.int64] | None = None
    vocabularies: tuple[tuple[str, ...], ...] = ()


def value_bound(manifest: Manifest) -> int:
    """The public bound on ``|value|`` of an aggregate, from the manifest's row bounds alone."""
    total = max(1, sum(item.bound for item in manifest.inputs))
    bound = (_EXACT - 1) // (total * MEAN_SCALE)
    if manifest.parameters.get("statistic") == "mean":
        room = quotient_bits(2 * total) - 1
        bound = min(bound, ((1 << max(room, 0)) - 1) // MEAN_SCALE)
    return max(bound, 0)


def spec_of(manifest: Manifest, groups: tuple[int, ...]) -> AggregateSpec:
    """The engine's parameters for ``manifest`` with vocabulary sizes ``groups``."""
    parameters = manifest.parameters
    minimum = parameters["min_group_size"]
    statistic = parameters["statistic"]
    assert isinstance(minimum, int)
    assert isinstance(statistic, str)
    return AggregateSpec(
        statistic, groups, parameters["dedup_by"] is not None, minimum, value_bound(manifest)
    )


def check(manifest: Manifest) -> None:
    """Refuse an aggregate the engine cannot compute exactly for these bounds."""
    group_by = manifest.parameters["group_by"]
    assert isinstance(group_by, list)
    spec = spec_of(manifest, tuple(1 for _ in group_by))
    try:
        spec.validate(sum(item.bound for item in manifest.inputs))
    except LocalProtocolError:
        raise InvalidError(
            "unsupported_computation",
            "the input bounds are too large for an exact aggregate of this statistic",
        ) from None


def load_table(
    datasets: DatasetStore, manifest: Manifest, item: ManifestInput, now: int
) -> TableInput:
    """This provider's rows of ``item`` for ``manifest``; ``InvalidError`` with a code to refuse."""
    parameters = manifest.parameters
    schema = datasets.schema(item.dataset)
    group_by = [str(g) for g in parameters["group_by"]]  # type: ignore[union-attr]  # a list
    vocabularies: list[tuple[str, ...]] = []
    groups: list[npt.NDArray[np.int64]] = []
    for name in group_by:
        column = _column(schema, name, item.dataset)
        if column.type != "category" or column.values is None:
            raise InvalidError(
                "vocabulary_not_public",
                "a group-by column must be a category column with declared values",
                {"dataset": item.dataset, "column": name},
            )
        index = {value: position for position, value in enumerate(column.values)}
        cells = datasets.load_column(item.dataset, name, now=now)
        assert isinstance(cells, list)
        try:
            groups.append(np.array([index[fold_category(c)] for c in cells], dtype=np.int64))
        except KeyError:
            raise _missing(item.dataset, name) from None
        vocabularies.append(column.values)
    rows = datasets.row_count(item.dataset)
    if rows > item.bound:
        raise InvalidError(
            "input_over_bound",
            "the dataset holds more rows than the bound declared in the manifest",
            {"dataset": item.dataset, "bound": item.bound},
        )
    values = None
    value_column = parameters["value_column"]
    if isinstance(value_column, str):
        if _column(schema, value_column, item.dataset).type != "integer":
            raise InvalidError(
                "column_not_integer",
                "the value column is not an integer column",
                {"dataset": item.dataset, "column": value_column},
            )
        loaded = datasets.load_column(item.dataset, value_column, now=now)
        if isinstance(loaded, list) or bool(np.ma.getmaskarray(loaded).any()):
            raise _missing(item.dataset, value_column)
        values = np.asarray(np.ma.getdata(loaded), dtype=np.int64)
        if values.size and int(np.abs(values).max()) >= value_bound(manifest):
            raise InvalidError(
                "value_over_bound",
                "a value lies outside the public value bound of this computation",
                {"dataset": item.dataset, "column": value_column},
            )
    identifiers: tuple[str, ...] = ()
    dedup_by = parameters["dedup_by"]
    if isinstance(dedup_by, str):
        if _column(schema, dedup_by, item.dataset).type != "identifier":
            raise InvalidError(
                "column_not_identifier",
                "the dedup column is not an identifier column",
                {"dataset": item.dataset, "column": dedup_by},
            )
        cells = datasets.load_column(item.dataset, dedup_by, now=now)
        assert isinstance(cells, list)
        if not all(cells):
            raise _missing(item.dataset, dedup_by)
        identifiers = tuple(cells)
    shape = (len(group_by), rows)
    stacked = np.stack(groups) if groups else np.zeros(shape, dtype=np.int64)
    return TableInput(
        item.dataset,
        dedup_by if isinstance(dedup_by, str) else "",
        item.bound,
        identifiers,
        stacked,
        values,
        tuple(vocabularies),
    )


def _column(schema: Schema, name: str, dataset: str) -> Column:
    try:
        return schema.column(name)
    except KeyError:
        raise InvalidError(
            "column_not_found", "the dataset has no such column", {"dataset": dataset}
        ) from None


def _missing(dataset: str, column: str) -> InvalidError:
    return InvalidError(
        "value_missing",
        "a row has an empty or unknown value in a column the computation reads",
        {"dataset": dataset, "column": column},
    )


def providers_in_order(plan: Plan) -> list[int]:
    """The providers' party indices in the manifest's input order (the dedup order)."""
    return [plan.positions[item.provider] for item in plan.manifest.inputs]


def program(
    ctx: Context, plan: Plan, mine: ProviderInput | None, encoded: Array | None
) -> Program[dict[str, Value] | None]:
    """Vocabularies, then the engine's aggregate; the result body at the recipients."""
    manifest = plan.manifest
    providers = providers_in_order(plan)
    table = mine if isinstance(mine, TableInput) else None
    vocabularies = yield from share_vocabularies(ctx, plan, providers[0], table)
    spec = spec_of(manifest, tuple(len(v) for v in vocabularies))
    rows = None
    if table is not None:
        identifiers = encoded if spec.dedup else None
        rows = Rows(table.groups, table.values, identifiers)
    bounds = [item.bound for item in manifest.inputs]
    cells = yield from aggregate(ctx, spec, providers, bounds, rows, plan.recipients)
    if cells is None:
        return None
    body: list[Value] = []
    for key, value, shown in zip(
        product(*vocabularies), cells.values.tolist(), cells.shown.tolist(), strict=True
    ):
        body.append({"group": list[Value](key), "value": int(value) if shown else None})
    return {
        "statistic": manifest.parameters["statistic"],
        "group_by": manifest.parameters["group_by"],
        "scale": cells.scale,
        "min_group_size": manifest.parameters["min_group_size"],
        "cells": body,
    }


def share_vocabularies(
    ctx: Context, plan: Plan, first: int, mine: TableInput | None
) -> Program[tuple[tuple[str, ...], ...]]:
    """The group-by vocabularies at every party, as the ``first`` provider declares them."""
    others = [p for p in range(len(plan.parties)) if p != first]
    if ctx.me == first:
        assert mine is not None
        words = _pack(canonical.encode([list[Value](v) for v in mine.vocabularies]))
        length = ctx.next_tag("vocab", first)
        yield Exchange(length, dict.fromkeys(others, (np.array([words.size], np.uint64),)), {})
        label = ctx.next_tag("vocab", first)
        yield Exchange(label, dict.fromkeys(others, (words,)), {})
        return mine.vocabularies
    replies = yield Exchange(ctx.next_tag("vocab", first), {}, {first: 1})
    size = int(expect(replies, first, 1, (1,))[0][0])
    if size > MAX_VOCABULARY_BYTES // 7 + 1:
        raise ProtocolAbortedError(AbortCode.MALFORMED_MESSAGE, "vocabulary too large", first)
    replies = yield Exchange(ctx.next_tag("vocab", first), {}, {first: 1})
    (words,) = expect(replies, first, 1, (size,))
    vocabularies = _unpack_vocabularies(words, first)
    if mine is not None and mine.vocabularies != vocabularies:
        raise InvalidError(
            "vocabulary_mismatch",
            "this provider's group-by vocabularies differ from the first provider's",
        )
    return vocabularies


def _pack(data: bytes) -> Array:
    """``data`` with its length, seven bytes per field element (each below 2^56)."""
    framed = len(data).to_bytes(4, "little") + data
    framed += b"\0" * (-len(framed) % 7)
    chunks = np.frombuffer(framed, dtype=np.uint8).reshape(-1, 7)
    padded = np.concatenate([chunks, np.zeros((chunks.shape[0], 1), np.uint8)], axis=1)
    return np.ascontiguousarray(padded).view("<u8").reshape(-1).astype(np.uint64)


def _unpack_vocabularies(words: Array, sender: int) -> tuple[tuple[str, ...], ...]:
    raw = np.ascontiguousarray(words.astype("<u8")).view(np.uint8).reshape(-1, 8)
    if raw[:, 7].any():
        raise ProtocolAbortedError(AbortCode.MALFORMED_MESSAGE, "vocabulary not packed", sender)
    framed = raw[:, :7].tobytes()
    length = int.from_bytes(framed[:4], "little")
    try:
        if length > len(framed) - 4:
            raise DecodeError("truncated")
        value = canonical.decode(framed[4 : 4 + length])
        return _vocabulary_lists(value)
    except (DecodeError, ValueError):
        raise ProtocolAbortedError(
            AbortCode.MALFORMED_MESSAGE, "vocabularies do not decode", sender
        ) from None


def _vocabulary_lists(value: object) -> tuple[tuple[str, ...], ...]:
    if not isinstance(value, list) or len(value) > 2:
        raise ValueError("expected at most two vocabularies")
    out: list[tuple[str, ...]] = []
    for vocabulary in value:
        if not isinstance(vocabulary, list) or not vocabulary:
            raise ValueError("expected a non-empty list")
        if not all(isinstance(v, str) for v in vocabulary):
            raise ValueError("expected text values")
        out.append(tuple(str(v) for v in vocabulary))
    return tuple(out)


def groups_of(vocabularies: Sequence[Sequence[str]]) -> list[tuple[str, ...]]:
    """The cells' group values, row-major (what ``program`` reports, in order)."""
    return list(product(*vocabularies))
