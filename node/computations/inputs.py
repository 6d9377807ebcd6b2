"""A provider's input to a run: its identifier column, checked against its public bound, encoded.

Identifier columns are stored normalised (``node.identifiers``, composite parts joined by ``|``),
so loading one gives the matching form of each identifier. Empty cells (a missing optional
identifier) are left out and duplicates kept once, in first-seen order: a set operation counts a
person once per list. A list longer than the provider's declared ``bound`` is refused
(``input_over_bound``) rather than cut: a bound is a public promise about the input's size.

Encoding maps each identifier to a field element with a keyed hash (``protocols.hashing.encode``).
The key is drawn fresh for each run by the first provider and sent, inside the run's encrypted
sessions, to the other providers only (:func:`encoding_key`): every list must be encoded with the
same key to match, and no party without a list ever holds it. Encodings are only ever
secret-shared, never opened, so the key gives its holders nothing they do not already have; it
makes encodings of different runs unlinkable. It is never stored or logged.

Padding: the engine programs size every table from the public bounds alone (for
``set_difference`` a cuckoo table of ``bin_count(bound)`` bins, simple-hashed tables of public
load), filling unused slots with random dummies; so what a provider sends depends on its bound,
never on its true size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from node.consent.manifest import ManifestInput
from node.datasets import DatasetStore
from node.errors import InvalidError
from protocols import hashing
from protocols.field import MODULUS, Array
from protocols.program import Context, Exchange, Program, expect

KEY_WORDS = 4
"""The encoding key travels as four field elements (244 key bits survive the 61-bit mask)."""


@dataclass(frozen=True)
class ProviderInput:
    """One provider's distinct identifiers for a run (kept local; never logged or sent)."""

    dataset: str
    column: str
    bound: int
    identifiers: tuple[str, ...]

    def encoded(self, key: bytes) -> Array:
        """The identifiers as keyed field elements, in the same order."""
        return hashing.encode([text.encode("utf-8") for text in self.identifiers], key)


def load_identifiers(
    datasets: DatasetStore, item: ManifestInput, column: str, now: int
) -> ProviderInput:
    """The distinct identifiers of ``column`` of ``item``'s dataset, within its bound.

    ``NotFoundError`` ``dataset_not_found`` / ``dataset_expired`` / ``column_not_found`` from
    the dataset store; ``InvalidError`` ``column_not_identifier`` or ``input_over_bound``.
    """
    schema = datasets.schema(item.dataset)
    try:
        kind = schema.column(column).type
    except KeyError:
        kind = None
    if kind != "identifier":
        raise InvalidError(
            "column_not_identifier",
            "the manifest's column is not an identifier column of the dataset",
            {"dataset": item.dataset, "column": column},
        )
    values = datasets.load_column(item.dataset, column, now=now)
    assert isinstance(values, list)  # identifier columns load as text
    distinct = tuple(dict.fromkeys(value for value in values if value))
    if len(distinct) > item.bound:
        raise InvalidError(
            "input_over_bound",
            "the dataset holds more distinct identifiers than the bound declared in the manifest",
            {"dataset": item.dataset, "bound": item.bound},
        )
    return ProviderInput(item.dataset, column, item.bound, distinct)


def encoding_key(ctx: Context, holders: Sequence[int]) -> Program[bytes | None]:
    """The run's encoding key at every party in ``holders``; ``None`` (and no message) elsewhere.

    ``holders[0]`` draws the key from its random source and sends it to the other holders, in
    one exchange labelled ``enckey:<drawer>:1``. Every party calls this with the same holders.
    """
    if not holders or ctx.me not in holders:
        return None
    drawer = holders[0]
    label = ctx.next_tag("enckey", drawer)
    if ctx.me == drawer:
        words = np.frombuffer(ctx.source.key(), dtype=np.uint64)[:KEY_WORDS] & np.uint64(MODULUS)
        outgoing = {p: (words.copy(),) for p in holders[1:]}
        yield Exchange(label, outgoing, {})
        return words.tobytes()
    replies = yield Exchange(label, {}, {drawer: 1})
    (words,) = expect(replies, drawer, 1, (KEY_WORDS,))
    return np.ascontiguousarray(words).tobytes()
