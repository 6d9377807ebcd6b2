"""Tests for node/datasets/catalog.py: rounded sizes, public schema, the visibility predicate."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.datasets.catalog import catalog, rounded_rows
from tests.node.datasets.helpers import NOW, csv_bytes, make_store


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (0, 0),
        (1, 10),
        (10, 10),
        (87, 90),
        (100, 100),
        (123, 130),
        (4_567, 4_600),
        (100_001, 110_000),
    ],
)
def test_rounding_table(count: int, shown: int) -> None:
    """Counts round up to two significant figures in steps of at least 10."""
    assert rounded_rows(count) == shown


def test_catalog_shows_only_public_facts_of_visible_datasets(tmp_path: Path) -> None:
    """Entries carry names, types, declared values and a rounded count; nothing else."""
    datasets, _ = make_store(tmp_path)
    rows = [["Naam", "Type", "Regio"]] + [[f"P {i}", "sexual", "zuid"] for i in range(123)]
    schema = {
        "columns": [
            {"name": "name", "type": "identifier", "source": "Naam"},
            {"name": "type", "type": "category", "source": "Type", "values": ["sexual", "labour"]},
            {"name": "region", "type": "category", "source": "Regio"},
        ]
    }
    datasets.import_bytes("clients", csv_bytes(rows), now=NOW, schema=schema)
    datasets.import_bytes("hidden", csv_bytes([["Naam"], ["x"]]), now=NOW)
    (entry,) = catalog(datasets, lambda name: name == "clients", now=NOW)
    assert entry.to_json() == {
        "dataset": "clients",
        "columns": [
            {"name": "name", "type": "identifier"},
            {"name": "type", "type": "category", "values": ["labour", "sexual"]},
            {"name": "region", "type": "category"},
        ],
        "rows": 130,
    }
    assert "zuid" not in repr(entry.to_json())


def test_catalog_leaves_out_expired_datasets(tmp_path: Path) -> None:
    """A dataset past its expiry is not listed even before expire runs."""
    datasets, _ = make_store(tmp_path)
    datasets.import_bytes("clients", csv_bytes([["Naam"], ["x"]]), now=NOW, expires_at=NOW + 10)
    assert [e.dataset for e in catalog(datasets, lambda _: True, now=NOW + 9)] == ["clients"]
    assert catalog(datasets, lambda _: True, now=NOW + 10) == []
