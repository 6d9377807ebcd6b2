"""Tests for node/datasets/store.py: all-or-nothing imports, loading, deletion and expiry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from node.datasets import store as store_module
from node.datasets.csvimport import Limits
from node.datasets.schema import parse_schema
from node.errors import ConflictError, InvalidError, NotFoundError, TooLargeError
from tests.node.datasets.helpers import NOW, audit_events, csv_bytes, make_store

ROWS = [
    ["Naam", "Type", "Leeftijd", "Gezien"],
    ["Zwaantje Verbeek", "sexual", "34", "2024-01-31"],
    ["Pieter Post", "labour", "", "2023-12-01"],
    ["José García", "sexual", "19", "2024-02-29"],
]
DATA = csv_bytes(ROWS)


def test_import_then_load_columns(tmp_path: Path) -> None:
    """An imported dataset loads back per column: text as lists, numbers as masked arrays."""
    datasets, _ = make_store(tmp_path)
    report = datasets.import_bytes("clients", DATA, now=NOW)
    assert report.inferred
    assert not report.replaced
    assert datasets.row_count("clients") == 3
    assert datasets.schema("clients").names == ("naam", "type", "leeftijd", "gezien")
    assert datasets.load_column("clients", "naam") == [
        "zwaantje verbeek",
        "pieter post",
        "jose garcia",
    ]
    ages = datasets.load_column("clients", "leeftijd")
    assert isinstance(ages, np.ma.MaskedArray)
    assert ages.dtype == np.int64
    assert list(np.ma.getmaskarray(ages)) == [False, True, False]
    assert int(ages.sum()) == 53
    seen = datasets.load_column("clients", "gezien")
    assert isinstance(seen, np.ma.MaskedArray)
    assert int(seen[0]) == 19753  # 2024-01-31 in days since 1970-01-01


def test_import_is_audited_with_counts_and_hash_only(tmp_path: Path) -> None:
    """dataset.imported carries the name, counts and source hash, never a value."""
    datasets, _ = make_store(tmp_path)
    report = datasets.import_bytes("clients", DATA, now=NOW, actor="admin")
    ((event, details),) = audit_events(datasets.connection)
    assert event == "dataset.imported"
    body = json.loads(details)
    assert body["source_sha256"] == report.dataset.source_sha256
    assert body["rows"] == 3
    assert "verbeek" not in details.casefold()


def test_existing_dataset_needs_replace(tmp_path: Path) -> None:
    """Importing over a dataset is refused unless replace is asked for."""
    datasets, _ = make_store(tmp_path)
    datasets.import_bytes("clients", DATA, now=NOW)
    with pytest.raises(ConflictError) as caught:
        datasets.import_bytes("clients", csv_bytes(ROWS[:2]), now=NOW)
    assert caught.value.code == "dataset_exists"
    report = datasets.import_bytes("clients", csv_bytes(ROWS[:2]), now=NOW + 1, replace=True)
    assert report.replaced
    assert datasets.row_count("clients") == 1
    assert datasets.get("clients").imported_at == NOW + 1


def test_failed_write_leaves_nothing_and_keeps_the_old_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure mid-write rolls back: no partial columns, the replaced dataset is intact."""
    datasets, _ = make_store(tmp_path)
    datasets.import_bytes("clients", DATA, now=NOW)
    real = store_module.encode_column
    calls = {"n": 0}

    def failing(data: Any) -> bytes:
        """Encode two columns, then fail like a full disk."""
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(data)

    monkeypatch.setattr(store_module, "encode_column", failing)
    with pytest.raises(OSError, match="disk full"):
        datasets.import_bytes("clients", csv_bytes(ROWS[:2]), now=NOW + 1, replace=True)
    calls["n"] = 0
    with pytest.raises(OSError, match="disk full"):
        datasets.import_bytes("other", DATA, now=NOW + 1)
    assert [d.name for d in datasets.datasets()] == ["clients"]
    assert datasets.row_count("clients") == 3
    assert len(datasets.load_column("clients", "naam")) == 3
    count = datasets.connection.execute("SELECT COUNT(*) FROM dataset_columns").fetchone()[0]
    assert count == 4
    assert [event for event, _ in audit_events(datasets.connection)] == ["dataset.imported"]


