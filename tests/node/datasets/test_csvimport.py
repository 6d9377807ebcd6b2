"""Tests for node/datasets/csvimport.py: encodings, separators, quoting, line-numbered errors."""

from __future__ import annotations

import hashlib

import pytest

from node.datasets.csvimport import Limits, read_csv
from node.datasets.schema import parse_schema
from node.errors import InvalidError, TooLargeError
from tests.node.datasets.helpers import csv_bytes

SCHEMA = parse_schema(
    {
        "columns": [
            {"name": "name", "type": "identifier", "source": "Naam"},
            {"name": "dob", "type": "date", "source": "Geboortedatum", "format": "dmy"},
            {"name": "type", "type": "category", "source": "Type"},
        ]
    }
)
SECRET = "Zwaantje Verbeek"
"""A name that must never appear in an error message."""


def excel_export() -> bytes:
    """An Excel 'CSV UTF-8' export: BOM, ';', CRLF, quoted fields with ';', quotes and CRLF."""
    text = (
        "\ufeffNaam;Geboortedatum;Type\r\n"
        '"García; José";12-03-1990;Sexual\r\n'
        '"Anna ""Ans""\r\nSmit";01-02-1985;labour\r\n'
        ";;\r\n"
        "JOSE GARCIA;12-03-1990;SEXUAL\r\n"
    )
    return text.encode("utf-8")


def test_excel_export_imports() -> None:
    """BOM, ';', CRLF, quoting and a trailing blank row are all handled."""
    table = read_csv(excel_export(), SCHEMA)
    assert table.delimiter == ";"
    assert table.row_count == 3
    assert table.columns["name"] == ["garcia jose", "anna ans smit", "jose garcia"]
    assert table.columns["type"] == ["sexual", "labour", "sexual"]
    assert table.schema.column("type").observed == ("labour", "sexual")
    assert table.source_sha256 == hashlib.sha256(excel_export()).hexdigest()


def test_spelling_variants_normalise_together() -> None:
    """Accent, case, spacing and punctuation variants of one name become one identifier."""
    rows = [["Naam"], ["José  García"], ["jose garcia"], ["JOSÉ GARCÍA "], ["José García."]]
    table = read_csv(
        csv_bytes(rows),
        parse_schema({"columns": [{"name": "naam", "type": "identifier", "source": "Naam"}]}),
    )
    assert set(table.columns["naam"]) == {"jose garcia"}


@pytest.mark.parametrize(("separator", "expected"), [(",", ","), (";", ";"), ("\t", "\t")])
def test_separator_is_detected(separator: str, expected: str) -> None:
    """Comma, semicolon and tab are detected from the header line."""
    rows = [["Naam", "Type"], ['"a,b;c"', "x"], ["d", "y"]]
    table = read_csv(csv_bytes(rows, separator=separator))
    assert table.delimiter == expected
    assert table.row_count == 2


def test_tied_separators_are_refused_unless_given() -> None:
    """A header with one ';' and one ',' is ambiguous; an explicit separator resolves it."""
    data = b"a;b,c\n1;2,3\n"
    with pytest.raises(InvalidError) as caught:
        read_csv(data)
    assert caught.value.code == "csv_delimiter_ambiguous"
    assert read_csv(data, delimiter=";").schema.names == ("a", "b_c")


def test_utf16_with_bom_imports() -> None:
    """Excel's 'Unicode text' (UTF-16 with a BOM, tab-separated) imports."""
    data = "Naam\tType\r\nJosé\tx\r\n".encode("utf-16")
    assert read_csv(data).columns["naam"] == ["jose"]


def test_invalid_utf8_names_the_line() -> None:
    """Latin-1 bytes are refused with the line number of the first bad byte."""
    data = "Naam\nAnna\nJosé\n".encode("latin-1")
    with pytest.raises(InvalidError) as caught:
        read_csv(data)
    assert caught.value.code == "csv_encoding_invalid"
    assert caught.value.details["line"] == 3


def test_bad_rows_are_reported_by_line_and_column_without_values() -> None:
    """Every bad row is listed by line (counting quoted newlines) and column; no cell text."""
    text = (
        "Naam;Geboortedatum;Type\r\n"
        '"Anna\r\nSmit";01-02-1985;labour\r\n'
        f"{SECRET};31-02-1990;sexual\r\n"
        "Bob;01-01-1990\r\n"
        f";01-01-1990;{SECRET}x\r\n"
    )
    with pytest.raises(InvalidError) as caught:
        read_csv(text.encode(), SCHEMA)
    error = caught.value
    assert error.code == "csv_rows_invalid"
    assert error.details["rows"] == 3
    assert error.details["errors"] == [
        {"line": 4, "column": "dob", "code": "date_invalid"},
        {"line": 5, "column": None, "code": "field_count"},
        {"line": 6, "column": "name", "code": "missing"},
    ]
    assert "line 4" in error.message
    assert SECRET not in repr(error.to_json())
    assert "31-02" not in repr(error.to_json())


