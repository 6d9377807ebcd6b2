"""Tests for node/datasets/inference.py: the inference table and safe column names."""

from __future__ import annotations

import pytest

from node.datasets.inference import column_names, infer_schema
from node.errors import InvalidError


@pytest.mark.parametrize(
    ("header", "cells", "kind", "date_format", "required"),
    [
        ("Naam", ["Anna", "Bob", "Anna"], "identifier", None, True),
        ("client_id", ["1", "2", "3"], "identifier", None, True),
        ("Achternaam", ["Smit", ""], "identifier", None, True),
        ("age", ["34", "-2", "+5"], "integer", None, True),
        ("age", ["34", ""], "integer", None, False),
        ("code", ["007", "12"], "category", None, True),
        ("seen", ["2024-01-31", "2023-12-01"], "date", "iso", True),
        ("seen", ["31-01-2024", "01/02/2023"], "date", "dmy", True),
        ("seen", ["01/31/2024", "02/01/2023"], "date", "mdy", True),
        ("seen", ["31-01-2024", "01/31/2023"], "category", None, True),
        ("seen", ["1990-02-30", "1990-01-01"], "date", "iso", True),
        ("seen", ["31-02-1990", "13-01-1990"], "date", "dmy", True),
        ("seen", ["2024-01-31", "31-01-2024"], "category", None, True),
        ("type", ["sexual", "labour", "sexual"], "category", None, True),
        ("region", ["", ""], "category", None, False),
        ("note", [f"v{i}" for i in range(60)], "identifier", None, True),
        ("note", [f"v{i % 40}" for i in range(60)], "category", None, True),
    ],
)
def test_inference_table(
    header: str, cells: list[str], kind: str, date_format: str | None, required: bool
) -> None:
    """Each row of the documented inference table gives the documented type."""
    (column,) = infer_schema([header], [cells]).columns
    assert (column.type, column.date_format, column.required) == (kind, date_format, required)
    assert column.parts[0].source == header


def test_ambiguous_dates_are_refused() -> None:
    """Dates that read both day-first and month-first ask for a declared format."""
    with pytest.raises(InvalidError) as caught:
        infer_schema(["dob"], [["01-02-1990", "03-04-1991"]])
    assert caught.value.code == "date_format_ambiguous"
    assert "01-02" not in caught.value.message


def test_column_names_are_safe_and_distinct() -> None:
    """Headers become safe names: accents dropped, lowercase, runs of others as '_'."""
    assert column_names(["Geboorte Datum", "Région", "../etc", "", "a", "A"]) == [
        "geboorte_datum",
        "region",
        "etc",
        "column_4",
        "a",
        "a_2",
    ]
