"""Tests for node/datasets/schema.py: safe names, the JSON form, path-precise errors."""

from __future__ import annotations

import pytest

from node.datasets.schema import Part, check_name, fold_category, parse_schema
from node.errors import InvalidError


@pytest.mark.parametrize("name", ["clients-2026", "a", "x_1", "0abc", "a" * 64])
def test_safe_names_pass(name: str) -> None:
    """Lowercase letters, digits, '_' and '-' up to 64 characters are accepted."""
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name", ["../x", "a/b", "a\\b", "..", ".hidden", "", "a" * 65, "Upper", "a b", "é", "-x", 3]
)
def test_unsafe_names_are_refused(name: object) -> None:
    """Traversal, separators, dots, spaces, case, length and non-strings are refused."""
    with pytest.raises(InvalidError) as caught:
        check_name(name)
    assert caught.value.code == "dataset_name_invalid"


def test_schema_round_trips_through_json() -> None:
    """A schema read from JSON writes the same JSON back."""
    document = {
        "version": 1,
        "columns": [
            {
                "name": "name_dob",
                "type": "identifier",
                "from": ["Naam", {"source": "Geb", "format": "dmy"}],
            },
            {
                "name": "region",
                "type": "category",
                "source": "Regio",
                "required": False,
                "values": ["noord", "zuid"],
            },
            {"name": "age", "type": "integer", "min": 0, "max": 130},
            {"name": "seen", "type": "date", "format": "iso"},
        ],
    }
    schema = parse_schema(document)
    assert schema.column("name_dob").parts == (Part("Naam"), Part("Geb", "dmy"))
    assert schema.column("name_dob").composite
    assert parse_schema(schema.to_json()) == schema
    assert schema.to_json() == document


def test_public_json_hides_headers_and_observed_values() -> None:
    """The public form has no source headers and no observed vocabulary."""
    schema = parse_schema(
        {"columns": [{"name": "t", "type": "category", "source": "Type", "observed": ["a"]}]}
    )
    assert schema.to_json(public=True)["columns"] == [{"name": "t", "type": "category"}]


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ([], "$"),
        ({"columns": [], "extra": 1}, "$.extra"),
        ({"columns": []}, "$.columns"),
        ({"columns": [{"name": "a", "type": "text"}]}, "$.columns[0].type"),
        ({"columns": [{"name": "a", "type": "integer", "colour": 1}]}, "$.columns[0].colour"),
        (
            {"columns": [{"name": "a", "type": "identifier", "required": False}]},
            "$.columns[0].required",
        ),
        ({"columns": [{"name": "../a", "type": "integer"}]}, "$.columns[0].name"),
        ({"columns": [{"name": "a", "type": "date"}]}, "$.columns[0].format"),
        ({"columns": [{"name": "a", "type": "date", "format": "ymd"}]}, "$.columns[0].format"),
        ({"columns": [{"name": "a", "type": "integer", "min": 5, "max": 1}]}, "$.columns[0].max"),
        ({"columns": [{"name": "a", "type": "integer", "min": 1.5}]}, "$.columns[0].min"),
        (
            {"columns": [{"name": "a", "type": "category", "values": ["X", "x"]}]},
            "$.columns[0].values",
        ),
        ({"columns": [{"name": "a", "type": "identifier", "from": []}]}, "$.columns[0].from"),
        (
            {"columns": [{"name": "a", "type": "integer"}, {"name": "a", "type": "integer"}]},
            "$.columns[1].name",
        ),
    ],
)
def test_bad_schemas_name_the_path(document: object, path: str) -> None:
    """Every schema error carries the JSON path of the field at fault."""
    with pytest.raises(InvalidError) as caught:
        parse_schema(document)
    assert caught.value.code == "schema_invalid"
    assert caught.value.details["path"] == path


def test_category_folding() -> None:
    """Categories fold case and spacing but keep punctuation (age bands stay distinct)."""
    assert fold_category("  Sexual  Exploitation ") == "sexual exploitation"
    assert fold_category("18-25") == "18-25"