def test_skip_invalid_drops_and_counts_bad_rows() -> None:
    """With skip_invalid the good rows import and the bad ones are counted and listed."""
    text = "Naam;Geboortedatum;Type\nAnna;01-02-1985;x\nBob;bad;y\nCees;02-02-1985;z\n"
    table = read_csv(text.encode(), SCHEMA, skip_invalid=True)
    assert table.row_count == 2
    assert table.skipped == 1
    assert table.columns["name"] == ["anna", "cees"]
    assert [e.line for e in table.errors] == [3]


def test_all_rows_bad_is_refused_even_with_skip_invalid() -> None:
    """A file with no importable row is refused, never stored empty."""
    with pytest.raises(InvalidError) as caught:
        read_csv(b"Naam;Geboortedatum;Type\n;x;y\n", SCHEMA, skip_invalid=True)
    assert caught.value.code == "csv_empty"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "csv_header_missing"),
        (b"\r\n\r\n", "csv_header_missing"),
        (b"a,,b\n1,2,3\n", "csv_header_invalid"),
        (b"a,a\n1,2\n", "csv_header_invalid"),
        (b'a,b\n"x"y,2\n', "csv_malformed"),
        (b"a,b\n1,\x002\n", "csv_encoding_invalid"),
        (b"Naam,Type\nx,y\n", "column_missing"),
    ],
)
def test_malformed_files_are_refused(data: bytes, code: str) -> None:
    """Missing or broken headers, bad quoting, NUL characters and missing columns are refused."""
    with pytest.raises(InvalidError) as caught:
        read_csv(data, SCHEMA if code == "column_missing" else None)
    assert caught.value.code == code


def test_malformed_quote_names_its_line() -> None:
    """A quote error is reported at the line it occurs on."""
    with pytest.raises(InvalidError) as caught:
        read_csv(b'a,b\n1,2\n"x"y,2\n')
    assert caught.value.details["line"] == 3


@pytest.mark.parametrize(
    ("limits", "data", "code"),
    [
        (Limits(max_bytes=10), b"a,b\n1,2\n3,4\n", "file_too_large"),
        (Limits(max_rows=2), b"a\n1\n2\n3\n", "csv_too_many_rows"),
        (Limits(max_columns=2), b"a,b,c\n1,2,3\n", "csv_too_many_columns"),
        (Limits(max_cell_chars=3), b"a\n1234\n", "csv_cell_too_long"),
    ],
)
def test_limits_are_enforced(limits: Limits, data: bytes, code: str) -> None:
    """File size, rows, columns and cell length over their limits are refused."""
    with pytest.raises(TooLargeError) as caught:
        read_csv(data, limits=limits)
    assert caught.value.code == code


def test_declared_schema_drops_undeclared_columns() -> None:
    """Only declared columns are stored; a composite identifier can replace its sources."""
    schema = parse_schema(
        {
            "columns": [
                {
                    "name": "name_dob",
                    "type": "identifier",
                    "from": ["Naam", {"source": "Geboortedatum", "format": "dmy"}],
                },
            ]
        }
    )
    table = read_csv(excel_export(), schema)
    assert list(table.columns) == ["name_dob"]
    assert table.columns["name_dob"][2] == "jose garcia|1990-03-12"


def test_inferred_date_column_reports_impossible_dates_by_line() -> None:
    """A date-shaped column with an impossible date is a date column with a row error."""
    data = b"Naam;Geboortedatum\nAnna;31-12-1990\nBob;31-02-1991\n"
    with pytest.raises(InvalidError) as caught:
        read_csv(data)
    assert caught.value.details["errors"] == [
        {"line": 3, "column": "geboortedatum", "code": "date_invalid"}
    ]


def test_header_only_with_a_declared_schema_is_an_empty_list() -> None:
    """A header and no record, schema given: an empty dataset (a provider with no one)."""
    table = read_csv(b"\xef\xbb\xbfNaam;Geboortedatum;Type\r\n", SCHEMA)
    assert table.row_count == 0
    assert table.skipped == 0
    assert table.columns == {"name": [], "dob": table.columns["dob"], "type": []}
    assert len(table.columns["dob"]) == 0
    assert table.schema.columns[2].observed == ()


def test_header_only_without_a_schema_is_refused() -> None:
    """No values to infer column types from: refused with csv_empty, asking for a schema."""
    with pytest.raises(InvalidError) as caught:
        read_csv(b"Naam;Geboortedatum;Type\r\n;;\r\n")
    assert caught.value.code == "csv_empty"
    assert "schema" in str(caught.value)


def test_header_only_still_needs_every_declared_header() -> None:
    """An empty list is checked against its schema like any other file."""
    with pytest.raises(InvalidError) as caught:
        read_csv(b"Naam;Type\n", SCHEMA)
    assert caught.value.code == "column_missing"