def test_bad_rows_store_nothing(tmp_path: Path) -> None:
    """A file with a bad row stores nothing and audits nothing."""
    datasets, _ = make_store(tmp_path)
    schema = {"columns": [{"name": "age", "type": "integer", "source": "Leeftijd"}]}
    with pytest.raises(InvalidError):
        datasets.import_bytes("clients", DATA, now=NOW, schema=schema)
    assert datasets.datasets() == []
    assert audit_events(datasets.connection) == []


@pytest.mark.parametrize("name", ["../x", "a/b", "..", "/etc/passwd", "a\\b", ""])
def test_traversal_names_are_refused(tmp_path: Path, name: str) -> None:
    """Dataset names with separators or traversal are refused before anything is read."""
    datasets, _ = make_store(tmp_path)
    with pytest.raises(InvalidError) as caught:
        datasets.import_bytes(name, DATA, now=NOW)
    assert caught.value.code == "dataset_name_invalid"
    with pytest.raises(InvalidError):
        datasets.get(name)


def test_import_file_checks_size_before_reading(tmp_path: Path) -> None:
    """A file over the byte limit is refused from its size; a readable one imports."""
    datasets, _ = make_store(tmp_path, limits=Limits(max_bytes=len(DATA)))
    path = tmp_path / "clients.csv"
    path.write_bytes(DATA + b"\n")
    with pytest.raises(TooLargeError):
        datasets.import_file("clients", path, now=NOW)
    path.write_bytes(DATA)
    assert datasets.import_file("clients", path, now=NOW).dataset.row_count == 3
    with pytest.raises(InvalidError) as caught:
        datasets.import_file("gone", tmp_path / "missing.csv", now=NOW)
    assert caught.value.code == "file_unreadable"


def test_unknown_dataset_and_column(tmp_path: Path) -> None:
    """Unknown datasets and columns raise coded not-found errors."""
    datasets, _ = make_store(tmp_path)
    datasets.import_bytes("clients", DATA, now=NOW)
    with pytest.raises(NotFoundError) as caught:
        datasets.load_column("nope", "naam")
    assert caught.value.code == "dataset_not_found"
    with pytest.raises(NotFoundError) as caught:
        datasets.load_column("clients", "nope")
    assert caught.value.code == "column_not_found"


def test_delete_removes_data_and_audits(tmp_path: Path) -> None:
    """delete removes the dataset and its columns and appends dataset.deleted."""
    published: list[tuple[str, dict[str, Any]]] = []
    datasets, _ = make_store(tmp_path, publish=lambda kind, data: published.append((kind, data)))
    datasets.import_bytes("clients", DATA, now=NOW)
    datasets.delete("clients", now=NOW + 5, actor="admin")
    assert datasets.datasets() == []
    assert datasets.connection.execute("SELECT COUNT(*) FROM dataset_columns").fetchone()[0] == 0
    assert [e for e, _ in audit_events(datasets.connection)] == [
        "dataset.imported",
        "dataset.deleted",
    ]
    assert [kind for kind, _ in published] == ["dataset.imported", "dataset.deleted"]
    with pytest.raises(NotFoundError):
        datasets.delete("clients", now=NOW + 6)


