"""Tests for node/datasets/cells.py: each type's conversion and its error codes."""

from __future__ import annotations

import datetime

import pytest

from node.datasets.cells import convert, days_to_date, parse_date
from node.datasets.schema import Column, DateFormat, Part


def column(kind: str, **fields: object) -> Column:
    """A one-header column of ``kind`` read from header 'h'."""
    return Column("c", kind, (Part("h"),), **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "date_format", "expected"),
    [
        ("1990-03-12", "iso", datetime.date(1990, 3, 12)),
        ("12-03-1990", "dmy", datetime.date(1990, 3, 12)),
        ("12/03/1990", "dmy", datetime.date(1990, 3, 12)),
        ("2.3.1990", "dmy", datetime.date(1990, 3, 2)),
        ("03/12/1990", "mdy", datetime.date(1990, 3, 12)),
        ("1969-12-31", "iso", datetime.date(1969, 12, 31)),
    ],
)
def test_dates_parse(text: str, date_format: DateFormat, expected: datetime.date) -> None:
    """ISO, day-first and month-first dates give days since 1970 that map back."""
    days = parse_date(text, date_format)
    assert days is not None
    assert days_to_date(days) == expected


@pytest.mark.parametrize(
    ("text", "date_format"),
    [
        ("1990-02-30", "iso"),
        ("12-03-90", "dmy"),
        ("12-03/1990", "dmy"),
        ("1990-03-12", "dmy"),
        ("12-03-1990", "iso"),
        ("13/13/2000", "mdy"),
        ("12 maart 1990", "dmy"),
    ],
)
def test_bad_dates_are_none(text: str, date_format: DateFormat) -> None:
    """Impossible days, two-digit years, mixed separators and other formats do not parse."""
    assert parse_date(text, date_format) is None


def test_identifiers_normalise_and_refuse_empty() -> None:
    """Identifiers are normalised; one empty after normalising is a 'missing' error."""
    result = convert(column("identifier"), [["José  García", "JOSE GARCIA", "--", ""]])
    assert result.values == ["jose garcia", "jose garcia", "", ""]
    assert result.errors == {2: "missing", 3: "missing"}


def test_composite_identifier_joins_normalised_parts() -> None:
    """Name + date of birth: the date part is read as a date and written as ISO."""
    spec = Column("name_dob", "identifier", (Part("n"), Part("d", "dmy")))
    result = convert(
        spec, [["Anna  Smit", "ANNA SMIT", "Anna Smit"], ["12-03-1990", "12/3/1990", "1990"]]
    )
    assert result.values[:2] == ["anna smit|1990-03-12", "anna smit|1990-03-12"]
    assert result.errors == {2: "date_invalid"}


def test_categories_fold_and_check_a_declared_vocabulary() -> None:
    """Category values fold; a declared vocabulary refuses other values; empty optional is ''."""
    spec = column("category", required=False, values=("labour", "sexual"))
    result = convert(spec, [["Sexual", " LABOUR ", "criminal", ""]])
    assert result.values == ["sexual", "labour", "criminal", ""]
    assert result.errors == {2: "category_unknown"}


def test_required_category_refuses_empty() -> None:
    """An empty cell in a required category column is 'missing'."""
    assert convert(column("category"), [["a", " "]]).errors == {1: "missing"}


def test_integers_with_bounds_and_missing() -> None:
    """Integers parse with a sign; bounds, junk, overflow and empties are coded."""
    spec = column("integer", required=False, minimum=0, maximum=130)
    cells = ["34", "+7", "", "-1", "1e3", "3.5", str(2**63), " 12 "]
    result = convert(spec, [cells])
    assert result.values[:3] == [34, 7, 0]
    assert result.missing == [False, False, True, False, False, False, False, False]
    assert result.errors == {
        3: "out_of_bounds",
        4: "integer_invalid",
        5: "integer_invalid",
        6: "integer_out_of_range",
    }


def test_required_integer_refuses_empty() -> None:
    """An empty required integer is 'missing' and no missing mask is produced otherwise."""
    result = convert(column("integer"), [["1", ""]])
    assert result.errors == {1: "missing"}
    assert convert(column("integer"), [["1", "2"]]).missing is None


def test_dates_convert_to_days() -> None:
    """A date column holds days since 1970-01-01."""
    result = convert(column("date", date_format="iso"), [["1970-01-02", "nope"]])
    assert result.values[0] == 1
    assert result.errors == {1: "date_invalid"}
