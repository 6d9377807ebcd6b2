"""The catalog: what other nodes may see of this node's datasets — schema and a rounded size.

An entry holds the dataset name, each column's name and type (a date's format, an integer's
declared bounds, a category's *declared* vocabulary) and the row count rounded **up** to two
significant figures, in steps of at least 10: 0 → 0, 3 → 10, 87 → 90, 123 → 130,
4,567 → 4,600, 100,001 → 110,000. Rounding up means a non-empty dataset never shows as empty
and the shown count is an upper bound a proposer can size a computation by.

Never in an entry: the exact row count, the headers of the source file, the observed vocabulary
of a category (it would show which rare values occur), import time, source hash, expiry.

Which datasets a requester sees is the caller's decision: ``catalog`` takes a predicate
(from the consent policies) that says whether a dataset name is visible to that requester.
Expired datasets are left out even if ``expire`` has not yet run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from node.datasets.metadata import DatasetInfo
from node.datasets.store import DatasetStore


def rounded_rows(count: int) -> int:
    """``count`` rounded up to two significant figures, in steps of at least 10."""
    if count <= 0:
        return 0
    step = max(10, int(10 ** (len(str(count)) - 2)))
    return -(-count // step) * step


@dataclass(frozen=True)
class CatalogEntry:
    """What another node may see of one dataset."""

    dataset: str
    columns: tuple[dict[str, Any], ...]
    rows: int

    def to_json(self) -> dict[str, Any]:
        """The JSON form sent to peers and shown by the admin API."""
        return {"dataset": self.dataset, "columns": list(self.columns), "rows": self.rows}


def catalog_entry(info: DatasetInfo) -> CatalogEntry:
    """The public entry of one dataset."""
    public = info.schema.to_json(public=True)["columns"]
    return CatalogEntry(info.name, tuple(public), rounded_rows(info.row_count))


def catalog(store: DatasetStore, visible: Callable[[str], bool], *, now: int) -> list[CatalogEntry]:
    """The entries of the datasets ``visible`` admits, unexpired at ``now``, by name."""
    return [
        catalog_entry(info)
        for info in store.datasets()
        if not info.expired(now) and visible(info.name)
    ]