def test_expire_deletes_only_expired_data_for_good(tmp_path: Path) -> None:
    """expire removes datasets at or past their expiry, audits each, and leaves no trace."""
    datasets, _ = make_store(tmp_path)
    datasets.import_bytes("old", DATA, now=NOW, expires_at=NOW + 100)
    datasets.import_bytes("kept", csv_bytes([["Naam"], ["Anna"]]), now=NOW, expires_at=NOW + 500)
    datasets.import_bytes("forever", csv_bytes([["Naam"], ["Bob"]]), now=NOW)
    assert datasets.next_expiry() == NOW + 100
    assert datasets.expire(NOW + 99) == []
    with pytest.raises(NotFoundError) as caught:
        datasets.load_column("old", "naam", now=NOW + 100)
    assert caught.value.code == "dataset_expired"
    assert datasets.expire(NOW + 100) == ["old"]
    assert [d.name for d in datasets.datasets()] == ["forever", "kept"]
    assert datasets.next_expiry() == NOW + 500
    events = audit_events(datasets.connection)
    assert events[-1][0] == "dataset.deleted"
    assert json.loads(events[-1][1])["reason"] == "expired"
    datasets.connection.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("store.sqlite*"))
    assert b"zwaantje verbeek" not in stored
    assert b"bob" in stored


def test_expiry_must_be_in_the_future_and_can_change(tmp_path: Path) -> None:
    """An expiry at or before now is refused; set_expiry changes it and is audited."""
    datasets, _ = make_store(tmp_path)
    with pytest.raises(InvalidError) as caught:
        datasets.import_bytes("clients", DATA, now=NOW, expires_at=NOW)
    assert caught.value.code == "expiry_in_past"
    datasets.import_bytes("clients", DATA, now=NOW)
    assert datasets.set_expiry("clients", NOW + 10, now=NOW).expires_at == NOW + 10
    assert audit_events(datasets.connection)[-1][0] == "dataset.retention_changed"
    assert datasets.expire(NOW + 10) == ["clients"]


def test_declared_schema_with_composite_identifier(tmp_path: Path) -> None:
    """A declared schema stores only its columns; the schema reads back equal."""
    datasets, _ = make_store(tmp_path)
    schema = parse_schema(
        {
            "columns": [
                {
                    "name": "name_seen",
                    "type": "identifier",
                    "from": ["Naam", {"source": "Gezien", "format": "iso"}],
                },
                {
                    "name": "type",
                    "type": "category",
                    "source": "Type",
                    "values": ["sexual", "labour", "criminal"],
                },
            ]
        }
    )
    datasets.import_bytes("clients", DATA, now=NOW, schema=schema)
    stored = datasets.schema("clients")
    assert stored.names == ("name_seen", "type")
    assert stored.column("type").observed == ("labour", "sexual")
    assert datasets.load_column("clients", "name_seen")[0] == "zwaantje verbeek|2024-01-31"


@pytest.mark.slow
def test_hundred_thousand_rows_import_and_load(tmp_path: Path) -> None:
    """100,000 rows import whole and every column loads back with the right length."""
    rows = [["Naam", "Geboortedatum", "Type", "Leeftijd"]]
    kinds = ["sexual", "labour", "criminal"]
    rows += [
        [
            f"Persoon {i}",
            f"{1 + i % 28:02d}-{1 + i % 12:02d}-{1950 + i % 60}",
            kinds[i % 3],
            str(i % 90),
        ]
        for i in range(100_000)
    ]
    datasets, _ = make_store(tmp_path)
    schema = {
        "columns": [
            {"name": "name", "type": "identifier", "source": "Naam"},
            {"name": "dob", "type": "date", "source": "Geboortedatum", "format": "dmy"},
            {"name": "type", "type": "category", "source": "Type"},
            {"name": "age", "type": "integer", "source": "Leeftijd"},
        ]
    }
    datasets.import_bytes(
        "big", csv_bytes(rows, separator=";", newline="\r\n"), now=NOW, schema=schema
    )
    names = datasets.load_column("big", "name")
    assert len(names) == 100_000
    assert names[99_999] == "persoon 99999"
    ages = datasets.load_column("big", "age")
    assert isinstance(ages, np.ma.MaskedArray)
    assert int(ages.sum()) == sum(i % 90 for i in range(100_000))
